package dev.jlm.simd.quant;

import dev.jlm.core.DType;
import dev.jlm.core.JlmException;
import dev.jlm.core.Tensor;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Both kernels against dequantize-then-multiply in double precision. Bound: |y - ref| <= 1e-5 * sum_k |a_k| (|q_k| + zp) |s|
 * (float accumulation; the kernels take the zero point out of the sum, so the bound scales with the codes, not
 * with the dequantized weights).
 */
class QMatMulTest {
    private static final double REL = 1e-5;

    static void check(QMatMul kernel, Random rnd, int bits, int block, long m, long n, long k, boolean asym,
                      DType scaleType, boolean withBias, int threads) {
        try (QuantizedMatrix q = QTesting.random(rnd, bits, block, n, k, scaleType, asym);
             QuantizedMatrix qi = q.interleaved();
             Tensor a = QTesting.randomF32(rnd, m, k);
             Tensor bias = withBias ? QTesting.randomF32(rnd, n) : null;
             Tensor y = QTesting.nan(m, n);
             Tensor yi = QTesting.nan(m, n)) {
            kernel.multiply(a, q, bias, y, threads);
            double[][] ref = QTesting.reference(a, q, bias);
            float[] got = y.toFloatArray();
            // the interleaved copy holds the same codes and must meet the same bound (not always the same bits: the
            // Vector API leaves the order of a lane reduction to the compiler, so bits may differ between tiers)
            kernel.multiply(a, qi, bias, yi, threads);
            float[][] outs = {got, yi.toFloatArray()};
            QuantizedMatrix.Layout[] layouts = {q.layout(), qi.layout()};
            for (int v = 0; v < 2; v++) {
                for (int i = 0; i < got.length; i++) {
                    double tol = REL * ref[1][i] + 1e-30;
                    if (!(Math.abs(outs[v][i] - ref[0][i]) <= tol)) {
                        fail(kernel.getClass().getSimpleName() + " " + bits + "-bit block " + block + " M=" + m + " N=" + n
                                + " K=" + k + (asym ? " asym" : " sym") + " " + scaleType + " " + layouts[v] + " threads "
                                + threads + ": y[" + i + "] = " + outs[v][i] + " but reference " + ref[0][i]
                                + " (tolerance " + tol + ")");
                    }
                }
            }
        }
    }

    @Test
    void oddShapesAllBlocksBothWidths() {
        Random rnd = new Random(42);
        long[] ks = {1, 15, 16, 17, 97, 128, 300};
        long[] ns = {1, 3, 17, 37};
        long[] ms = {1, 2, 5};
        int[] blocks = {16, 32, 64, 128};
        for (QMatMul kernel : new QMatMul[]{QMatMul.scalar(), QMatMul.vector()}) {
            for (int bits : new int[]{4, 8}) {
                for (int block : blocks) {
                    for (long k : ks) {
                        long n = ns[rnd.nextInt(ns.length)];
                        long m = ms[rnd.nextInt(ms.length)];
                        boolean asym = rnd.nextBoolean();
                        check(kernel, rnd, bits, block, m, n, k, asym, DType.F32, rnd.nextBoolean(), 1 + rnd.nextInt(3));
                    }
                }
            }
        }
    }

    @Test
    void gemvAndGemmOnLargerShapesWithThreads() {
        Random rnd = new Random(7);
        for (int bits : new int[]{4, 8}) {
            for (boolean asym : new boolean[]{false, true}) {
                check(QMatMul.vector(), rnd, bits, 32, 1, 131, 1000, asym, DType.F32, true, 3);
                check(QMatMul.vector(), rnd, bits, 64, 33, 70, 2050, asym, DType.F32, false, 2);
                check(QMatMul.vector(), rnd, bits, 16, 4, 19, 1100, asym, DType.F32, true, 1);
            }
        }
    }

    /**
     * Decode (M = 1) runs four rows per pass and a vector pass for the zero points over groups of 16 blocks: N
     * around multiples of 4 and block counts around multiples of 16 (the 4-bit zero points of a group are read as
     * one 8-byte word, which must stay inside the row).
     */
    @Test
    void decodeRowGroupsAndBlockGroups() {
        Random rnd = new Random(11);
        int[] blockCounts = {1, 15, 16, 17, 31, 32, 33, 48};
        for (int bits : new int[]{4, 8}) {
            for (int block : new int[]{16, 32, 64}) {
                for (int kb : blockCounts) {
                    long k = (long) kb * block - rnd.nextInt(Math.min(block, 7));
                    long n = 1 + rnd.nextInt(11);
                    DType t = new DType[]{DType.F32, DType.F16, DType.BF16}[rnd.nextInt(3)];
                    check(QMatMul.vector(), rnd, bits, block, 1, n, k, rnd.nextBoolean(), t, rnd.nextBoolean(), 1 + rnd.nextInt(3));
                }
            }
        }
    }

