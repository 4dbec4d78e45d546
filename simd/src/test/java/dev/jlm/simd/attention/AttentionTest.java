package dev.jlm.simd.attention;

import static dev.jlm.simd.testing.TestData.assertMessage;
import static dev.jlm.simd.testing.TestData.normal;
import static dev.jlm.simd.testing.TestData.poisoned;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlm.core.DType;
import dev.jlm.core.Simd;
import dev.jlm.core.Tensor;
import dev.jlm.simd.attention.AttentionOptions.Scoring;
import dev.jlm.simd.testing.TestData;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Tiled attention against {@link Reference} (double precision, every score of a row at once) on random data.
 * Bound: every output element within {@code REL = 1e-5} of the magnitude {@code sum_j w_j |v_j|} of the terms it
 * sums (a relative error 1e-5 of the weighted average, which is the scale F32 rounding acts on). Outputs are
 * poisoned with NaN before each call.
 */
class AttentionTest {
    static final double REL = 1e-5;

    static Stream<Attention> impls() {
        return Stream.of(Attention.scalar(), Attention.vector());
    }

    /** Data for one case; q, k and v hold the values after rounding to their dtypes. */
    record Data(float[] q, float[] k, float[] v, Tensor qt, Tensor kt, Tensor vt) implements AutoCloseable {
        static Data of(long seed, int b, int h, int hkv, int sq, int skv, int d, DType qType, DType kvType) {
            float[] q = normal(seed, b * h * sq * d, 0, 1);
            float[] k = normal(seed + 1, b * hkv * skv * d, 0, 1);
            float[] v = normal(seed + 2, b * hkv * skv * d, 0, 1);
            return new Data(q, k, v, TestData.of(qType, q, b, h, sq, d), TestData.of(kvType, k, b, hkv, skv, d),
                    TestData.of(kvType, v, b, hkv, skv, d));
        }

        @Override
        public void close() {
            qt.close();
            kt.close();
            vt.close();
        }
    }

    static Stream<Arguments> grid() {
        int[] seqs = {1, 7, 64, 129};
        int[] dims = {7, 32, 64, 80, 128};
        int[][] heads = {{1, 1}, {4, 4}, {4, 1}, {12, 4}, {32, 8}};
        List<Arguments> out = new ArrayList<>();
        int n = 0;
        for (int s : seqs) {
            for (int d : dims) {
                int[] hh = heads[n % heads.length];
                int batch = n % 3 == 0 ? 2 : 1;
                n++;
                for (Attention a : impls().toList()) {
                    out.add(Arguments.of(a, batch, hh[0], hh[1], s, d, true));
                    out.add(Arguments.of(a, batch, hh[0], hh[1], s, d, false));
                }
            }
        }
        // every head pairing at one size, and a long sequence at one head
        for (int[] hh : heads) {
            for (Attention a : impls().toList()) {
                out.add(Arguments.of(a, 1, hh[0], hh[1], 33, 64, true));
            }
        }
        for (Attention a : impls().toList()) {
            out.add(Arguments.of(a, 1, 1, 1, 1000, 32, true));
            out.add(Arguments.of(a, 1, 2, 1, 1000, 80, false));
        }
        return out.stream();
    }

    @ParameterizedTest(name = "{0} b={1} h={2}/{3} seq={4} d={5} causal={6}")
    @MethodSource("grid")
    void matchesReference(Attention a, int b, int h, int hkv, int seq, int d, boolean causal) {
        check(a, b, h, hkv, seq, seq, d, causal, DType.F32, DType.F32);
    }

    static Stream<Arguments> slowGrid() {
        List<Arguments> out = new ArrayList<>();
        for (int d : new int[] {64, 128}) {
            for (boolean causal : new boolean[] {true, false}) {
                out.add(Arguments.of(Attention.vector(), 1, 32, 8, 1000, d, causal));
                out.add(Arguments.of(Attention.vector(), 1, 12, 4, 1000, d, causal));
                out.add(Arguments.of(Attention.scalar(), 1, 4, 1, 1000, d, causal));
            }
        }
        return out.stream();
    }

    @Tag("slow")
    @ParameterizedTest(name = "{0} b={1} h={2}/{3} seq={4} d={5} causal={6}")
    @MethodSource("slowGrid")
    void matchesReferenceLong(Attention a, int b, int h, int hkv, int seq, int d, boolean causal) {
        check(a, b, h, hkv, seq, seq, d, causal, DType.F32, DType.F32);
    }

    static void check(Attention a, int b, int h, int hkv, int sq, int skv, int d, boolean causal, DType qType,
                      DType kvType) {
        try (Data x = Data.of(sq * 31L + d, b, h, hkv, sq, skv, d, qType, kvType); Tensor out = poisoned(b, h, sq, d)) {
            a.apply(x.qt, x.kt, x.vt, AttentionOptions.DEFAULT.withCausal(causal), out);
            Reference r = Reference.compute(x.q, x.k, x.v, b, h, hkv, sq, skv, d, 1 / Math.sqrt(d),
                    causal ? Reference.causal(sq, skv) : Reference.all(), null, Reference.Weights.SOFTMAX);
            r.assertClose(a + " " + qType + "/" + kvType, out.toFloatArray(), REL);
        }
    }

