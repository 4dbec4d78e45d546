package dev.jlm.simd.attention;

import static dev.jlm.simd.attention.AttentionImpl.keyTile;
import static dev.jlm.simd.attention.AttentionImpl.BQ;
import static dev.jlm.simd.internal.Lanes.F;
import static dev.jlm.simd.internal.Lanes.F32;
import static dev.jlm.simd.internal.Lanes.LE;

import dev.jlm.core.DType;
import dev.jlm.simd.attention.AttentionImpl.Job;
import dev.jlm.simd.attention.AttentionImpl.Scratch;
import dev.jlm.simd.internal.Lanes;
import dev.jlm.simd.internal.VMath;
import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;

/**
 * The arithmetic on one (query tile x key tile): scores, the online softmax update, and weights times values.
 * Scalar versions use double accumulators. Vector versions, with more than {@link #NARROW_MAX} query rows
 * ("wide"): the query tile is transposed once per tile into scratch so that scores come out as
 * {@code [key][query row]} with the query rows along the lanes: {@code S^T = K Q^T} runs as an 8-key x 2-vector
 * register block, the online softmax works lane-wise on whole groups of rows (no horizontal reductions), and
 * {@code P V} runs as a 4-row x 4-vector block over the value tile converted to F32 once (with 8 lanes, AVX2's 16
 * registers, blocks of eight accumulators: 4 keys and 4 x 2 vectors). With fewer rows
 * (decoding or a few new tokens, where a row may be another query head of the same kv head) keys and values are
 * read in place (F16 ones, and BF16 ones for the two-row kernels, converted a chunk at a time into an F32
 * scratch first), sixteen keys' scores folded into one vector, four rows at a time where there are four (with 8
 * lanes, eight keys for groups of four rows).
 *
 * <p>In the softmax paths no vector is passed to or returned from a method: where the JIT does not inline a
 * callee, such a vector is allocated on the heap. Small vector helpers remain only off those paths (softplus and
 * EXP_L1 weights, the last keys of a tile that do not fill a group of sixteen).
 */
final class TileOps {
    private static final int L = F.length();
    // e^x = 2^k e^r, k = round(x log2 e), r = x - k ln 2 (ln 2 in two parts), e^r by a degree-5 polynomial
    private static final float LOG2E = 1.44269504088896341f;
    private static final float LN2_HI = 0.693359375f;
    private static final float LN2_LO = -2.12194440e-4f;
    private static final float ROUND = 12582912f;
    private static final float Q0 = 0.499992311000824f;
    private static final float Q1 = 0.16667114198207855f;
    private static final float Q2 = 0.041890114545822144f;
    private static final float Q3 = 0.008312525227665901f;
    /** Keys per chunk of the few-row value pass: 32 rows of head_dim 128 in F32 are 16 KiB, held in L1. */
    static final int VK = 32;
    /**
     * Most query rows of a tile scored row by row against keys read in place (narrow); more take the transposed
     * wide layout, whose lanes are query rows. 16, not 8: at 9-16 rows half the wide layout's lanes are padding
     * (4 queries x 4 query heads against 2048 cached keys, head_dim 128, one thread: 3.5-3.9 -> 2.6-2.7 ms).
     */
    static final int NARROW_MAX = 16;
    // For sum4 with 16 lanes: lane i pairs with lane i ^ k; the masks pick lanes 8..15 and lanes 4..7, 12..15.
    private static final boolean SUM4 = L == 16;
    private static final VectorShuffle<Float> X8 = VectorShuffle.fromOp(F, i -> SUM4 ? i ^ 8 : i);
    private static final VectorShuffle<Float> X4 = VectorShuffle.fromOp(F, i -> SUM4 ? i ^ 4 : i);
    private static final VectorShuffle<Float> X2 = VectorShuffle.fromOp(F, i -> L > 2 ? i ^ 2 : i);
    private static final VectorShuffle<Float> X1 = VectorShuffle.fromOp(F, i -> L > 1 ? i ^ 1 : i);
    private static final VectorMask<Float> HI8 = VectorMask.fromLong(F, 0xff00L);
    private static final VectorMask<Float> ODD4 = VectorMask.fromLong(F, 0xf0f0L);
    // For scores16 (and scores8x4, in their low 8 bits): lanes with bit 1 set, and odd lanes.
    private static final VectorMask<Float> ODD2 = VectorMask.fromLong(F, 0xccccL);
    private static final VectorMask<Float> ODD1 = VectorMask.fromLong(F, 0xaaaaL);
    // The bit-reversal of a lane index (4 bits with 16 lanes, 3 with 8): the lane in which the last fold leaves key c.
    private static final VectorShuffle<Float> BITREV = VectorShuffle.fromOp(F,
            i -> L > 1 ? Integer.reverse(i) >>> (32 - Integer.numberOfTrailingZeros(L)) : i);
    private static final boolean EIGHT = L == 8;
    // The first fold for 8 lanes (AVX2): lane i pairs with lane i ^ 4, the mask picks lanes 4..7; then X2 and X1.
    private static final VectorShuffle<Float> P4 = VectorShuffle.fromOp(F, i -> EIGHT ? i ^ 4 : i);
    private static final VectorMask<Float> HI4 = VectorMask.fromLong(F, 0xf0L);
    /**
     * AVX2 has 16 vector registers (AVX-512 and NEON 32): the wide tiles' 16 accumulators would spill there, so 8
     * lanes take the tiles of eight (prefill 32x8x512x128 at 256 bits, one thread: 45-49 -> 36-37 ms).
     */
    private static final boolean SMALL_TILES = EIGHT;

    private TileOps() {
    }

    /**
     * Where the few-row kernels read key or value rows, F32 or BF16: element {@code e} of row {@code r} at element
     * {@code base + r row + e} of {@code seg}.
     */
    record Src(DType t, MemorySegment seg, long row) {
    }

    /**
     * The source the few-row kernels read for keys or values of type {@code t}: the tensor itself for F32 and
     * BF16 (a BF16 load is a widening and a shift, {@link #load}), and for F16 the thread's F32 scratch, into which
     * {@link #rows} converts each chunk: with the F16 conversion in each of their unrolled loads the JIT stopped
     * inlining the loads (node budget) and boxed every vector, and an F16 cache decoded 3-8 times slower than an
     * F32 one. BF16 is converted too for groups of two or more rows of 8 or more vectors, whose two-row register
     * kernels hit the same budget (32q/8kv, head_dim 128, 8192 positions: 15.5 -> 6.1 ms); elsewhere reading it
     * in place measured 1.6-1.9 times faster than converting it.
     */
    static Src source(Job j, DType t, MemorySegment seg, Scratch sc, int rows) {
        boolean convert = t == DType.F16 || (t == DType.BF16 && rows >= 2 && j.d >= 8 * L);
        // the scratch's rows are this call's head size apart (a thread's scratch may be sized for a larger one)
        return convert ? new Src(DType.F32, sc.conv, j.d) : new Src(t, seg, j.kRow);
    }

    /**
     * L elements of an F32 or BF16 row as floats: the kernels' own load, without the F16 path of
     * {@link Lanes#load}, so that what the JIT inlines into their unrolled steps stays small.
     */
    private static FloatVector load(DType t, MemorySegment m, long e) {
        if (t == DType.F32) {
            return FloatVector.fromMemorySegment(F, m, e * 4, LE);
        }
        return ((IntVector) ShortVector.fromMemorySegment(Lanes.S, m, e * 2, LE)
                .convertShape(VectorOperators.S2I, Lanes.I, 0)).lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
    }

    /**
     * The element offset the kernels read {@code n} rows at (from element {@code base} of {@code seg}, rows
     * {@code j.kRow} apart) through {@code src}: {@code base} itself, or 0 after converting the rows (F16 or BF16)
     * into the scratch.
     */
    static long rows(Job j, MemorySegment seg, long base, int n, Src src, Scratch sc) {
        if (src.seg() != sc.conv) {
            return base;
        }
        int d = j.d;
        MemorySegment dst = sc.conv;
        long dr = src.row();
        if (j.kRow == d) {
            // consecutive rows (a cache or a [.., seq, headDim] tensor): one run of n * d elements
            Lanes.toF32(j.kt, seg, base, n * d, dst, 0);   // keys and values share a dtype
        } else {
            for (int r = 0; r < n; r++) {
                Lanes.toF32(j.kt, seg, base + r * j.kRow, d, dst, r * dr * 4);
            }
        }
        return 0;
    }

    /** q rows of the tile times scale, as F32, into scratch. */
    static void loadQuery(Job j, Scratch sc, int rows) {
        int d = j.d;
        float scale = j.scale;
        for (int r = 0; r < rows; r++) {
            long qi = sc.rq[r];
            int off = r * d;
            int i = 0;
            if (j.vector && j.qt == DType.F32) {
                // the load written out, not Lanes.load: a vector returned from a call the JIT did not inline here
                // was boxed (two-thread decode allocated 25 KB per call); 16-bit queries convert lane by lane below
                for (int up = d - L; i <= up; i += L) {
                    FloatVector.fromMemorySegment(F, j.qm, (qi + i) * 4, LE).mul(scale).intoArray(sc.q, off + i);
                }
            }
            for (; i < d; i++) {
                sc.q[off + i] = Lanes.get(j.qt, j.qm, qi + i) * scale;
            }
        }
        if (wide(j, rows)) {
            float[] qt = sc.kt;
            int i0 = 0;
            if (SUM4) {
                for (; i0 + L <= d; i0 += L) {
                    for (int r0 = 0; r0 < BQ; r0 += L) {
                        transpose16(sc.q, d, rows, r0, i0, qt);
                    }
                }
            }
            for (int i = i0; i < d; i++) {
                int to = i * BQ;
                for (int r = 0; r < rows; r++) {
                    qt[to + r] = sc.q[r * d + i];
                }
                java.util.Arrays.fill(qt, to + rows, to + BQ, 0f);
            }
        }
    }

