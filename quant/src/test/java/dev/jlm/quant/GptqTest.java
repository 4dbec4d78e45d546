package dev.jlm.quant;

import dev.jlm.core.DType;
import dev.jlm.core.Tensor;
import dev.jlm.simd.quant.QuantizedMatrix;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * GPTQ against the data-free quantizer. Oracles: with H = I there is no error feedback, so GPTQ must write
 * (up to rounding) what the MSE block quantizer writes; with correlated inputs its output error ||X W - X Q|| must be below
 * MSE's and RTN's on the same X; the inverse-Cholesky factor satisfies (H + lambda I) U^T U = I (1e-8).
 */
class GptqTest {
    /** X [rows, k] with correlated columns (a random mixing of Gaussian sources) and a few loud features. */
    static float[] inputs(Random rnd, int rows, int k) {
        float[][] mix = new float[k][k];
        for (int i = 0; i < k; i++) {
            for (int j = 0; j < k; j++) {
                mix[i][j] = (float) (rnd.nextGaussian() * (i == j ? 1 : 0.3));
            }
        }
        float[] x = new float[rows * k];
        for (int r = 0; r < rows; r++) {
            double[] z = new double[k];
            for (int j = 0; j < k; j++) {
                z[j] = rnd.nextGaussian() * (j % 17 == 0 ? 6 : 1);
            }
            for (int i = 0; i < k; i++) {
                double s = 0;
                for (int j = 0; j < k; j++) {
                    s += mix[i][j] * z[j];
                }
                x[r * k + i] = (float) s;
            }
        }
        return x;
    }

    static float[] gram(float[] x, int rows, int k) {
        float[] h = new float[k * k];
        for (int i = 0; i < k; i++) {
            for (int j = 0; j < k; j++) {
                double s = 0;
                for (int r = 0; r < rows; r++) {
                    s += (double) x[r * k + i] * x[r * k + j];
                }
                h[i * k + j] = (float) s;
            }
        }
        return h;
    }

