package dev.jlm.simd.quant;

import dev.jlm.core.DType;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.LongVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Decode (M = 1) for 16 float lanes: {@code y[r] = sum_blk s[r, blk] (sum_k q[r, k] a[k] - zp[r, blk] asum[blk])}.
 *
 * <p>Four weight rows are read per pass, sharing the loads of A. Per chunk of 16 code bytes and row: one
 * zero-extending load to int lanes, a shift for the high nibbles (4 bits), two int-to-float conversions and two
 * FMAs into a per-block partial; per block and row one FMA folds the partial into the row's accumulator with the
 * block's scale. No reduction runs inside the K loop: each row is reduced once at the end. The zero-point term
 * {@code sum_blk s zp asum} runs as a separate vector pass over the row's scales and packed zero points.
 *
 * <p>Needs {@code blobBytes % 16 == 0} (4 bits: block >= 32; 8 bits: any block) and A arranged as
 * {@link VectorQMatMul} arranges it (per 32 values of a 4-bit row: the even k, then the odd k).
 */
final class Gemv {
    private static final VectorSpecies<Float> F = FloatVector.SPECIES_512;
    private static final VectorSpecies<Integer> I = IntVector.SPECIES_512;
    private static final VectorSpecies<Byte> B = ByteVector.SPECIES_128;
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    /** Rows per pass. */
    static final int ROWS = 4;
    /** Duplicates bytes 0..7 into pairs, so that packed 4-bit zero points unpack in block order. */
    private static final VectorShuffle<Byte> PAIRS = VectorShuffle.fromOp(B, i -> i / 2);
    /** Shift per lane: 0 for the low nibble (even block), 4 for the high one. */
    private static final IntVector NIBBLE_SHIFT = IntVector.fromArray(I, new int[]{0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4}, 0);

    private Gemv() {
    }

    static boolean supports(QuantizedMatrix b) {
        return b.blobBytes() % 16 == 0;
    }

    /** Rows {@code [from, to)} of {@code y = a x dequant(b)^T + bias}. */
    static void rows(QuantizedMatrix b, long from, long to, float[] ap, float[] asum, float[] bias, MemorySegment ys) {
        int kb = b.kBlocks();
        float[] sc = new float[ROWS * kb];
        float[] out = new float[ROWS];
        long r = from;
        for (; r + ROWS <= to; r += ROWS) {
            for (int i = 0; i < ROWS; i++) {
                scales(b, r + i, sc, i * kb);
            }
            if (b.bits() == 4) {
                four(b, r, ap, sc, out);
            } else {
                eight(b, r, ap, sc, out);
            }
            for (int i = 0; i < ROWS; i++) {
                float v = out[i] - zeroPointTerm(b, r + i, sc, i * kb, asum);
                ys.set(F32, 4 * (r + i), v + (bias == null ? 0f : bias[(int) (r + i)]));
            }
        }
        for (; r < to; r++) {
            scales(b, r, sc, 0);
            float v = single(b, r, ap, sc) - zeroPointTerm(b, r, sc, 0, asum);
            ys.set(F32, 4 * r, v + (bias == null ? 0f : bias[(int) r]));
        }
    }

    /** The scales of row {@code r} as floats into {@code sc[off .. off + kBlocks)}. */
    private static void scales(QuantizedMatrix b, long r, float[] sc, int off) {
        int kb = b.kBlocks();
        if (b.scaleType() == DType.F32) {
            MemorySegment.copy(b.scales().segment(), F32, 4L * r * kb, sc, off, kb);
        } else {
            for (int blk = 0; blk < kb; blk++) {
                sc[off + blk] = b.scale(r, blk);
            }
        }
    }