    /**
     * qt[(i0 + i) * BQ + r0 + r] = q[(r0 + r) * d + i0 + i] for a 16 x 16 block (rows from {@code rows} on read as
     * 0): four swap stages (the off-diagonal 8 x 8 blocks, then 4 x 4 within them, ...), each a lane swap and a
     * blend per vector, instead of 256 scalar moves.
     */
    private static void transpose16(float[] q, int d, int rows, int r0, int i0, float[] qt) {
        FloatVector z = FloatVector.zero(F);
        FloatVector v0 = r0 + 0 < rows ? FloatVector.fromArray(F, q, (r0 + 0) * d + i0) : z;
        FloatVector v1 = r0 + 1 < rows ? FloatVector.fromArray(F, q, (r0 + 1) * d + i0) : z;
        FloatVector v2 = r0 + 2 < rows ? FloatVector.fromArray(F, q, (r0 + 2) * d + i0) : z;
        FloatVector v3 = r0 + 3 < rows ? FloatVector.fromArray(F, q, (r0 + 3) * d + i0) : z;
        FloatVector v4 = r0 + 4 < rows ? FloatVector.fromArray(F, q, (r0 + 4) * d + i0) : z;
        FloatVector v5 = r0 + 5 < rows ? FloatVector.fromArray(F, q, (r0 + 5) * d + i0) : z;
        FloatVector v6 = r0 + 6 < rows ? FloatVector.fromArray(F, q, (r0 + 6) * d + i0) : z;
        FloatVector v7 = r0 + 7 < rows ? FloatVector.fromArray(F, q, (r0 + 7) * d + i0) : z;
        FloatVector v8 = r0 + 8 < rows ? FloatVector.fromArray(F, q, (r0 + 8) * d + i0) : z;
        FloatVector v9 = r0 + 9 < rows ? FloatVector.fromArray(F, q, (r0 + 9) * d + i0) : z;
        FloatVector v10 = r0 + 10 < rows ? FloatVector.fromArray(F, q, (r0 + 10) * d + i0) : z;
        FloatVector v11 = r0 + 11 < rows ? FloatVector.fromArray(F, q, (r0 + 11) * d + i0) : z;
        FloatVector v12 = r0 + 12 < rows ? FloatVector.fromArray(F, q, (r0 + 12) * d + i0) : z;
        FloatVector v13 = r0 + 13 < rows ? FloatVector.fromArray(F, q, (r0 + 13) * d + i0) : z;
        FloatVector v14 = r0 + 14 < rows ? FloatVector.fromArray(F, q, (r0 + 14) * d + i0) : z;
        FloatVector v15 = r0 + 15 < rows ? FloatVector.fromArray(F, q, (r0 + 15) * d + i0) : z;
        // stage 8
        FloatVector t8_0 = v0.blend(v8.rearrange(X8), HI8);
        v8 = v0.rearrange(X8).blend(v8, HI8);
        v0 = t8_0;
        FloatVector t8_1 = v1.blend(v9.rearrange(X8), HI8);
        v9 = v1.rearrange(X8).blend(v9, HI8);
        v1 = t8_1;
        FloatVector t8_2 = v2.blend(v10.rearrange(X8), HI8);
        v10 = v2.rearrange(X8).blend(v10, HI8);
        v2 = t8_2;
        FloatVector t8_3 = v3.blend(v11.rearrange(X8), HI8);
        v11 = v3.rearrange(X8).blend(v11, HI8);
        v3 = t8_3;
        FloatVector t8_4 = v4.blend(v12.rearrange(X8), HI8);
        v12 = v4.rearrange(X8).blend(v12, HI8);
        v4 = t8_4;
        FloatVector t8_5 = v5.blend(v13.rearrange(X8), HI8);
        v13 = v5.rearrange(X8).blend(v13, HI8);
        v5 = t8_5;
        FloatVector t8_6 = v6.blend(v14.rearrange(X8), HI8);
        v14 = v6.rearrange(X8).blend(v14, HI8);
        v6 = t8_6;
        FloatVector t8_7 = v7.blend(v15.rearrange(X8), HI8);
        v15 = v7.rearrange(X8).blend(v15, HI8);
        v7 = t8_7;
        // stage 4
        FloatVector t4_0 = v0.blend(v4.rearrange(X4), ODD4);
        v4 = v0.rearrange(X4).blend(v4, ODD4);
        v0 = t4_0;
        FloatVector t4_1 = v1.blend(v5.rearrange(X4), ODD4);
        v5 = v1.rearrange(X4).blend(v5, ODD4);
        v1 = t4_1;
        FloatVector t4_2 = v2.blend(v6.rearrange(X4), ODD4);
        v6 = v2.rearrange(X4).blend(v6, ODD4);
        v2 = t4_2;
        FloatVector t4_3 = v3.blend(v7.rearrange(X4), ODD4);
        v7 = v3.rearrange(X4).blend(v7, ODD4);
        v3 = t4_3;
        FloatVector t4_8 = v8.blend(v12.rearrange(X4), ODD4);
        v12 = v8.rearrange(X4).blend(v12, ODD4);
        v8 = t4_8;
        FloatVector t4_9 = v9.blend(v13.rearrange(X4), ODD4);
        v13 = v9.rearrange(X4).blend(v13, ODD4);
        v9 = t4_9;
        FloatVector t4_10 = v10.blend(v14.rearrange(X4), ODD4);
        v14 = v10.rearrange(X4).blend(v14, ODD4);
        v10 = t4_10;
        FloatVector t4_11 = v11.blend(v15.rearrange(X4), ODD4);
        v15 = v11.rearrange(X4).blend(v15, ODD4);
        v11 = t4_11;
        // stage 2
        FloatVector t2_0 = v0.blend(v2.rearrange(X2), ODD2);
        v2 = v0.rearrange(X2).blend(v2, ODD2);
        v0 = t2_0;
        FloatVector t2_1 = v1.blend(v3.rearrange(X2), ODD2);
        v3 = v1.rearrange(X2).blend(v3, ODD2);
        v1 = t2_1;
        FloatVector t2_4 = v4.blend(v6.rearrange(X2), ODD2);
        v6 = v4.rearrange(X2).blend(v6, ODD2);
        v4 = t2_4;
        FloatVector t2_5 = v5.blend(v7.rearrange(X2), ODD2);
        v7 = v5.rearrange(X2).blend(v7, ODD2);
        v5 = t2_5;
        FloatVector t2_8 = v8.blend(v10.rearrange(X2), ODD2);
        v10 = v8.rearrange(X2).blend(v10, ODD2);
        v8 = t2_8;
        FloatVector t2_9 = v9.blend(v11.rearrange(X2), ODD2);
        v11 = v9.rearrange(X2).blend(v11, ODD2);
        v9 = t2_9;
        FloatVector t2_12 = v12.blend(v14.rearrange(X2), ODD2);
        v14 = v12.rearrange(X2).blend(v14, ODD2);
        v12 = t2_12;
        FloatVector t2_13 = v13.blend(v15.rearrange(X2), ODD2);
        v15 = v13.rearrange(X2).blend(v15, ODD2);
        v13 = t2_13;
        // stage 1
        FloatVector t1_0 = v0.blend(v1.rearrange(X1), ODD1);
        v1 = v0.rearrange(X1).blend(v1, ODD1);
        v0 = t1_0;
        FloatVector t1_2 = v2.blend(v3.rearrange(X1), ODD1);
        v3 = v2.rearrange(X1).blend(v3, ODD1);
        v2 = t1_2;
        FloatVector t1_4 = v4.blend(v5.rearrange(X1), ODD1);
        v5 = v4.rearrange(X1).blend(v5, ODD1);
        v4 = t1_4;
        FloatVector t1_6 = v6.blend(v7.rearrange(X1), ODD1);
        v7 = v6.rearrange(X1).blend(v7, ODD1);
        v6 = t1_6;
        FloatVector t1_8 = v8.blend(v9.rearrange(X1), ODD1);
        v9 = v8.rearrange(X1).blend(v9, ODD1);
        v8 = t1_8;
        FloatVector t1_10 = v10.blend(v11.rearrange(X1), ODD1);
        v11 = v10.rearrange(X1).blend(v11, ODD1);
        v10 = t1_10;
        FloatVector t1_12 = v12.blend(v13.rearrange(X1), ODD1);
        v13 = v12.rearrange(X1).blend(v13, ODD1);
        v12 = t1_12;
        FloatVector t1_14 = v14.blend(v15.rearrange(X1), ODD1);
        v15 = v14.rearrange(X1).blend(v15, ODD1);
        v14 = t1_14;
        v0.intoArray(qt, (i0 + 0) * BQ + r0);
        v1.intoArray(qt, (i0 + 1) * BQ + r0);
        v2.intoArray(qt, (i0 + 2) * BQ + r0);
        v3.intoArray(qt, (i0 + 3) * BQ + r0);
        v4.intoArray(qt, (i0 + 4) * BQ + r0);
        v5.intoArray(qt, (i0 + 5) * BQ + r0);
        v6.intoArray(qt, (i0 + 6) * BQ + r0);
        v7.intoArray(qt, (i0 + 7) * BQ + r0);
        v8.intoArray(qt, (i0 + 8) * BQ + r0);
        v9.intoArray(qt, (i0 + 9) * BQ + r0);
        v10.intoArray(qt, (i0 + 10) * BQ + r0);
        v11.intoArray(qt, (i0 + 11) * BQ + r0);
        v12.intoArray(qt, (i0 + 12) * BQ + r0);
        v13.intoArray(qt, (i0 + 13) * BQ + r0);
        v14.intoArray(qt, (i0 + 14) * BQ + r0);
        v15.intoArray(qt, (i0 + 15) * BQ + r0);
    }

    /**
     * Sets to -inf the scores s[key * BQ + row] of keys k0..k0+n that a row cannot see (causal, window, global
     * tokens), BQ rows at once lane-wise; pos holds each row's position.
     */
    static void maskWide(float[] s, int[] pos, int n, long k0, long window, long global) {
        for (int g = 0; g < BQ; g += L) {
            IntVector p = IntVector.fromArray(Lanes.I, pos, g);
            for (int c = 0; c < n; c++) {
                long kp = k0 + c;
                VectorMask<Integer> hidden = p.compare(VectorOperators.LT, (int) kp);
                if (window > 0 && kp >= global) {
                    // outside the window: p >= kp + window
                    hidden = hidden.or(p.compare(VectorOperators.GE, (int) Math.min(Integer.MAX_VALUE, kp + window)));
                }
                int si = c * BQ + g;
                FloatVector.fromArray(F, s, si).blend(Float.NEGATIVE_INFINITY, hidden.cast(F)).intoArray(s, si);
            }
        }
    }

    /** Whether a tile of this many rows uses the wide (transposed-score) layout. */
    static boolean wide(Job j, int rows) {
        // The wide block always fills BQ lanes of rows; up to half of that the per-row path wastes less.
        return j.vector && rows > NARROW_MAX && BQ % (2 * L) == 0;
    }

    /** s[r][0..n) = q_r . k_(k0 + j), keys starting at element kb. */
    static void scores(Job j, Scratch sc, int rows, long kb, int n) {
        if (!j.vector) {
            scalarScores(j, sc, rows, kb, n);
        } else if (wide(j, rows)) {
            // the key tile as F32 in scratch first: plain array reads in the FMA loop below
            toF32(j.kt, j.km, kb, j.kRow, n, j.d, sc.kf);
            int d = j.d;
            int c = 0;
            for (; c + 8 <= n && !SMALL_TILES; c += 8) {
                for (int g = 0; g < BQ; g += 2 * L) {
                    keys8(sc.kf, c * d, d, sc.kt, g, sc.s, c * BQ + g);
                }
            }
            for (; c + 4 <= n; c += 4) {
                for (int g = 0; g < BQ; g += 2 * L) {
                    keys4(sc.kf, c * d, d, sc.kt, g, sc.s, c * BQ + g);
                }
            }
            for (; c < n; c++) {
                for (int g = 0; g < BQ; g += 2 * L) {
                    keys1(sc.kf, c * d, d, sc.kt, g, sc.s, c * BQ + g);
                }
            }
        } else {
            // sixteen keys at a time for every row (the group's other query heads): those keys stay in L1
            int ks = keyTile(rows);
            int d = j.d;
            int c = 0;
            Src src = source(j, j.kt, j.km, sc, rows);
            if (SUM4) {
                for (; c + 16 <= n; c += 16) {
                    long k0 = rows(j, j.km, kb + c * j.kRow, 16, src, sc);
                    int r = 0;
                    for (int g; r < rows && (g = rowsInRegisters(d, rows - r)) > 0; r += g) {
                        scoresInRegisters(j, src, g, sc.q, r * d, k0, sc.s, r * ks + c, ks, sc.z);
                    }
                    for (; r + 4 <= rows; r += 4) {
                        scores16x4(j, src, sc.q, r * d, k0, sc.s, r * ks + c, ks, sc.z);
                    }
                    for (; r < rows; r++) {
                        scores16(j, src, sc.q, r * d, k0, sc.s, r * ks + c, sc.z);
                    }
                }
            } else if (EIGHT && rows >= 4) {
                // 8 lanes (AVX2), groups of four query rows (GQA): eight keys at a time, each key vector loaded once
                // for the four rows and no lane sum per key; other rows keep directScores, which measured faster than
                // a fold for a single row
                int g4 = rows - rows % 4;
                for (; c + 8 <= n; c += 8) {
                    long k0 = rows(j, j.km, kb + c * j.kRow, 8, src, sc);
                    for (int r = 0; r < g4; r += 4) {
                        scores8x4(j, src, sc.q, r * d, k0, sc.s, r * ks + c, ks, sc.z);
                    }
                    for (int r = g4; r < rows; r++) {
                        directScores(j, src, sc.q, r * d, k0, 8, sc.s, r * ks + c);
                    }
                }
            }
            // the keys left (all of them with 4 lanes, or 8 and fewer than four rows), at most VK at a time: the conversion scratch
            // holds VK rows
            while (c < n) {
                int m = Math.min(n - c, VK);
                long k0 = rows(j, j.km, kb + c * j.kRow, m, src, sc);
                for (int r = 0; r < rows; r++) {
                    directScores(j, src, sc.q, r * d, k0, m, sc.s, r * ks + c);
                }
                c += m;
            }
        }
    }