    /**
     * Decoding shapes (one to three queries against many keys): key counts around the 16-key score groups and the
     * longer key tiles of few-row tiles, head sizes with and without a lane tail, GQA ratios, 16-bit K/V.
     */
    static Stream<Arguments> decodeGrid() {
        int[] kvs = {1, 7, 16, 33, 129, 256, 300, 700};
        int[] dims = {7, 64, 80, 100, 128};
        int[][] heads = {{1, 1}, {4, 1}, {8, 1}, {12, 4}, {32, 8}, {6, 3}};
        DType[] types = {DType.F32, DType.F16, DType.BF16};
        List<Arguments> out = new ArrayList<>();
        int n = 0;
        for (int kv : kvs) {
            for (int d : dims) {
                int[] hh = heads[n % heads.length];
                int q = 1 + n % 3;
                DType t = types[n % types.length];
                n++;
                for (Attention a : impls().toList()) {
                    out.add(Arguments.of(a, hh[0], hh[1], q, kv, d, t));
                }
            }
        }
        return out.stream();
    }

    @ParameterizedTest(name = "{0} h={1}/{2} q={3} kv={4} d={5} {6}")
    @MethodSource("decodeGrid")
    void decodeShapesMatchReference(Attention a, int h, int hkv, int sq, int skv, int d, DType kvType) {
        int q = Math.min(sq, skv);
        check(a, 1, h, hkv, q, skv, d, true, DType.F32, kvType);
        check(a, 2, h, hkv, q, skv, d, false, DType.F32, kvType);
    }

    /**
     * Few-row tiles with head sizes of eight vectors or more (the value pass then runs two rows x eight vectors,
     * with the columns past the last multiple of eight vectors row by row; single rows of 5-7 or 9-16 vectors in one
     * pass): 1-8 rows per group, head_dim 96, 128, 130, 144, 256, 263, key counts with and without a 16-key tail.
     */
    static Stream<Arguments> wideHeadDecodeGrid() {
        int[][] shapes = {{2, 1, 1, 300, 128}, {3, 1, 1, 129, 130}, {4, 1, 1, 700, 144}, {5, 1, 1, 33, 256},
            {12, 4, 1, 257, 263}, {8, 2, 2, 256, 144}, {1, 1, 1, 300, 256}, {6, 3, 1, 1000, 128}, {4, 4, 1, 301, 96},
            {8, 1, 1, 130, 256}};
        List<Arguments> out = new ArrayList<>();
        int n = 0;
        for (int[] s : shapes) {
            DType t = n++ % 2 == 0 ? DType.F32 : DType.F16;
            for (Attention a : impls().toList()) {
                out.add(Arguments.of(a, s[0], s[1], s[2], s[3], s[4], t));
            }
        }
        return out.stream();
    }

    @ParameterizedTest(name = "{0} h={1}/{2} q={3} kv={4} d={5} {6}")
    @MethodSource("wideHeadDecodeGrid")
    void wideHeadDecodeMatchesReference(Attention a, int h, int hkv, int sq, int skv, int d, DType kvType) {
        check(a, 1, h, hkv, sq, skv, d, true, DType.F32, kvType);
        check(a, 2, h, hkv, sq, skv, d, false, DType.F32, kvType);
    }

    /**
     * The eight-key score groups of four rows that 8 lanes (AVX2, the 256-bit run of the test command) use for GQA:
     * groups of four rows with one to three rows left over (5, 6, 7 and 8 rows per kv head), key counts below, at and
     * past multiples of eight, head sizes with a lane tail (100), without whole vectors (7) and a long one (128), in
     * F32, F16 and BF16. With other widths the same shapes take the other kernels and must agree as well.
     */
    @ParameterizedTest
    @MethodSource("impls")
    void eightKeyGroupsMatchReference(Attention a) {
        int[][] shapes = {{5, 1, 1, 9, 100}, {6, 1, 1, 23, 7}, {7, 1, 1, 8, 128}, {16, 2, 1, 65, 100}, {12, 3, 2, 31, 64},
            {8, 1, 1, 1, 128}};
        DType[] types = {DType.F32, DType.F16, DType.BF16};
        int n = 0;
        for (int[] s : shapes) {
            DType kv = types[n++ % types.length];
            check(a, 1, s[0], s[1], s[2], s[3], s[4], false, DType.F32, kv);
            check(a, 2, s[0], s[1], s[2], s[3], s[4], true, DType.F32, kv);
        }
    }

