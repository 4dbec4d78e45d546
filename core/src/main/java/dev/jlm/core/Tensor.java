package dev.jlm.core;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * An n-dimensional array in off-heap memory: a shape, row-major strides (in elements), a {@link DType}
 * and a {@link MemorySegment} holding the elements in little-endian order.
 *
 * <p>A tensor either owns its memory (it was allocated with {@link #allocate}; {@link #close()} frees it)
 * or is a view on memory someone else owns: a mapped file, a caller's {@link Arena}, another tensor
 * ({@link #slice}, {@link #reshape}). Closing a view does nothing; using a view after its owner closed
 * fails with {@link IllegalStateException} rather than reading freed memory. Owned memory comes from a
 * shared arena, so a tensor may be read and written from many threads; synchronizing writers is the
 * caller's business. Allocations are 64-byte aligned; views may be unaligned.
 *
 * <p>Instances are immutable apart from the elements themselves.
 */
public final class Tensor implements AutoCloseable {
    /** Alignment of every allocation: one cache line, one AVX-512 vector. */
    public static final long ALIGNMENT = 64;

    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final DType dtype;
    private final long[] shape;
    private final long[] strides;
    private final MemorySegment data;
    private final Arena owner;

    private Tensor(DType dtype, long[] shape, long[] strides, MemorySegment data, Arena owner) {
        this.dtype = dtype;
        this.shape = shape;
        this.strides = strides;
        this.data = data;
        this.owner = owner;
    }

    // ---- construction -------------------------------------------------------------------------

    /** A new tensor that owns zero-filled, 64-byte aligned memory; close it to free the memory. */
    public static Tensor allocate(DType dtype, long... shape) {
        long[] s = checkShape(shape);
        Arena arena = Arena.ofShared();
        try {
            MemorySegment seg = arena.allocate(Math.max(1, dtype.byteSize(count(s))), ALIGNMENT);
            return new Tensor(dtype, s, rowMajorStrides(s), seg.asSlice(0, dtype.byteSize(count(s))), arena);
        } catch (RuntimeException | Error e) {
            arena.close();
            throw e;
        }
    }

    /** A new tensor in the caller's arena (64-byte aligned, zero-filled); its lifetime is the arena's. */
    public static Tensor allocate(Arena arena, DType dtype, long... shape) {
        long[] s = checkShape(shape);
        long bytes = dtype.byteSize(count(s));
        MemorySegment seg = arena.allocate(Math.max(1, bytes), ALIGNMENT).asSlice(0, bytes);
        return new Tensor(dtype, s, rowMajorStrides(s), seg, null);
    }

    /**
     * A contiguous row-major view on memory someone else owns (a mapped file, a caller's arena).
     *
     * @throws JlmException.InvalidArgument if the segment's size does not match the shape and dtype
     */
    public static Tensor wrap(MemorySegment segment, DType dtype, long... shape) {
        long[] s = checkShape(shape);
        long bytes = dtype.byteSize(count(s));
        if (segment.byteSize() != bytes) {
            throw new JlmException.InvalidArgument("tensor " + dtype + Arrays.toString(s) + " needs " + bytes
                    + " bytes but the memory holds " + segment.byteSize());
        }
        return new Tensor(dtype, s, rowMajorStrides(s), segment, null);
    }

    /** A new owned F32 tensor holding a copy of {@code values}. */
    public static Tensor of(float[] values, long... shape) {
        Tensor t = allocate(DType.F32, shape);
        if (t.size() != values.length) {
            t.close();
            throw new JlmException.InvalidArgument("shape " + Arrays.toString(shape) + " holds " + count(t.shape)
                    + " elements, not " + values.length);
        }
        MemorySegment.copy(values, 0, t.data, F32, 0, values.length);
        return t;
    }

    // ---- metadata -----------------------------------------------------------------------------

    public DType dtype() {
        return dtype;
    }

    /** The shape; a copy, so the caller may change it. */
    public long[] shape() {
        return shape.clone();
    }

    /** Strides in elements, row-major for a contiguous tensor; a copy. */
    public long[] strides() {
        return strides.clone();
    }

    public int rank() {
        return shape.length;
    }

    /** Size of dimension {@code axis}; negative axes count from the end. */
    public long dim(int axis) {
        return shape[normalizeAxis(axis)];
    }

    /** Number of elements. */
    public long size() {
        return count(shape);
    }

    /** Bytes the elements take when contiguous. */
    public long byteSize() {
        return dtype.byteSize(size());
    }

    /** True if the elements lie row-major and back to back, so {@link #segment()} can be read linearly. */
    public boolean isContiguous() {
        return contiguous(shape, strides);
    }

    private static boolean contiguous(long[] shape, long[] strides) {
        long expected = 1;
        for (int i = shape.length - 1; i >= 0; i--) {
            if (shape[i] != 1 && strides[i] != expected) {
                return false;
            }
            expected *= shape[i];
        }
        return true;
    }

    /** True if this tensor frees its memory on {@link #close()}. */
    public boolean ownsMemory() {
        return owner != null;
    }

    /**
     * The memory of the elements: for a contiguous tensor exactly {@link #byteSize()} bytes; for a strided
     * view, the span from the first to the last element.
     */
    public MemorySegment segment() {
        return data;
    }

    /** The segment of a contiguous tensor of the expected dtype, for kernels; otherwise a clear error naming {@code what}. */
    public MemorySegment requireContiguous(DType expected, String what) {
        if (dtype != expected) {
            throw new JlmException.InvalidArgument(what + ": expected " + expected + " but got " + dtype);
        }
        if (!isContiguous()) {
            throw new JlmException.InvalidArgument(what + ": a non-contiguous view is not supported here; copy it first");
        }
        return data;
    }

    // ---- views --------------------------------------------------------------------------------

    /** A view with another shape over the same contiguous elements (one dimension may be -1). */
    public Tensor reshape(long... newShape) {
        if (!isContiguous()) {
            throw new JlmException.InvalidArgument("cannot reshape a non-contiguous view " + this);
        }
        long[] s = newShape.clone();
        int infer = -1;
        long known = 1;
        for (int i = 0; i < s.length; i++) {
            if (s[i] == -1 && infer < 0) {
                infer = i;
            } else if (s[i] < 0) {
                throw new JlmException.InvalidArgument("bad dimension in reshape " + Arrays.toString(newShape));
            } else {
                known = Math.multiplyExact(known, s[i]);
            }
        }
        if (infer >= 0) {
            if (known == 0 || size() % known != 0) {
                throw new JlmException.InvalidArgument("cannot reshape " + this + " to " + Arrays.toString(newShape));
            }
            s[infer] = size() / known;
        }
        if (count(s) != size()) {
            throw new JlmException.InvalidArgument("cannot reshape " + this + " to " + Arrays.toString(newShape));
        }
        return new Tensor(dtype, s, rowMajorStrides(s), data, null);
    }

    /** A view of the range [from, to) along {@code axis}, without copying. */
    public Tensor slice(int axis, long from, long to) {
        int a = normalizeAxis(axis);
        if (from < 0 || to > shape[a] || from > to) {
            throw new JlmException.InvalidArgument("slice [" + from + ", " + to + ") out of bounds for axis " + a + " of " + this);
        }
        long[] s = shape.clone();
        s[a] = to - from;
        long startElem = from * strides[a];
        if (dtype.isPacked() && (startElem % 2 != 0 || !contiguous(s, strides))) {
            throw new JlmException.InvalidArgument("a slice of packed " + dtype + " must be contiguous and start on a byte boundary");
        }
        long startByte = dtype.byteSize(startElem);
        long span = spanBytes(s, strides, dtype);
        return new Tensor(dtype, s, strides.clone(), data.asSlice(startByte, span), null);
    }

    /** The sub-tensor at {@code index} of the first axis, one rank lower; a view. */
    public Tensor get(long index) {
        if (shape.length == 0) {
            throw new JlmException.InvalidArgument("cannot index a scalar");
        }
        Tensor row = slice(0, index, index + 1);
        long[] s = Arrays.copyOfRange(row.shape, 1, row.shape.length);
        long[] st = Arrays.copyOfRange(row.strides, 1, row.strides.length);
        return new Tensor(dtype, s, st, row.data, null);
    }

    /** A new owned, contiguous copy (also the way to make a strided view contiguous). */
    public Tensor copy() {
        Tensor out = allocate(dtype, shape);
        try {
            copyInto(out);
            return out;
        } catch (RuntimeException e) {
            out.close();
            throw e;
        }
    }

    /** Copies the elements into {@code dst}, which must have the same dtype and shape. */
    public void copyInto(Tensor dst) {
        if (dst.dtype != dtype || !Arrays.equals(dst.shape, shape)) {
            throw new JlmException.InvalidArgument("cannot copy " + this + " into " + dst);
        }
        if (isContiguous() && dst.isContiguous()) {
            MemorySegment.copy(data, 0, dst.data, 0, byteSize());
            return;
        }
        if (dtype.isPacked()) {
            throw new JlmException.InvalidArgument("strided copy of packed " + dtype + " is not supported");
        }
        int elemBytes = dtype.bits() / 8;
        long n = size();
        long[] idx = new long[shape.length];
        for (long i = 0; i < n; i++) {
            MemorySegment.copy(data, offsetOf(idx, strides) * elemBytes, dst.data, offsetOf(idx, dst.strides) * elemBytes, elemBytes);
            increment(idx, shape);
        }
    }

    // ---- element access (API edges and tests; kernels use the segment) -------------------------

    /** The element at {@code index} as a float, for every numeric dtype. */
    public float getFloat(long... index) {
        return (float) getDouble(index);
    }

    /** The element at {@code index} as a double, for every numeric dtype. */
    public double getDouble(long... index) {
        long e = elementOffset(index);
        return switch (dtype) {
            case F32 -> data.get(F32, e * 4);
            case F64 -> data.get(F64, e * 8);
            case F16 -> Float.float16ToFloat(data.get(I16, e * 2));
            case BF16 -> Float.intBitsToFloat((data.get(I16, e * 2) & 0xffff) << 16);
            case I8 -> data.get(ValueLayout.JAVA_BYTE, e);
            case U8, BOOL -> data.get(ValueLayout.JAVA_BYTE, e) & 0xff;
            case I16 -> data.get(I16, e * 2);
            case U16 -> data.get(I16, e * 2) & 0xffff;
            case I32 -> data.get(I32, e * 4);
            case U32 -> data.get(I32, e * 4) & 0xffffffffL;
            case I64 -> data.get(I64, e * 8);
            case U64 -> {
                long v = data.get(I64, e * 8);
                yield v >= 0 ? v : (double) (v >>> 1) * 2.0 + (v & 1);
            }
            case I4, U4 -> {
                int b = data.get(ValueLayout.JAVA_BYTE, e >>> 1) & 0xff;
                int nib = (e & 1) == 0 ? b & 0xf : b >>> 4;
                yield dtype == DType.I4 ? (nib ^ 8) - 8 : nib;
            }
        };
    }

    /** Sets the element at {@code index}, rounding to the dtype (nearest-even for F16/BF16, truncation for integers). */
    public void setDouble(double value, long... index) {
        long e = elementOffset(index);
        switch (dtype) {
            case F32 -> data.set(F32, e * 4, (float) value);
            case F64 -> data.set(F64, e * 8, value);
            case F16 -> data.set(I16, e * 2, Float.floatToFloat16((float) value));
            case BF16 -> data.set(I16, e * 2, (short) (bf16Bits((float) value)));
            case I8, U8, BOOL -> data.set(ValueLayout.JAVA_BYTE, e, (byte) (long) value);
            case I16, U16 -> data.set(I16, e * 2, (short) (long) value);
            case I32, U32 -> data.set(I32, e * 4, (int) (long) value);
            case I64, U64 -> data.set(I64, e * 8, (long) value);
            case I4, U4 -> {
                long at = e >>> 1;
                int b = data.get(ValueLayout.JAVA_BYTE, at) & 0xff;
                int nib = (int) (long) value & 0xf;
                b = (e & 1) == 0 ? (b & 0xf0) | nib : (b & 0x0f) | (nib << 4);
                data.set(ValueLayout.JAVA_BYTE, at, (byte) b);
            }
        }
    }

    /** Sets the element at {@code index} from a float. */
    public void setFloat(float value, long... index) {
        setDouble(value, index);
    }

    /** All elements, converted to float, in row-major order (a heap copy; for API edges and tests). */
    public float[] toFloatArray() {
        long n = size();
        if (n > Integer.MAX_VALUE - 8) {
            throw new JlmException.InvalidArgument(this + " is too large for a Java array");
        }
        float[] out = new float[(int) n];
        if (dtype == DType.F32 && isContiguous()) {
            MemorySegment.copy(data, F32, 0, out, 0, out.length);
            return out;
        }
        long[] idx = new long[shape.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = getFloat(idx);
            increment(idx, shape);
        }
        return out;
    }

    /** Frees the memory if this tensor owns it; a view's close does nothing. Idempotent. */
    @Override
    public void close() {
        if (owner != null && owner.scope().isAlive()) {
            owner.close();
        }
    }

    @Override
    public String toString() {
        return "Tensor[" + dtype + " " + Arrays.toString(shape) + (isContiguous() ? "" : " strided") + "]";
    }

    // ---- helpers ------------------------------------------------------------------------------

    /** Round-to-nearest-even float to bfloat16 bits, NaN kept quiet. */
    static int bf16Bits(float f) {
        int bits = Float.floatToRawIntBits(f);
        if ((bits & 0x7fffffff) > 0x7f800000) {
            return (bits >>> 16) | 0x40;
        }
        return (bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16;
    }

    private long elementOffset(long[] index) {
        if (index.length != shape.length) {
            throw new JlmException.InvalidArgument("index of rank " + index.length + " for " + this);
        }
        long off = 0;
        for (int i = 0; i < index.length; i++) {
            if (index[i] < 0 || index[i] >= shape[i]) {
                throw new JlmException.InvalidArgument("index " + Arrays.toString(index) + " out of bounds for " + this);
            }
            off += index[i] * strides[i];
        }
        return off;
    }

    private int normalizeAxis(int axis) {
        int a = axis < 0 ? axis + shape.length : axis;
        if (a < 0 || a >= shape.length) {
            throw new JlmException.InvalidArgument("axis " + axis + " out of range for " + this);
        }
        return a;
    }

    private static long offsetOf(long[] idx, long[] strides) {
        long off = 0;
        for (int i = 0; i < idx.length; i++) {
            off += idx[i] * strides[i];
        }
        return off;
    }

    private static void increment(long[] idx, long[] shape) {
        for (int i = idx.length - 1; i >= 0; i--) {
            if (++idx[i] < shape[i]) {
                return;
            }
            idx[i] = 0;
        }
    }

    private static long spanBytes(long[] shape, long[] strides, DType dtype) {
        if (count(shape) == 0) {
            return 0;
        }
        long last = 0;
        for (int i = 0; i < shape.length; i++) {
            last += (shape[i] - 1) * strides[i];
        }
        return dtype.byteSize(last + 1);
    }

    private static long[] checkShape(long[] shape) {
        for (long d : shape) {
            if (d < 0) {
                throw new JlmException.InvalidArgument("negative dimension in shape " + Arrays.toString(shape));
            }
        }
        count(shape);
        return shape.clone();
    }

    static long count(long[] shape) {
        long n = 1;
        try {
            for (long d : shape) {
                n = Math.multiplyExact(n, d);
            }
        } catch (ArithmeticException e) {
            throw new JlmException.InvalidArgument("shape " + Arrays.toString(shape) + " has too many elements");
        }
        return n;
    }

    static long[] rowMajorStrides(long[] shape) {
        long[] st = new long[shape.length];
        long s = 1;
        for (int i = shape.length - 1; i >= 0; i--) {
            st[i] = s;
            s *= shape[i];
        }
        return st;
    }
}