    /** Turns the tile's scores into weights (updating running max and sum) and adds weights x values to o. */
    static void accumulate(Job j, Scratch sc, int rows, long vb, int n) {
        if (wide(j, rows)) {
            accumulateWide(j, sc, rows, vb, n);
            return;
        }
        int d = j.d;
        float[] s = sc.s;
        for (int r = 0; r < rows; r++) {
            int so = r * keyTile(rows);
            switch (j.scoring) {
                case SOFTMAX -> {
                    float mt = j.vector ? vectorMax(s, so, n) : scalarMax(s, so, n);
                    float mOld = sc.m[r];
                    float mNew = Math.max(mOld, mt);
                    if (mNew == Float.NEGATIVE_INFINITY) {
                        // nothing visible in this row yet: weights are zero, state unchanged
                        java.util.Arrays.fill(s, so, so + n, 0f);
                        continue;
                    }
                    float alpha = (float) Math.exp(mOld - mNew);
                    float sum = j.vector ? softmaxExp(s, so, n, mNew, sc.ms) : scalarExp(s, so, n, mNew);
                    sc.l[r] = sc.l[r] * alpha + sum;
                    sc.m[r] = mNew;
                    if (alpha != 1f) {
                        scaleRow(j.vector, sc.o, r * d, d, alpha);
                    }
                }
                case SOFTPLUS -> sc.l[r] += j.vector ? vectorSoftplus(s, so, n) : scalarSoftplus(s, so, n);
                case EXP_L1 -> sc.l[r] += j.vector ? vectorExp(s, so, n, 0f) : scalarExp(s, so, n, 0f);
            }
        }
        if (!j.vector) {
            scalarValues(j, sc, rows, vb, n);
        } else {
            // chunks of VK keys for every row: the chunk's values stay in L1 for the group's other rows
            int ks = keyTile(rows);
            Src src = source(j, j.vt, j.vm, sc, rows);
            for (int c = 0; c < n; c += VK) {
                int m = Math.min(VK, n - c);
                long v0 = rows(j, j.vm, vb + c * j.kRow, m, src, sc);
                int r = 0;
                int wide8 = d - d % (8 * L);
                int wide4 = wide8 > 0 ? 0 : d - d % (4 * L);
                for (; r + 2 <= rows && wide8 > 0; r += 2) {
                    // rows of 8L or more floats: two query rows x eight vectors, so each value row is read in
                    // one sequential pass (four rows x four vectors read half rows, at half the bandwidth)
                    values2x8(j, src, sc.s, r * ks + c, ks, v0, m, sc.o, r * d, wide8);
                    directValues(j, src, sc.s, r * ks + c, v0, m, sc.o, r * d, wide8);
                    directValues(j, src, sc.s, (r + 1) * ks + c, v0, m, sc.o, (r + 1) * d, wide8);
                }
                for (; r + 4 <= rows && wide4 > 0; r += 4) {
                    // four rows share each value vector loaded; the last columns row by row
                    values4(j, src, sc.s, r * ks + c, ks, v0, m, sc.o, r * d, wide4);
                    for (int e = 0; e < 4; e++) {
                        directValues(j, src, sc.s, (r + e) * ks + c, v0, m, sc.o, (r + e) * d, wide4);
                    }
                }
                for (; r < rows; r++) {
                    directValues(j, src, sc.s, r * ks + c, v0, m, sc.o, r * d, 0);
                }
            }
        }
    }

    /**
     * The wide layout: scores s[key * BQ + row]. Weights lane-wise over groups of L rows, then o += P V with the
     * value tile in F32 scratch.
     */
    private static void accumulateWide(Job j, Scratch sc, int rows, long vb, int n) {
        int d = j.d;
        float[] s = sc.s;
        AttentionOptions.Scoring scoring = j.scoring;
        for (int g = 0; g < BQ; g += L) {
            if (scoring == AttentionOptions.Scoring.SOFTMAX) {
                softmaxColumns(s, g, n, sc.m, sc.l, sc.alpha, sc.ms);
            } else {
                FloatVector sum = scoring == AttentionOptions.Scoring.SOFTPLUS ? softplusColumns(s, g, n)
                        : expColumns(s, g, n, FloatVector.zero(F));
                FloatVector.fromArray(F, sc.l, g).add(sum).intoArray(sc.l, g);
            }
        }
        if (scoring == AttentionOptions.Scoring.SOFTMAX) {
            for (int r = 0; r < rows; r++) {
                if (sc.alpha[r] != 1f) {
                    scaleRow(true, sc.o, r * d, d, sc.alpha[r]);
                }
            }
        }
        toF32(j.vt, j.vm, vb, j.kRow, n, j.d, sc.vt);
        int r = 0;
        for (; r + 4 <= rows; r += 4) {
            columns4(s, r, BQ, sc.vt, n, sc.o, r * d, d);
        }
        for (; r < rows; r++) {
            columns1(s, r, BQ, sc.vt, n, sc.o, r * d, d);
        }
    }

    /**
     * Online softmax step for rows g..g+L of the wide tile: new max, weights, sum, rescale factors. Arrays only
     * cross its calls: a vector passed to or returned from a call the JIT did not inline is boxed.
     */
    private static void softmaxColumns(float[] s, int g, int n, float[] m, float[] l, float[] alphas, float[] ms) {
        FloatVector mOld = FloatVector.fromArray(F, m, g);
        FloatVector mNew = mOld;
        for (int c = 0; c < n; c++) {
            FloatVector v = FloatVector.fromArray(F, s, c * BQ + g);
            // NaN is skipped here; it shows through exp below
            mNew = mNew.blend(v, v.compare(VectorOperators.GT, mNew));
        }
        // rows with nothing visible yet: subtract 0 instead of -inf, so their weights are exp(-inf) = 0
        mNew.blend(0f, mNew.compare(VectorOperators.EQ, Float.NEGATIVE_INFINITY)).intoArray(ms, g);
        mNew.intoArray(m, g);
        mOld.intoArray(alphas, g);
        expMinus(alphas, g, ms, g);
        FloatVector sum = FloatVector.zero(F);
        for (int c = 0; c < n; c++) {
            int si = c * BQ + g;
            expMinus(s, si, ms, g);
            sum = sum.add(FloatVector.fromArray(F, s, si));
        }
        FloatVector.fromArray(F, l, g).mul(FloatVector.fromArray(F, alphas, g)).add(sum).intoArray(l, g);
    }

    /**
     * a[off..off+L) = e^(a - sub[so..so+L)) for differences <= 0 (scores minus their running max). Below -80
     * (and -inf, a masked key) the result is 0: e^-80 is 1e-35 of the largest weight, far below the F32
     * resolution of a sum that holds a weight of 1. NaN stays NaN. The polynomial of {@code VMath.exp}, written
     * out here so that no vector crosses a call.
     */
    private static void expMinus(float[] a, int off, float[] sub, int so) {
        FloatVector x = FloatVector.fromArray(F, a, off).sub(FloatVector.fromArray(F, sub, so));
        VectorMask<Float> zero = x.compare(VectorOperators.LT, -80f);
        x = x.max(-80f);
        FloatVector t = x.fma(LOG2E, ROUND);
        FloatVector k = t.sub(ROUND);
        FloatVector r = k.fma(FloatVector.broadcast(F, -LN2_HI), x);
        r = k.fma(FloatVector.broadcast(F, -LN2_LO), r);
        FloatVector p = r.fma(Q3, Q2).fma(r, FloatVector.broadcast(F, Q1)).fma(r, FloatVector.broadcast(F, Q0));
        FloatVector y = p.fma(r.mul(r), r).add(1f);
        // the low bits of t hold k (ROUND's own low bits are zero): t << 23 is k in exponent position
        IntVector scale = t.reinterpretAsInts().lanewise(VectorOperators.LSHL, 23);
        y.reinterpretAsInts().add(scale).reinterpretAsFloats().blend(0f, zero).intoArray(a, off);
    }

    /** e^x for x <= 0 (softplus's e^-|x|), 0 below -80; NaN stays NaN. */
    private static FloatVector expNeg(FloatVector x) {
        return VMath.exp(x.max(-80f)).blend(0f, x.compare(VectorOperators.LT, -80f));
    }

    /** s = exp(s - max) in place for the n score vectors; returns their sum. */
    private static FloatVector expColumns(float[] s, int g, int n, FloatVector max) {
        FloatVector sum = FloatVector.zero(F);
        for (int c = 0; c < n; c++) {
            int si = c * BQ + g;
            FloatVector p = VMath.exp(FloatVector.fromArray(F, s, si).sub(max));
            p.intoArray(s, si);
            sum = sum.add(p);
        }
        return sum;
    }

    private static FloatVector softplusColumns(float[] s, int g, int n) {
        FloatVector sum = FloatVector.zero(F);
        for (int c = 0; c < n; c++) {
            int si = c * BQ + g;
            FloatVector x = FloatVector.fromArray(F, s, si);
            FloatVector p = expNeg(x.abs().neg()).lanewise(VectorOperators.LOG1P)
                    .add(x.lanewise(VectorOperators.MAX, 0f));
            p.intoArray(s, si);
            sum = sum.add(p);
        }
        return sum;
    }

    /** sT[c..c+3][g..g+2L) = k_(c..c+3) . qT[.][g..g+2L): four keys (rows of kf, d apart) against 2L query rows. */
    private static void keys4(float[] kf, int k0, int d, float[] qt, int g, float[] s, int so) {
        FloatVector c00 = FloatVector.zero(F);
        FloatVector c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
        for (int i = 0; i < d; i++) {
            int bi = i * BQ + g;
            FloatVector b0 = FloatVector.fromArray(F, qt, bi);
            FloatVector b1 = FloatVector.fromArray(F, qt, bi + L);
            int ki = k0 + i;
            FloatVector a0 = FloatVector.broadcast(F, kf[ki]);
            FloatVector a1 = FloatVector.broadcast(F, kf[ki + d]);
            FloatVector a2 = FloatVector.broadcast(F, kf[ki + 2 * d]);
            FloatVector a3 = FloatVector.broadcast(F, kf[ki + 3 * d]);
            c00 = b0.fma(a0, c00);
            c01 = b1.fma(a0, c01);
            c10 = b0.fma(a1, c10);
            c11 = b1.fma(a1, c11);
            c20 = b0.fma(a2, c20);
            c21 = b1.fma(a2, c21);
            c30 = b0.fma(a3, c30);
            c31 = b1.fma(a3, c31);
        }
        c00.intoArray(s, so);
        c01.intoArray(s, so + L);
        c10.intoArray(s, so + BQ);
        c11.intoArray(s, so + BQ + L);
        c20.intoArray(s, so + 2 * BQ);
        c21.intoArray(s, so + 2 * BQ + L);
        c30.intoArray(s, so + 3 * BQ);
        c31.intoArray(s, so + 3 * BQ + L);
    }

    /** As {@link #keys4} for eight keys: 16 accumulators, each pair of query vectors serves eight keys. */
    private static void keys8(float[] kf, int k0, int d, float[] qt, int g, float[] s, int so) {
        FloatVector z = FloatVector.zero(F);
        FloatVector c00 = z;
        FloatVector c01 = z;
        FloatVector c10 = z;
        FloatVector c11 = z;
        FloatVector c20 = z;
        FloatVector c21 = z;
        FloatVector c30 = z;
        FloatVector c31 = z;
        FloatVector c40 = z;
        FloatVector c41 = z;
        FloatVector c50 = z;
        FloatVector c51 = z;
        FloatVector c60 = z;
        FloatVector c61 = z;
        FloatVector c70 = z;
        FloatVector c71 = z;
        for (int i = 0; i < d; i++) {
            int bi = i * BQ + g;
            FloatVector b0 = FloatVector.fromArray(F, qt, bi);
            FloatVector b1 = FloatVector.fromArray(F, qt, bi + L);
            int ki = k0 + i;
            FloatVector a0 = FloatVector.broadcast(F, kf[ki + 0 * d]);
            c00 = b0.fma(a0, c00);
            c01 = b1.fma(a0, c01);
            FloatVector a1 = FloatVector.broadcast(F, kf[ki + 1 * d]);
            c10 = b0.fma(a1, c10);
            c11 = b1.fma(a1, c11);
            FloatVector a2 = FloatVector.broadcast(F, kf[ki + 2 * d]);
            c20 = b0.fma(a2, c20);
            c21 = b1.fma(a2, c21);
            FloatVector a3 = FloatVector.broadcast(F, kf[ki + 3 * d]);
            c30 = b0.fma(a3, c30);
            c31 = b1.fma(a3, c31);
            FloatVector a4 = FloatVector.broadcast(F, kf[ki + 4 * d]);
            c40 = b0.fma(a4, c40);
            c41 = b1.fma(a4, c41);
            FloatVector a5 = FloatVector.broadcast(F, kf[ki + 5 * d]);
            c50 = b0.fma(a5, c50);
            c51 = b1.fma(a5, c51);
            FloatVector a6 = FloatVector.broadcast(F, kf[ki + 6 * d]);
            c60 = b0.fma(a6, c60);
            c61 = b1.fma(a6, c61);
            FloatVector a7 = FloatVector.broadcast(F, kf[ki + 7 * d]);
            c70 = b0.fma(a7, c70);
            c71 = b1.fma(a7, c71);
        }
        c00.intoArray(s, so + 0 * BQ);
        c01.intoArray(s, so + 0 * BQ + L);
        c10.intoArray(s, so + 1 * BQ);
        c11.intoArray(s, so + 1 * BQ + L);
        c20.intoArray(s, so + 2 * BQ);
        c21.intoArray(s, so + 2 * BQ + L);
        c30.intoArray(s, so + 3 * BQ);
        c31.intoArray(s, so + 3 * BQ + L);
        c40.intoArray(s, so + 4 * BQ);
        c41.intoArray(s, so + 4 * BQ + L);
        c50.intoArray(s, so + 5 * BQ);
        c51.intoArray(s, so + 5 * BQ + L);
        c60.intoArray(s, so + 6 * BQ);
        c61.intoArray(s, so + 6 * BQ + L);
        c70.intoArray(s, so + 7 * BQ);
        c71.intoArray(s, so + 7 * BQ + L);
    }