    /**
     * The score kernels that hold every query vector of a group in registers (two rows of head_dim 128, four rows
     * of head_dim 64), with F32 and F16 caches, key counts with and without a 16-key tail, and the groups' other
     * rows (5 rows: two kernels plus one row on the general path).
     */
    @ParameterizedTest
    @MethodSource("impls")
    void registerQueryDecodeMatchesReference(Attention a) {
        assertEquals(2, TileOps.rowsInRegisters(8 * Simd.FLOAT.length(), 4));
        assertEquals(4, TileOps.rowsInRegisters(4 * Simd.FLOAT.length(), 5));
        assertEquals(0, TileOps.rowsInRegisters(4 * Simd.FLOAT.length(), 3));
        for (DType kv : new DType[] {DType.F32, DType.F16}) {
            check(a, 1, 8, 2, 1, 700, 64, false, DType.F32, kv);
            check(a, 2, 8, 2, 1, 515, 128, true, DType.F32, kv);
            check(a, 1, 10, 2, 1, 259, 64, false, DType.F32, kv);
            check(a, 1, 10, 2, 1, 96, 128, false, DType.F32, kv);
        }
    }

    /**
     * Items of at most four rows take key tiles of {@link AttentionImpl#DECODE_KEYS}: caches of two tiles and a
     * tail, so that the running maximum and sum carry across tiles (four rows in registers at head_dim 64, two at
     * 128, single rows at 80), and a sliding window whose edge falls inside a tile (masked key by key) with the
     * tiles before it skipped.
     */
    @ParameterizedTest
    @MethodSource("impls")
    void decodeAcrossLongKeyTiles(Attention a) {
        assertEquals(2048, AttentionImpl.keyTile(4));
        assertEquals(1, AttentionImpl.Job.splits(8, 1, 4100), "eight items: no key ranges");
        check(a, 1, 32, 8, 1, 4100, 64, false, DType.F32, DType.F32);
        check(a, 1, 16, 8, 1, 4133, 128, true, DType.F32, DType.F16);
        check(a, 2, 8, 8, 1, 6000, 80, false, DType.F32, DType.BF16);
        // 8 heads, 5000 keys, head_dim 64; 7 global keys and a window of 2500
        try (Data x = Data.of(91, 1, 8, 8, 1, 5000, 64, DType.F32, DType.F32); Tensor out = poisoned(1, 8, 1, 64)) {
            assertLambda(a, x, out, 8, 8, 1, 5000, 64, 7, 2500, "Lambda over long tiles");
        }
    }

    /** Lambda-masked attention of the last {@code sq} positions against the reference's visibility rule. */
    private static void assertLambda(Attention a, Data x, Tensor out, int h, int hkv, int sq, int skv, int d, int g,
                                     int w, String what) {
        a.apply(x.qt, x.kt, x.vt, AttentionOptions.DEFAULT.withLambda(g, w), out);
        Reference.compute(x.q, x.k, x.v, 1, h, hkv, sq, skv, d, 1 / Math.sqrt(d), (b, hh, i, j) -> {
            int p = skv - sq + i;
            return j <= p && (p - j < w || j < g);
        }, null, Reference.Weights.SOFTMAX).assertClose(what, out.toFloatArray(), REL);
    }

    /** Decoding with one or two kv heads: each item's keys are split into ranges whose states are merged. */
    @ParameterizedTest
    @MethodSource("impls")
    void fewHeadDecodeSplitsKeyRanges(Attention a) {
        assertEquals(2, AttentionImpl.Job.splits(4, 1, 3000));
        assertEquals(4, AttentionImpl.Job.splits(1, 3, 5000));
        assertEquals(1, AttentionImpl.Job.splits(8, 1, 100_000));
        assertEquals(1, AttentionImpl.Job.splits(1, 1, 2047));
        check(a, 1, 4, 1, 1, 3000, 64, false, DType.F32, DType.F32);
        check(a, 1, 1, 1, 3, 5000, 80, true, DType.F32, DType.F16);
        check(a, 1, 8, 2, 2, 2100, 7, true, DType.BF16, DType.BF16);
        int h = 4;
        int hkv = 1;
        int sq = 2;
        int skv = 4100;
        int d = 32;
        int w = 300;
        int g = 20;
        try (Data x = Data.of(77, 1, h, hkv, sq, skv, d, DType.F32, DType.F32); Tensor out = poisoned(1, h, sq, d)) {
            // the middle ranges hold no visible key for any row: they must weigh nothing
            assertLambda(a, x, out, h, hkv, sq, skv, d, g, w, "split Lambda");
            a.apply(x.qt, x.kt, x.vt, AttentionOptions.DEFAULT.withScoring(Scoring.SOFTPLUS), out);
            Reference.compute(x.q, x.k, x.v, 1, h, hkv, sq, skv, d, 1 / Math.sqrt(d), Reference.all(), null,
                    Reference.Weights.SOFTPLUS).assertClose("split softplus", out.toFloatArray(), REL);
        }
    }

