package dev.jlm.simd.quant;

import dev.jlm.core.DType;
import dev.jlm.core.Simd;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.LongVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Decode (M = 1) for L = 16 or 8 float lanes (AVX-512, AVX2): {@code y[r] = sum_blk s[r, blk] (sum_k q[r, k] a[k] -
 * zp[r, blk] asum[blk])}. Below, figures are for 16 lanes; with 8 a group is 32 code bytes (64 k) and a chunk 8 bytes.
 *
 * <p>Four weight rows are read per pass, sharing the loads of A. 4 bits: each group of 64 code bytes (128 k) of a
 * row is one load of 16 int lanes holding 8 nibbles each; nibble {@code t} is isolated in place by one mask
 * ({@code 0xF << 4t}; the top nibble by a shift) and converted exactly to {@code q 2^4t}, A being arranged once per
 * call so that step {@code t} of lane {@code j} holds {@code a[8j + t] 2^-4t} ({@link #arrange4}). Per 16 weights
 * and row: one mask, one int-to-float conversion, one FMA; per group and row one FMA with a vector of the
 * lanes' block scales. Blocks after the last whole group (and 8-bit rows: one zero-extending load and one
 * conversion per 16 codes) take a loop over 16-byte chunks with one FMA per block and row for the scale. No
 * reduction runs inside the K loop: each row is reduced once at the end. The zero-point term
 * {@code sum_blk s zp asum} runs as a separate vector pass over the row's scales and packed zero points.
 *
 * <p>Needs {@code blobBytes % L == 0} (16 lanes, 4 bits: block >= 32; 8 bits: any block), or 4-bit rows of whole
 * groups (then blocks of 16 too, read by the group loop alone, {@link #EX16} giving each lane its block's scale),
 * and A arranged as
 * {@link VectorQMatMul} arranges it (per 32 values of a 4-bit row: the even k, then the odd k), then, for 4 bits,
 * its whole groups rearranged by {@link #arrange4}.
 */
final class Gemv {
    private static final VectorSpecies<Float> F = Simd.FLOAT;
    /** Float lanes: 16 or 8 ({@link VectorQMatMul} takes other widths elsewhere). */
    private static final int L = F.length();
    private static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());
    /** L bytes: a chunk of codes, widened to L int lanes (at least the narrowest shape, 64 bits). */
    private static final VectorSpecies<Byte> B = VectorSpecies.of(byte.class, VectorShape.forBitSize(Math.max(64, 8 * L)));
    /** A group of codes: 4L bytes, one vector of L int lanes. */
    private static final VectorSpecies<Byte> B64 = VectorSpecies.of(byte.class, F.vectorShape());
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    /** Rows per pass. */
    static final int ROWS = 4;
    /** Duplicates bytes 0..L/2-1 into pairs, so that packed 4-bit zero points unpack in block order. */
    static final VectorShuffle<Byte> PAIRS = VectorShuffle.fromOp(B, i -> i / 2);
    /** Shift per lane: 0 for the low nibble (even block), 4 for the high one. */
    static final IntVector NIBBLE_SHIFT = IntVector.fromArray(I, new int[]{0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4, 0, 4}, 0);

    /** k per group of 4L code bytes (4 bits): L int lanes of 8 nibbles. */
    static final int GROUP = 8 * L;
    private static final int GROUP_BYTES = 4 * L;
    /** Exact powers of two that undo, in the arranged A, the place of nibble t in its int lane. */
    private static final float[] NIBBLE_WEIGHT = {1f, 0x1p-4f, 0x1p-8f, 0x1p-12f, 0x1p-16f, 0x1p-20f, 0x1p-24f, 1f};
    /** Lane j of a group to its block's scale, for blocks of 16, 32, 64 and >= 128 k. */
    private static final VectorShuffle<Float> EX16 = VectorShuffle.fromOp(F, j -> j / 2);
    private static final VectorShuffle<Float> EX32 = VectorShuffle.fromOp(F, j -> j / 4);
    private static final VectorShuffle<Float> EX64 = VectorShuffle.fromOp(F, j -> j / 8);
    private static final VectorShuffle<Float> EX128 = VectorShuffle.fromOp(F, j -> 0);

    private Gemv() {
    }

    /** Lane j of a group (k = 8j .. 8j+7) to its block's place among the group's blocks, for this block size. */
    static VectorShuffle<Float> scaleLanes(int block) {
        return switch (block) {
            case 16 -> EX16;
            case 32 -> EX32;
            case 64 -> EX64;
            default -> EX128;
        };
    }

    static boolean supports(QuantizedMatrix b) {
        // 4-bit blocks of 16 (8 bytes) when the rows are whole groups: the group loop alone reads them
        return b.blobBytes() % L == 0 || (b.bits() == 4 && (long) b.kBlocks() * b.blobBytes() % GROUP_BYTES == 0);
    }

    /** Rows {@code [from, to)} of {@code y = a x dequant(b)^T + bias}. */
    static void rows(QuantizedMatrix b, long from, long to, float[] ap, float[] asum, float[] bias, MemorySegment ys) {
        if (from % ROWS != 0) {
            // four-row passes must not straddle the interleaved layout's groups of four rows
            throw new IllegalStateException("decode rows must start at a multiple of " + ROWS + ", not " + from);
        }
        int kb = b.kBlocks();
        // L floats of slack: a group reads one vector of scales from its first block on
        float[] sc = new float[ROWS * kb + L];
        float[] out = new float[ROWS];
        VectorShuffle<Float> ex = scaleLanes(b.blockSize());
        long r = from;
        for (; r + ROWS <= to; r += ROWS) {
            for (int i = 0; i < ROWS; i++) {
                scales(b, r + i, sc, i * kb);
            }
            if (b.bits() == 4) {
                four(b, r, ap, sc, out, ex);
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
            float v = single(b, r, ap, sc, ex) - zeroPointTerm(b, r, sc, 0, asum);
            ys.set(F32, 4 * r, v + (bias == null ? 0f : bias[(int) r]));
        }
    }

    /** The scales of row {@code r} as floats into {@code sc[off .. off + kBlocks)}. */
    static void scales(QuantizedMatrix b, long r, float[] sc, int off) {
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
        int bound = kb & -L;
        FloatVector acc = FloatVector.zero(F);
        int blk = 0;
        if (!b.hasZeroPoints()) {
            for (; blk < bound; blk += L) {
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
            // L blocks per L / 2 bytes, from 8 bytes read where they lie inside the row (16 lanes: a long broadcast
            // to 16 bytes; 8 lanes: an 8-byte vector, of which the first 4 are used)
            for (; blk < bound && (blk >> 1) + 8 <= b.zeroPointBytesPerRow(); blk += L) {
                ByteVector packed = L == 16
                        ? (ByteVector) LongVector.broadcast(LongVector.SPECIES_128, zs.get(I64, zOff + (blk >> 1))).reinterpretAsBytes()
                        : ByteVector.fromMemorySegment(B, zs, zOff + (blk >> 1), ByteOrder.LITTLE_ENDIAN);
                IntVector z = (IntVector) packed.rearrange(PAIRS).convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0);
                FloatVector zf = (FloatVector) z.lanewise(VectorOperators.LSHR, NIBBLE_SHIFT).and(0xf).convert(VectorOperators.I2F, 0);
                acc = FloatVector.fromArray(F, sc, off + blk).mul(FloatVector.fromArray(F, asum, blk)).fma(zf, acc);
            }
        } else {
            for (; blk < bound; blk += L) {
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

    /**
     * Four 4-bit rows from {@code r}: {@code out[i] = sum_blk s sum_k q a} (zero points not subtracted).
     *
     * <p>Groups of 64 code bytes (128 k) are read as 16 int lanes of 8 nibbles each; nibble {@code t} of every
     * lane is isolated in place by one mask ({@code v & 0xF << 4t}; nibble 7 by a shift) and converted exactly
     * to {@code q 2^4t}; A is arranged to match ({@link #arrange4}: lane j, step t holds {@code a[8j + t] 2^-4t}).
     * Per 16 weights and row: one mask, one conversion, one FMA; per group and row the partial (its lanes lie
     * in {@code 128 / block} blocks) is scaled by a vector of the lanes' block scales. Each row's partial is kept
     * as two sums (even and odd t) added before the scaling: with one chain of eight dependent FMAs per group the
     * chain's latency, not the ports, set the pace (about 7% slower at 4096 x 4096 on a Zen 5 core). Blocks after
     * the last whole group run the 16-byte loop of the tail.
     */
    private static void four(QuantizedMatrix b, long r, float[] ap, float[] sc, float[] out, VectorShuffle<Float> ex) {
        MemorySegment d = b.data().segment();
        int kb = b.kBlocks();
        int blob = b.blobBytes();
        int block = b.blockSize();
        int groups = kb * block / GROUP;
        int blockShift = Integer.numberOfTrailingZeros(block);   // block sizes are powers of two
        // bytes per group (64), not a compile-time constant: with a constant stride C2 guards each load with a
        // long chain of clamping instructions instead of a compare and a branch
        // (64) for the row layout; in the interleaved one the four rows' groups lie side by side, 256 bytes apart
        int groupBytes = GROUP * blob / block << (b.unitShift(r) - 6);
        int shift = b.unitShift(r);   // with 8 lanes a group is half a 64-byte unit: its offset goes through unit()
        long o0 = b.rowBase(r);
        long o1 = b.rowBase(r + 1);
        long o2 = b.rowBase(r + 2);
        long o3 = b.rowBase(r + 3);
        IntVector m0 = IntVector.broadcast(I, 0xF);
        IntVector m1 = IntVector.broadcast(I, 0xF0);
        IntVector m2 = IntVector.broadcast(I, 0xF00);
        IntVector m3 = IntVector.broadcast(I, 0xF000);
        IntVector m4 = IntVector.broadcast(I, 0xF0000);
        IntVector m5 = IntVector.broadcast(I, 0xF00000);
        IntVector m6 = IntVector.broadcast(I, 0xF000000);
        FloatVector acc0 = FloatVector.zero(F);
        FloatVector acc1 = FloatVector.zero(F);
        FloatVector acc2 = FloatVector.zero(F);
        FloatVector acc3 = FloatVector.zero(F);
        for (int g = 0; g < groups; g++) {
            long o = L == 16 ? (long) groupBytes * g : QuantizedMatrix.unit((long) GROUP_BYTES * g, shift);
            int ai = GROUP * g;
            IntVector v0 = ByteVector.fromMemorySegment(B64, d, o0 + o, ByteOrder.LITTLE_ENDIAN).reinterpretAsInts();
            IntVector v1 = ByteVector.fromMemorySegment(B64, d, o1 + o, ByteOrder.LITTLE_ENDIAN).reinterpretAsInts();
            IntVector v2 = ByteVector.fromMemorySegment(B64, d, o2 + o, ByteOrder.LITTLE_ENDIAN).reinterpretAsInts();
            IntVector v3 = ByteVector.fromMemorySegment(B64, d, o3 + o, ByteOrder.LITTLE_ENDIAN).reinterpretAsInts();
            FloatVector a = FloatVector.fromArray(F, ap, ai);
            FloatVector p0 = ((FloatVector) v0.and(m0).convert(VectorOperators.I2F, 0)).mul(a);
            FloatVector p1 = ((FloatVector) v1.and(m0).convert(VectorOperators.I2F, 0)).mul(a);
            FloatVector p2 = ((FloatVector) v2.and(m0).convert(VectorOperators.I2F, 0)).mul(a);
            FloatVector p3 = ((FloatVector) v3.and(m0).convert(VectorOperators.I2F, 0)).mul(a);
            a = FloatVector.fromArray(F, ap, ai + 1 * L);
            FloatVector q0 = ((FloatVector) v0.and(m1).convert(VectorOperators.I2F, 0)).mul(a);
            FloatVector q1 = ((FloatVector) v1.and(m1).convert(VectorOperators.I2F, 0)).mul(a);
            FloatVector q2 = ((FloatVector) v2.and(m1).convert(VectorOperators.I2F, 0)).mul(a);
            FloatVector q3 = ((FloatVector) v3.and(m1).convert(VectorOperators.I2F, 0)).mul(a);
            a = FloatVector.fromArray(F, ap, ai + 2 * L);
            p0 = ((FloatVector) v0.and(m2).convert(VectorOperators.I2F, 0)).fma(a, p0);
            p1 = ((FloatVector) v1.and(m2).convert(VectorOperators.I2F, 0)).fma(a, p1);
            p2 = ((FloatVector) v2.and(m2).convert(VectorOperators.I2F, 0)).fma(a, p2);
            p3 = ((FloatVector) v3.and(m2).convert(VectorOperators.I2F, 0)).fma(a, p3);
            a = FloatVector.fromArray(F, ap, ai + 3 * L);
            q0 = ((FloatVector) v0.and(m3).convert(VectorOperators.I2F, 0)).fma(a, q0);
            q1 = ((FloatVector) v1.and(m3).convert(VectorOperators.I2F, 0)).fma(a, q1);
            q2 = ((FloatVector) v2.and(m3).convert(VectorOperators.I2F, 0)).fma(a, q2);
            q3 = ((FloatVector) v3.and(m3).convert(VectorOperators.I2F, 0)).fma(a, q3);
            a = FloatVector.fromArray(F, ap, ai + 4 * L);
            p0 = ((FloatVector) v0.and(m4).convert(VectorOperators.I2F, 0)).fma(a, p0);
            p1 = ((FloatVector) v1.and(m4).convert(VectorOperators.I2F, 0)).fma(a, p1);
            p2 = ((FloatVector) v2.and(m4).convert(VectorOperators.I2F, 0)).fma(a, p2);
            p3 = ((FloatVector) v3.and(m4).convert(VectorOperators.I2F, 0)).fma(a, p3);
            a = FloatVector.fromArray(F, ap, ai + 5 * L);
            q0 = ((FloatVector) v0.and(m5).convert(VectorOperators.I2F, 0)).fma(a, q0);
            q1 = ((FloatVector) v1.and(m5).convert(VectorOperators.I2F, 0)).fma(a, q1);
            q2 = ((FloatVector) v2.and(m5).convert(VectorOperators.I2F, 0)).fma(a, q2);
            q3 = ((FloatVector) v3.and(m5).convert(VectorOperators.I2F, 0)).fma(a, q3);
            a = FloatVector.fromArray(F, ap, ai + 6 * L);
            p0 = ((FloatVector) v0.and(m6).convert(VectorOperators.I2F, 0)).fma(a, p0);
            p1 = ((FloatVector) v1.and(m6).convert(VectorOperators.I2F, 0)).fma(a, p1);
            p2 = ((FloatVector) v2.and(m6).convert(VectorOperators.I2F, 0)).fma(a, p2);
            p3 = ((FloatVector) v3.and(m6).convert(VectorOperators.I2F, 0)).fma(a, p3);
            a = FloatVector.fromArray(F, ap, ai + 7 * L);
            q0 = ((FloatVector) v0.lanewise(VectorOperators.LSHR, 28).convert(VectorOperators.I2F, 0)).fma(a, q0);
            q1 = ((FloatVector) v1.lanewise(VectorOperators.LSHR, 28).convert(VectorOperators.I2F, 0)).fma(a, q1);
            q2 = ((FloatVector) v2.lanewise(VectorOperators.LSHR, 28).convert(VectorOperators.I2F, 0)).fma(a, q2);
            q3 = ((FloatVector) v3.lanewise(VectorOperators.LSHR, 28).convert(VectorOperators.I2F, 0)).fma(a, q3);
            int s = GROUP * g >>> blockShift;   // (a shift: a division here compiled to a 64-bit idiv per group)
            acc0 = p0.add(q0).fma(FloatVector.fromArray(F, sc, s).rearrange(ex), acc0);
            acc1 = p1.add(q1).fma(FloatVector.fromArray(F, sc, kb + s).rearrange(ex), acc1);
            acc2 = p2.add(q2).fma(FloatVector.fromArray(F, sc, 2 * kb + s).rearrange(ex), acc2);
            acc3 = p3.add(q3).fma(FloatVector.fromArray(F, sc, 3 * kb + s).rearrange(ex), acc3);
        }
        // blocks after the last whole group exist only in the row layout (interleaved rows are whole groups)
        for (int blk = groups * GROUP / block; blk < kb; blk++) {
            long o = (long) blk * blob;
            int ai = blk * block;
            FloatVector p0 = FloatVector.zero(F);
            FloatVector p1 = FloatVector.zero(F);
            FloatVector p2 = FloatVector.zero(F);
            FloatVector p3 = FloatVector.zero(F);
            for (int c = 0; c < blob; c += L) {
                FloatVector aLo = FloatVector.fromArray(F, ap, ai + 2 * c);
                FloatVector aHi = FloatVector.fromArray(F, ap, ai + 2 * c + L);
                IntVector v0 = codes(d, o0 + o + c);
                IntVector v1 = codes(d, o1 + o + c);
                IntVector v2 = codes(d, o2 + o + c);
                IntVector v3 = codes(d, o3 + o + c);
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
        // the four rows share the distance between their 64-byte units (64, or 256 when interleaved)
        int shift = b.unitShift(r);
        long o0 = b.rowBase(r);
        long o1 = b.rowBase(r + 1);
        long o2 = b.rowBase(r + 2);
        long o3 = b.rowBase(r + 3);
        FloatVector acc0 = FloatVector.zero(F);
        FloatVector acc1 = FloatVector.zero(F);
        FloatVector acc2 = FloatVector.zero(F);
        FloatVector acc3 = FloatVector.zero(F);
        for (int blk = 0; blk < kb; blk++) {
            long pb = (long) blk * blob;
            long o = QuantizedMatrix.unit(pb, shift);
            int ai = blk * blob;
            FloatVector a = FloatVector.fromArray(F, ap, ai);
            FloatVector p0 = f(codes(d, o0 + o)).mul(a);
            FloatVector p1 = f(codes(d, o1 + o)).mul(a);
            FloatVector p2 = f(codes(d, o2 + o)).mul(a);
            FloatVector p3 = f(codes(d, o3 + o)).mul(a);
            for (int c = L; c < blob; c += L) {
                a = FloatVector.fromArray(F, ap, ai + c);
                long oc = QuantizedMatrix.unit(pb + c, shift);
                p0 = f(codes(d, o0 + oc)).fma(a, p0);
                p1 = f(codes(d, o1 + oc)).fma(a, p1);
                p2 = f(codes(d, o2 + oc)).fma(a, p2);
                p3 = f(codes(d, o3 + oc)).fma(a, p3);
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
    private static float single(QuantizedMatrix b, long r, float[] ap, float[] sc, VectorShuffle<Float> ex) {
        MemorySegment d = b.data().segment();
        int kb = b.kBlocks();
        int blob = b.blobBytes();
        int block = b.blockSize();
        long o0 = b.rowBase(r);
        int shift = b.unitShift(r);
        boolean four = b.bits() == 4;
        FloatVector acc = FloatVector.zero(F);
        int blk = 0;
        if (four) {
            int groups = kb * block / GROUP;
            int blockShift = Integer.numberOfTrailingZeros(block);
            for (int g = 0; g < groups; g++) {
                IntVector v = ByteVector.fromMemorySegment(B64, d, o0 + QuantizedMatrix.unit((long) GROUP_BYTES * g, shift),
                        ByteOrder.LITTLE_ENDIAN).reinterpretAsInts();
                int ai = GROUP * g;
                FloatVector p = ((FloatVector) v.and(0xF).convert(VectorOperators.I2F, 0)).mul(FloatVector.fromArray(F, ap, ai));
                p = ((FloatVector) v.and(0xF0).convert(VectorOperators.I2F, 0)).fma(FloatVector.fromArray(F, ap, ai + 1 * L), p);
                p = ((FloatVector) v.and(0xF00).convert(VectorOperators.I2F, 0)).fma(FloatVector.fromArray(F, ap, ai + 2 * L), p);
                p = ((FloatVector) v.and(0xF000).convert(VectorOperators.I2F, 0)).fma(FloatVector.fromArray(F, ap, ai + 3 * L), p);
                p = ((FloatVector) v.and(0xF0000).convert(VectorOperators.I2F, 0)).fma(FloatVector.fromArray(F, ap, ai + 4 * L), p);
                p = ((FloatVector) v.and(0xF00000).convert(VectorOperators.I2F, 0)).fma(FloatVector.fromArray(F, ap, ai + 5 * L), p);
                p = ((FloatVector) v.and(0xF000000).convert(VectorOperators.I2F, 0)).fma(FloatVector.fromArray(F, ap, ai + 6 * L), p);
                p = ((FloatVector) v.lanewise(VectorOperators.LSHR, 28).convert(VectorOperators.I2F, 0)).fma(FloatVector.fromArray(F, ap, ai + 7 * L), p);
                acc = p.fma(FloatVector.fromArray(F, sc, GROUP * g >>> blockShift).rearrange(ex), acc);
            }
            blk = groups * GROUP / block;
        }
        for (; blk < kb; blk++) {
            long pb = (long) blk * blob;
            int ai = blk * block;
            FloatVector p = FloatVector.zero(F);
            for (int c = 0; c < blob; c += L) {
                IntVector v = codes(d, o0 + QuantizedMatrix.unit(pb + c, shift));
                if (four) {
                    p = lo(v).fma(FloatVector.fromArray(F, ap, ai + 2 * c), p);
                    p = hi(v).fma(FloatVector.fromArray(F, ap, ai + 2 * c + L), p);
                } else {
                    p = f(v).fma(FloatVector.fromArray(F, ap, ai + c), p);
                }
            }
            acc = p.fma(FloatVector.broadcast(F, sc[blk]), acc);
        }
        return acc.reduceLanes(VectorOperators.ADD);
    }

    /**
     * Rearranges, for 4 bits, the whole groups of {@code ap} (arranged by {@link VectorQMatMul}, zero-padded to
     * {@code kp}) from the raw row {@code a[0, k)}: {@code ap[g 8L + L t + j] = a[g 8L + 8 j + t] 2^-4t} (no
     * factor for t = 7, which is read by a shift), the order and weights in which {@link #four} reads the
     * nibbles of a group. Blocks after the last whole group keep the arrangement of the tail loop.
     */
    static void arrange4(MemorySegment as, int k, float[] ap, int kp) {
        int groups = kp / GROUP;
        float[] raw = new float[groups * GROUP];
        MemorySegment.copy(as, F32, 0, raw, 0, Math.min(k, raw.length));
        for (int g = 0; g < groups; g++) {
            int base = g * GROUP;
            for (int t = 0; t < 8; t++) {
                float w = NIBBLE_WEIGHT[t];
                for (int j = 0; j < L; j++) {
                    ap[base + L * t + j] = raw[base + 8 * j + t] * w;
                }
            }
        }
    }
}