    /**
     * 4-bit decode reads whole groups of 64 code bytes (128 k, nibble t of each int lane weighted 2^4t and A
     * arranged with 2^-4t) and then the blocks after the last whole group: K around multiples of 128, blocks of
     * 32 to 256 (a group spans 4, 2, 1 or half a block), and activations spread over many binades so that the
     * weighting of A must be exact.
     */
    @Test
    void decodeNibbleGroups() {
        Random rnd = new Random(17);
        long[] ks = {96, 127, 128, 129, 255, 256, 300, 383, 640, 1000};
        for (int block : new int[]{32, 64, 128, 256}) {
            for (long k : ks) {
                for (boolean asym : new boolean[]{false, true}) {
                    long n = 1 + rnd.nextInt(10);
                    int threads = 1 + rnd.nextInt(2);
                    check(QMatMul.vector(), rnd, 4, block, 1, n, k, asym, DType.F32, rnd.nextBoolean(), threads);
                    try (QuantizedMatrix q = QTesting.random(rnd, 4, block, n, k, DType.F32, asym);
                         Tensor a = Tensor.allocate(DType.F32, 1, k);
                         Tensor y = QTesting.nan(1, n)) {
                        for (long i = 0; i < k; i++) {
                            float v = (float) Math.scalb(rnd.nextDouble(-1, 1), rnd.nextInt(-30, 31));
                            a.segment().setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, i, v);
                        }
                        QMatMul.vector().multiply(a, q, null, y, threads);
                        double[][] ref = QTesting.reference(a, q, null);
                        float[] got = y.toFloatArray();
                        for (int i = 0; i < got.length; i++) {
                            double tol = REL * ref[1][i] + 1e-30;
                            if (!(Math.abs(got[i] - ref[0][i]) <= tol)) {
                                fail("wide-range A, block " + block + " K=" + k + " N=" + n + ": y[" + i + "] = " + got[i]
                                        + " but reference " + ref[0][i] + " (tolerance " + tol + ")");
                            }
                        }
                    }
                }
            }
        }
    }

    /**
     * Prefill (M >= 32) transposes A into groups of 32 rows, dequantizes panels of whole rows and runs tiles of 6
     * weight rows over chunks of K, two groups of A per tile where it can and one for an odd last group: M around
     * multiples of 32 and 64, N around multiples of 6, K over several chunks.
     */
    @Test
    void prefillGroupsTilesAndChunks() {
        Random rnd = new Random(13);
        long[] ms = {16, 31, 32, 33, 50, 64, 65, 96, 127, 128, 160};
        for (int bits : new int[]{4, 8}) {
            for (int block : new int[]{16, 32, 128}) {
                for (long m : ms) {
                    long n = 1 + rnd.nextInt(20);
                    long k = 1 + rnd.nextInt(3000);
                    DType t = new DType[]{DType.F32, DType.F16, DType.BF16}[rnd.nextInt(3)];
                    check(QMatMul.vector(), rnd, bits, block, m, n, k, rnd.nextBoolean(), t, rnd.nextBoolean(), 1 + rnd.nextInt(3));
                }
            }
            // several panels of rows per part
            check(QMatMul.vector(), rnd, bits, 32, 40, 150, 4000, true, DType.F32, true, 1);
            // blocks of 16 in rows of whole 64-byte groups (K = 384, 1536: all-MiniLM-L6-v2's): the group decode
            check(QMatMul.vector(), rnd, bits, 16, 64, 13, 384, true, DType.F32, true, 2);
            check(QMatMul.vector(), rnd, bits, 16, 33, 7, 1536, false, DType.F16, false, 1);
            // very large M: panels shrink to one tile so that their accumulators stay bounded
            check(QMatMul.vector(), rnd, bits, 16, 50_000, 13, 20, false, DType.F32, false, 2);
        }
    }

    /**
     * 1 < M < 32 dots panels of dequantized weight rows with tiles of 4, 2 and 1 rows of A and 6 weight rows: every
     * M remainder, N around multiples of 6, parts and panels split over threads, and the same results for 1, 2
     * and 3 threads (each output is one dot product, whichever thread computes it).
     */
    @Test
    void fewRowsEveryRemainderPanelsAndThreads() {
        Random rnd = new Random(17);
        for (int bits : new int[]{4, 8}) {
            for (long m = 2; m <= 9; m++) {
                long n = new long[]{5, 6, 7, 13, 61}[rnd.nextInt(5)];
                int block = new int[]{16, 32, 64, 128, 256}[rnd.nextInt(5)];
                check(QMatMul.vector(), rnd, bits, block, m, n, 1 + rnd.nextInt(700), rnd.nextBoolean(), DType.F32,
                        rnd.nextBoolean(), 1 + rnd.nextInt(3));
            }
            // blocks of 16 in rows of whole 64-byte groups: the group decode, four rows at a time and alone
            check(QMatMul.vector(), rnd, bits, 16, 5, 29, 384, true, DType.F32, true, 2);
            check(QMatMul.vector(), rnd, bits, 16, 2, 6, 1536, false, DType.BF16, false, 1);
            // several panels per part: K = 4000 keeps a panel at 12 weight rows
            check(QMatMul.vector(), rnd, bits, 32, 7, 100, 4000, true, DType.F32, true, 2);
            check(QMatMul.vector(), rnd, bits, 128, 30, 41, 4000, false, DType.BF16, false, 1);
        }
        try (QuantizedMatrix q = QTesting.random(rnd, 4, 32, 53, 900, DType.F32, true);
             Tensor a = QTesting.randomF32(rnd, 11, 900);
             Tensor y1 = QTesting.nan(11, 53);
             Tensor y2 = QTesting.nan(11, 53);
             Tensor y3 = QTesting.nan(11, 53)) {
            QMatMul.vector().multiply(a, q, null, y1, 1);
            QMatMul.vector().multiply(a, q, null, y2, 2);
            QMatMul.vector().multiply(a, q, null, y3, 3);
            // the same dot products, except for the order of the final lane sum, which the Vector API leaves to the
            // compiler: an interpreted call and a compiled one may round it differently (seen once in a test run)
            float[] e = y1.toFloatArray();
            float[] g2 = y2.toFloatArray();
            float[] g3 = y3.toFloatArray();
            for (int i = 0; i < e.length; i++) {
                float tol = 1e-5f * (1 + Math.abs(e[i]));
                assertEquals(e[i], g2[i], tol, "2 threads, output " + i);
                assertEquals(e[i], g3[i], tol, "3 threads, output " + i);
            }
        }
    }

    /**
     * The interleaved layout (four rows side by side per 64 code bytes, the rows after the last group of four in
     * the row layout) on rows of whole 64-byte units, through every path: decode (M = 1, parts of multiples of
     * four rows), few rows (M < 32, parts of multiples of six rows: four-row decodes that straddle groups) and
     * prefill; N around multiples of 4 and 6, both widths, every block size, 1 to 3 threads.
     */
    @Test
    void interleavedLayoutOnEveryPath() {
        Random rnd = new Random(23);
        long[] ns = {4, 5, 7, 8, 13, 22, 27};
        for (int bits : new int[]{4, 8}) {
            for (int block : new int[]{16, 32, 64, 128, 256}) {
                for (long m : new long[]{1, 3, 7, 40}) {
                    long n = ns[rnd.nextInt(ns.length)];
                    long k = (long) (1 + rnd.nextInt(6)) * 256 - rnd.nextInt(Math.min(block, 9));
                    try (QuantizedMatrix q = QTesting.random(rnd, bits, block, n, k, DType.F32, true);
                         QuantizedMatrix qi = q.interleaved()) {
                        if (qi.layout() != QuantizedMatrix.Layout.INTERLEAVED4) {
                            fail(qi + " should be interleaved: K=" + k + " pads to whole 64-byte units");
                        }
                    }
                    for (QMatMul kernel : new QMatMul[]{QMatMul.scalar(), QMatMul.vector()}) {
                        check(kernel, rnd, bits, block, m, n, k, rnd.nextBoolean(),
                                new DType[]{DType.F32, DType.F16, DType.BF16}[rnd.nextInt(3)], rnd.nextBoolean(),
                                1 + rnd.nextInt(3));
                    }
                }
            }
        }
    }

    @Test
    void halfPrecisionScales() {
        Random rnd = new Random(9);
        for (DType t : new DType[]{DType.F16, DType.BF16}) {
            for (QMatMul kernel : new QMatMul[]{QMatMul.scalar(), QMatMul.vector()}) {
                check(kernel, rnd, 4, 32, 3, 9, 77, true, t, true, 2);
                check(kernel, rnd, 8, 16, 1, 9, 77, false, t, false, 1);
                check(kernel, rnd, 4, 64, 1, 10, 200, true, t, true, 2);
                check(kernel, rnd, 4, 32, 1, 7, 96, false, t, false, 1);
            }
        }
    }

    @Test
    void badShapesAreRefused() {
        try (QuantizedMatrix q = QuantizedMatrix.allocate(4, 16, 5, 20, DType.F32, false);
             Tensor a = Tensor.allocate(DType.F32, 2, 21);
             Tensor a2 = Tensor.allocate(DType.F32, 2, 20);
             Tensor y = Tensor.allocate(DType.F32, 2, 4);
             Tensor y2 = Tensor.allocate(DType.F32, 2, 5)) {
            for (QMatMul kernel : new QMatMul[]{QMatMul.scalar(), QMatMul.vector()}) {
                assertThrows(JlmException.InvalidArgument.class, () -> kernel.multiply(a, q, null, y2, 1));
                assertThrows(JlmException.InvalidArgument.class, () -> kernel.multiply(a2, q, null, y, 1));
                assertThrows(JlmException.InvalidArgument.class, () -> kernel.multiply(a2, q, null, y2, 0));
                assertThrows(JlmException.InvalidArgument.class, () -> kernel.multiply(a2, q, a2, y2, 1));
            }
        }
    }
}