    /**
     * Split decode steps from several threads at once, of two sizes on each thread in turn: each calling thread's
     * buffer of partial states is reused between its calls (and grown), never shared between concurrent calls. Every
     * result must equal, bit for bit, the same call made alone.
     */
    @Test
    void concurrentSplitDecodeStepsKeepTheirOwnPartialStates() throws Exception {
        Attention a = Attention.vector().withThreads(2);
        int threads = 4;
        int[][] shapes = {{4, 1, 1, 3000, 64}, {8, 2, 1, 5000, 128}};
        Data[] data = new Data[shapes.length];
        float[][] alone = new float[shapes.length][];
        try {
            for (int i = 0; i < shapes.length; i++) {
                int[] sh = shapes[i];
                assertTrue(AttentionImpl.Job.splits(sh[1], sh[2], sh[3]) > 1, "a split step");
                data[i] = Data.of(500 + i, 1, sh[0], sh[1], sh[2], sh[3], sh[4], DType.F32, DType.F32);
                try (Tensor out = poisoned(1, sh[0], sh[2], sh[4])) {
                    a.apply(data[i].qt, data[i].kt, data[i].vt, AttentionOptions.DEFAULT, out);
                    alone[i] = out.toFloatArray();
                }
            }
            java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(threads);
            try {
                List<java.util.concurrent.Future<?>> done = new ArrayList<>();
                for (int t = 0; t < threads; t++) {
                    int first = t % 2;
                    done.add(pool.submit(() -> {
                        for (int rep = 0; rep < 20; rep++) {
                            int i = (first + rep) % 2;
                            int[] sh = shapes[i];
                            try (Tensor out = poisoned(1, sh[0], sh[2], sh[4])) {
                                a.apply(data[i].qt, data[i].kt, data[i].vt, AttentionOptions.DEFAULT, out);
                                assertArrayEquals(alone[i], out.toFloatArray(), "shape " + i + " repeat " + rep);
                            }
                        }
                        return null;
                    }));
                }
                for (java.util.concurrent.Future<?> f : done) {
                    f.get();
                }
            } finally {
                pool.shutdownNow();
            }
        } finally {
            for (Data x : data) {
                if (x != null) {
                    x.close();
                }
            }
        }
    }

    @ParameterizedTest
    @MethodSource("impls")
    void halfPrecisionKeysAndValues(Attention a) {
        check(a, 1, 4, 2, 77, 77, 64, true, DType.F32, DType.F16);
        check(a, 2, 4, 1, 40, 40, 80, false, DType.BF16, DType.BF16);
        check(a, 1, 2, 2, 3, 50, 32, true, DType.F16, DType.F16);
    }

    @ParameterizedTest
    @MethodSource("impls")
    void fewerQueriesThanKeysSitAtTheEnd(Attention a) {
        check(a, 1, 4, 2, 5, 150, 64, true, DType.F32, DType.F32);
        check(a, 1, 4, 2, 3, 150, 64, false, DType.F32, DType.F32);
        check(a, 1, 2, 1, 40, 150, 48, true, DType.F32, DType.F32);
    }

    @ParameterizedTest
    @MethodSource("impls")
    void scaleOverrideAndAdditiveMasks(Attention a) {
        int b = 2;
        int h = 4;
        int hkv = 2;
        int s = 70;
        int d = 64;
        float[] m2 = normal(9, s * s, 0, 2);
        float[] m4 = normal(10, b * h * s * s, 0, 2);
        for (int i = 0; i < m4.length; i += 7) {
            m4[i] = Float.NEGATIVE_INFINITY;   // some keys removed outright
        }
        try (Data x = Data.of(5, b, h, hkv, s, s, d, DType.F32, DType.F32);
             Tensor mask2 = Tensor.of(m2, s, s); Tensor mask4 = Tensor.of(m4, b, h, s, s);
             Tensor out = poisoned(b, h, s, d)) {
            a.apply(x.qt, x.kt, x.vt, AttentionOptions.DEFAULT.withScale(0.3f).withMask(mask2).withCausal(true), out);
            Reference.compute(x.q, x.k, x.v, b, h, hkv, s, s, d, 0.3f, Reference.causal(s, s),
                    (bb, hh, i, j) -> m2[i * s + j], Reference.Weights.SOFTMAX)
                    .assertClose("rank-2 mask", out.toFloatArray(), REL);
            TestData.poisoned(1).close();
            a.apply(x.qt, x.kt, x.vt, AttentionOptions.DEFAULT.withMask(mask4), out);
            Reference.compute(x.q, x.k, x.v, b, h, hkv, s, s, d, 1 / Math.sqrt(d), Reference.all(),
                    (bb, hh, i, j) -> m4[((bb * h + hh) * s + i) * s + j], Reference.Weights.SOFTMAX)
                    .assertClose("rank-4 mask", out.toFloatArray(), REL);
        }
    }

