package dev.jlm.simd.quant;

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
 * Few rows of A (1 &lt; M &lt; {@link Gemm#MIN_M}: a batch of decode steps, a short prompt, a speculative draft).
 * Each part of N is processed in panels of whole weight rows dequantized into a per-thread scratch (in the
 * arranged order of A, a sequential read of the codes), and every output is the dot product of a row of A with a
 * dequantized weight row: a register tile of {@link #MR} rows of A x {@link #NR} weight rows takes, per vector of
 * k, {@code MR + NR} loads for {@code MR * NR} FMAs, and is reduced once at the end of K. Nothing is transposed
 * and no row of A is padded, so the work grows with M from the first row on (a transposed tile of 32 weight rows
 * multiplied by outer products took 21 ms at M = 4, K = N = 4096, against 1.2 ms for M = 1).
 */
final class DotGemm {
    private static final VectorSpecies<Float> F = Simd.FLOAT;
    private static final int L = F.length();
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    /** Weight rows per tile. */
    static final int NR = 6;
    /** Rows of A per tile. */
    static final int MR = 4;
    /**
     * 8 lanes (AVX2, 16 vector registers): the 4 x 6 tile's 24 accumulators would spill there, so rows of A go two
     * at a time (12 accumulators).
     */
    private static final boolean FEW_REGISTERS = L == 8;
    /**
     * Bytes of dequantized weights per panel (at least 12 rows): they stay in the L2 cache while every row of A
     * passes over them.
     */
    private static final int PANEL_BYTES = 192 * 1024;

    /** k per group of 4L code bytes (16 lanes: 128 k in 64 bytes; 8 lanes: 64 k in 32 bytes). */
    private static final int GROUP = Gemv.GROUP;
    private static final int GROUP_BYTES = GROUP / 2;
    private static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());
    private static final VectorSpecies<Byte> B64 = VectorSpecies.of(byte.class, F.vectorShape());
    /** L bytes (at least the narrowest shape): 8 lanes read the packed zero points of 8 blocks from it. */
    private static final VectorSpecies<Byte> B = VectorSpecies.of(byte.class, VectorShape.forBitSize(Math.max(64, 8 * L)));

    private DotGemm() {
    }

    /**
     * Whether {@link #rows} decodes whole groups of 8L k in the nibble order (16 or 8 lanes, 4 bits, blocks of at
     * least 32, or of 16 in rows of whole groups): A must then be arranged by {@link #arrangeGroups}.
     */
    static boolean nibbleOrder(QuantizedMatrix b) {
        // blocks of 16 when the rows are whole groups (no tail for Gemm.decode, which needs 16-byte blocks)
        return L >= 8 && b.bits() == 4
                && (b.blockSize() >= 32 || (long) b.kBlocks() * b.blobBytes() % GROUP_BYTES == 0);
    }

    /**
     * Rewrites the whole groups of 8L k of every row of the arranged A in the order the nibble decode writes
     * weights: position {@code L t + j} of a group holds {@code a[8 j + t]} (int lane j of a group's 4L code bytes
     * holds the 8 nibbles of k = 8j .. 8j+7). The blocks after the last whole group keep their arrangement.
     */
    static void arrangeGroups(MemorySegment as, int m, int k, float[] ap, int kp) {
        int groups = kp / GROUP;
        float[] raw = new float[groups * GROUP];
        for (int i = 0; i < m; i++) {
            java.util.Arrays.fill(raw, 0f);
            MemorySegment.copy(as, F32, 4L * i * k, raw, 0, Math.min(k, raw.length));
            int base = i * kp;
            for (int g = 0; g < groups; g++) {
                int gb = g * GROUP;
                for (int t = 0; t < 8; t++) {
                    for (int j = 0; j < L; j++) {
                        ap[base + gb + L * t + j] = raw[gb + 8 * j + t];
                    }
                }
            }
        }
    }

    /**
     * Dequantizes row {@code r} into {@code w[off .. off + kp)}: whole groups in the nibble order (one 4L-byte
     * load per group, per L weights a shift and mask, a conversion and one FMA with vectors of the lanes' block
     * scale and {@code -zp s}), the blocks after them as {@link VectorQMatMul#decodeBlocks} does.
     */
    static void decodeNibbles(QuantizedMatrix b, long r, float[] w, int off, float[] sc, float[] zc) {
        int kb = b.kBlocks();
        int block = b.blockSize();
        blockConstants(b, r, sc, zc, 0);
        VectorShuffle<Float> ex = Gemv.scaleLanes(block);
        MemorySegment d = b.data().segment();
        long rowOff = b.rowBase(r);
        int shift = b.unitShift(r);
        int groups = kb * block / GROUP;
        for (int g = 0; g < groups; g++) {
            int blk = g * GROUP >>> Integer.numberOfTrailingZeros(block);
            FloatVector s = FloatVector.fromArray(F, sc, blk).rearrange(ex);
            FloatVector z = FloatVector.fromArray(F, zc, blk).rearrange(ex);
            IntVector v = ByteVector.fromMemorySegment(B64, d, rowOff + QuantizedMatrix.unit((long) GROUP_BYTES * g, shift),
                    ByteOrder.LITTLE_ENDIAN).reinterpretAsInts();
            int o = off + g * GROUP;
            ((FloatVector) v.and(0xf).convert(VectorOperators.I2F, 0)).fma(s, z).intoArray(w, o);
            ((FloatVector) v.lanewise(VectorOperators.LSHR, 4).and(0xf).convert(VectorOperators.I2F, 0))
                    .fma(s, z).intoArray(w, o + 1 * L);
            ((FloatVector) v.lanewise(VectorOperators.LSHR, 8).and(0xf).convert(VectorOperators.I2F, 0))
                    .fma(s, z).intoArray(w, o + 2 * L);
            ((FloatVector) v.lanewise(VectorOperators.LSHR, 12).and(0xf).convert(VectorOperators.I2F, 0))
                    .fma(s, z).intoArray(w, o + 3 * L);
            ((FloatVector) v.lanewise(VectorOperators.LSHR, 16).and(0xf).convert(VectorOperators.I2F, 0))
                    .fma(s, z).intoArray(w, o + 4 * L);
            ((FloatVector) v.lanewise(VectorOperators.LSHR, 20).and(0xf).convert(VectorOperators.I2F, 0))
                    .fma(s, z).intoArray(w, o + 5 * L);
            ((FloatVector) v.lanewise(VectorOperators.LSHR, 24).and(0xf).convert(VectorOperators.I2F, 0))
                    .fma(s, z).intoArray(w, o + 6 * L);
            ((FloatVector) v.lanewise(VectorOperators.LSHR, 28).convert(VectorOperators.I2F, 0))
                    .fma(s, z).intoArray(w, o + 7 * L);
        }
        int tail = groups * GROUP / block;
        if (tail < kb) {
            VectorQMatMul.decodeBlocks(b, r, tail, kb, w, off + groups * GROUP, L == 16);
        }
    }

    /**
     * {@link #decodeNibbles} for rows {@code r .. r + 3} into {@code w[off + i kp ..]}, the four rows' groups in
     * one loop (four code streams in flight, as the decode GEMV reads them). {@code sc} and {@code zc} hold four
     * rows of {@code cs} floats. A copy of the one-row loop on purpose: one method taking the row count (1 to 4)
     * made M = 4, K = N = 4096 slower (4.4-4.5 against 3.5-3.7 ms, alternating runs).
     */
    private static void decodeNibbles4(QuantizedMatrix b, long r, float[] w, int off, int kp, float[] sc,
                                       float[] zc, int cs) {
        int kb = b.kBlocks();
        int block = b.blockSize();
        for (int i = 0; i < 4; i++) {
            blockConstants(b, r + i, sc, zc, i * cs);
        }
        VectorShuffle<Float> ex = Gemv.scaleLanes(block);
        MemorySegment d = b.data().segment();
        // each row's first byte and the distance between its groups (a part of the rows need not start at a
        // multiple of four, so the four rows may straddle interleaved groups or the row-layout tail)
        long[] base = {b.rowBase(r), b.rowBase(r + 1), b.rowBase(r + 2), b.rowBase(r + 3)};
        int[] shift = {b.unitShift(r), b.unitShift(r + 1), b.unitShift(r + 2), b.unitShift(r + 3)};
        int groups = kb * block / GROUP;
        for (int g = 0; g < groups; g++) {
            int blk = g * GROUP >>> Integer.numberOfTrailingZeros(block);
            for (int i = 0; i < 4; i++) {
                FloatVector s = FloatVector.fromArray(F, sc, i * cs + blk).rearrange(ex);
                FloatVector z = FloatVector.fromArray(F, zc, i * cs + blk).rearrange(ex);
                long src = base[i] + QuantizedMatrix.unit((long) GROUP_BYTES * g, shift[i]);
                IntVector v = ByteVector.fromMemorySegment(B64, d, src, ByteOrder.LITTLE_ENDIAN)
                        .reinterpretAsInts();
                int o = off + i * kp + g * GROUP;
                ((FloatVector) v.and(0xf).convert(VectorOperators.I2F, 0)).fma(s, z).intoArray(w, o);
                ((FloatVector) v.lanewise(VectorOperators.LSHR, 4).and(0xf).convert(VectorOperators.I2F, 0))
                        .fma(s, z).intoArray(w, o + 1 * L);
                ((FloatVector) v.lanewise(VectorOperators.LSHR, 8).and(0xf).convert(VectorOperators.I2F, 0))
                        .fma(s, z).intoArray(w, o + 2 * L);
                ((FloatVector) v.lanewise(VectorOperators.LSHR, 12).and(0xf).convert(VectorOperators.I2F, 0))
                        .fma(s, z).intoArray(w, o + 3 * L);
                ((FloatVector) v.lanewise(VectorOperators.LSHR, 16).and(0xf).convert(VectorOperators.I2F, 0))
                        .fma(s, z).intoArray(w, o + 4 * L);
                ((FloatVector) v.lanewise(VectorOperators.LSHR, 20).and(0xf).convert(VectorOperators.I2F, 0))
                        .fma(s, z).intoArray(w, o + 5 * L);
                ((FloatVector) v.lanewise(VectorOperators.LSHR, 24).and(0xf).convert(VectorOperators.I2F, 0))
                        .fma(s, z).intoArray(w, o + 6 * L);
                ((FloatVector) v.lanewise(VectorOperators.LSHR, 28).convert(VectorOperators.I2F, 0))
                        .fma(s, z).intoArray(w, o + 7 * L);
            }
        }
        int tail = groups * GROUP / block;
        if (tail < kb) {
            for (int i = 0; i < 4; i++) {
                VectorQMatMul.decodeBlocks(b, r + i, tail, kb, w, off + i * kp + groups * GROUP, L == 16);
            }
        }
    }

    /** Row r's block scales into {@code sc[co .. co + kb)} and {@code -zp s} into {@code zc[co .. co + kb)}. */
    private static void blockConstants(QuantizedMatrix b, long r, float[] sc, float[] zc, int co) {
        int kb = b.kBlocks();
        Gemv.scales(b, r, sc, co);
        int blk = 0;
        if (!b.hasZeroPoints()) {
            float zp = -b.defaultZeroPoint();
            for (; blk + L <= kb; blk += L) {
                FloatVector.fromArray(F, sc, co + blk).mul(zp).intoArray(zc, co + blk);
            }
            for (; blk < kb; blk++) {
                zc[co + blk] = zp * sc[co + blk];
            }
            return;
        }
        MemorySegment zs = b.zeroPoints().segment();
        long zOff = r * b.zeroPointBytesPerRow();
        // L blocks per L / 2 bytes, from 8 bytes read where they lie inside the row (as in Gemv's zero-point pass)
        for (; blk + L <= kb && (blk >> 1) + 8 <= b.zeroPointBytesPerRow(); blk += L) {
            ByteVector packed = L == 16
                    ? (ByteVector) LongVector.broadcast(LongVector.SPECIES_128, zs.get(Gemv.I64, zOff + (blk >> 1))).reinterpretAsBytes()
                    : ByteVector.fromMemorySegment(B, zs, zOff + (blk >> 1), ByteOrder.LITTLE_ENDIAN);
            IntVector zi = (IntVector) packed.rearrange(Gemv.PAIRS).convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0);
            FloatVector zf = (FloatVector) zi.lanewise(VectorOperators.LSHR, Gemv.NIBBLE_SHIFT).and(0xf)
                    .convert(VectorOperators.I2F, 0);
            zf.neg().mul(FloatVector.fromArray(F, sc, co + blk)).intoArray(zc, co + blk);
        }
        for (; blk < kb; blk++) {
            zc[co + blk] = -b.zeroPoint(r, blk) * sc[co + blk];
        }
    }

    /** Rows {@code [from, to)} of the output for the {@code m} rows of the arranged A ({@code ap[m][kp]}). */
    static void rows(QuantizedMatrix b, long from, long to, float[] ap, int m, int kp, boolean wide, float[] bias,
                     MemorySegment ys) {
        int part = (int) (to - from);
        // a whole number of tiles and of 4-row decodes
        int unit = 2 * NR;
        int panel = Math.max(1, PANEL_BYTES / (4 * unit * kp)) * unit;
        panel = Math.min(panel, (part + NR - 1) / NR * NR);
        float[] w = new float[panel * kp];
        float[] out = new float[MR * NR];
        long n = b.n();
        boolean nibbles = nibbleOrder(b);
        // L floats of slack: a group reads one vector of block constants from its first block on
        int cs = b.kBlocks() + L;
        float[] sc = nibbles ? new float[4 * cs] : null;
        float[] zc = nibbles ? new float[4 * cs] : null;
        for (int p0 = 0; p0 < part; p0 += panel) {
            int prow = Math.min(panel, part - p0);
            int t = 0;
            if (nibbles) {
                for (; t + 4 <= prow; t += 4) {
                    decodeNibbles4(b, from + p0 + t, w, t * kp, kp, sc, zc, cs);
                }
            }
            for (; t < prow; t++) {
                if (nibbles) {
                    decodeNibbles(b, from + p0 + t, w, t * kp, sc, zc);
                } else {
                    VectorQMatMul.decodeRow(b, from + p0 + t, w, t * kp, wide);
                }
            }
            // rows past the part are zero, so that every tile is whole; their outputs are not stored
            int used = (prow + NR - 1) / NR * NR;
            java.util.Arrays.fill(w, prow * kp, used * kp, 0f);
            for (int t0 = 0; t0 < prow; t0 += NR) {
                int width = Math.min(NR, prow - t0);
                long r0 = from + p0 + t0;
                int wo = t0 * kp;
                int i = 0;
                for (; i + 4 <= m && !FEW_REGISTERS; i += 4) {
                    dot4x6(ap, i * kp, kp, w, wo, out);
                    store(out, 4, i, r0, width, n, bias, ys);
                }
                for (; i + 2 <= m; i += 2) {
                    dot2x6(ap, i * kp, kp, w, wo, out);
                    store(out, 2, i, r0, width, n, bias, ys);
                }
                if (i < m) {
                    dot1x6(ap, i * kp, kp, w, wo, out);
                    store(out, 1, i, r0, width, n, bias, ys);
                }
            }
        }
    }

    /** y[i0 + i][r0 + t] = out[i * NR + t] (+ bias) for the first {@code count} rows and {@code width} columns. */
    private static void store(float[] out, int count, int i0, long r0, int width, long n, float[] bias,
                              MemorySegment ys) {
        for (int i = 0; i < count; i++) {
            long base = 4 * ((i0 + i) * n + r0);
            for (int t = 0; t < width; t++) {
                ys.set(F32, base + 4L * t, out[i * NR + t] + (bias == null ? 0f : bias[(int) (r0 + t)]));
            }
        }
    }

    /** out[i * NR + t] = A row i (at {@code a0 + i kp}) . weight row t (at {@code w0 + t kp}), i < 4, t < 6. */
    private static void dot4x6(float[] a, int a0, int kp, float[] w, int w0, float[] out) {
        FloatVector c00 = FloatVector.zero(F), c01 = c00, c02 = c00, c03 = c00, c04 = c00, c05 = c00;
        FloatVector c10 = c00, c11 = c00, c12 = c00, c13 = c00, c14 = c00, c15 = c00;
        FloatVector c20 = c00, c21 = c00, c22 = c00, c23 = c00, c24 = c00, c25 = c00;
        FloatVector c30 = c00, c31 = c00, c32 = c00, c33 = c00, c34 = c00, c35 = c00;
        int a1 = a0 + kp;
        int a2 = a1 + kp;
        int a3 = a2 + kp;
        int w1 = w0 + kp;
        int w2 = w1 + kp;
        int w3 = w2 + kp;
        int w4 = w3 + kp;
        int w5 = w4 + kp;
        for (int k = 0; k < kp; k += L) {
            FloatVector x0 = FloatVector.fromArray(F, a, a0 + k);
            FloatVector x1 = FloatVector.fromArray(F, a, a1 + k);
            FloatVector x2 = FloatVector.fromArray(F, a, a2 + k);
            FloatVector x3 = FloatVector.fromArray(F, a, a3 + k);
            FloatVector v = FloatVector.fromArray(F, w, w0 + k);
            c00 = x0.fma(v, c00);
            c10 = x1.fma(v, c10);
            c20 = x2.fma(v, c20);
            c30 = x3.fma(v, c30);
            v = FloatVector.fromArray(F, w, w1 + k);
            c01 = x0.fma(v, c01);
            c11 = x1.fma(v, c11);
            c21 = x2.fma(v, c21);
            c31 = x3.fma(v, c31);
            v = FloatVector.fromArray(F, w, w2 + k);
            c02 = x0.fma(v, c02);
            c12 = x1.fma(v, c12);
            c22 = x2.fma(v, c22);
            c32 = x3.fma(v, c32);
            v = FloatVector.fromArray(F, w, w3 + k);
            c03 = x0.fma(v, c03);
            c13 = x1.fma(v, c13);
            c23 = x2.fma(v, c23);
            c33 = x3.fma(v, c33);
            v = FloatVector.fromArray(F, w, w4 + k);
            c04 = x0.fma(v, c04);
            c14 = x1.fma(v, c14);
            c24 = x2.fma(v, c24);
            c34 = x3.fma(v, c34);
            v = FloatVector.fromArray(F, w, w5 + k);
            c05 = x0.fma(v, c05);
            c15 = x1.fma(v, c15);
            c25 = x2.fma(v, c25);
            c35 = x3.fma(v, c35);
        }
        out[0] = c00.reduceLanes(VectorOperators.ADD);
        out[1] = c01.reduceLanes(VectorOperators.ADD);
        out[2] = c02.reduceLanes(VectorOperators.ADD);
        out[3] = c03.reduceLanes(VectorOperators.ADD);
        out[4] = c04.reduceLanes(VectorOperators.ADD);
        out[5] = c05.reduceLanes(VectorOperators.ADD);
        out[6] = c10.reduceLanes(VectorOperators.ADD);
        out[7] = c11.reduceLanes(VectorOperators.ADD);
        out[8] = c12.reduceLanes(VectorOperators.ADD);
        out[9] = c13.reduceLanes(VectorOperators.ADD);
        out[10] = c14.reduceLanes(VectorOperators.ADD);
        out[11] = c15.reduceLanes(VectorOperators.ADD);
        out[12] = c20.reduceLanes(VectorOperators.ADD);
        out[13] = c21.reduceLanes(VectorOperators.ADD);
        out[14] = c22.reduceLanes(VectorOperators.ADD);
        out[15] = c23.reduceLanes(VectorOperators.ADD);
        out[16] = c24.reduceLanes(VectorOperators.ADD);
        out[17] = c25.reduceLanes(VectorOperators.ADD);
        out[18] = c30.reduceLanes(VectorOperators.ADD);
        out[19] = c31.reduceLanes(VectorOperators.ADD);
        out[20] = c32.reduceLanes(VectorOperators.ADD);
        out[21] = c33.reduceLanes(VectorOperators.ADD);
        out[22] = c34.reduceLanes(VectorOperators.ADD);
        out[23] = c35.reduceLanes(VectorOperators.ADD);
    }

    /** {@link #dot4x6} for two rows of A. */
    private static void dot2x6(float[] a, int a0, int kp, float[] w, int w0, float[] out) {
        FloatVector c00 = FloatVector.zero(F), c01 = c00, c02 = c00, c03 = c00, c04 = c00, c05 = c00;
        FloatVector c10 = c00, c11 = c00, c12 = c00, c13 = c00, c14 = c00, c15 = c00;
        int a1 = a0 + kp;
        int w1 = w0 + kp;
        int w2 = w1 + kp;
        int w3 = w2 + kp;
        int w4 = w3 + kp;
        int w5 = w4 + kp;
        for (int k = 0; k < kp; k += L) {
            FloatVector x0 = FloatVector.fromArray(F, a, a0 + k);
            FloatVector x1 = FloatVector.fromArray(F, a, a1 + k);
            FloatVector v = FloatVector.fromArray(F, w, w0 + k);
            c00 = x0.fma(v, c00);
            c10 = x1.fma(v, c10);
            v = FloatVector.fromArray(F, w, w1 + k);
            c01 = x0.fma(v, c01);
            c11 = x1.fma(v, c11);
            v = FloatVector.fromArray(F, w, w2 + k);
            c02 = x0.fma(v, c02);
            c12 = x1.fma(v, c12);
            v = FloatVector.fromArray(F, w, w3 + k);
            c03 = x0.fma(v, c03);
            c13 = x1.fma(v, c13);
            v = FloatVector.fromArray(F, w, w4 + k);
            c04 = x0.fma(v, c04);
            c14 = x1.fma(v, c14);
            v = FloatVector.fromArray(F, w, w5 + k);
            c05 = x0.fma(v, c05);
            c15 = x1.fma(v, c15);
        }
        out[0] = c00.reduceLanes(VectorOperators.ADD);
        out[1] = c01.reduceLanes(VectorOperators.ADD);
        out[2] = c02.reduceLanes(VectorOperators.ADD);
        out[3] = c03.reduceLanes(VectorOperators.ADD);
        out[4] = c04.reduceLanes(VectorOperators.ADD);
        out[5] = c05.reduceLanes(VectorOperators.ADD);
        out[6] = c10.reduceLanes(VectorOperators.ADD);
        out[7] = c11.reduceLanes(VectorOperators.ADD);
        out[8] = c12.reduceLanes(VectorOperators.ADD);
        out[9] = c13.reduceLanes(VectorOperators.ADD);
        out[10] = c14.reduceLanes(VectorOperators.ADD);
        out[11] = c15.reduceLanes(VectorOperators.ADD);
    }

    /** {@link #dot4x6} for one row of A. */
    private static void dot1x6(float[] a, int a0, int kp, float[] w, int w0, float[] out) {
        FloatVector c0 = FloatVector.zero(F), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0;
        int w1 = w0 + kp;
        int w2 = w1 + kp;
        int w3 = w2 + kp;
        int w4 = w3 + kp;
        int w5 = w4 + kp;
        for (int k = 0; k < kp; k += L) {
            FloatVector x = FloatVector.fromArray(F, a, a0 + k);
            c0 = x.fma(FloatVector.fromArray(F, w, w0 + k), c0);
            c1 = x.fma(FloatVector.fromArray(F, w, w1 + k), c1);
            c2 = x.fma(FloatVector.fromArray(F, w, w2 + k), c2);
            c3 = x.fma(FloatVector.fromArray(F, w, w3 + k), c3);
            c4 = x.fma(FloatVector.fromArray(F, w, w4 + k), c4);
            c5 = x.fma(FloatVector.fromArray(F, w, w5 + k), c5);
        }
        out[0] = c0.reduceLanes(VectorOperators.ADD);
        out[1] = c1.reduceLanes(VectorOperators.ADD);
        out[2] = c2.reduceLanes(VectorOperators.ADD);
        out[3] = c3.reduceLanes(VectorOperators.ADD);
        out[4] = c4.reduceLanes(VectorOperators.ADD);
        out[5] = c5.reduceLanes(VectorOperators.ADD);
    }
}
