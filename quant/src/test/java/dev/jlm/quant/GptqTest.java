package dev.jlm.quant;

import dev.jlm.core.DType;
import dev.jlm.core.Tensor;
import dev.jlm.simd.quant.QuantizedMatrix;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * GPTQ against the data-free quantizer. Oracles: with H = I there is no error feedback, so GPTQ must write the
 * very bytes of the MSE block quantizer; with correlated inputs its output error ||X W - X Q|| must be below
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
                assertTrue(g.matrix().data().segment().mismatch(m.matrix().data().segment()) < 0, "codes");
                assertTrue(g.matrix().scales().segment().mismatch(m.matrix().scales().segment()) < 0, "scales");
                assertEquals(m.squaredError(), g.squaredError(), 1e-6 * m.squaredError());
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
                    try (Tensor w = BlockQuantizerTest.weights(rnd, k, 12, false);
                         BlockQuantizer.Result g = Gptq.quantize(w, false, h, cfg, DType.F32, 0.01, "w");
                         BlockQuantizer.Result m = BlockQuantizer.quantize(w, false, cfg, DType.F32, "w");
                         BlockQuantizer.Result r = BlockQuantizer.quantize(w, false, cfg.withMethod(Method.RTN), DType.F32, "w")) {
                        double eg = outputError(x, rows, w, g.matrix());
                        double em = outputError(x, rows, w, m.matrix());
                        double er = outputError(x, rows, w, r.matrix());
                        String what = bits + "-bit K=" + k + (sym ? " sym" : " asym");
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