    /** Few queries with GQA: one work item holds all query heads of a kv head; masks still go per head and row. */
    @ParameterizedTest
    @MethodSource("impls")
    void groupedDecodeRowsWithPerHeadMask(Attention a) {
        int b = 2;
        int h = 8;
        int hkv = 2;
        int sq = 3;
        int skv = 140;
        int d = 64;
        float[] m = normal(12, b * h * sq * skv, 0, 2);
        for (int i = 0; i < m.length; i += 5) {
            m[i] = Float.NEGATIVE_INFINITY;
        }
        try (Data x = Data.of(13, b, h, hkv, sq, skv, d, DType.F32, DType.F32); Tensor mask = Tensor.of(m, b, h, sq, skv);
             Tensor out = poisoned(b, h, sq, d)) {
            a.apply(x.qt, x.kt, x.vt, AttentionOptions.DEFAULT.withMask(mask).withCausal(true), out);
            Reference.compute(x.q, x.k, x.v, b, h, hkv, sq, skv, d, 1 / Math.sqrt(d), Reference.causal(sq, skv),
                    (bb, hh, i, j) -> m[((bb * h + hh) * sq + i) * skv + j], Reference.Weights.SOFTMAX)
                    .assertClose("grouped rows with mask", out.toFloatArray(), REL);
        }
    }

    @ParameterizedTest
    @MethodSource("impls")
    void fullyMaskedRowIsNaN(Attention a) {
        int s = 5;
        float[] m = new float[s * s];
        for (int j = 0; j < s; j++) {
            m[2 * s + j] = Float.NEGATIVE_INFINITY;
        }
        try (Data x = Data.of(6, 1, 1, 1, s, s, 16, DType.F32, DType.F32); Tensor mask = Tensor.of(m, s, s);
             Tensor out = poisoned(1, 1, s, 16)) {
            a.apply(x.qt, x.kt, x.vt, AttentionOptions.DEFAULT.withMask(mask), out);
            float[] y = out.toFloatArray();
            for (int i = 0; i < s * 16; i++) {
                assertEquals(i / 16 == 2, Float.isNaN(y[i]), "element " + i);
            }
        }
    }

    static Stream<Arguments> windows() {
        List<Arguments> out = new ArrayList<>();
        for (Attention a : impls().toList()) {
            // (seq, window, global): windows inside one tile, across tiles, longer than the sequence
            out.add(Arguments.of(a, 300, 40, 0));
            out.add(Arguments.of(a, 300, 1, 0));
            out.add(Arguments.of(a, 200, 64, 4));
            out.add(Arguments.of(a, 257, 100, 70));
            out.add(Arguments.of(a, 50, 500, 3));
        }
        return out.stream();
    }

    @ParameterizedTest(name = "{0} seq={1} window={2} global={3}")
    @MethodSource("windows")
    void slidingWindowAndLambdaMatchExplicitMask(Attention a, int s, int w, int g) {
        int h = 4;
        int hkv = 2;
        int d = 32;
        // explicit visibility matrix, built from the definitions
        boolean[][] vis = new boolean[s][s];
        for (int i = 0; i < s; i++) {
            for (int j = 0; j <= i; j++) {
                vis[i][j] = i - j < w || j < g;
            }
        }
        try (Data x = Data.of(s + w + g, 1, h, hkv, s, s, d, DType.F32, DType.F32); Tensor out = poisoned(1, h, s, d)) {
            AttentionOptions o = g > 0 ? AttentionOptions.DEFAULT.withLambda(g, w) : AttentionOptions.DEFAULT.withWindow(w);
            a.apply(x.qt, x.kt, x.vt, o, out);
            Reference.compute(x.q, x.k, x.v, 1, h, hkv, s, s, d, 1 / Math.sqrt(d), (b, hh, i, j) -> vis[i][j], null,
                    Reference.Weights.SOFTMAX).assertClose("window", out.toFloatArray(), REL);
        }
    }

    /**
     * Packed sequences of a few tokens (few-row tiles) with F16 and BF16 keys and values: their rows lie
     * {@code kvHeads * headDim} apart, so the F16 rows are converted one by one into the F32 scratch.
     */
    @ParameterizedTest
    @MethodSource("impls")
    void packedSixteenBitKeysAndValuesInFewRowTiles(Attention a) {
        int[] lens = {1, 3, 7, 2};
        int h = 4;
        int hkv = 2;
        int d = 80;
        long[] offsets = new long[lens.length + 1];
        for (int i = 0; i < lens.length; i++) {
            offsets[i + 1] = offsets[i] + lens[i];
        }
        int tokens = (int) offsets[lens.length];
        for (DType kvType : new DType[] {DType.F16, DType.BF16}) {
            long seed = 40 + kvType.ordinal();
            float[] qp = normal(seed, tokens * h * d, 0, 1);
            float[] kp = normal(seed + 1, tokens * hkv * d, 0, 1);
            float[] vp = normal(seed + 2, tokens * hkv * d, 0, 1);
            try (Tensor q = Tensor.of(qp, tokens, h * d); Tensor k = TestData.of(kvType, kp, tokens, hkv * d);
                 Tensor v = TestData.of(kvType, vp, tokens, hkv * d); Tensor out = poisoned(tokens, h * d)) {
                a.applyPacked(q, k, v, offsets, h, hkv, AttentionOptions.DEFAULT.withCausal(true), out);
                float[] got = out.toFloatArray();
                for (int b = 0; b < lens.length; b++) {
                    int len = lens[b];
                    int t0 = (int) offsets[b];
                    float[] qs = new float[h * len * d];
                    float[] ks = new float[hkv * len * d];
                    float[] vs = new float[hkv * len * d];
                    for (int t = 0; t < len; t++) {
                        for (int hh = 0; hh < h; hh++) {
                            System.arraycopy(qp, ((t0 + t) * h + hh) * d, qs, (hh * len + t) * d, d);
                        }
                        for (int hh = 0; hh < hkv; hh++) {
                            System.arraycopy(kp, ((t0 + t) * hkv + hh) * d, ks, (hh * len + t) * d, d);
                            System.arraycopy(vp, ((t0 + t) * hkv + hh) * d, vs, (hh * len + t) * d, d);
                        }
                    }
                    Reference r = Reference.compute(qs, ks, vs, 1, h, hkv, len, len, d, 1 / Math.sqrt(d),
                            (bb, hh, i, j) -> j <= i, null, Reference.Weights.SOFTMAX);
                    for (int t = 0; t < len; t++) {
                        for (int hh = 0; hh < h; hh++) {
                            for (int i = 0; i < d; i++) {
                                double e = r.out[(hh * len + t) * d + i];
                                double bound = REL * r.magnitude[(hh * len + t) * d + i];
                                float g = got[((t0 + t) * h + hh) * d + i];
                                assertTrue(Math.abs(g - e) <= bound, kvType + " packed seq " + b + " token " + t
                                        + " head " + hh + " element " + i + ": " + g + " vs " + e);
                            }
                        }
                    }
                }
            }
        }
    }