    /** {@code sum_blk s[blk] zp[blk] asum[blk]} for row {@code r}, its scales in {@code sc[off ..]}. */
    private static float zeroPointTerm(QuantizedMatrix b, long r, float[] sc, int off, float[] asum) {
        int kb = b.kBlocks();
        int bound = kb & ~15;
        FloatVector acc = FloatVector.zero(F);
        int blk = 0;
        if (!b.hasZeroPoints()) {
            for (; blk < bound; blk += 16) {
                acc = FloatVector.fromArray(F, sc, off + blk).fma(FloatVector.fromArray(F, asum, blk), acc);
            }
            float sum = acc.reduceLanes(VectorOperators.ADD);
            for (; blk < kb; blk++) {
                sum += sc[off + blk] * asum[blk];
            }
            return sum * b.defaultZeroPoint();
        }
        MemorySegment zs = b.zeroPoints().segment();
        long zOff = r * b.zeroPointBytesPerRow();
        if (b.bits() == 4) {
            // 16 blocks per 8 bytes; a whole long is read only when it lies inside the row.
            for (; blk < bound && (blk >> 1) + 8 <= b.zeroPointBytesPerRow(); blk += 16) {
                long packed = zs.get(I64, zOff + (blk >> 1));
                IntVector z = (IntVector) ((ByteVector) LongVector.broadcast(LongVector.SPECIES_128, packed).reinterpretAsBytes())
                        .rearrange(PAIRS).convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0);
                FloatVector zf = (FloatVector) z.lanewise(VectorOperators.LSHR, NIBBLE_SHIFT).and(0xf).convert(VectorOperators.I2F, 0);
                acc = FloatVector.fromArray(F, sc, off + blk).mul(FloatVector.fromArray(F, asum, blk)).fma(zf, acc);
            }
        } else {
            for (; blk < bound; blk += 16) {
                IntVector z = (IntVector) ByteVector.fromMemorySegment(B, zs, zOff + blk, ByteOrder.LITTLE_ENDIAN)
                        .convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0);
                FloatVector zf = (FloatVector) z.convert(VectorOperators.I2F, 0);
                acc = FloatVector.fromArray(F, sc, off + blk).mul(FloatVector.fromArray(F, asum, blk)).fma(zf, acc);
            }
        }
        float sum = acc.reduceLanes(VectorOperators.ADD);
        for (; blk < kb; blk++) {
            sum += sc[off + blk] * b.zeroPoint(r, blk) * asum[blk];
        }
        return sum;
    }

    private static IntVector codes(MemorySegment d, long off) {
        return (IntVector) ByteVector.fromMemorySegment(B, d, off, ByteOrder.LITTLE_ENDIAN)
                .convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0);
    }

    private static FloatVector lo(IntVector v) {
        return (FloatVector) v.and(0xf).convert(VectorOperators.I2F, 0);
    }

    private static FloatVector hi(IntVector v) {
        // zero-extended bytes: the shift alone leaves the high nibble
        return (FloatVector) v.lanewise(VectorOperators.LSHR, 4).convert(VectorOperators.I2F, 0);
    }

    private static FloatVector f(IntVector v) {
        return (FloatVector) v.convert(VectorOperators.I2F, 0);
    }

    /** Four 4-bit rows from {@code r}: {@code out[i] = sum_blk s sum_k q a} (zero points not subtracted). */
    private static void four(QuantizedMatrix b, long r, float[] ap, float[] sc, float[] out) {
        MemorySegment d = b.data().segment();
        int kb = b.kBlocks();
        int blob = b.blobBytes();
        int block = b.blockSize();
        long rowBytes = (long) kb * blob;
        long o0 = r * rowBytes;
        long o1 = o0 + rowBytes;
        long o2 = o1 + rowBytes;
        long o3 = o2 + rowBytes;
        FloatVector acc0 = FloatVector.zero(F);
        FloatVector acc1 = FloatVector.zero(F);
        FloatVector acc2 = FloatVector.zero(F);
        FloatVector acc3 = FloatVector.zero(F);
        for (int blk = 0; blk < kb; blk++) {
            long o = (long) blk * blob;
            int ai = blk * block;
            FloatVector aLo = FloatVector.fromArray(F, ap, ai);
            FloatVector aHi = FloatVector.fromArray(F, ap, ai + 16);
            IntVector v0 = codes(d, o0 + o);
            IntVector v1 = codes(d, o1 + o);
            IntVector v2 = codes(d, o2 + o);
            IntVector v3 = codes(d, o3 + o);
            FloatVector p0 = lo(v0).mul(aLo);
            FloatVector p1 = lo(v1).mul(aLo);
            FloatVector p2 = lo(v2).mul(aLo);
            FloatVector p3 = lo(v3).mul(aLo);
            p0 = hi(v0).fma(aHi, p0);
            p1 = hi(v1).fma(aHi, p1);
            p2 = hi(v2).fma(aHi, p2);
            p3 = hi(v3).fma(aHi, p3);
            for (int c = 16; c < blob; c += 16) {
                aLo = FloatVector.fromArray(F, ap, ai + 2 * c);
                aHi = FloatVector.fromArray(F, ap, ai + 2 * c + 16);
                v0 = codes(d, o0 + o + c);
                v1 = codes(d, o1 + o + c);
                v2 = codes(d, o2 + o + c);
                v3 = codes(d, o3 + o + c);
                p0 = lo(v0).fma(aLo, p0);
                p1 = lo(v1).fma(aLo, p1);
                p2 = lo(v2).fma(aLo, p2);
                p3 = lo(v3).fma(aLo, p3);
                p0 = hi(v0).fma(aHi, p0);
                p1 = hi(v1).fma(aHi, p1);
                p2 = hi(v2).fma(aHi, p2);
                p3 = hi(v3).fma(aHi, p3);
            }
            acc0 = p0.fma(FloatVector.broadcast(F, sc[blk]), acc0);
            acc1 = p1.fma(FloatVector.broadcast(F, sc[kb + blk]), acc1);
            acc2 = p2.fma(FloatVector.broadcast(F, sc[2 * kb + blk]), acc2);
            acc3 = p3.fma(FloatVector.broadcast(F, sc[3 * kb + blk]), acc3);
        }
        out[0] = acc0.reduceLanes(VectorOperators.ADD);
        out[1] = acc1.reduceLanes(VectorOperators.ADD);
        out[2] = acc2.reduceLanes(VectorOperators.ADD);
        out[3] = acc3.reduceLanes(VectorOperators.ADD);
    }

    /** Four 8-bit rows from {@code r}. */
    private static void eight(QuantizedMatrix b, long r, float[] ap, float[] sc, float[] out) {
        MemorySegment d = b.data().segment();
        int kb = b.kBlocks();
        int blob = b.blobBytes();
        long rowBytes = (long) kb * blob;
        long o0 = r * rowBytes;
        long o1 = o0 + rowBytes;
        long o2 = o1 + rowBytes;
        long o3 = o2 + rowBytes;
        FloatVector acc0 = FloatVector.zero(F);
        FloatVector acc1 = FloatVector.zero(F);
        FloatVector acc2 = FloatVector.zero(F);
        FloatVector acc3 = FloatVector.zero(F);
        for (int blk = 0; blk < kb; blk++) {
            long o = (long) blk * blob;
            int ai = blk * blob;
            FloatVector a = FloatVector.fromArray(F, ap, ai);
            FloatVector p0 = f(codes(d, o0 + o)).mul(a);
            FloatVector p1 = f(codes(d, o1 + o)).mul(a);
            FloatVector p2 = f(codes(d, o2 + o)).mul(a);
            FloatVector p3 = f(codes(d, o3 + o)).mul(a);
            for (int c = 16; c < blob; c += 16) {
                a = FloatVector.fromArray(F, ap, ai + c);
                p0 = f(codes(d, o0 + o + c)).fma(a, p0);
                p1 = f(codes(d, o1 + o + c)).fma(a, p1);
                p2 = f(codes(d, o2 + o + c)).fma(a, p2);
                p3 = f(codes(d, o3 + o + c)).fma(a, p3);
            }
            acc0 = p0.fma(FloatVector.broadcast(F, sc[blk]), acc0);
            acc1 = p1.fma(FloatVector.broadcast(F, sc[kb + blk]), acc1);
            acc2 = p2.fma(FloatVector.broadcast(F, sc[2 * kb + blk]), acc2);
            acc3 = p3.fma(FloatVector.broadcast(F, sc[3 * kb + blk]), acc3);
        }
        out[0] = acc0.reduceLanes(VectorOperators.ADD);
        out[1] = acc1.reduceLanes(VectorOperators.ADD);
        out[2] = acc2.reduceLanes(VectorOperators.ADD);
        out[3] = acc3.reduceLanes(VectorOperators.ADD);
    }

    /** One row (the tail of a part). */
    private static float single(QuantizedMatrix b, long r, float[] ap, float[] sc) {
        MemorySegment d = b.data().segment();
        int kb = b.kBlocks();
        int blob = b.blobBytes();
        int block = b.blockSize();
        long o0 = r * kb * blob;
        boolean four = b.bits() == 4;
        FloatVector acc = FloatVector.zero(F);
        for (int blk = 0; blk < kb; blk++) {
            long o = o0 + (long) blk * blob;
            int ai = blk * block;
            FloatVector p = FloatVector.zero(F);
            for (int c = 0; c < blob; c += 16) {
                IntVector v = codes(d, o + c);
                if (four) {
                    p = lo(v).fma(FloatVector.fromArray(F, ap, ai + 2 * c), p);
                    p = hi(v).fma(FloatVector.fromArray(F, ap, ai + 2 * c + 16), p);
                } else {
                    p = f(v).fma(FloatVector.fromArray(F, ap, ai + c), p);
                }
            }
            acc = p.fma(FloatVector.broadcast(F, sc[blk]), acc);
        }
        return acc.reduceLanes(VectorOperators.ADD);
    }
}
