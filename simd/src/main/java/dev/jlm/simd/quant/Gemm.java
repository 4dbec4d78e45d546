package dev.jlm.simd.quant;

import dev.jlm.core.DType;
import dev.jlm.core.Simd;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Prefill (M >= {@link #MIN_M}) for 16 or 8 float lanes (figures below for 16; with 8, groups of 16 rows of A and
 * only the 6 x 2 tile, whose 12 accumulators fit AVX2's 16 registers). A is transposed once per call into groups of
 * 32 rows,
 * {@code at[g][k][32]} (zero-padded), read sequentially by the micro-kernel. Each part of N is processed in panels
 * of whole weight rows dequantized into a per-thread scratch (a sequential read of the codes; never the whole
 * matrix), sized to stay in the L2 cache with a chunk of A^T. Over each K chunk, the micro-kernel computes a tile
 * of {@link #ROWS} outputs x 64 rows of A (two groups; 32 for an odd last group): per k, four vector loads of A^T,
 * one broadcast per weight row, {@code 4 ROWS} FMAs into 24 register accumulators, no reductions; the
 * accumulators carry across K chunks in a per-panel scratch. Each dequantized weight is reused for every row of A.
 */
final class Gemm {
    private static final VectorSpecies<Float> F = Simd.FLOAT;
    private static final VectorSpecies<Integer> I = VectorSpecies.of(int.class, F.vectorShape());
    private static final int L = F.length();
    /** L bytes of codes, widened to L int lanes (at least the narrowest shape, 64 bits). */
    private static final VectorSpecies<Byte> B = VectorSpecies.of(byte.class, VectorShape.forBitSize(Math.max(64, 8 * L)));
    /** 8 lanes (AVX2): 16 vector registers, too few for {@link #tile4}'s 24 accumulators. */
    private static final boolean FEW_REGISTERS = L == 8;
    /** 4L code bytes, read by {@link #decode} per load: a divisor of the 64-byte units of the interleaved layout. */
    private static final int STEP = 4 * L;
    private static final VectorSpecies<Byte> B4 = VectorSpecies.of(byte.class, VectorShape.forBitSize(8 * STEP));
    /** Rows of A per group: two vectors. */
    private static final int G = 2 * L;
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    /** Weight rows per tile. */
    static final int ROWS = 6;
    /** Bytes of dequantized weights per panel: with a chunk of A^T, well inside a 1 MiB L2 cache. */
    private static final int PANEL_BYTES = 384 * 1024;
    /** Bytes of accumulators per panel. */
    private static final int ACC_BYTES = 1024 * 1024;
    /**
     * Below this M a group of 32 rows of A would be mostly padding, and the outer-product kernel of
     * {@link VectorQMatMul} does more useful work per FMA.
     */
    static final int MIN_M = 32;

    private Gemm() {
    }

    /**
     * A^T of the arranged A ({@code ap[m][kp]}) in groups of 32 rows of A: {@code at[g][k][32]}, so that the
     * micro-kernel reads it sequentially; the padding rows are zero.
     */
    static float[] transpose(float[] ap, int m, int kp) {
        int mp = padded(m);
        float[] at = new float[kp * mp];
        for (int i = 0; i < m; i++) {
            int src = i * kp;
            int dst = (i / G) * kp * G + i % G;
            for (int k = 0; k < kp; k++) {
                at[dst + k * G] = ap[src + k];
            }
        }
        return at;
    }

    /** M rounded up to a whole group. */
    static int padded(int m) {
        return (m + G - 1) / G * G;
    }

    /**
     * Columns of A^T per K chunk: the chunk of A^T ({@code kc x mp} floats) stays in the L2 cache while every
     * weight tile of the part runs over it. A multiple of the block size (and of 32, the arranged group of A).
     */
    static int chunkK(int mp, int block, int kp) {
        int kc = Math.max(Math.max(block, 32), Integer.highestOneBit(Math.max(1, 64 * 1024 / mp)));
        return Math.min(kc, kp);
    }

    /** Rows {@code [from, to)} of the output for all M rows of A. */
    static void rows(QuantizedMatrix b, long from, long to, float[] at, int m, int kp, boolean wide, float[] bias, MemorySegment ys) {
        int mp = padded(m);
        int kc = chunkK(mp, b.blockSize(), kp);
        int part = (int) (to - from);
        // also bounded by the accumulators of the panel (panel x mp floats), which matter for very large M
        int tiles = Math.min(PANEL_BYTES / (ROWS * 4 * kp), ACC_BYTES / (ROWS * 4 * mp));
        int panel = Math.max(1, tiles) * ROWS;
        // whole rows are dequantized (a sequential read of the codes), a panel at a time, into a scratch that
        // stays in cache next to the current chunk of A^T
        float[] w = new float[panel * kp];
        float[] c = new float[panel * mp];
        long n = b.n();
        // 4-bit blocks of 16 (8 bytes) in rows of whole groups: the few-row path's group decode, A arranged to match
        boolean nibbles = !wide && DotGemm.nibbleOrder(b);
        float[] sc = nibbles ? new float[b.kBlocks() + 16] : null;
        float[] zc = nibbles ? new float[b.kBlocks() + 16] : null;
        for (int p0 = 0; p0 < part; p0 += panel) {
            int prow = Math.min(panel, part - p0);
            for (int t = 0; t < prow; t++) {
                if (wide) {
                    decode(b, from + p0 + t, 0, b.kBlocks(), w, t * kp);
                } else if (nibbles) {
                    DotGemm.decodeNibbles(b, from + p0 + t, w, t * kp, sc, zc);
                } else {
                    VectorQMatMul.decodeRow(b, from + p0 + t, w, t * kp, false);
                }
            }
            int used = (prow + ROWS - 1) / ROWS * ROWS;
            java.util.Arrays.fill(w, prow * kp, used * kp, 0f);
            java.util.Arrays.fill(c, 0f);
            for (int k0 = 0; k0 < kp; k0 += kc) {
                int klen = Math.min(kc, kp - k0);
                for (int t0 = 0; t0 < prow; t0 += ROWS) {
                    int i0 = 0;
                    for (; i0 + 2 * G <= mp && !FEW_REGISTERS; i0 += 2 * G) {
                        tile4(at, (i0 / G) * kp * G + k0 * G, kp * G, mp, klen, i0, w, t0 * kp + k0, kp, c, t0 * mp);
                    }
                    for (; i0 < mp; i0 += G) {
                        tile2(at, (i0 / G) * kp * G + k0 * G, mp, klen, i0, w, t0 * kp + k0, kp, c, t0 * mp);
                    }
                }
            }
            for (int t0 = 0; t0 < prow; t0 += L) {
                int width = Math.min(L, prow - t0);
                long r0 = from + p0 + t0;
                for (int i = 0; i < m; i++) {
                    long base = 4 * (i * n + r0);
                    for (int t = 0; t < width; t++) {
                        float add = bias == null ? 0f : bias[(int) (r0 + t)];
                        ys.set(F32, base + 4L * t, c[(t0 + t) * mp + i] + add);
                    }
                }
            }
        }
    }

    /**
     * Dequantizes blocks {@code [blk0, blk1)} of row {@code r} into {@code w[off ..]} in the arranged order of A
     * ({@code blobBytes % L == 0}): codes zero-extended to int lanes, converted, {@code q s - zp s} in one FMA.
     */
    static void decode(QuantizedMatrix b, long r, int blk0, int blk1, float[] w, int off) {
        MemorySegment d = b.data().segment();
        int blob = b.blobBytes();
        int block = b.blockSize();
        long rowOff = b.rowBase(r);
        int shift = b.unitShift(r);
        boolean four = b.bits() == 4;
        boolean f32 = b.scaleType() == DType.F32;
        MemorySegment ss = b.scales().segment();
        long sOff = 4 * r * b.kBlocks();
        MemorySegment zs = b.hasZeroPoints() ? b.zeroPoints().segment() : null;
        long zOff = r * b.zeroPointBytesPerRow();
        int blk = blk0;
        long p0 = (long) blk0 * blob;
        if (p0 % STEP == 0 && blob % L == 0) {
            // 4L code bytes per load (a 64-byte unit at 16 lanes), widened a quarter at a time: one load and one
            // pass of the loop for up to four blocks instead of one each (1.9x faster per weight, same bits)
            long p1 = (long) blk1 * blob;
            long p = p0;
            int blobShift = Integer.numberOfTrailingZeros(blob);
            for (; p + STEP <= p1; p += STEP) {
                ByteVector codes = ByteVector.fromMemorySegment(B4, d, rowOff + QuantizedMatrix.unit(p, shift),
                        ByteOrder.LITTLE_ENDIAN);
                for (int part = 0; part < 4; part++) {
                    long c = p + (long) part * L;
                    int k = (int) (c >>> blobShift);
                    float s = f32 ? ss.get(F32, sOff + 4L * k) : b.scale(r, k);
                    int zp = zeroPoint(b, zs, zOff, k, four);
                    FloatVector vs = FloatVector.broadcast(F, s);
                    FloatVector vz = FloatVector.broadcast(F, -zp * s);
                    IntVector v = (IntVector) codes.convertShape(VectorOperators.ZERO_EXTEND_B2I, I, part);
                    if (four) {
                        int dst = off + (int) (2 * (c - p0));
                        ((FloatVector) v.and(0xf).convert(VectorOperators.I2F, 0)).fma(vs, vz).intoArray(w, dst);
                        ((FloatVector) v.lanewise(VectorOperators.LSHR, 4).convert(VectorOperators.I2F, 0)).fma(vs, vz)
                                .intoArray(w, dst + L);
                    } else {
                        ((FloatVector) v.convert(VectorOperators.I2F, 0)).fma(vs, vz).intoArray(w, off + (int) (c - p0));
                    }
                }
            }
            blk = (int) (p >>> blobShift);   // blob is a power of two, and p a multiple of it
        }
        for (; blk < blk1; blk++) {
            float s = f32 ? ss.get(F32, sOff + 4L * blk) : b.scale(r, blk);
            int zp = zeroPoint(b, zs, zOff, blk, four);
            FloatVector vs = FloatVector.broadcast(F, s);
            FloatVector vz = FloatVector.broadcast(F, -zp * s);
            long pb = (long) blk * blob;
            int dst = off + (blk - blk0) * block;
            for (int c = 0; c < blob; c += L) {
                long src = rowOff + QuantizedMatrix.unit(pb + c, shift);
                IntVector v = (IntVector) ByteVector.fromMemorySegment(B, d, src, ByteOrder.LITTLE_ENDIAN)
                        .convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0);
                if (four) {
                    ((FloatVector) v.and(0xf).convert(VectorOperators.I2F, 0)).fma(vs, vz).intoArray(w, dst + 2 * c);
                    ((FloatVector) v.lanewise(VectorOperators.LSHR, 4).convert(VectorOperators.I2F, 0)).fma(vs, vz).intoArray(w, dst + 2 * c + L);
                } else {
                    ((FloatVector) v.convert(VectorOperators.I2F, 0)).fma(vs, vz).intoArray(w, dst + c);
                }
            }
        }
    }

    /** The zero point of block {@code blk} of a row whose packed zero points start at {@code zOff}. */
    private static int zeroPoint(QuantizedMatrix b, MemorySegment zs, long zOff, int blk, boolean four) {
        if (zs == null) {
            return b.defaultZeroPoint();
        }
        if (four) {
            return (zs.get(ValueLayout.JAVA_BYTE, zOff + (blk >> 1)) >> ((blk & 1) << 2)) & 0xf;
        }
        return zs.get(ValueLayout.JAVA_BYTE, zOff + blk) & 0xff;
    }

    /**
     * {@link #tile2} for two adjacent groups of A (rows {@code i0 .. i0 + 64}; the second group's A^T at
     * {@code ao + gs}): 6 x 4 accumulators (24 of the 32 vector registers), so each broadcast weight feeds four
     * FMAs instead of two (M=128, K=N=4096, one thread: 49.7-51.3 -> 44.8-46.6 ms, alternating runs).
     */
    private static void tile4(float[] at, int ao, int gs, int mp, int kp, int i0, float[] w, int wo, int ws, float[] c,
                              int co) {
        int o = co + i0;
        FloatVector c00 = FloatVector.fromArray(F, c, o), c01 = FloatVector.fromArray(F, c, o + L);
        FloatVector c02 = FloatVector.fromArray(F, c, o + 2 * L), c03 = FloatVector.fromArray(F, c, o + 3 * L);
        FloatVector c10 = FloatVector.fromArray(F, c, o + mp), c11 = FloatVector.fromArray(F, c, o + mp + L);
        FloatVector c12 = FloatVector.fromArray(F, c, o + mp + 2 * L), c13 = FloatVector.fromArray(F, c, o + mp + 3 * L);
        FloatVector c20 = FloatVector.fromArray(F, c, o + 2 * mp), c21 = FloatVector.fromArray(F, c, o + 2 * mp + L);
        FloatVector c22 = FloatVector.fromArray(F, c, o + 2 * mp + 2 * L), c23 = FloatVector.fromArray(F, c, o + 2 * mp + 3 * L);
        FloatVector c30 = FloatVector.fromArray(F, c, o + 3 * mp), c31 = FloatVector.fromArray(F, c, o + 3 * mp + L);
        FloatVector c32 = FloatVector.fromArray(F, c, o + 3 * mp + 2 * L), c33 = FloatVector.fromArray(F, c, o + 3 * mp + 3 * L);
        FloatVector c40 = FloatVector.fromArray(F, c, o + 4 * mp), c41 = FloatVector.fromArray(F, c, o + 4 * mp + L);
        FloatVector c42 = FloatVector.fromArray(F, c, o + 4 * mp + 2 * L), c43 = FloatVector.fromArray(F, c, o + 4 * mp + 3 * L);
        FloatVector c50 = FloatVector.fromArray(F, c, o + 5 * mp), c51 = FloatVector.fromArray(F, c, o + 5 * mp + L);
        FloatVector c52 = FloatVector.fromArray(F, c, o + 5 * mp + 2 * L), c53 = FloatVector.fromArray(F, c, o + 5 * mp + 3 * L);
        int w0 = wo;
        int w1 = wo + ws;
        int w2 = wo + 2 * ws;
        int w3 = wo + 3 * ws;
        int w4 = wo + 4 * ws;
        int w5 = wo + 5 * ws;
        for (int k = 0; k < kp; k++) {
            int a = ao + k * G;
            FloatVector x0 = FloatVector.fromArray(F, at, a);
            FloatVector x1 = FloatVector.fromArray(F, at, a + L);
            FloatVector x2 = FloatVector.fromArray(F, at, a + gs);
            FloatVector x3 = FloatVector.fromArray(F, at, a + gs + L);
            FloatVector b = FloatVector.broadcast(F, w[w0 + k]);
            c00 = x0.fma(b, c00);
            c01 = x1.fma(b, c01);
            c02 = x2.fma(b, c02);
            c03 = x3.fma(b, c03);
            b = FloatVector.broadcast(F, w[w1 + k]);
            c10 = x0.fma(b, c10);
            c11 = x1.fma(b, c11);
            c12 = x2.fma(b, c12);
            c13 = x3.fma(b, c13);
            b = FloatVector.broadcast(F, w[w2 + k]);
            c20 = x0.fma(b, c20);
            c21 = x1.fma(b, c21);
            c22 = x2.fma(b, c22);
            c23 = x3.fma(b, c23);
            b = FloatVector.broadcast(F, w[w3 + k]);
            c30 = x0.fma(b, c30);
            c31 = x1.fma(b, c31);
            c32 = x2.fma(b, c32);
            c33 = x3.fma(b, c33);
            b = FloatVector.broadcast(F, w[w4 + k]);
            c40 = x0.fma(b, c40);
            c41 = x1.fma(b, c41);
            c42 = x2.fma(b, c42);
            c43 = x3.fma(b, c43);
            b = FloatVector.broadcast(F, w[w5 + k]);
            c50 = x0.fma(b, c50);
            c51 = x1.fma(b, c51);
            c52 = x2.fma(b, c52);
            c53 = x3.fma(b, c53);
        }
        c00.intoArray(c, o);
        c01.intoArray(c, o + L);
        c02.intoArray(c, o + 2 * L);
        c03.intoArray(c, o + 3 * L);
        c10.intoArray(c, o + mp);
        c11.intoArray(c, o + mp + L);
        c12.intoArray(c, o + mp + 2 * L);
        c13.intoArray(c, o + mp + 3 * L);
        c20.intoArray(c, o + 2 * mp);
        c21.intoArray(c, o + 2 * mp + L);
        c22.intoArray(c, o + 2 * mp + 2 * L);
        c23.intoArray(c, o + 2 * mp + 3 * L);
        c30.intoArray(c, o + 3 * mp);
        c31.intoArray(c, o + 3 * mp + L);
        c32.intoArray(c, o + 3 * mp + 2 * L);
        c33.intoArray(c, o + 3 * mp + 3 * L);
        c40.intoArray(c, o + 4 * mp);
        c41.intoArray(c, o + 4 * mp + L);
        c42.intoArray(c, o + 4 * mp + 2 * L);
        c43.intoArray(c, o + 4 * mp + 3 * L);
        c50.intoArray(c, o + 5 * mp);
        c51.intoArray(c, o + 5 * mp + L);
        c52.intoArray(c, o + 5 * mp + 2 * L);
        c53.intoArray(c, o + 5 * mp + 3 * L);
    }

    /**
     * {@code c[co + t mp + i0 ..][0 .. G) +=} weight row t (at {@code w[wo + t ws ..]}) times A rows
     * {@code i0 .. i0 + G} ({@code at[ao + G k ..]}) over a K chunk of {@code kp} columns (G = 2L rows of A).
     */
    private static void tile2(float[] at, int ao, int mp, int kp, int i0, float[] w, int wo, int ws, float[] c, int co) {
        int o = co + i0;
        FloatVector c00 = FloatVector.fromArray(F, c, o), c01 = FloatVector.fromArray(F, c, o + L);
        FloatVector c10 = FloatVector.fromArray(F, c, o + mp), c11 = FloatVector.fromArray(F, c, o + mp + L);
        FloatVector c20 = FloatVector.fromArray(F, c, o + 2 * mp), c21 = FloatVector.fromArray(F, c, o + 2 * mp + L);
        FloatVector c30 = FloatVector.fromArray(F, c, o + 3 * mp), c31 = FloatVector.fromArray(F, c, o + 3 * mp + L);
        FloatVector c40 = FloatVector.fromArray(F, c, o + 4 * mp), c41 = FloatVector.fromArray(F, c, o + 4 * mp + L);
        FloatVector c50 = FloatVector.fromArray(F, c, o + 5 * mp), c51 = FloatVector.fromArray(F, c, o + 5 * mp + L);
        int w0 = wo;
        int w1 = wo + ws;
        int w2 = wo + 2 * ws;
        int w3 = wo + 3 * ws;
        int w4 = wo + 4 * ws;
        int w5 = wo + 5 * ws;
        for (int k = 0; k < kp; k++) {
            int a = ao + k * G;
            FloatVector x0 = FloatVector.fromArray(F, at, a);
            FloatVector x1 = FloatVector.fromArray(F, at, a + L);
            FloatVector b0 = FloatVector.broadcast(F, w[w0 + k]);
            c00 = x0.fma(b0, c00);
            c01 = x1.fma(b0, c01);
            FloatVector b1 = FloatVector.broadcast(F, w[w1 + k]);
            c10 = x0.fma(b1, c10);
            c11 = x1.fma(b1, c11);
            FloatVector b2 = FloatVector.broadcast(F, w[w2 + k]);
            c20 = x0.fma(b2, c20);
            c21 = x1.fma(b2, c21);
            FloatVector b3 = FloatVector.broadcast(F, w[w3 + k]);
            c30 = x0.fma(b3, c30);
            c31 = x1.fma(b3, c31);
            FloatVector b4 = FloatVector.broadcast(F, w[w4 + k]);
            c40 = x0.fma(b4, c40);
            c41 = x1.fma(b4, c41);
            FloatVector b5 = FloatVector.broadcast(F, w[w5 + k]);
            c50 = x0.fma(b5, c50);
            c51 = x1.fma(b5, c51);
        }
        c00.intoArray(c, o);
        c01.intoArray(c, o + L);
        c10.intoArray(c, o + mp);
        c11.intoArray(c, o + mp + L);
        c20.intoArray(c, o + 2 * mp);
        c21.intoArray(c, o + 2 * mp + L);
        c30.intoArray(c, o + 3 * mp);
        c31.intoArray(c, o + 3 * mp + L);
        c40.intoArray(c, o + 4 * mp);
        c41.intoArray(c, o + 4 * mp + L);
        c50.intoArray(c, o + 5 * mp);
        c51.intoArray(c, o + 5 * mp + L);
    }

}