    @ParameterizedTest
    @MethodSource("impls")
    void packedEqualsPaddedAndMasked(Attention a) {
        int[] lens = {5, 64, 1, 100, 33};
        int h = 4;
        int hkv = 2;
        int d = 64;
        int max = 100;
        int bn = lens.length;
        long[] offsets = new long[bn + 1];
        for (int i = 0; i < bn; i++) {
            offsets[i + 1] = offsets[i] + lens[i];
        }
        int tokens = (int) offsets[bn];
        for (boolean causal : new boolean[] {true, false}) {
            try (Data x = Data.of(11, bn, h, hkv, max, max, d, DType.F32, DType.F32)) {
                // padded-and-masked: keys past each sequence's length removed by the additive mask
                float[] m = new float[bn * max * max];
                for (int b = 0; b < bn; b++) {
                    for (int i = 0; i < max; i++) {
                        for (int j = lens[b]; j < max; j++) {
                            m[(b * max + i) * max + j] = Float.NEGATIVE_INFINITY;
                        }
                    }
                }
                float[] qp = new float[tokens * h * d];
                float[] kp = new float[tokens * hkv * d];
                float[] vp = new float[tokens * hkv * d];
                for (int b = 0; b < bn; b++) {
                    for (int t = 0; t < lens[b]; t++) {
                        int row = (int) offsets[b] + t;
                        for (int hh = 0; hh < h; hh++) {
                            System.arraycopy(x.q, ((b * h + hh) * max + t) * d, qp, (row * h + hh) * d, d);
                        }
                        for (int hh = 0; hh < hkv; hh++) {
                            System.arraycopy(x.k, ((b * hkv + hh) * max + t) * d, kp, (row * hkv + hh) * d, d);
                            System.arraycopy(x.v, ((b * hkv + hh) * max + t) * d, vp, (row * hkv + hh) * d, d);
                        }
                    }
                }
                AttentionOptions o = AttentionOptions.DEFAULT.withCausal(causal);
                try (Tensor mask = Tensor.of(m, bn, 1, max, max); Tensor padded = poisoned(bn, h, max, d);
                     Tensor q = Tensor.of(qp, tokens, h * d); Tensor k = Tensor.of(kp, tokens, hkv * d);
                     Tensor v = Tensor.of(vp, tokens, hkv * d); Tensor packed = poisoned(tokens, h * d)) {
                    a.apply(x.qt, x.kt, x.vt, o.withMask(mask), padded);
                    a.applyPacked(q, k, v, offsets, h, hkv, o, packed);
                    float[] pd = padded.toFloatArray();
                    float[] pk = packed.toFloatArray();
                    Reference r = Reference.compute(x.q, x.k, x.v, bn, h, hkv, max, max, d, 1 / Math.sqrt(d),
                            (b, hh, i, j) -> j < lens[b] && (!causal || j <= i), null, Reference.Weights.SOFTMAX);
                    for (int b = 0; b < bn; b++) {
                        for (int t = 0; t < lens[b]; t++) {
                            for (int hh = 0; hh < h; hh++) {
                                int pi = ((b * h + hh) * max + t) * d;
                                int ki = (((int) offsets[b] + t) * h + hh) * d;
                                for (int i = 0; i < d; i++) {
                                    double e = r.out[pi + i];
                                    double bound = REL * r.magnitude[pi + i];
                                    assertTrue(Math.abs(pk[ki + i] - e) <= bound, "packed seq " + b + " token " + t
                                            + " head " + hh + ": " + pk[ki + i] + " vs " + e);
                                    assertTrue(Math.abs(pd[pi + i] - pk[ki + i]) <= 2 * bound, "padded vs packed seq "
                                            + b + " token " + t + ": " + pd[pi + i] + " vs " + pk[ki + i]);
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    @ParameterizedTest
    @MethodSource("impls")
    void softplusAndItsExpForm(Attention a) {
        int b = 1;
        int h = 4;
        int hkv = 1;
        int s = 90;
        int d = 64;
        try (Data x = Data.of(21, b, h, hkv, s, s, d, DType.F32, DType.F32); Tensor out = poisoned(b, h, s, d)) {
            a.apply(x.qt, x.kt, x.vt, AttentionOptions.DEFAULT.withCausal(true).withScoring(Scoring.SOFTPLUS), out);
            Reference.compute(x.q, x.k, x.v, b, h, hkv, s, s, d, 1 / Math.sqrt(d), Reference.causal(s, s), null,
                    Reference.Weights.SOFTPLUS).assertClose("softplus", out.toFloatArray(), REL);
            // exp with l1 normalization and no reweighting is softmax: the softmax reference is its oracle
            a.apply(x.qt, x.kt, x.vt, AttentionOptions.DEFAULT.withCausal(true).withScoring(Scoring.EXP_L1), out);
            Reference.compute(x.q, x.k, x.v, b, h, hkv, s, s, d, 1 / Math.sqrt(d), Reference.causal(s, s), null,
                    Reference.Weights.SOFTMAX).assertClose("exp-l1 vs softmax", out.toFloatArray(), REL);
        }
    }

    @ParameterizedTest
    @MethodSource("impls")
    void kvCacheDecodeMatchesFullCausalAttention(Attention a) {
        for (DType cacheType : new DType[] {DType.F32, DType.F16}) {
            int b = 2;
            int h = 8;
            int hkv = 2;
            int d = 64;
            int total = 45;
            int prompt = 37;
            try (Data x = Data.of(31, b, h, hkv, total, total, d, DType.F32, cacheType);
                 KvCache cache = KvCache.allocate(b, hkv, 64, d, cacheType)) {
                Reference r = Reference.compute(x.q, x.k, x.v, b, h, hkv, total, total, d, 1 / Math.sqrt(d),
                        Reference.causal(total, total), null, Reference.Weights.SOFTMAX);
                // prompt of 37, then 3 tokens at once, then single tokens: 37, 40, 41, ..., 45
                int[] steps = {prompt, 3, 1, 1, 1, 1, 1};
                int at = 0;
                for (int n : steps) {
                    try (Tensor k = x.kt.slice(2, at, at + n).copy(); Tensor v = x.vt.slice(2, at, at + n).copy();
                         Tensor q = x.qt.slice(2, at, at + n).copy(); Tensor out = poisoned(b, h, n, d)) {
                        cache.append(k, v);
                        a.attend(cache, q, AttentionOptions.DEFAULT.withCausal(true), out);
                        float[] y = out.toFloatArray();
                        for (int bh = 0; bh < b * h; bh++) {
                            for (int t = 0; t < n; t++) {
                                for (int i = 0; i < d; i++) {
                                    int ri = (bh * total + at + t) * d + i;
                                    float got = y[(bh * n + t) * d + i];
                                    assertTrue(Math.abs(got - r.out[ri]) <= REL * r.magnitude[ri], cacheType
                                            + " step at " + at + " token " + t + ": " + got + " vs " + r.out[ri]);
                                }
                            }
                        }
                    }
                    at += n;
                }
                assertEquals(total, cache.length());
            }
        }
    }

    @Test
    void threadsDoNotChangeTheResult() {
        try (Data x = Data.of(41, 2, 8, 2, 150, 150, 64, DType.F32, DType.F32); Tensor o1 = poisoned(2, 8, 150, 64);
             Tensor o2 = poisoned(2, 8, 150, 64)) {
            AttentionOptions o = AttentionOptions.DEFAULT.withCausal(true);
            Attention.vector().withThreads(1).apply(x.qt, x.kt, x.vt, o, o1);
            Attention.vector().withThreads(2).apply(x.qt, x.kt, x.vt, o, o2);
            assertArrayEquals(o1.toFloatArray(), o2.toFloatArray());
        }
        // a decode step split into key ranges: the ranges do not depend on the thread count
        try (Data x = Data.of(43, 1, 4, 1, 1, 4000, 64, DType.F32, DType.F32); Tensor o1 = poisoned(1, 4, 1, 64);
             Tensor o2 = poisoned(1, 4, 1, 64)) {
            Attention.vector().withThreads(1).apply(x.qt, x.kt, x.vt, AttentionOptions.DEFAULT, o1);
            Attention.vector().withThreads(2).apply(x.qt, x.kt, x.vt, AttentionOptions.DEFAULT, o2);
            assertArrayEquals(o1.toFloatArray(), o2.toFloatArray());
        }
    }

    @Test
    void badInputGivesClearErrors() {
        Attention a = Attention.get();
        try (Tensor q = Tensor.allocate(DType.F32, 1, 6, 4, 16); Tensor k = Tensor.allocate(DType.F32, 1, 4, 4, 16);
             Tensor k2 = Tensor.allocate(DType.F32, 1, 2, 4, 8); Tensor k3 = Tensor.allocate(DType.F32, 1, 2, 3, 16);
             Tensor kv = Tensor.allocate(DType.F32, 1, 2, 4, 16); Tensor out = Tensor.allocate(DType.F32, 1, 6, 4, 16);
             Tensor i32 = Tensor.allocate(DType.I32, 1, 2, 4, 16);
             Tensor badMask = Tensor.allocate(DType.F32, 4, 5);
             KvCache cache = KvCache.allocate(1, 2, 5, 16, DType.F32)) {
            AttentionOptions d = AttentionOptions.DEFAULT;
            assertMessage(() -> a.apply(q, k, k, d, out), "must divide query heads");
            assertMessage(() -> a.apply(q, k2, k2, d, out), "head_dim");
            assertMessage(() -> a.apply(q, i32, i32, d, out), "expected F32, F16 or BF16");
            assertMessage(() -> a.apply(q, k3, k3, d.withCausal(true), out), "causal attention of 4 queries");
            assertMessage(() -> a.apply(q, kv, kv, d.withMask(badMask), out), "mask");
            assertMessage(() -> a.apply(q, kv, kv, d, q), "out");
            assertMessage(() -> d.withWindow(-1), "window");
            assertMessage(() -> d.withLambda(-2, 4), "global");
            assertMessage(() -> d.withLambda(2, 0), "window");
            cache.append(kv, kv);
            assertMessage(() -> cache.append(kv, kv), "exceed");
            assertMessage(() -> cache.append(k, k), "to fit the KV cache");
            try (Tensor q1 = q.slice(2, 0, 1).copy()) {
                assertMessage(() -> a.attend(cache, q1, d, out), "must have the shape of q");
            }
            try (Tensor q5 = Tensor.allocate(DType.F32, 1, 6, 5, 16); Tensor o5 = Tensor.allocate(DType.F32, 1, 6, 5, 16)) {
                assertMessage(() -> a.attend(cache, q5, d, o5), "exceed the 4 positions");
            }
            try (Tensor pq = Tensor.allocate(DType.F32, 10, 6 * 16); Tensor pk = Tensor.allocate(DType.F32, 10, 2 * 16);
                 Tensor po = Tensor.allocate(DType.F32, 10, 6 * 16)) {
                assertMessage(() -> a.applyPacked(pq, pk, pk, new long[] {0, 4, 9}, 6, 2, d, po), "end at the 10");
                assertMessage(() -> a.applyPacked(pq, pk, pk, new long[] {0, 6, 4, 10}, 6, 2, d, po), "not decrease");
                assertMessage(() -> a.applyPacked(pq, pk, pk, new long[] {0, 10}, 6, 4, d, po), "must divide");
                assertMessage(() -> a.applyPacked(pq, pk, pk, new long[] {0, 10}, 6, 2, d.withMask(badMask), po),
                        "mask");
            }
        }
    }

    /**
     * The kernel's extra memory does not grow with the sequence: after one call has set up this thread's scratch,
     * calls at seq 64 and seq 2048 allocate (heap, measured for this thread) less than a fixed 64 KiB each — far below
     * one row of scores at 2048, let alone the 16 MiB a [2048 x 2048] score matrix would take. The scalar kernel
     * is used so that the interpreter's vector boxing does not count; both share the tiling and the scratch. The
     * scratch itself is O(tile * headDim).
     */
    @Test
    void extraMemoryIndependentOfSequence() {
        var mx = (com.sun.management.ThreadMXBean) java.lang.management.ManagementFactory.getThreadMXBean();
        Attention a = Attention.scalar().withThreads(1);
        long[] used = new long[2];
        int[] seqs = {64, 2048};
        for (int c = 0; c < 2; c++) {
            int s = seqs[c];
            try (Data x = Data.of(s, 1, 1, 1, s, s, 64, DType.F32, DType.F32); Tensor out = poisoned(1, 1, s, 64)) {
                AttentionOptions o = AttentionOptions.DEFAULT.withCausal(true);
                a.apply(x.qt, x.kt, x.vt, o, out);
                long before = mx.getCurrentThreadAllocatedBytes();
                a.apply(x.qt, x.kt, x.vt, o, out);
                used[c] = mx.getCurrentThreadAllocatedBytes() - before;
            }
        }
        assertTrue(used[0] < 64 * 1024 && used[1] < 64 * 1024, "allocated " + used[0] + " and " + used[1] + " bytes");
        assertTrue(AttentionImpl.Scratch.bytes(128) < 192 * 1024, "scratch for head_dim 128");
        assertEquals(AttentionImpl.Scratch.bytes(64), AttentionImpl.Scratch.bytes(64));
    }
}
