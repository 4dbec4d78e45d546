package dev.jlm.simd.quant;

import dev.jlm.core.DType;
import dev.jlm.core.JlmException;
import dev.jlm.core.Tensor;
import dev.jlm.simd.RowExecutor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * A weight matrix {@code W[N, K]} quantized block-wise along K to 4 or 8 bits, in exactly the layout of
 * ONNX Runtime's {@code com.microsoft::MatMulNBits}:
 * <ul>
 *   <li>{@code data}: uint8 {@code [N, kBlocks, blockSize * bits / 8]}, {@code kBlocks = ceil(K / blockSize)};
 *       4-bit codes two per byte, the lower k in the low nibble; the tail of the last block (K not a
 *       multiple of the block) holds the zero point's code, so it dequantizes to 0;</li>
 *   <li>{@code scales}: {@code [N, kBlocks]} in F32, F16 or BF16 (the activation's type in the model);</li>
 *   <li>{@code zeroPoints}: uint8 {@code [N, ceil(kBlocks * bits / 8)]}, 4-bit zero points packed two per
 *       byte like the codes; absent for symmetric quantization, where the zero point is {@code 2^(bits-1)}.</li>
 * </ul>
 * Element {@code (n, k)} dequantizes to {@code (code - zeroPoint) * scale} of its block.
 *
 * <p>The matrix either owns its tensors ({@link #allocate}; {@link #close()} frees them) or wraps tensors
 * someone else owns ({@link #wrap}, for instance initializers of a loaded model). Rows are independent,
 * so different threads may fill different rows at the same time.
 *
 * <p>{@link #interleaved()} makes a copy whose codes are in the {@link Layout#INTERLEAVED4} order: the same
 * bytes, permuted so that the decode kernel (one row of activations, which reads four weight rows side by side)
 * reads one sequential stream instead of four streams a row apart. Scales and zero points keep their layout.
 */
public final class QuantizedMatrix implements AutoCloseable {
    /** Order of the code bytes in {@link #data()}. */
    public enum Layout {
        /** MatMulNBits: each row's blocks one after another, rows one after another. */
        ROWS,
        /**
         * Rows in groups of four, interleaved by units of 64 code bytes: unit {@code u} of rows {@code 4i .. 4i+3}
         * lie side by side (256 bytes), then unit {@code u + 1}. The rows after the last whole group of four keep
         * the row layout, after the groups.
         */
        INTERLEAVED4
    }

    /** Bytes per interleaved unit: one 512-bit load, 128 codes of 4 bits. */
    static final int UNIT = 64;
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final int bits;
    private final int blockSize;
    private final long n;
    private final long k;
    private final int kBlocks;
    private final int blobBytes;
    private final int zpBytesPerRow;
    private final Tensor data;
    private final Tensor scales;
    private final Tensor zeroPoints;
    private final boolean owned;
    private final Layout layout;
    private final long rowBytes;
    /** Rows inside whole interleaved groups of four: 0 in the row layout. */
    private final long quadRows;
    private final MemorySegment dataSeg;
    private final MemorySegment scaleSeg;
    private final MemorySegment zpSeg;

    private QuantizedMatrix(int bits, int blockSize, long n, long k, Tensor data, Tensor scales, Tensor zeroPoints, boolean owned) {
        this(bits, blockSize, n, k, data, scales, zeroPoints, owned, Layout.ROWS);
    }

    private QuantizedMatrix(int bits, int blockSize, long n, long k, Tensor data, Tensor scales, Tensor zeroPoints, boolean owned,
                            Layout layout) {
        this.bits = bits;
        this.blockSize = blockSize;
        this.n = n;
        this.k = k;
        this.kBlocks = blocks(k, blockSize);
        this.blobBytes = blockSize * bits / 8;
        this.zpBytesPerRow = zeroPointBytesPerRow(kBlocks, bits);
        this.data = data;
        this.scales = scales;
        this.zeroPoints = zeroPoints;
        this.owned = owned;
        this.layout = layout;
        this.rowBytes = (long) kBlocks * blobBytes;
        this.quadRows = layout == Layout.INTERLEAVED4 ? n & ~3L : 0;
        this.dataSeg = data.segment();
        this.scaleSeg = scales.segment();
        this.zpSeg = zeroPoints == null ? null : zeroPoints.segment();
    }

    /** Number of blocks along K: {@code ceil(k / blockSize)}. */
    public static int blocks(long k, int blockSize) {
        long b = (k + blockSize - 1) / blockSize;
        if (b > Integer.MAX_VALUE) {
            throw new JlmException.InvalidArgument("K=" + k + " has too many blocks of " + blockSize);
        }
        return (int) b;
    }

    /** Bytes of packed zero points per row: {@code ceil(kBlocks * bits / 8)}. */
    public static int zeroPointBytesPerRow(int kBlocks, int bits) {
        return (int) (((long) kBlocks * bits + 7) / 8);
    }

    /**
     * A new zero-filled matrix that owns its memory.
     *
     * @param scaleType      F32, F16 or BF16
     * @param withZeroPoints true for asymmetric quantization (explicit zero points)
     */
    public static QuantizedMatrix allocate(int bits, int blockSize, long n, long k, DType scaleType, boolean withZeroPoints) {
        check(bits, blockSize, n, k, scaleType);
        int kb = blocks(k, blockSize);
        Tensor d = null;
        Tensor s = null;
        Tensor z = null;
        try {
            d = Tensor.allocate(DType.U8, n, kb, (long) blockSize * bits / 8);
            s = Tensor.allocate(scaleType, n, kb);
            if (withZeroPoints) {
                z = Tensor.allocate(DType.U8, n, zeroPointBytesPerRow(kb, bits));
            }
            return new QuantizedMatrix(bits, blockSize, n, k, d, s, z, true);
        } catch (RuntimeException | Error e) {
            for (Tensor t : new Tensor[]{d, s, z}) {
                if (t != null) {
                    t.close();
                }
            }
            throw e;
        }
    }

    /**
     * Wraps existing tensors in MatMulNBits layout without copying (flattened shapes are accepted as long as
     * the element counts match). The tensors stay owned by the caller.
     *
     * @param zeroPoints packed uint8 zero points, or null for the default {@code 2^(bits-1)}
     * @throws JlmException.InvalidArgument when a shape or dtype does not fit
     */
    public static QuantizedMatrix wrap(int bits, int blockSize, long n, long k, Tensor data, Tensor scales, Tensor zeroPoints) {
        check(bits, blockSize, n, k, scales.dtype());
        int kb = blocks(k, blockSize);
        long blob = (long) blockSize * bits / 8;
        data.requireContiguous(DType.U8, "MatMulNBits B");
        scales.requireContiguous(scales.dtype(), "MatMulNBits scales");
        if (data.size() != n * kb * blob) {
            throw new JlmException.InvalidArgument("MatMulNBits B holds " + data.size() + " bytes but N=" + n + ", K=" + k
                    + ", block " + blockSize + ", " + bits + " bits need " + n * kb * blob);
        }
        if (scales.size() != (long) n * kb) {
            throw new JlmException.InvalidArgument("MatMulNBits scales hold " + scales.size() + " values but need " + n * kb);
        }
        if (zeroPoints != null) {
            zeroPoints.requireContiguous(DType.U8, "MatMulNBits zero points");
            if (zeroPoints.size() != n * zeroPointBytesPerRow(kb, bits)) {
                throw new JlmException.InvalidArgument("MatMulNBits zero points hold " + zeroPoints.size() + " bytes but need "
                        + n * zeroPointBytesPerRow(kb, bits));
            }
        }
        return new QuantizedMatrix(bits, blockSize, n, k, data, scales, zeroPoints, false);
    }

    private static void check(int bits, int blockSize, long n, long k, DType scaleType) {
        if (bits != 4 && bits != 8) {
            throw new JlmException.InvalidArgument("bits must be 4 or 8, not " + bits);
        }
        if (blockSize < 16 || Integer.bitCount(blockSize) != 1) {
            throw new JlmException.InvalidArgument("block size must be a power of two >= 16, not " + blockSize);
        }
        if (n < 1 || k < 1) {
            throw new JlmException.InvalidArgument("quantized matrix needs N, K >= 1, not N=" + n + ", K=" + k);
        }
        if (scaleType != DType.F32 && scaleType != DType.F16 && scaleType != DType.BF16) {
            throw new JlmException.InvalidArgument("scales must be F32, F16 or BF16, not " + scaleType);
        }
    }

    // ---- shape ----------------------------------------------------------------------------------

    public int bits() {
        return bits;
    }

    public int blockSize() {
        return blockSize;
    }

    /** Rows: the output features. */
    public long n() {
        return n;
    }

    /** Columns: the input features (the reduction dimension). */
    public long k() {
        return k;
    }

    /** Blocks per row. */
    public int kBlocks() {
        return kBlocks;
    }

    /** Bytes per block in {@link #data()}: {@code blockSize * bits / 8}. */
    public int blobBytes() {
        return blobBytes;
    }

    /** Bytes per row in {@link #zeroPoints()} (also when there are none). */
    public int zeroPointBytesPerRow() {
        return zpBytesPerRow;
    }

    /** The zero point used when there are no explicit ones: {@code 2^(bits-1)}. */
    public int defaultZeroPoint() {
        return 1 << (bits - 1);
    }

    /** Largest code: 15 or 255. */
    public int maxCode() {
        return (1 << bits) - 1;
    }

    public boolean hasZeroPoints() {
        return zeroPoints != null;
    }

    /** The packed codes, uint8 {@code [N, kBlocks, blobBytes]} as a size, in the order of {@link #layout()}. */
    public Tensor data() {
        return data;
    }

    /** The scales, {@code [N, kBlocks]}. */
    public Tensor scales() {
        return scales;
    }

    /** The packed zero points, uint8 {@code [N, zeroPointBytesPerRow]}, or null when symmetric. */
    public Tensor zeroPoints() {
        return zeroPoints;
    }

    public DType scaleType() {
        return scales.dtype();
    }

    /** Bytes of data, scales and zero points together: what the matrix costs in a model file. */
    public long byteSize() {
        return data.byteSize() + scales.byteSize() + (zeroPoints == null ? 0 : zeroPoints.byteSize());
    }

    /** The order of the code bytes in {@link #data()}. */
    public Layout layout() {
        return layout;
    }

    /**
     * A copy that owns its memory (close it), with the codes in the {@link Layout#INTERLEAVED4} order when each
     * row is a whole number of 64-byte units (K padded to its blocks a multiple of 128 at 4 bits, of 64 at 8
     * bits) and in the row layout otherwise; the same values, scales and zero points. For serving many decode
     * steps from one matrix: the decode kernel then reads its four rows as one stream (4096 x 11008, 4 bits: 1.14
     * times faster on one thread once the weights no longer fit the caches, no different on two). The other
     * kernels read either layout. The copy is independent of this matrix, which may be closed afterwards.
     */
    public QuantizedMatrix interleaved() {
        Layout target = rowBytes % UNIT == 0 ? Layout.INTERLEAVED4 : Layout.ROWS;
        Tensor d = null;
        Tensor s = null;
        Tensor z = null;
        try {
            d = Tensor.allocate(DType.U8, n, kBlocks, blobBytes);
            s = Tensor.allocate(scales.dtype(), n, kBlocks);
            MemorySegment.copy(scaleSeg, 0, s.segment(), 0, scaleSeg.byteSize());
            if (zpSeg != null) {
                z = Tensor.allocate(DType.U8, n, zpBytesPerRow);
                MemorySegment.copy(zpSeg, 0, z.segment(), 0, zpSeg.byteSize());
            }
            QuantizedMatrix copy = new QuantizedMatrix(bits, blockSize, n, k, d, s, z, true, target);
            MemorySegment to = d.segment();
            for (long r = 0; r < n; r++) {
                for (long p = 0; p < rowBytes; p += UNIT) {
                    MemorySegment.copy(dataSeg, offset(r, p), to, copy.offset(r, p), Math.min(UNIT, rowBytes - p));
                }
            }
            return copy;
        } catch (RuntimeException | Error e) {
            for (Tensor t : new Tensor[]{d, s, z}) {
                if (t != null) {
                    t.close();
                }
            }
            throw e;
        }
    }

    /**
     * Where byte {@code p} of row {@code row} (counting in the row layout: {@code p = block * blobBytes + j}) lies in
     * {@link #data()}. A run of bytes that does not cross a multiple of 64 in {@code p} is contiguous in either
     * layout, as is a whole row in the row layout.
     */
    long offset(long row, long p) {
        return rowBase(row) + unit(p, unitShift(row));
    }

    /**
     * Offset from a row's first byte of its byte {@code p} (row-layout count), the row's 64-byte units
     * {@code 2^shift} apart: {@code p} itself in the row layout.
     */
    static long unit(long p, int shift) {
        return ((p >>> 6) << shift) + (p & (UNIT - 1));
    }

    /** Offset of the first byte of row {@code row} in {@link #data()}. */
    long rowBase(long row) {
        return row < quadRows ? (row & ~3L) * rowBytes + (row & 3) * UNIT : row * rowBytes;
    }

    /** log2 of the distance between consecutive 64-byte units of row {@code row}: 8 inside a group of four, else 6. */
    int unitShift(long row) {
        return row < quadRows ? 8 : 6;
    }

    // ---- element access -------------------------------------------------------------------------

    /** The code of element {@code (row, col)}; {@code col} may run into the padding up to {@code kBlocks * blockSize}. */
    public int code(long row, long col) {
        long off = offset(row, col * bits / 8);
        int b = dataSeg.get(ValueLayout.JAVA_BYTE, off) & 0xff;
        if (bits == 8) {
            return b;
        }
        return (col & 1) == 0 ? b & 0xf : b >>> 4;
    }

    /** Sets the code of element {@code (row, col)} (not thread-safe for the two halves of one byte). */
    public void setCode(long row, long col, int code) {
        if (code < 0 || code > maxCode()) {
            throw new JlmException.InvalidArgument("code " + code + " out of range for " + bits + " bits");
        }
        long off = offset(row, col * bits / 8);
        if (bits == 8) {
            dataSeg.set(ValueLayout.JAVA_BYTE, off, (byte) code);
            return;
        }
        int b = dataSeg.get(ValueLayout.JAVA_BYTE, off) & 0xff;
        b = (col & 1) == 0 ? (b & 0xf0) | code : (b & 0x0f) | (code << 4);
        dataSeg.set(ValueLayout.JAVA_BYTE, off, (byte) b);
    }

    /**
     * Writes the codes of one whole block, {@code codes[from .. from + blockSize)}, packing them in one pass.
     */
    public void setBlockCodes(long row, int block, byte[] codes, int from) {
        long p = (long) block * blobBytes;
        if (bits == 8) {
            // a block of more than 64 bytes spans several units, which the interleaved layout keeps apart
            for (int j = 0; j < blobBytes; j += UNIT) {
                int len = Math.min(UNIT, blobBytes - j);
                MemorySegment.copy(codes, from + j, dataSeg, ValueLayout.JAVA_BYTE, offset(row, p + j), len);
            }
            return;
        }
        for (int j = 0; j < blobBytes; j++) {
            int lo = codes[from + 2 * j] & 0xf;
            int hi = codes[from + 2 * j + 1] & 0xf;
            dataSeg.set(ValueLayout.JAVA_BYTE, offset(row, p + j), (byte) (lo | hi << 4));
        }
    }

    /** The scale of block {@code block} of row {@code row}, as a float. */
    public float scale(long row, int block) {
        long i = row * kBlocks + block;
        return switch (scales.dtype()) {
            case F32 -> scaleSeg.get(F32, 4 * i);
            case F16 -> Float.float16ToFloat(scaleSeg.get(I16, 2 * i));
            default -> Float.intBitsToFloat((scaleSeg.get(I16, 2 * i) & 0xffff) << 16);
        };
    }

    /** Sets a scale, rounding to the scale type (nearest-even); returns the value actually stored. */
    public float setScale(long row, int block, float value) {
        long i = row * kBlocks + block;
        switch (scales.dtype()) {
            case F32 -> scaleSeg.set(F32, 4 * i, value);
            case F16 -> scaleSeg.set(I16, 2 * i, Float.floatToFloat16(value));
            default -> scaleSeg.set(I16, 2 * i, (short) bf16Bits(value));
        }
        return scale(row, block);
    }

    /** Round-to-nearest-even float to bfloat16 bits. */
    private static int bf16Bits(float f) {
        int b = Float.floatToRawIntBits(f);
        if ((b & 0x7fffffff) > 0x7f800000) {
            return (b >>> 16) | 0x40;
        }
        return (b + 0x7fff + ((b >>> 16) & 1)) >>> 16;
    }

    /** The zero point of a block: the stored one, or {@link #defaultZeroPoint()} without zero points. */
    public int zeroPoint(long row, int block) {
        if (zpSeg == null) {
            return defaultZeroPoint();
        }
        long off = row * zpBytesPerRow + (long) block * bits / 8;
        int b = zpSeg.get(ValueLayout.JAVA_BYTE, off) & 0xff;
        if (bits == 8) {
            return b;
        }
        return (block & 1) == 0 ? b & 0xf : b >>> 4;
    }

    /** Sets a block's zero point (only for a matrix with zero points; not thread-safe within one byte). */
    public void setZeroPoint(long row, int block, int zp) {
        if (zpSeg == null) {
            throw new JlmException.InvalidArgument("this quantized matrix is symmetric: it has no zero points");
        }
        if (zp < 0 || zp > maxCode()) {
            throw new JlmException.InvalidArgument("zero point " + zp + " out of range for " + bits + " bits");
        }
        long off = row * zpBytesPerRow + (long) block * bits / 8;
        if (bits == 8) {
            zpSeg.set(ValueLayout.JAVA_BYTE, off, (byte) zp);
            return;
        }
        int b = zpSeg.get(ValueLayout.JAVA_BYTE, off) & 0xff;
        b = (block & 1) == 0 ? (b & 0xf0) | zp : (b & 0x0f) | (zp << 4);
        zpSeg.set(ValueLayout.JAVA_BYTE, off, (byte) b);
    }

    /** Element {@code (row, col)} dequantized: {@code (code - zeroPoint) * scale}. */
    public float dequantize(long row, long col) {
        int blk = (int) (col / blockSize);
        return (code(row, col) - zeroPoint(row, blk)) * scale(row, blk);
    }

    /** The whole matrix dequantized into a new owned F32 tensor {@code [N, K]} (for tests and oracles). */
    public Tensor dequantize() {
        Tensor out = Tensor.allocate(DType.F32, n, k);
        MemorySegment o = out.segment();
        for (long r = 0; r < n; r++) {
            for (int b = 0; b < kBlocks; b++) {
                float s = scale(r, b);
                int zp = zeroPoint(r, b);
                long end = Math.min(k, (long) (b + 1) * blockSize);
                for (long c = (long) b * blockSize; c < end; c++) {
                    o.set(F32, 4 * (r * k + c), (code(r, c) - zp) * s);
                }
            }
        }
        return out;
    }

    /** Frees the memory of an owned matrix; does nothing for a wrapped one. Idempotent. */
    @Override
    public void close() {
        if (owned) {
            data.close();
            scales.close();
            if (zeroPoints != null) {
                zeroPoints.close();
            }
        }
    }

    @Override
    public String toString() {
        return "QuantizedMatrix[" + bits + "-bit, block " + blockSize + ", N=" + n + ", K=" + k
                + (zeroPoints == null ? ", symmetric" : ", asymmetric") + ", scales " + scales.dtype()
                + (layout == Layout.ROWS ? "" : ", " + layout) + "]";
    }

    /** Whether the kernels' workers may read this matrix (false when it lives in a confined arena). */
    boolean shareable() {
        return RowExecutor.shareable(dataSeg, scaleSeg, zpSeg);
    }
}