    /** ||X W - X dequant(Q)^T||^2 with W [K, N]. */
    static double outputError(float[] x, int rows, Tensor w, QuantizedMatrix q) {
        int k = (int) q.k();
        int n = (int) q.n();
        double e = 0;
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < n; c++) {
                double d = 0;
                for (int i = 0; i < k; i++) {
                    d += x[r * k + i] * (w.getDouble(i, c) - q.dequantize(c, i));
                }
                e += d * d;
            }
        }
        return e;
    }

    @Test
    void withIdentityHessianGptqWritesTheBytesOfTheMseQuantizer() {
        Random rnd = new Random(1);
        int k = 70;
        float[] h = new float[k * k];
        for (int i = 0; i < k; i++) {
            h[i * k + i] = 1f;
        }
        for (boolean sym : new boolean[]{false, true}) {
            QuantConfig cfg = new QuantConfig(4, 32, sym, Method.MSE, 0.15);
            try (Tensor w = BlockQuantizerTest.weights(rnd, k, 9, true);
                 BlockQuantizer.Result g = Gptq.quantize(w, false, h, cfg, DType.F32, 0.01, "w");
                 BlockQuantizer.Result m = BlockQuantizer.quantize(w, false, cfg, DType.F32, "w")) {
                // Uniform weights: the weighted search is the MSE search, in double rather than the kernel's float
                // sums, so a refit may land a rounding away; codes, scales and error agree closely.
                QuantizedMatrix gq = g.matrix();
                QuantizedMatrix mq = m.matrix();
                long differ = 0;
                for (long c = 0; c < 9; c++) {
                    for (int b = 0; b < gq.kBlocks(); b++) {
                        assertEquals(mq.scale(c, b), gq.scale(c, b), 1e-4 * Math.abs(mq.scale(c, b)), "scale " + c + "," + b);
                        assertEquals(mq.zeroPoint(c, b), gq.zeroPoint(c, b), "zero point " + c + "," + b);
                    }
                    for (long r = 0; r < k; r++) {
                        differ += gq.code(c, r) != mq.code(c, r) ? 1 : 0;
                    }
                }
                assertTrue(differ <= 2, differ + " codes differ");
                assertEquals(m.squaredError(), g.squaredError(), 1e-4 * m.squaredError());
            }
        }
    }

    @Test
    void gptqHasLessOutputErrorThanDataFreeMethods() {
        Random rnd = new Random(2);
        int rows = 400;
        for (int k : new int[]{64, 77}) {
            float[] x = inputs(rnd, rows, k);
            float[] h = gram(x, rows, k);
            for (boolean sym : new boolean[]{false, true}) {
                for (int bits : new int[]{4, 8}) {
                    QuantConfig cfg = new QuantConfig(bits, 16, sym, Method.MSE, 0.15);
                    boolean actOrder = (k + bits + (sym ? 1 : 0)) % 2 == 0; // both orders across the cases
                    try (Tensor w = BlockQuantizerTest.weights(rnd, k, 12, false);
                         BlockQuantizer.Result g = Gptq.quantize(w, false, h, cfg, DType.F32, 0.01, actOrder, "w");
                         BlockQuantizer.Result m = BlockQuantizer.quantize(w, false, cfg, DType.F32, "w");
                         BlockQuantizer.Result r = BlockQuantizer.quantize(w, false, cfg.withMethod(Method.RTN), DType.F32, "w")) {
                        double eg = outputError(x, rows, w, g.matrix());
                        double em = outputError(x, rows, w, m.matrix());
                        double er = outputError(x, rows, w, r.matrix());
                        String what = bits + "-bit K=" + k + (sym ? " sym" : " asym") + (actOrder ? " act-order" : "");
                        assertTrue(eg < 0.9 * em, what + ": GPTQ " + eg + " vs MSE " + em);
                        assertTrue(eg < er, what + ": GPTQ " + eg + " vs RTN " + er);
                        for (long c = 0; c < 12; c++) {
                            for (long p = k; p < g.matrix().kBlocks() * 16L; p++) {
                                assertEquals(g.matrix().zeroPoint(c, g.matrix().kBlocks() - 1), g.matrix().code(c, p), "padding");
                            }
                        }
                    }
                }
            }
        }
    }

    @Test
    void actOrderTakesTheInputsByDecreasingHessianDiagonal() {
        Random rnd = new Random(5);
        int k = 53;
        float[] h = new float[k * k];
        for (int i = 0; i < k; i++) {
            h[i * k + i] = rnd.nextInt(7); // ties on purpose
        }
        int[] p = Gptq.order(h, k, true);
        boolean[] seen = new boolean[k];
        for (int r = 0; r < k; r++) {
            assertTrue(!seen[p[r]], "a permutation");
            seen[p[r]] = true;
            if (r > 0) {
                float prev = h[p[r - 1] * k + p[r - 1]];
                float cur = h[p[r] * k + p[r]];
                assertTrue(prev > cur || prev == cur && p[r - 1] < p[r], "decreasing, ties in natural order at " + r);
            }
        }
        int[] natural = Gptq.order(h, k, false);
        for (int r = 0; r < k; r++) {
            assertEquals(r, natural[r]);
        }
    }

    /** Weighted squared error of one block in double, the codes rounded as the kernel rounds them. */
    static double weightedError(float[] x, float[] wt, float s, int zp, int max) {
        double e = 0;
        for (int j = 0; j < x.length; j++) {
            int q = s == 0f ? zp : (int) Math.rint(Math.max(0f, Math.min(max, x[j] / s + zp)));
            double d = x[j] - (double) (q - zp) * s;
            e += wt[j] * d * d;
        }
        return e;
    }

    @Test
    void weightedScaleSearchBeatsEveryGridPointAndRoundToNearest() {
        Random rnd = new Random(6);
        for (int trial = 0; trial < 300; trial++) {
            int len = new int[]{1, 7, 16, 31, 32, 64, 128}[trial % 7];
            boolean sym = trial % 3 == 0;
            int bits = trial % 5 == 0 ? 8 : 4;
            QuantConfig cfg = new QuantConfig(bits, 32, sym, Method.MSE, 0.15);
            float[] x = new float[len];
            float[] wt = new float[len];
            double shift = trial % 4 == 0 ? 0.3 : 0;
            for (int j = 0; j < len; j++) {
                x[j] = (float) (rnd.nextGaussian() * (rnd.nextInt(10) == 0 ? 5 : 1) * 0.05 + shift);
                wt[j] = (float) Math.exp(rnd.nextGaussian() * 2); // weights over orders of magnitude
            }
            int max = (1 << bits) - 1;
            int half = 1 << (bits - 1);
            float[] s = new float[1];
            int[] z = new int[1];
            Gptq.weightedSearch(x, wt, len, cfg, DType.F32, max, s, z);
            double got = weightedError(x, wt, s[0], z[0], max);
            assertTrue(Double.isFinite(got) && s[0] != 0f, "scale " + s[0]);
            float lo = Float.POSITIVE_INFINITY;
            float hi = Float.NEGATIVE_INFINITY;
            float ext = 0f;
            for (float v : x) {
                lo = Math.min(lo, v);
                hi = Math.max(hi, v);
                ext = Math.abs(v) > Math.abs(ext) ? v : ext;
            }
            if (!sym && lo == hi) {
                lo = Math.min(lo, 0f);
                hi = Math.max(hi, 0f);
            }
            for (int i = 0; i <= 50; i++) {
                float alpha = (float) (1.0 - i * 0.01);
                float sc = sym ? ext * alpha / -half : (hi - lo) * alpha / max;
                int zp = sym || sc == 0f ? half : (int) Math.max(0, Math.min(max, Math.rint(-lo * alpha / sc)));
                double e = weightedError(x, wt, sc, zp, max);
                assertTrue(got <= e * (1 + 1e-6) + 1e-30, "trial " + trial + " alpha " + alpha + ": " + got + " > " + e);
            }
        }
    }

    @Test
    void randomCalibrationSentencesAreSeededVariedAndTokenizable(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
        java.nio.file.Path tok = dev.jlm.core.testing.TestModels.miniLmTokenizer();
        java.util.List<String> a = ModelQuantizer.randomSentences(tok, 40);
        assertEquals(a, ModelQuantizer.randomSentences(tok, 40), "the same seed gives the same sequences");
        assertEquals(40, a.size());
        assertEquals(40, new java.util.HashSet<>(a).size(), "all different");
        try (ai.djl.huggingface.tokenizers.HuggingFaceTokenizer t = ai.djl.huggingface.tokenizers.HuggingFaceTokenizer.newInstance(tok)) {
            for (String sentence : a) {
                assertTrue(!sentence.isBlank() && sentence.indexOf('\n') < 0, sentence);
                int n = t.encode(sentence).getIds().length;
                assertTrue(n >= 3, "a random sequence of at least 8 tokens re-encodes to " + n + ": " + sentence);
            }
        }
        java.nio.file.Path bad = dir.resolve("tokenizer.json");
        java.nio.file.Files.writeString(bad, "{\"model\": {}}");
        dev.jlm.core.JlmException e = org.junit.jupiter.api.Assertions.assertThrows(dev.jlm.core.JlmException.class,
                () -> ModelQuantizer.randomSentences(bad, 3));
        assertTrue(e.getMessage().contains(bad.toString()), e.getMessage());
    }

    @Test
    void inverseCholeskyFactorInvertsTheDampedHessian() {
        Random rnd = new Random(3);
        int k = 41;
        float[] x = inputs(rnd, 200, k);
        float[] h = gram(x, 200, k);
        double damp = 0.01;
        double[] u = Gptq.inverseCholeskyUpper(h, k, damp, new float[k], 1, "h");
        double mean = 0;
        for (int i = 0; i < k; i++) {
            mean += h[i * k + i];
        }
        mean /= k;
        for (int i = 0; i < k; i++) {
            for (int j = 0; j < i; j++) {
                assertEquals(0.0, u[i * k + j], "upper triangular");
            }
        }
        // (H + lambda I) (U^T U) = I
        for (int i = 0; i < k; i++) {
            for (int j = 0; j < k; j++) {
                double s = 0;
                for (int p = 0; p < k; p++) {
                    double utu = 0;
                    for (int q = 0; q < k; q++) {
                        utu += u[q * k + p] * u[q * k + j];
                    }
                    s += (h[i * k + p] + (i == p ? damp * mean : 0)) * utu;
                }
                assertEquals(i == j ? 1.0 : 0.0, s, 1e-8);
            }
        }
    }

    @Test
    void hessianAccumulatesOnlyMaskedRows() {
        Random rnd = new Random(4);
        int k = 37;
        try (Tensor x = Tensor.allocate(DType.F32, 3, 50, k); Tensor mask = Tensor.allocate(DType.I64, 3, 50)) {
            float[] xs = new float[3 * 50 * k];
            for (int i = 0; i < xs.length; i++) {
                xs[i] = (float) rnd.nextGaussian();
                x.segment().setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, i, xs[i]);
            }
            int kept = 0;
            for (int r = 0; r < 150; r++) {
                boolean on = rnd.nextInt(3) != 0;
                mask.setDouble(on ? 1 : 0, r / 50, r % 50);
                kept += on ? 1 : 0;
            }
            Hessians h = new Hessians(k);
            h.add(x, mask);
            assertEquals(kept, h.rows());
            float[] got = h.matrix();
            for (int i = 0; i < k; i++) {
                for (int j = 0; j < k; j++) {
                    double s = 0;
                    double mag = 0;
                    for (int r = 0; r < 150; r++) {
                        if (mask.getDouble(r / 50, r % 50) != 0) {
                            s += (double) xs[r * k + i] * xs[r * k + j];
                            mag += Math.abs((double) xs[r * k + i] * xs[r * k + j]);
                        }
                    }
                    assertEquals(s, got[i * k + j], 1e-5 * mag);
                }
            }
        }
    }
}