    private static void keys1(float[] kf, int k0, int d, float[] qt, int g, float[] s, int so) {
        FloatVector c0 = FloatVector.zero(F);
        FloatVector c1 = c0;
        for (int i = 0; i < d; i++) {
            int bi = i * BQ + g;
            FloatVector a0 = FloatVector.broadcast(F, kf[k0 + i]);
            c0 = FloatVector.fromArray(F, qt, bi).fma(a0, c0);
            c1 = FloatVector.fromArray(F, qt, bi + L).fma(a0, c1);
        }
        c0.intoArray(s, so);
        c1.intoArray(s, so + L);
    }

    /** out[oi..] = o[off..off+d) * inv. */
    static void storeScaled(boolean vector, float[] o, int off, int d, float inv, MemorySegment out, long oi) {
        int i = 0;
        if (vector) {
            for (int up = d - L; i <= up; i += L) {
                FloatVector.fromArray(F, o, off + i).mul(inv).intoMemorySegment(out, (oi + i) * 4, LE);
            }
        }
        for (; i < d; i++) {
            out.set(F32, (oi + i) * 4, o[off + i] * inv);
        }
    }

    // ---- scalar ---------------------------------------------------------------------------------

    private static void scalarScores(Job j, Scratch sc, int rows, long kb, int n) {
        int d = j.d;
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < n; c++) {
                long ki = kb + c * j.kRow;
                double acc = 0;
                for (int i = 0; i < d; i++) {
                    acc += (double) sc.q[r * d + i] * Lanes.get(j.kt, j.km, ki + i);
                }
                sc.s[r * keyTile(rows) + c] = (float) acc;
            }
        }
    }

    private static void scalarValues(Job j, Scratch sc, int rows, long vb, int n) {
        int d = j.d;
        for (int r = 0; r < rows; r++) {
            for (int i = 0; i < d; i++) {
                double acc = sc.o[r * d + i];
                for (int c = 0; c < n; c++) {
                    acc += (double) sc.s[r * keyTile(rows) + c] * Lanes.get(j.vt, j.vm, vb + c * j.kRow + i);
                }
                sc.o[r * d + i] = (float) acc;
            }
        }
    }

    /** The largest score; NaN is skipped here and shows up through exp in the next step. */
    private static float scalarMax(float[] s, int off, int n) {
        float m = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) {
            if (s[off + i] > m) {
                m = s[off + i];
            }
        }
        return m;
    }

    private static float scalarExp(float[] s, int off, int n, float max) {
        double sum = 0;
        for (int i = 0; i < n; i++) {
            float e = (float) Math.exp((double) s[off + i] - max);
            s[off + i] = e;
            sum += e;
        }
        return (float) sum;
    }

    private static float scalarSoftplus(float[] s, int off, int n) {
        double sum = 0;
        for (int i = 0; i < n; i++) {
            float e = softplus(s[off + i]);
            s[off + i] = e;
            sum += e;
        }
        return (float) sum;
    }

    /** log(1 + e^x) without overflow. */
    static float softplus(float x) {
        double xd = x;
        return (float) (Math.max(xd, 0) + Math.log1p(Math.exp(-Math.abs(xd))));
    }

    // ---- vector: row operations on the score tile ---------------------------------------------------

    private static float vectorMax(float[] s, int off, int n) {
        FloatVector m = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
        int i = 0;
        for (int up = n - L; i <= up; i += L) {
            FloatVector v = FloatVector.fromArray(F, s, off + i);
            m = m.blend(v, v.compare(VectorOperators.GT, m));
        }
        float max = m.reduceLanes(VectorOperators.MAX);
        for (; i < n; i++) {
            if (s[off + i] > max) {
                max = s[off + i];
            }
        }
        return max;
    }

    /** s = e^(s - max) in place for one row of n scores (max their largest); returns their sum. */
    private static float softmaxExp(float[] s, int off, int n, float max, float[] ms) {
        java.util.Arrays.fill(ms, 0, L, max);
        FloatVector sum = FloatVector.zero(F);
        int i = 0;
        for (int up = n - L; i <= up; i += L) {
            expMinus(s, off + i, ms, 0);
            sum = sum.add(FloatVector.fromArray(F, s, off + i));
        }
        sum.intoArray(ms, 0);
        float total = 0f;
        for (int e = 0; e < L; e++) {
            total += ms[e];
        }
        for (; i < n; i++) {
            float e = (float) Math.exp(s[off + i] - max);
            s[off + i] = e;
            total += e;
        }
        return total;
    }

    private static float vectorExp(float[] s, int off, int n, float max) {
        FloatVector sum = FloatVector.zero(F);
        int i = 0;
        for (int up = n - L; i <= up; i += L) {
            FloatVector e = VMath.exp(FloatVector.fromArray(F, s, off + i).sub(max));
            e.intoArray(s, off + i);
            sum = sum.add(e);
        }
        float total = Lanes.sum(sum);
        for (; i < n; i++) {
            float e = (float) Math.exp(s[off + i] - max);
            s[off + i] = e;
            total += e;
        }
        return total;
    }

    private static float vectorSoftplus(float[] s, int off, int n) {
        FloatVector sum = FloatVector.zero(F);
        int i = 0;
        for (int up = n - L; i <= up; i += L) {
            FloatVector x = FloatVector.fromArray(F, s, off + i);
            FloatVector e = expNeg(x.abs().neg()).lanewise(VectorOperators.LOG1P)
                    .add(x.lanewise(VectorOperators.MAX, 0f));
            e.intoArray(s, off + i);
            sum = sum.add(e);
        }
        float total = Lanes.sum(sum);
        for (; i < n; i++) {
            float e = softplus(s[off + i]);
            s[off + i] = e;
            total += e;
        }
        return total;
    }

    private static void scaleRow(boolean vector, float[] o, int off, int d, float a) {
        int i = 0;
        if (vector) {
            for (int up = d - L; i <= up; i += L) {
                FloatVector.fromArray(F, o, off + i).mul(a).intoArray(o, off + i);
            }
        }
        for (; i < d; i++) {
            o[off + i] *= a;
        }
    }

    // ---- vector: tiles in scratch ---------------------------------------------------------------

    /** dst[c * d + i] = src row c (rows rowStride apart from element base), element i, as F32. */
    private static void toF32(DType t, MemorySegment src, long base, long rowStride, int n, int d, float[] dst) {
        for (int c = 0; c < n; c++) {
            long si = base + c * rowStride;
            int off = c * d;
            int i = 0;
            for (int up = d - L; i <= up; i += L) {
                Lanes.load(t, src, si + i).intoArray(dst, off + i);
            }
            for (; i < d; i++) {
                dst[off + i] = Lanes.get(t, src, si + i);
            }
        }
    }

    /** o[4 rows][0..d) += w[4 rows][0..n) x vt[n][d]; weight (r, p) at w[wOff + r + p * pStride]. */
    private static void columns4(float[] w, int wOff, int pStride, float[] vt, int n, float[] o, int oOff, int d) {
        int c = 0;
        for (; c + 4 * L <= d && !SMALL_TILES; c += 4 * L) {
            gemm4x4(w, wOff, pStride, vt, c, d, n, o, oOff + c, d);
        }
        for (; c + 2 * L <= d; c += 2 * L) {
            gemm4x2(w, wOff, pStride, vt, c, d, n, o, oOff + c, d);
        }
        for (; c + L <= d; c += L) {
            gemm4x1(w, wOff, pStride, vt, c, d, n, o, oOff + c, d);
        }
        for (; c < d; c++) {
            for (int r = 0; r < 4; r++) {
                float acc = o[oOff + r * d + c];
                for (int p = 0; p < n; p++) {
                    acc += w[wOff + r + p * pStride] * vt[p * d + c];
                }
                o[oOff + r * d + c] = acc;
            }
        }
    }

    private static void columns1(float[] w, int wOff, int pStride, float[] vt, int n, float[] o, int oOff, int d) {
        int c = 0;
        for (; c + 2 * L <= d; c += 2 * L) {
            gemm1x2(w, wOff, pStride, vt, c, d, n, o, oOff + c);
        }
        for (; c < d; c++) {
            float acc = o[oOff + c];
            for (int p = 0; p < n; p++) {
                acc += w[wOff + p * pStride] * vt[p * d + c];
            }
            o[oOff + c] = acc;
        }
    }

    /**
     * c[4 rows][2L columns] += w[4 rows][0..kk) x b[0..kk][2L columns], weight (r, p) at w[wOff + r + p * pStride]
     * (four adjacent entries per p: the rows along the lanes of the score tile). Rows of b are bStride apart, rows
     * of c cStride.
     */
    private static void gemm4x2(float[] w, int wOff, int pStride, float[] b, int bOff, int bStride, int kk,
                                float[] c, int cOff, int cStride) {
        FloatVector c00 = FloatVector.fromArray(F, c, cOff);
        FloatVector c01 = FloatVector.fromArray(F, c, cOff + L);
        FloatVector c10 = FloatVector.fromArray(F, c, cOff + cStride);
        FloatVector c11 = FloatVector.fromArray(F, c, cOff + cStride + L);
        FloatVector c20 = FloatVector.fromArray(F, c, cOff + 2 * cStride);
        FloatVector c21 = FloatVector.fromArray(F, c, cOff + 2 * cStride + L);
        FloatVector c30 = FloatVector.fromArray(F, c, cOff + 3 * cStride);
        FloatVector c31 = FloatVector.fromArray(F, c, cOff + 3 * cStride + L);
        for (int p = 0; p < kk; p++) {
            int bi = bOff + p * bStride;
            FloatVector b0 = FloatVector.fromArray(F, b, bi);
            FloatVector b1 = FloatVector.fromArray(F, b, bi + L);
            int wi = wOff + p * pStride;
            FloatVector a0 = FloatVector.broadcast(F, w[wi]);
            FloatVector a1 = FloatVector.broadcast(F, w[wi + 1]);
            FloatVector a2 = FloatVector.broadcast(F, w[wi + 2]);
            FloatVector a3 = FloatVector.broadcast(F, w[wi + 3]);
            c00 = b0.fma(a0, c00);
            c01 = b1.fma(a0, c01);
            c10 = b0.fma(a1, c10);
            c11 = b1.fma(a1, c11);
            c20 = b0.fma(a2, c20);
            c21 = b1.fma(a2, c21);
            c30 = b0.fma(a3, c30);
            c31 = b1.fma(a3, c31);
        }
        c00.intoArray(c, cOff);
        c01.intoArray(c, cOff + L);
        c10.intoArray(c, cOff + cStride);
        c11.intoArray(c, cOff + cStride + L);
        c20.intoArray(c, cOff + 2 * cStride);
        c21.intoArray(c, cOff + 2 * cStride + L);
        c30.intoArray(c, cOff + 3 * cStride);
        c31.intoArray(c, cOff + 3 * cStride + L);
    }

    /** As {@link #gemm4x2} for 4L columns: 16 accumulators, each weight broadcast serves four value vectors. */
    private static void gemm4x4(float[] w, int wOff, int pStride, float[] b, int bOff, int bStride, int kk,
                                float[] c, int cOff, int cStride) {
        FloatVector c00 = FloatVector.fromArray(F, c, cOff + 0 * cStride + 0 * L);
        FloatVector c01 = FloatVector.fromArray(F, c, cOff + 0 * cStride + 1 * L);
        FloatVector c02 = FloatVector.fromArray(F, c, cOff + 0 * cStride + 2 * L);
        FloatVector c03 = FloatVector.fromArray(F, c, cOff + 0 * cStride + 3 * L);
        FloatVector c10 = FloatVector.fromArray(F, c, cOff + 1 * cStride + 0 * L);
        FloatVector c11 = FloatVector.fromArray(F, c, cOff + 1 * cStride + 1 * L);
        FloatVector c12 = FloatVector.fromArray(F, c, cOff + 1 * cStride + 2 * L);
        FloatVector c13 = FloatVector.fromArray(F, c, cOff + 1 * cStride + 3 * L);
        FloatVector c20 = FloatVector.fromArray(F, c, cOff + 2 * cStride + 0 * L);
        FloatVector c21 = FloatVector.fromArray(F, c, cOff + 2 * cStride + 1 * L);
        FloatVector c22 = FloatVector.fromArray(F, c, cOff + 2 * cStride + 2 * L);
        FloatVector c23 = FloatVector.fromArray(F, c, cOff + 2 * cStride + 3 * L);
        FloatVector c30 = FloatVector.fromArray(F, c, cOff + 3 * cStride + 0 * L);
        FloatVector c31 = FloatVector.fromArray(F, c, cOff + 3 * cStride + 1 * L);
        FloatVector c32 = FloatVector.fromArray(F, c, cOff + 3 * cStride + 2 * L);
        FloatVector c33 = FloatVector.fromArray(F, c, cOff + 3 * cStride + 3 * L);
        for (int p = 0; p < kk; p++) {
            int bi = bOff + p * bStride;
            FloatVector b0 = FloatVector.fromArray(F, b, bi + 0 * L);
            FloatVector b1 = FloatVector.fromArray(F, b, bi + 1 * L);
            FloatVector b2 = FloatVector.fromArray(F, b, bi + 2 * L);
            FloatVector b3 = FloatVector.fromArray(F, b, bi + 3 * L);
            int wi = wOff + p * pStride;
            FloatVector a0 = FloatVector.broadcast(F, w[wi + 0]);
            c00 = b0.fma(a0, c00);
            c01 = b1.fma(a0, c01);
            c02 = b2.fma(a0, c02);
            c03 = b3.fma(a0, c03);
            FloatVector a1 = FloatVector.broadcast(F, w[wi + 1]);
            c10 = b0.fma(a1, c10);
            c11 = b1.fma(a1, c11);
            c12 = b2.fma(a1, c12);
            c13 = b3.fma(a1, c13);
            FloatVector a2 = FloatVector.broadcast(F, w[wi + 2]);
            c20 = b0.fma(a2, c20);
            c21 = b1.fma(a2, c21);
            c22 = b2.fma(a2, c22);
            c23 = b3.fma(a2, c23);
            FloatVector a3 = FloatVector.broadcast(F, w[wi + 3]);
            c30 = b0.fma(a3, c30);
            c31 = b1.fma(a3, c31);
            c32 = b2.fma(a3, c32);
            c33 = b3.fma(a3, c33);
        }
        c00.intoArray(c, cOff + 0 * cStride + 0 * L);
        c01.intoArray(c, cOff + 0 * cStride + 1 * L);
        c02.intoArray(c, cOff + 0 * cStride + 2 * L);
        c03.intoArray(c, cOff + 0 * cStride + 3 * L);
        c10.intoArray(c, cOff + 1 * cStride + 0 * L);
        c11.intoArray(c, cOff + 1 * cStride + 1 * L);
        c12.intoArray(c, cOff + 1 * cStride + 2 * L);
        c13.intoArray(c, cOff + 1 * cStride + 3 * L);
        c20.intoArray(c, cOff + 2 * cStride + 0 * L);
        c21.intoArray(c, cOff + 2 * cStride + 1 * L);
        c22.intoArray(c, cOff + 2 * cStride + 2 * L);
        c23.intoArray(c, cOff + 2 * cStride + 3 * L);
        c30.intoArray(c, cOff + 3 * cStride + 0 * L);
        c31.intoArray(c, cOff + 3 * cStride + 1 * L);
        c32.intoArray(c, cOff + 3 * cStride + 2 * L);
        c33.intoArray(c, cOff + 3 * cStride + 3 * L);
    }

    /** As {@link #gemm4x2} for L columns. */
    private static void gemm4x1(float[] w, int wOff, int pStride, float[] b, int bOff, int bStride, int kk,
                                float[] c, int cOff, int cStride) {
        FloatVector c0 = FloatVector.fromArray(F, c, cOff);
        FloatVector c1 = FloatVector.fromArray(F, c, cOff + cStride);
        FloatVector c2 = FloatVector.fromArray(F, c, cOff + 2 * cStride);
        FloatVector c3 = FloatVector.fromArray(F, c, cOff + 3 * cStride);
        for (int p = 0; p < kk; p++) {
            FloatVector b0 = FloatVector.fromArray(F, b, bOff + p * bStride);
            int wi = wOff + p * pStride;
            c0 = b0.fma(FloatVector.broadcast(F, w[wi]), c0);
            c1 = b0.fma(FloatVector.broadcast(F, w[wi + 1]), c1);
            c2 = b0.fma(FloatVector.broadcast(F, w[wi + 2]), c2);
            c3 = b0.fma(FloatVector.broadcast(F, w[wi + 3]), c3);
        }
        c0.intoArray(c, cOff);
        c1.intoArray(c, cOff + cStride);
        c2.intoArray(c, cOff + 2 * cStride);
        c3.intoArray(c, cOff + 3 * cStride);
    }

    /** One row of {@link #gemm4x2}. */
    private static void gemm1x2(float[] w, int wOff, int pStride, float[] b, int bOff, int bStride, int kk, float[] c,
                                int cOff) {
        FloatVector c0 = FloatVector.fromArray(F, c, cOff);
        FloatVector c1 = FloatVector.fromArray(F, c, cOff + L);
        for (int p = 0; p < kk; p++) {
            int bi = bOff + p * bStride;
            FloatVector a0 = FloatVector.broadcast(F, w[wOff + p * pStride]);
            c0 = FloatVector.fromArray(F, b, bi).fma(a0, c0);
            c1 = FloatVector.fromArray(F, b, bi + L).fma(a0, c1);
        }
        c0.intoArray(c, cOff);
        c1.intoArray(c, cOff + L);
    }

    // ---- vector: keys and values read in place (few query rows) -------------------------------------

    /** s[sOff + c] = q[qOff..] . k_c for n keys, four keys per pass so each q vector is loaded once for four. */
    private static void directScores(Job j, Src src, float[] q, int qOff, long kb, int n, float[] s, int sOff) {
        int d = j.d;
        DType t = src.t();
        MemorySegment km = src.seg();
        long kr = src.row();
        int c = 0;
        for (; c + 4 <= n; c += 4) {
            long k0 = kb + c * kr;
            FloatVector a0 = FloatVector.zero(F);
            FloatVector a1 = a0;
            FloatVector a2 = a0;
            FloatVector a3 = a0;
            int i = 0;
            for (int up = d - L; i <= up; i += L) {
                FloatVector qv = FloatVector.fromArray(F, q, qOff + i);
                a0 = load(t, km, k0 + i).fma(qv, a0);
                a1 = load(t, km, k0 + kr + i).fma(qv, a1);
                a2 = load(t, km, k0 + 2 * kr + i).fma(qv, a2);
                a3 = load(t, km, k0 + 3 * kr + i).fma(qv, a3);
            }
            float s0;
            float s1;
            float s2;
            float s3;
            if (SUM4) {
                FloatVector z = sum4(a0, a1, a2, a3);
                s0 = z.lane(0);
                s1 = z.lane(8);
                s2 = z.lane(4);
                s3 = z.lane(12);
            } else {
                s0 = Lanes.sum(a0);
                s1 = Lanes.sum(a1);
                s2 = Lanes.sum(a2);
                s3 = Lanes.sum(a3);
            }
            for (; i < d; i++) {
                float qi = q[qOff + i];
                s0 += qi * Lanes.get(t, km, k0 + i);
                s1 += qi * Lanes.get(t, km, k0 + kr + i);
                s2 += qi * Lanes.get(t, km, k0 + 2 * kr + i);
                s3 += qi * Lanes.get(t, km, k0 + 3 * kr + i);
            }
            s[sOff + c] = s0;
            s[sOff + c + 1] = s1;
            s[sOff + c + 2] = s2;
            s[sOff + c + 3] = s3;
        }
        for (; c < n; c++) {
            long ki = kb + c * kr;
            FloatVector a0 = FloatVector.zero(F);
            int i = 0;
            for (int up = d - L; i <= up; i += L) {
                a0 = load(t, km, ki + i).fma(FloatVector.fromArray(F, q, qOff + i), a0);
            }
            float s0 = Lanes.sum(a0);
            for (; i < d; i++) {
                s0 += q[qOff + i] * Lanes.get(t, km, ki + i);
            }
            s[sOff + c] = s0;
        }
    }

    /**
     * s[sOff..sOff+16) = q . k_c for the sixteen keys starting at element kb (rows j.kRow apart). Four passes of
     * four keys, each folded two steps (four partial sums per key: keys 0, 2, 1, 3 in lanes 0-3, 4-7, 8-11,
     * 12-15) and parked in z; then the four folded vectors folded two more steps and put back in key order (the
     * folding leaves key c in lane bitrev(c)). One method with no vector arguments or results: a vector crossing
     * a call the JIT does not inline is boxed. The last d % L elements of each key are added one by one.
     */
    private static void scores16(Job j, Src src, float[] q, int qOff, long kb, float[] s, int sOff, float[] z) {
        int d = j.d;
        DType t = src.t();
        MemorySegment km = src.seg();
        long kr = src.row();
        for (int p = 0; p < 4; p++) {
            long k0 = kb + 4 * p * kr;
            FloatVector a0 = FloatVector.zero(F);
            FloatVector a1 = a0;
            FloatVector a2 = a0;
            FloatVector a3 = a0;
            // one key row after the other, each read sequentially: rows read interleaved (four streams 512 bytes
            // apart at head_dim 128) ran at less than half the bandwidth
            for (int i = 0, up = d - L; i <= up; i += L) {
                a0 = load(t, km, k0 + i).fma(FloatVector.fromArray(F, q, qOff + i), a0);
            }
            for (int i = 0, up = d - L; i <= up; i += L) {
                a1 = load(t, km, k0 + kr + i).fma(FloatVector.fromArray(F, q, qOff + i), a1);
            }
            for (int i = 0, up = d - L; i <= up; i += L) {
                a2 = load(t, km, k0 + 2 * kr + i).fma(FloatVector.fromArray(F, q, qOff + i), a2);
            }
            for (int i = 0, up = d - L; i <= up; i += L) {
                a3 = load(t, km, k0 + 3 * kr + i).fma(FloatVector.fromArray(F, q, qOff + i), a3);
            }
            FloatVector x = a0.blend(a1, HI8).add(a1.blend(a0, HI8).rearrange(X8));
            FloatVector y = a2.blend(a3, HI8).add(a3.blend(a2, HI8).rearrange(X8));
            x.blend(y, ODD4).add(y.blend(x, ODD4).rearrange(X4)).intoArray(z, p * L);
        }
        FloatVector z0 = FloatVector.fromArray(F, z, 0);
        FloatVector z1 = FloatVector.fromArray(F, z, L);
        FloatVector z2 = FloatVector.fromArray(F, z, 2 * L);
        FloatVector z3 = FloatVector.fromArray(F, z, 3 * L);
        FloatVector y0 = z0.blend(z1, ODD2).add(z1.blend(z0, ODD2).rearrange(X2));
        FloatVector y1 = z2.blend(z3, ODD2).add(z3.blend(z2, ODD2).rearrange(X2));
        FloatVector r = y0.blend(y1, ODD1).add(y1.blend(y0, ODD1).rearrange(X1)).rearrange(BITREV);
        int tail = d & ~(L - 1);
        if (tail < d) {
            for (int e = 0; e < 16; e++) {
                long ki = kb + e * kr;
                float acc = 0f;
                for (int i = tail; i < d; i++) {
                    acc += q[qOff + i] * Lanes.get(t, km, ki + i);
                }
                z[e] = acc;
            }
            r = r.add(FloatVector.fromArray(F, z, 0));
        }
        r.intoArray(s, sOff);
    }

    /**
     * {@link #scores16} for four query rows at once (q rows d apart, score rows ks apart): each key vector is
     * loaded once for the four rows, 16 accumulators (4 rows x 4 keys) per pass. z holds 4 x 4 folded vectors.
     */
    private static void scores16x4(Job j, Src src, float[] q, int qOff, long kb, float[] s, int sOff, int ks, float[] z) {
        int d = j.d;
        DType t = src.t();
        MemorySegment km = src.seg();
        long kr = src.row();
        for (int p = 0; p < 4; p++) {
            long k0 = kb + 4 * p * kr;
            FloatVector a00 = FloatVector.zero(F);
            FloatVector a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00, a13 = a00;
            FloatVector a20 = a00, a21 = a00, a22 = a00, a23 = a00, a30 = a00, a31 = a00, a32 = a00, a33 = a00;
            // one key row at a time, front to back, for the four query rows (four q loads per key load, served
            // from L1): rows read in lockstep, two or four streams 512 bytes apart at head_dim 128, ran from memory
            // at 7 GB/s against 17-19 GB/s for the same loads row after row
            for (int i = 0, up = d - L; i <= up; i += L) {
                FloatVector kv = load(t, km, k0 + i);
                a00 = kv.fma(FloatVector.fromArray(F, q, qOff + i), a00);
                a10 = kv.fma(FloatVector.fromArray(F, q, qOff + d + i), a10);
                a20 = kv.fma(FloatVector.fromArray(F, q, qOff + 2 * d + i), a20);
                a30 = kv.fma(FloatVector.fromArray(F, q, qOff + 3 * d + i), a30);
            }
            for (int i = 0, up = d - L; i <= up; i += L) {
                FloatVector kv = load(t, km, k0 + kr + i);
                a01 = kv.fma(FloatVector.fromArray(F, q, qOff + i), a01);
                a11 = kv.fma(FloatVector.fromArray(F, q, qOff + d + i), a11);
                a21 = kv.fma(FloatVector.fromArray(F, q, qOff + 2 * d + i), a21);
                a31 = kv.fma(FloatVector.fromArray(F, q, qOff + 3 * d + i), a31);
            }
            for (int i = 0, up = d - L; i <= up; i += L) {
                FloatVector kv = load(t, km, k0 + 2 * kr + i);
                a02 = kv.fma(FloatVector.fromArray(F, q, qOff + i), a02);
                a12 = kv.fma(FloatVector.fromArray(F, q, qOff + d + i), a12);
                a22 = kv.fma(FloatVector.fromArray(F, q, qOff + 2 * d + i), a22);
                a32 = kv.fma(FloatVector.fromArray(F, q, qOff + 3 * d + i), a32);
            }
            for (int i = 0, up = d - L; i <= up; i += L) {
                FloatVector kv = load(t, km, k0 + 3 * kr + i);
                a03 = kv.fma(FloatVector.fromArray(F, q, qOff + i), a03);
                a13 = kv.fma(FloatVector.fromArray(F, q, qOff + d + i), a13);
                a23 = kv.fma(FloatVector.fromArray(F, q, qOff + 2 * d + i), a23);
                a33 = kv.fma(FloatVector.fromArray(F, q, qOff + 3 * d + i), a33);
            }
            // the first two folding steps per row (keys 0, 2, 1, 3 in lanes 0-3, 4-7, ...), written out: a
            // helper taking vectors would box them if the JIT did not inline it
            FloatVector x0 = a00.blend(a01, HI8).add(a01.blend(a00, HI8).rearrange(X8));
            FloatVector y0 = a02.blend(a03, HI8).add(a03.blend(a02, HI8).rearrange(X8));
            x0.blend(y0, ODD4).add(y0.blend(x0, ODD4).rearrange(X4)).intoArray(z, (0 + p) * L);
            FloatVector x1 = a10.blend(a11, HI8).add(a11.blend(a10, HI8).rearrange(X8));
            FloatVector y1 = a12.blend(a13, HI8).add(a13.blend(a12, HI8).rearrange(X8));
            x1.blend(y1, ODD4).add(y1.blend(x1, ODD4).rearrange(X4)).intoArray(z, (4 + p) * L);
            FloatVector x2 = a20.blend(a21, HI8).add(a21.blend(a20, HI8).rearrange(X8));
            FloatVector y2 = a22.blend(a23, HI8).add(a23.blend(a22, HI8).rearrange(X8));
            x2.blend(y2, ODD4).add(y2.blend(x2, ODD4).rearrange(X4)).intoArray(z, (8 + p) * L);
            FloatVector x3 = a30.blend(a31, HI8).add(a31.blend(a30, HI8).rearrange(X8));
            FloatVector y3 = a32.blend(a33, HI8).add(a33.blend(a32, HI8).rearrange(X8));
            x3.blend(y3, ODD4).add(y3.blend(x3, ODD4).rearrange(X4)).intoArray(z, (12 + p) * L);
        }
        for (int r = 0; r < 4; r++) {
            int zr = 4 * r * L;
            FloatVector z0 = FloatVector.fromArray(F, z, zr);
            FloatVector z1 = FloatVector.fromArray(F, z, zr + L);
            FloatVector z2 = FloatVector.fromArray(F, z, zr + 2 * L);
            FloatVector z3 = FloatVector.fromArray(F, z, zr + 3 * L);
            FloatVector y0 = z0.blend(z1, ODD2).add(z1.blend(z0, ODD2).rearrange(X2));
            FloatVector y1 = z2.blend(z3, ODD2).add(z3.blend(z2, ODD2).rearrange(X2));
            y0.blend(y1, ODD1).add(y1.blend(y0, ODD1).rearrange(X1)).rearrange(BITREV).intoArray(s, sOff + r * ks);
        }
        int tail = d & ~(L - 1);
        if (tail < d) {
            for (int r = 0; r < 4; r++) {
                int qr = qOff + r * d;
                for (int e = 0; e < 16; e++) {
                    long ki = kb + e * kr;
                    float acc = 0f;
                    for (int i = tail; i < d; i++) {
                        acc += q[qr + i] * Lanes.get(t, km, ki + i);
                    }
                    s[sOff + r * ks + e] += acc;
                }
            }
        }
    }

    /**
     * {@link #scores16x4} for 8 lanes (AVX2): s[r][sOff..sOff+8) = q_r . k_c for four query rows (q rows d apart,
     * score rows ks apart) and the eight keys starting at element kb. Four passes of two keys read side by side, each
     * key vector loaded once for the four rows (eight accumulators and a query vector: within AVX2's 16 registers, and
     * six loads per eight FMAs), each pass folded one step and parked in z (keys 2p and 2p + 1 in lanes 0-3 and 4-7);
     * then two more steps per row (keys in lanes bitrev(c)) and the lanes put back in key order.
     */
    private static void scores8x4(Job j, Src src, float[] q, int qOff, long kb, float[] s, int sOff, int ks, float[] z) {
        int d = j.d;
        DType t = src.t();
        MemorySegment km = src.seg();
        long kr = src.row();
        for (int p = 0; p < 4; p++) {
            long k0 = kb + 2 * p * kr;
            FloatVector a00 = FloatVector.zero(F);
            FloatVector a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
            for (int i = 0, up = d - L; i <= up; i += L) {
                FloatVector k0v = load(t, km, k0 + i);
                FloatVector k1v = load(t, km, k0 + kr + i);
                FloatVector qv = FloatVector.fromArray(F, q, qOff + i);
                a00 = k0v.fma(qv, a00);
                a01 = k1v.fma(qv, a01);
                qv = FloatVector.fromArray(F, q, qOff + d + i);
                a10 = k0v.fma(qv, a10);
                a11 = k1v.fma(qv, a11);
                qv = FloatVector.fromArray(F, q, qOff + 2 * d + i);
                a20 = k0v.fma(qv, a20);
                a21 = k1v.fma(qv, a21);
                qv = FloatVector.fromArray(F, q, qOff + 3 * d + i);
                a30 = k0v.fma(qv, a30);
                a31 = k1v.fma(qv, a31);
            }
            a00.blend(a01, HI4).add(a01.blend(a00, HI4).rearrange(P4)).intoArray(z, p * L);
            a10.blend(a11, HI4).add(a11.blend(a10, HI4).rearrange(P4)).intoArray(z, (4 + p) * L);
            a20.blend(a21, HI4).add(a21.blend(a20, HI4).rearrange(P4)).intoArray(z, (8 + p) * L);
            a30.blend(a31, HI4).add(a31.blend(a30, HI4).rearrange(P4)).intoArray(z, (12 + p) * L);
        }
        for (int r = 0; r < 4; r++) {
            int zr = 4 * r * L;
            FloatVector z0 = FloatVector.fromArray(F, z, zr);
            FloatVector z1 = FloatVector.fromArray(F, z, zr + L);
            FloatVector z2 = FloatVector.fromArray(F, z, zr + 2 * L);
            FloatVector z3 = FloatVector.fromArray(F, z, zr + 3 * L);
            FloatVector y0 = z0.blend(z1, ODD2).add(z1.blend(z0, ODD2).rearrange(X2));
            FloatVector y1 = z2.blend(z3, ODD2).add(z3.blend(z2, ODD2).rearrange(X2));
            y0.blend(y1, ODD1).add(y1.blend(y0, ODD1).rearrange(X1)).rearrange(BITREV).intoArray(s, sOff + r * ks);
        }
        int tail = d & ~(L - 1);
        if (tail < d) {
            for (int r = 0; r < 4; r++) {
                int qr = qOff + r * d;
                for (int e = 0; e < 8; e++) {
                    long ki = kb + e * kr;
                    float acc = 0f;
                    for (int i = tail; i < d; i++) {
                        acc += q[qr + i] * Lanes.get(t, km, ki + i);
                    }
                    s[sOff + r * ks + e] += acc;
                }
            }
        }
    }

    /**
     * Scores of sixteen keys for a few query rows whose query vectors all stay in registers (rows x vectors = 16;
     * one method per shape, the JIT keeps named vectors in registers but not arrays of them): a key row costs its
     * loads and one FMA per row and vector, read front to back once. With the query read from L1 instead, four
     * rows need five loads per four FMAs and are bound by the loads (a decode step of 32x8x512x128 in cache took
     * 38 ns per kv head and key that way, 30 with this). Each key's unreduced sums are parked in z and folded
     * after the key loop, which keeps the loop small enough for the JIT to inline its loads: a larger body crossed
     * C2's inlining budget and boxed every vector. A group of more rows runs this again; the sixteen keys then
     * come from L1. {@code rows} is what {@link #rowsInRegisters} returned for head_dim {@code j.d}.
     */
    static void scoresInRegisters(Job j, Src src, int rows, float[] q, int qOff, long kb, float[] s, int sOff, int ks,
                                  float[] z) {
        if (rows == 2) {
            scores2x8(j, src, q, qOff, kb, s, sOff, ks, z);
        } else {
            scores4x4(j, src, q, qOff, kb, s, sOff, ks, z);
        }
    }

    /**
     * Rows in one {@link #scoresInRegisters} call for head_dim d, at most {@code rows}: 0 where it has no kernel.
     * A single row keeps {@link #scores16}: with one row the parking and folding through z cost more than the
     * query loads they save (32x32x8192x64 decode 17.7 against 19.1 GB/s).
     */
    static int rowsInRegisters(int d, int rows) {
        if (d == 8 * L && rows >= 2) {
            return 2;
        }
        if (d == 4 * L && rows >= 4) {
            return 4;
        }
        return 0;
    }

    /** {@link #scoresInRegisters} for 2 rows of 8L elements. */
    private static void scores2x8(Job j, Src src, float[] q, int qOff, long kb, float[] s, int sOff, int ks, float[] z) {
        DType t = src.t();
        MemorySegment km = src.seg();
        long kr = src.row();
        FloatVector q00 = FloatVector.fromArray(F, q, qOff);
        FloatVector q01 = FloatVector.fromArray(F, q, qOff + L);
        FloatVector q02 = FloatVector.fromArray(F, q, qOff + 2 * L);
        FloatVector q03 = FloatVector.fromArray(F, q, qOff + 3 * L);
        FloatVector q04 = FloatVector.fromArray(F, q, qOff + 4 * L);
        FloatVector q05 = FloatVector.fromArray(F, q, qOff + 5 * L);
        FloatVector q06 = FloatVector.fromArray(F, q, qOff + 6 * L);
        FloatVector q07 = FloatVector.fromArray(F, q, qOff + 7 * L);
        FloatVector q10 = FloatVector.fromArray(F, q, qOff + 8 * L);
        FloatVector q11 = FloatVector.fromArray(F, q, qOff + 8 * L + L);
        FloatVector q12 = FloatVector.fromArray(F, q, qOff + 8 * L + 2 * L);
        FloatVector q13 = FloatVector.fromArray(F, q, qOff + 8 * L + 3 * L);
        FloatVector q14 = FloatVector.fromArray(F, q, qOff + 8 * L + 4 * L);
        FloatVector q15 = FloatVector.fromArray(F, q, qOff + 8 * L + 5 * L);
        FloatVector q16 = FloatVector.fromArray(F, q, qOff + 8 * L + 6 * L);
        FloatVector q17 = FloatVector.fromArray(F, q, qOff + 8 * L + 7 * L);
        for (int c = 0; c < 16; c++) {
            long ke = kb + c * kr;
            FloatVector kv = load(t, km, ke);
            FloatVector a0 = kv.mul(q00);
            FloatVector a1 = kv.mul(q10);
            kv = load(t, km, ke + L);
            a0 = kv.fma(q01, a0);
            a1 = kv.fma(q11, a1);
            kv = load(t, km, ke + 2 * L);
            a0 = kv.fma(q02, a0);
            a1 = kv.fma(q12, a1);
            kv = load(t, km, ke + 3 * L);
            a0 = kv.fma(q03, a0);
            a1 = kv.fma(q13, a1);
            kv = load(t, km, ke + 4 * L);
            a0 = kv.fma(q04, a0);
            a1 = kv.fma(q14, a1);
            kv = load(t, km, ke + 5 * L);
            a0 = kv.fma(q05, a0);
            a1 = kv.fma(q15, a1);
            kv = load(t, km, ke + 6 * L);
            a0 = kv.fma(q06, a0);
            a1 = kv.fma(q16, a1);
            kv = load(t, km, ke + 7 * L);
            a0 = kv.fma(q07, a0);
            a1 = kv.fma(q17, a1);
            a0.intoArray(z, c * L);
            a1.intoArray(z, (16 + c) * L);
        }
        fold16(z, 2, s, sOff, ks);
    }

    /** {@link #scoresInRegisters} for 4 rows of 4L elements. */
    private static void scores4x4(Job j, Src src, float[] q, int qOff, long kb, float[] s, int sOff, int ks, float[] z) {
        DType t = src.t();
        MemorySegment km = src.seg();
        long kr = src.row();
        FloatVector q00 = FloatVector.fromArray(F, q, qOff);
        FloatVector q01 = FloatVector.fromArray(F, q, qOff + L);
        FloatVector q02 = FloatVector.fromArray(F, q, qOff + 2 * L);
        FloatVector q03 = FloatVector.fromArray(F, q, qOff + 3 * L);
        FloatVector q10 = FloatVector.fromArray(F, q, qOff + 4 * L);
        FloatVector q11 = FloatVector.fromArray(F, q, qOff + 4 * L + L);
        FloatVector q12 = FloatVector.fromArray(F, q, qOff + 4 * L + 2 * L);
        FloatVector q13 = FloatVector.fromArray(F, q, qOff + 4 * L + 3 * L);
        FloatVector q20 = FloatVector.fromArray(F, q, qOff + 8 * L);
        FloatVector q21 = FloatVector.fromArray(F, q, qOff + 8 * L + L);
        FloatVector q22 = FloatVector.fromArray(F, q, qOff + 8 * L + 2 * L);
        FloatVector q23 = FloatVector.fromArray(F, q, qOff + 8 * L + 3 * L);
        FloatVector q30 = FloatVector.fromArray(F, q, qOff + 12 * L);
        FloatVector q31 = FloatVector.fromArray(F, q, qOff + 12 * L + L);
        FloatVector q32 = FloatVector.fromArray(F, q, qOff + 12 * L + 2 * L);
        FloatVector q33 = FloatVector.fromArray(F, q, qOff + 12 * L + 3 * L);
        for (int c = 0; c < 16; c++) {
            long ke = kb + c * kr;
            FloatVector kv = load(t, km, ke);
            FloatVector a0 = kv.mul(q00);
            FloatVector a1 = kv.mul(q10);
            FloatVector a2 = kv.mul(q20);
            FloatVector a3 = kv.mul(q30);
            kv = load(t, km, ke + L);
            a0 = kv.fma(q01, a0);
            a1 = kv.fma(q11, a1);
            a2 = kv.fma(q21, a2);
            a3 = kv.fma(q31, a3);
            kv = load(t, km, ke + 2 * L);
            a0 = kv.fma(q02, a0);
            a1 = kv.fma(q12, a1);
            a2 = kv.fma(q22, a2);
            a3 = kv.fma(q32, a3);
            kv = load(t, km, ke + 3 * L);
            a0 = kv.fma(q03, a0);
            a1 = kv.fma(q13, a1);
            a2 = kv.fma(q23, a2);
            a3 = kv.fma(q33, a3);
            a0.intoArray(z, c * L);
            a1.intoArray(z, (16 + c) * L);
            a2.intoArray(z, (32 + c) * L);
            a3.intoArray(z, (48 + c) * L);
        }
        fold16(z, 4, s, sOff, ks);
    }

    /**
     * Folds z[(16 r + c) L, +L), the unreduced sums of key c for row r, into s[sOff + r ks + c] for the rows
     * r < rows and the sixteen keys: the first two steps per four keys (keys 0, 2, 1, 3 in lanes 0-3, 4-7, ...,
     * parked after the sums), then two more steps and the bit-reversal back to key order.
     */
    private static void fold16(float[] z, int rows, float[] s, int sOff, int ks) {
        int f = 16 * rows * L;
        for (int r = 0; r < rows; r++) {
            for (int p = 0; p < 4; p++) {
                int zi = (16 * r + 4 * p) * L;
                FloatVector a0 = FloatVector.fromArray(F, z, zi);
                FloatVector a1 = FloatVector.fromArray(F, z, zi + L);
                FloatVector a2 = FloatVector.fromArray(F, z, zi + 2 * L);
                FloatVector a3 = FloatVector.fromArray(F, z, zi + 3 * L);
                FloatVector x = a0.blend(a1, HI8).add(a1.blend(a0, HI8).rearrange(X8));
                FloatVector y = a2.blend(a3, HI8).add(a3.blend(a2, HI8).rearrange(X8));
                x.blend(y, ODD4).add(y.blend(x, ODD4).rearrange(X4)).intoArray(z, f + p * L);
            }
            FloatVector z0 = FloatVector.fromArray(F, z, f);
            FloatVector z1 = FloatVector.fromArray(F, z, f + L);
            FloatVector z2 = FloatVector.fromArray(F, z, f + 2 * L);
            FloatVector z3 = FloatVector.fromArray(F, z, f + 3 * L);
            FloatVector y0 = z0.blend(z1, ODD2).add(z1.blend(z0, ODD2).rearrange(X2));
            FloatVector y1 = z2.blend(z3, ODD2).add(z3.blend(z2, ODD2).rearrange(X2));
            y0.blend(y1, ODD1).add(y1.blend(y0, ODD1).rearrange(X1)).rearrange(BITREV).intoArray(s, sOff + r * ks);
        }
    }

    /**
     * The lane sums of four 16-lane vectors at once, folding two vectors into one at each of the first two steps:
     * lane 0 holds the sum of a0, lane 8 of a1, lane 4 of a2, lane 12 of a3 (20 operations instead of 36).
     */
    private static FloatVector sum4(FloatVector a0, FloatVector a1, FloatVector a2, FloatVector a3) {
        // lanes 0-7: a0[i] + a0[i+8]; lanes 8-15: a1[i] + a1[i-8] (and likewise a2, a3)
        FloatVector p = a0.blend(a1, HI8).add(a1.blend(a0, HI8).rearrange(X8));
        FloatVector q = a2.blend(a3, HI8).add(a3.blend(a2, HI8).rearrange(X8));
        // lanes 0-3: a0, 4-7: a2, 8-11: a1, 12-15: a3, each four partial sums
        FloatVector z = p.blend(q, ODD4).add(q.blend(p, ODD4).rearrange(X4));
        z = z.add(z.rearrange(X2));
        return z.add(z.rearrange(X1));
    }

    /**
     * Columns [0, cols) (a multiple of 4L) of four rows: o[r] += sum_c w[r * ws + c] * v_c for rows r = 0..3
     * (o rows d apart), 4 x 4 vectors in registers: each value vector is loaded once for the four rows.
     */
    private static void values4(Job j, Src src, float[] w, int wOff, int ws, long vb, int n, float[] o, int oOff, int cols) {
        int d = j.d;
        DType t = src.t();
        MemorySegment vm = src.seg();
        long vr = src.row();
        for (int i = 0; i < cols; i += 4 * L) {
            int o0 = oOff + i;
            int o1 = o0 + d;
            int o2 = o1 + d;
            int o3 = o2 + d;
            FloatVector c00 = FloatVector.fromArray(F, o, o0);
            FloatVector c01 = FloatVector.fromArray(F, o, o0 + L);
            FloatVector c02 = FloatVector.fromArray(F, o, o0 + 2 * L);
            FloatVector c03 = FloatVector.fromArray(F, o, o0 + 3 * L);
            FloatVector c10 = FloatVector.fromArray(F, o, o1);
            FloatVector c11 = FloatVector.fromArray(F, o, o1 + L);
            FloatVector c12 = FloatVector.fromArray(F, o, o1 + 2 * L);
            FloatVector c13 = FloatVector.fromArray(F, o, o1 + 3 * L);
            FloatVector c20 = FloatVector.fromArray(F, o, o2);
            FloatVector c21 = FloatVector.fromArray(F, o, o2 + L);
            FloatVector c22 = FloatVector.fromArray(F, o, o2 + 2 * L);
            FloatVector c23 = FloatVector.fromArray(F, o, o2 + 3 * L);
            FloatVector c30 = FloatVector.fromArray(F, o, o3);
            FloatVector c31 = FloatVector.fromArray(F, o, o3 + L);
            FloatVector c32 = FloatVector.fromArray(F, o, o3 + 2 * L);
            FloatVector c33 = FloatVector.fromArray(F, o, o3 + 3 * L);
            for (int c = 0; c < n; c++) {
                long vi = vb + c * vr + i;
                FloatVector v0 = load(t, vm, vi);
                FloatVector v1 = load(t, vm, vi + L);
                FloatVector v2 = load(t, vm, vi + 2 * L);
                FloatVector v3 = load(t, vm, vi + 3 * L);
                int wi = wOff + c;
                FloatVector p = FloatVector.broadcast(F, w[wi]);
                c00 = v0.fma(p, c00);
                c01 = v1.fma(p, c01);
                c02 = v2.fma(p, c02);
                c03 = v3.fma(p, c03);
                p = FloatVector.broadcast(F, w[wi + ws]);
                c10 = v0.fma(p, c10);
                c11 = v1.fma(p, c11);
                c12 = v2.fma(p, c12);
                c13 = v3.fma(p, c13);
                p = FloatVector.broadcast(F, w[wi + 2 * ws]);
                c20 = v0.fma(p, c20);
                c21 = v1.fma(p, c21);
                c22 = v2.fma(p, c22);
                c23 = v3.fma(p, c23);
                p = FloatVector.broadcast(F, w[wi + 3 * ws]);
                c30 = v0.fma(p, c30);
                c31 = v1.fma(p, c31);
                c32 = v2.fma(p, c32);
                c33 = v3.fma(p, c33);
            }
            c00.intoArray(o, o0);
            c01.intoArray(o, o0 + L);
            c02.intoArray(o, o0 + 2 * L);
            c03.intoArray(o, o0 + 3 * L);
            c10.intoArray(o, o1);
            c11.intoArray(o, o1 + L);
            c12.intoArray(o, o1 + 2 * L);
            c13.intoArray(o, o1 + 3 * L);
            c20.intoArray(o, o2);
            c21.intoArray(o, o2 + L);
            c22.intoArray(o, o2 + 2 * L);
            c23.intoArray(o, o2 + 3 * L);
            c30.intoArray(o, o3);
            c31.intoArray(o, o3 + L);
            c32.intoArray(o, o3 + 2 * L);
            c33.intoArray(o, o3 + 3 * L);
        }
    }

    /**
     * Columns [0, cols) (a multiple of 8L) of two rows: o[r] += sum_c w[r * ws + c] * v_c for r = 0, 1 (o rows d
     * apart), 2 x 8 vectors in registers: each value row is read once, front to back, for both rows.
     */
    private static void values2x8(Job j, Src src, float[] w, int wOff, int ws, long vb, int n, float[] o, int oOff,
                                  int cols) {
        int d = j.d;
        DType t = src.t();
        MemorySegment vm = src.seg();
        long vr = src.row();
        for (int i = 0; i < cols; i += 8 * L) {
            int o0 = oOff + i;
            int o1 = o0 + d;
            FloatVector c00 = FloatVector.fromArray(F, o, o0);
            FloatVector c01 = FloatVector.fromArray(F, o, o0 + L);
            FloatVector c02 = FloatVector.fromArray(F, o, o0 + 2 * L);
            FloatVector c03 = FloatVector.fromArray(F, o, o0 + 3 * L);
            FloatVector c04 = FloatVector.fromArray(F, o, o0 + 4 * L);
            FloatVector c05 = FloatVector.fromArray(F, o, o0 + 5 * L);
            FloatVector c06 = FloatVector.fromArray(F, o, o0 + 6 * L);
            FloatVector c07 = FloatVector.fromArray(F, o, o0 + 7 * L);
            FloatVector c10 = FloatVector.fromArray(F, o, o1);
            FloatVector c11 = FloatVector.fromArray(F, o, o1 + L);
            FloatVector c12 = FloatVector.fromArray(F, o, o1 + 2 * L);
            FloatVector c13 = FloatVector.fromArray(F, o, o1 + 3 * L);
            FloatVector c14 = FloatVector.fromArray(F, o, o1 + 4 * L);
            FloatVector c15 = FloatVector.fromArray(F, o, o1 + 5 * L);
            FloatVector c16 = FloatVector.fromArray(F, o, o1 + 6 * L);
            FloatVector c17 = FloatVector.fromArray(F, o, o1 + 7 * L);
            for (int c = 0; c < n; c++) {
                long vi = vb + c * vr + i;
                int wi = wOff + c;
                FloatVector p = FloatVector.broadcast(F, w[wi]);
                FloatVector p1 = FloatVector.broadcast(F, w[wi + ws]);
                FloatVector v = load(t, vm, vi);
                c00 = v.fma(p, c00);
                c10 = v.fma(p1, c10);
                v = load(t, vm, vi + L);
                c01 = v.fma(p, c01);
                c11 = v.fma(p1, c11);
                v = load(t, vm, vi + 2 * L);
                c02 = v.fma(p, c02);
                c12 = v.fma(p1, c12);
                v = load(t, vm, vi + 3 * L);
                c03 = v.fma(p, c03);
                c13 = v.fma(p1, c13);
                v = load(t, vm, vi + 4 * L);
                c04 = v.fma(p, c04);
                c14 = v.fma(p1, c14);
                v = load(t, vm, vi + 5 * L);
                c05 = v.fma(p, c05);
                c15 = v.fma(p1, c15);
                v = load(t, vm, vi + 6 * L);
                c06 = v.fma(p, c06);
                c16 = v.fma(p1, c16);
                v = load(t, vm, vi + 7 * L);
                c07 = v.fma(p, c07);
                c17 = v.fma(p1, c17);
            }
            c00.intoArray(o, o0);
            c01.intoArray(o, o0 + L);
            c02.intoArray(o, o0 + 2 * L);
            c03.intoArray(o, o0 + 3 * L);
            c04.intoArray(o, o0 + 4 * L);
            c05.intoArray(o, o0 + 5 * L);
            c06.intoArray(o, o0 + 6 * L);
            c07.intoArray(o, o0 + 7 * L);
            c10.intoArray(o, o1);
            c11.intoArray(o, o1 + L);
            c12.intoArray(o, o1 + 2 * L);
            c13.intoArray(o, o1 + 3 * L);
            c14.intoArray(o, o1 + 4 * L);
            c15.intoArray(o, o1 + 5 * L);
            c16.intoArray(o, o1 + 6 * L);
            c17.intoArray(o, o1 + 7 * L);
        }
    }

    /**
     * o[oOff + 16 k ..] += sum_c w[wOff + c] * v_c[16 k ..] for the first {@code nv} (at most 16) vectors of the
     * value rows (element vb + c vr), all in registers, so that each row is read once front to back. The vectors
     * past {@code nv} are guarded by conditions that do not change inside the loop.
     */
    private static void valuesOnePass(MemorySegment vm, long vr, float[] w, int wOff, long vb, int n, float[] o,
                                         int oOff, int nv) {
        FloatVector c0 = FloatVector.fromArray(F, o, oOff);
        FloatVector c1 = nv > 1 ? FloatVector.fromArray(F, o, oOff + 1 * L) : c0;
        FloatVector c2 = nv > 2 ? FloatVector.fromArray(F, o, oOff + 2 * L) : c0;
        FloatVector c3 = nv > 3 ? FloatVector.fromArray(F, o, oOff + 3 * L) : c0;
        FloatVector c4 = nv > 4 ? FloatVector.fromArray(F, o, oOff + 4 * L) : c0;
        FloatVector c5 = nv > 5 ? FloatVector.fromArray(F, o, oOff + 5 * L) : c0;
        FloatVector c6 = nv > 6 ? FloatVector.fromArray(F, o, oOff + 6 * L) : c0;
        FloatVector c7 = nv > 7 ? FloatVector.fromArray(F, o, oOff + 7 * L) : c0;
        FloatVector c8 = nv > 8 ? FloatVector.fromArray(F, o, oOff + 8 * L) : c0;
        FloatVector c9 = nv > 9 ? FloatVector.fromArray(F, o, oOff + 9 * L) : c0;
        FloatVector c10 = nv > 10 ? FloatVector.fromArray(F, o, oOff + 10 * L) : c0;
        FloatVector c11 = nv > 11 ? FloatVector.fromArray(F, o, oOff + 11 * L) : c0;
        FloatVector c12 = nv > 12 ? FloatVector.fromArray(F, o, oOff + 12 * L) : c0;
        FloatVector c13 = nv > 13 ? FloatVector.fromArray(F, o, oOff + 13 * L) : c0;
        FloatVector c14 = nv > 14 ? FloatVector.fromArray(F, o, oOff + 14 * L) : c0;
        FloatVector c15 = nv > 15 ? FloatVector.fromArray(F, o, oOff + 15 * L) : c0;
        for (int c = 0; c < n; c++) {
            FloatVector p = FloatVector.broadcast(F, w[wOff + c]);
            long vi = (vb + c * vr) * 4;
            c0 = FloatVector.fromMemorySegment(F, vm, vi, LE).fma(p, c0);
            if (nv > 1) {
                c1 = FloatVector.fromMemorySegment(F, vm, vi + 1 * 4L * L, LE).fma(p, c1);
            }
            if (nv > 2) {
                c2 = FloatVector.fromMemorySegment(F, vm, vi + 2 * 4L * L, LE).fma(p, c2);
            }
            if (nv > 3) {
                c3 = FloatVector.fromMemorySegment(F, vm, vi + 3 * 4L * L, LE).fma(p, c3);
            }
            if (nv > 4) {
                c4 = FloatVector.fromMemorySegment(F, vm, vi + 4 * 4L * L, LE).fma(p, c4);
            }
            if (nv > 5) {
                c5 = FloatVector.fromMemorySegment(F, vm, vi + 5 * 4L * L, LE).fma(p, c5);
            }
            if (nv > 6) {
                c6 = FloatVector.fromMemorySegment(F, vm, vi + 6 * 4L * L, LE).fma(p, c6);
            }
            if (nv > 7) {
                c7 = FloatVector.fromMemorySegment(F, vm, vi + 7 * 4L * L, LE).fma(p, c7);
            }
            if (nv > 8) {
                c8 = FloatVector.fromMemorySegment(F, vm, vi + 8 * 4L * L, LE).fma(p, c8);
            }
            if (nv > 9) {
                c9 = FloatVector.fromMemorySegment(F, vm, vi + 9 * 4L * L, LE).fma(p, c9);
            }
            if (nv > 10) {
                c10 = FloatVector.fromMemorySegment(F, vm, vi + 10 * 4L * L, LE).fma(p, c10);
            }
            if (nv > 11) {
                c11 = FloatVector.fromMemorySegment(F, vm, vi + 11 * 4L * L, LE).fma(p, c11);
            }
            if (nv > 12) {
                c12 = FloatVector.fromMemorySegment(F, vm, vi + 12 * 4L * L, LE).fma(p, c12);
            }
            if (nv > 13) {
                c13 = FloatVector.fromMemorySegment(F, vm, vi + 13 * 4L * L, LE).fma(p, c13);
            }
            if (nv > 14) {
                c14 = FloatVector.fromMemorySegment(F, vm, vi + 14 * 4L * L, LE).fma(p, c14);
            }
            if (nv > 15) {
                c15 = FloatVector.fromMemorySegment(F, vm, vi + 15 * 4L * L, LE).fma(p, c15);
            }
        }
        c0.intoArray(o, oOff);
        if (nv > 1) {
            c1.intoArray(o, oOff + 1 * L);
        }
        if (nv > 2) {
            c2.intoArray(o, oOff + 2 * L);
        }
        if (nv > 3) {
            c3.intoArray(o, oOff + 3 * L);
        }
        if (nv > 4) {
            c4.intoArray(o, oOff + 4 * L);
        }
        if (nv > 5) {
            c5.intoArray(o, oOff + 5 * L);
        }
        if (nv > 6) {
            c6.intoArray(o, oOff + 6 * L);
        }
        if (nv > 7) {
            c7.intoArray(o, oOff + 7 * L);
        }
        if (nv > 8) {
            c8.intoArray(o, oOff + 8 * L);
        }
        if (nv > 9) {
            c9.intoArray(o, oOff + 9 * L);
        }
        if (nv > 10) {
            c10.intoArray(o, oOff + 10 * L);
        }
        if (nv > 11) {
            c11.intoArray(o, oOff + 11 * L);
        }
        if (nv > 12) {
            c12.intoArray(o, oOff + 12 * L);
        }
        if (nv > 13) {
            c13.intoArray(o, oOff + 13 * L);
        }
        if (nv > 14) {
            c14.intoArray(o, oOff + 14 * L);
        }
        if (nv > 15) {
            c15.intoArray(o, oOff + 15 * L);
        }
    }

    /** o[oOff..oOff+d) += sum_c w[c] * v_c, two vectors of o kept in registers across all n values. */
    private static void directValues(Job j, Src src, float[] w, int wOff, long vb, int n, float[] o, int oOff, int from) {
        int d = j.d;
        DType t = src.t();
        MemorySegment vm = src.seg();
        long vr = src.row();
        int i = from;
        int nv = (d - from) / L;
        if (t == DType.F32 && nv > 4 && nv != 8 && nv <= 16) {
            // 5-7 or 9-16 vectors (head_dim 80, 96, 256): one pass over each value row instead of a pass per
            // group of 8, 4 or 2 vectors, which read the rows in strided pieces
            valuesOnePass(vm, vr, w, wOff, vb + from, n, o, oOff + from, nv);
            i += nv * L;
        }
        for (; i + 8 * L <= d; i += 8 * L) {
            // eight vectors of o in registers: a value row of head_dim 128 is read in one sequential pass
            FloatVector c0 = FloatVector.fromArray(F, o, oOff + i);
            FloatVector c1 = FloatVector.fromArray(F, o, oOff + i + L);
            FloatVector c2 = FloatVector.fromArray(F, o, oOff + i + 2 * L);
            FloatVector c3 = FloatVector.fromArray(F, o, oOff + i + 3 * L);
            FloatVector c4 = FloatVector.fromArray(F, o, oOff + i + 4 * L);
            FloatVector c5 = FloatVector.fromArray(F, o, oOff + i + 5 * L);
            FloatVector c6 = FloatVector.fromArray(F, o, oOff + i + 6 * L);
            FloatVector c7 = FloatVector.fromArray(F, o, oOff + i + 7 * L);
            for (int c = 0; c < n; c++) {
                FloatVector p = FloatVector.broadcast(F, w[wOff + c]);
                long vi = vb + c * vr + i;
                c0 = load(t, vm, vi).fma(p, c0);
                c1 = load(t, vm, vi + L).fma(p, c1);
                c2 = load(t, vm, vi + 2 * L).fma(p, c2);
                c3 = load(t, vm, vi + 3 * L).fma(p, c3);
                c4 = load(t, vm, vi + 4 * L).fma(p, c4);
                c5 = load(t, vm, vi + 5 * L).fma(p, c5);
                c6 = load(t, vm, vi + 6 * L).fma(p, c6);
                c7 = load(t, vm, vi + 7 * L).fma(p, c7);
            }
            c0.intoArray(o, oOff + i);
            c1.intoArray(o, oOff + i + L);
            c2.intoArray(o, oOff + i + 2 * L);
            c3.intoArray(o, oOff + i + 3 * L);
            c4.intoArray(o, oOff + i + 4 * L);
            c5.intoArray(o, oOff + i + 5 * L);
            c6.intoArray(o, oOff + i + 6 * L);
            c7.intoArray(o, oOff + i + 7 * L);
        }
        for (; i + 4 * L <= d; i += 4 * L) {
            // four vectors of o in registers: a value row of head_dim 64 is read in one pass
            FloatVector c0 = FloatVector.fromArray(F, o, oOff + i);
            FloatVector c1 = FloatVector.fromArray(F, o, oOff + i + L);
            FloatVector c2 = FloatVector.fromArray(F, o, oOff + i + 2 * L);
            FloatVector c3 = FloatVector.fromArray(F, o, oOff + i + 3 * L);
            for (int c = 0; c < n; c++) {
                FloatVector p = FloatVector.broadcast(F, w[wOff + c]);
                long vi = vb + c * vr + i;
                c0 = load(t, vm, vi).fma(p, c0);
                c1 = load(t, vm, vi + L).fma(p, c1);
                c2 = load(t, vm, vi + 2 * L).fma(p, c2);
                c3 = load(t, vm, vi + 3 * L).fma(p, c3);
            }
            c0.intoArray(o, oOff + i);
            c1.intoArray(o, oOff + i + L);
            c2.intoArray(o, oOff + i + 2 * L);
            c3.intoArray(o, oOff + i + 3 * L);
        }
        for (; i + 2 * L <= d; i += 2 * L) {
            FloatVector c0 = FloatVector.fromArray(F, o, oOff + i);
            FloatVector c1 = FloatVector.fromArray(F, o, oOff + i + L);
            for (int c = 0; c < n; c++) {
                FloatVector p = FloatVector.broadcast(F, w[wOff + c]);
                long vi = vb + c * vr + i;
                c0 = load(t, vm, vi).fma(p, c0);
                c1 = load(t, vm, vi + L).fma(p, c1);
            }
            c0.intoArray(o, oOff + i);
            c1.intoArray(o, oOff + i + L);
        }
        for (; i + L <= d; i += L) {
            FloatVector c0 = FloatVector.fromArray(F, o, oOff + i);
            for (int c = 0; c < n; c++) {
                c0 = load(t, vm, vb + c * vr + i).fma(FloatVector.broadcast(F, w[wOff + c]), c0);
            }
            c0.intoArray(o, oOff + i);
        }
        for (; i < d; i++) {
            float acc = o[oOff + i];
            for (int c = 0; c < n; c++) {
                acc += w[wOff + c] * Lanes.get(t, vm, vb + c * vr + i);
            }
            o[oOff + i] = acc;
        }
    }
}
