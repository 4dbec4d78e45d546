package dev.jlm.simd.norm;

import static dev.jlm.simd.testing.TestData.assertMessage;
import static dev.jlm.simd.testing.TestData.assertClose;
import static dev.jlm.simd.testing.TestData.normal;
import static dev.jlm.simd.testing.TestData.poisoned;
import static dev.jlm.simd.testing.TestData.widths;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlm.core.DType;
import dev.jlm.core.Tensor;
import dev.jlm.simd.testing.OrtOp;
import dev.jlm.simd.testing.TestData;
import dev.jlm.simd.testing.TinyModel;
import java.util.Arrays;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * LayerNorm against a double-precision reference. Bound per element: relative error 4e-6 plus 4e-6 of the
 * largest output magnitude in its row (the centred value {@code x - mean} cancels, so its error is relative to the
 * row's scale, not to the element).
 */
class LayerNormTest {
    static final double REL = 4e-6;
    static final float EPS = 1e-5f;

    static Stream<LayerNorm> impls() {
        return Stream.of(LayerNorm.scalar(), LayerNorm.vector());
    }

    static double[] reference(float[] x, float[] g, float[] b, int rows, int n, double eps) {
        double[] y = new double[rows * n];
        for (int r = 0; r < rows; r++) {
            double mean = 0;
            for (int i = 0; i < n; i++) {
                mean += x[r * n + i];
            }
            mean /= n;
            double var = 0;
            for (int i = 0; i < n; i++) {
                double d = x[r * n + i] - mean;
                var += d * d;
            }
            double inv = 1.0 / Math.sqrt(var / n + eps);
            for (int i = 0; i < n; i++) {
                y[r * n + i] = (x[r * n + i] - mean) * inv * g[i] + (b == null ? 0 : b[i]);
            }
        }
        return y;
    }

    /** The per-row bound described in the class comment. */
    static void assertRowsClose(String what, double[] want, float[] got, int rows, int n) {
        for (int r = 0; r < rows; r++) {
            double[] w = Arrays.copyOfRange(want, r * n, (r + 1) * n);
            double scale = 0;
            for (double v : w) {
                if (Double.isFinite(v)) {
                    scale = Math.max(scale, Math.abs(v));
                }
            }
            assertClose(what + " row " + r, w, Arrays.copyOfRange(got, r * n, (r + 1) * n), REL, REL * scale);
        }
    }

    @ParameterizedTest
    @MethodSource("impls")
    void matchesReferenceAtEveryWidth(LayerNorm k) {
        for (int n : widths()) {
            int rows = n >= 2048 ? 2 : 3;
            float[] x = normal(n, rows * n, 3.0, 1.5);
            float[] g = normal(100 + n, n, 1.0, 0.5);
            float[] b = normal(200 + n, n, 0, 0.5);
            try (Tensor xt = Tensor.of(x, rows, n); Tensor gt = Tensor.of(g, n); Tensor bt = Tensor.of(b, n);
                 Tensor out = poisoned(rows, n); Tensor out2 = poisoned(rows, n)) {
                k.apply(xt, gt, bt, EPS, out);
                assertRowsClose(k.kind() + " n=" + n, reference(x, g, b, rows, n, EPS), out.toFloatArray(), rows, n);
                k.apply(xt, gt, null, EPS, out2);
                assertRowsClose(k.kind() + " no bias n=" + n, reference(x, g, null, rows, n, EPS),
                        out2.toFloatArray(), rows, n);
            }
        }
    }

    @ParameterizedTest
    @MethodSource("impls")
    void rowsWithALargeMeanKeepTheirPrecision(LayerNorm k) {
        int rows = 2;
        int n = 8192;
        float[] x = normal(77, rows * n, 300.0, 0.05);
        float[] g = normal(78, n, 1, 0.1);
        try (Tensor xt = Tensor.of(x, rows, n); Tensor gt = Tensor.of(g, n); Tensor out = poisoned(rows, n)) {
            k.apply(xt, gt, null, EPS, out);
            assertRowsClose(k.kind() + " mean 300 sd 0.05", reference(x, g, null, rows, n, EPS), out.toFloatArray(),
                    rows, n);
        }
    }

    /** Pre-LN and pre-RMSNorm agree: LayerNorm(x; g, b) == RMSNorm(x - mean(x); g) + b, same eps. */
    @ParameterizedTest
    @MethodSource("impls")
    void layerNormIsRmsNormOfTheCentredRowPlusBeta(LayerNorm k) {
        RmsNorm rms = k.kind().equals("vector") ? RmsNorm.vector() : RmsNorm.scalar();
        for (int n : new int[] {1, 2, 15, 16, 17, 63, 384, 2048, 4096}) {
            int rows = 4;
            float[] x = normal(5 * n, rows * n, -2.0, 3.0);
            float[] g = normal(6 * n, n, 1, 0.4);
            float[] b = normal(7 * n, n, 0, 1);
            float[] centred = new float[rows * n];
            for (int r = 0; r < rows; r++) {
                double mean = 0;
                for (int i = 0; i < n; i++) {
                    mean += x[r * n + i];
                }
                mean /= n;
                for (int i = 0; i < n; i++) {
                    centred[r * n + i] = (float) (x[r * n + i] - mean);
                }
            }
            try (Tensor xt = Tensor.of(x, rows, n); Tensor ct = Tensor.of(centred, rows, n);
                 Tensor gt = Tensor.of(g, n); Tensor bt = Tensor.of(b, n); Tensor ln = poisoned(rows, n);
                 Tensor rn = poisoned(rows, n)) {
                k.apply(xt, gt, bt, EPS, ln);
                rms.apply(ct, gt, EPS, rn);
                float[] viaRms = rn.toFloatArray();
                double[] expected = new double[viaRms.length];
                for (int i = 0; i < viaRms.length; i++) {
                    expected[i] = (double) viaRms[i] + b[i % n];
                }
                assertRowsClose(k.kind() + " pre-LN == pre-RMSNorm n=" + n, expected, ln.toFloatArray(), rows, n);
            }
        }
    }

    /**
     * The residual form adds the next row while it writes the current one: every row, its sum and its output must
     * come out bit for bit as when the row is alone, with and without beta, also in place (sum = r).
     */
    @Test
    void residualRowsGiveTheSameBitsAsWhenAlone() {
        for (int rows : new int[] {2, 3, 7}) {
            for (int n : new int[] {1, 15, 17, 67, 130, 4099}) {
                float[] x = normal(31 + n, rows * n, 0, 1.5);
                float[] r = normal(32 + n, rows * n, 0.3, 1);
                float[] g = normal(33 + n, n, 1, 0.2);
                float[] b = normal(34 + n, n, 0, 0.3);
                for (boolean withBeta : new boolean[] {true, false}) {
                    try (Tensor xt = Tensor.of(x, rows, n); Tensor rt = Tensor.of(r, rows, n);
                         Tensor gt = Tensor.of(g, n); Tensor bt = withBeta ? Tensor.of(b, n) : null;
                         Tensor sum = poisoned(rows, n); Tensor out = poisoned(rows, n);
                         Tensor inPlace = poisoned(rows, n)) {
                        LayerNorm.vector().withThreads(1).applyResidual(xt, rt, gt, bt, EPS, sum, out);
                        float[] hs = sum.toFloatArray();
                        float[] ys = out.toFloatArray();
                        for (int i = 0; i < rows; i++) {
                            try (Tensor x1 = Tensor.of(Arrays.copyOfRange(x, i * n, (i + 1) * n), 1, n);
                                 Tensor r1 = Tensor.of(Arrays.copyOfRange(r, i * n, (i + 1) * n), 1, n);
                                 Tensor h1 = poisoned(1, n); Tensor y1 = poisoned(1, n)) {
                                LayerNorm.vector().applyResidual(x1, r1, gt, bt, EPS, h1, y1);
                                String what = "row " + i + " of " + rows + " of width " + n + ", beta " + withBeta;
                                assertArrayEquals(h1.toFloatArray(), Arrays.copyOfRange(hs, i * n, (i + 1) * n), what);
                                assertArrayEquals(y1.toFloatArray(), Arrays.copyOfRange(ys, i * n, (i + 1) * n), what);
                            }
                        }
                        LayerNorm.vector().withThreads(1).applyResidual(xt, rt, gt, bt, EPS, rt, inPlace);
                        assertArrayEquals(hs, rt.toFloatArray(), "in place, width " + n);
                        assertArrayEquals(ys, inPlace.toFloatArray(), "in place, width " + n);
                    }
                }
            }
        }
    }

    @ParameterizedTest
    @MethodSource("impls")
    void residualFormInPlaceAndSixteenBit(LayerNorm k) {
        int rows = 3;
        for (int n : new int[] {3, 31, 384, 2048}) {
            float[] x = normal(n, rows * n, 0, 2);
            float[] r = normal(n + 5, rows * n, 1, 1);
            float[] g = normal(n + 6, n, 1, 0.3);
            float[] b = normal(n + 7, n, 0, 0.3);
            float[] h = new float[rows * n];
            for (int i = 0; i < h.length; i++) {
                h[i] = x[i] + r[i];
            }
            try (Tensor xt = Tensor.of(x, rows, n); Tensor rt = Tensor.of(r, rows, n); Tensor gt = Tensor.of(g, n);
                 Tensor bt = Tensor.of(b, n); Tensor sum = poisoned(rows, n); Tensor out = poisoned(rows, n)) {
                k.applyResidual(xt, rt, gt, bt, EPS, sum, out);
                assertArrayEquals(h, sum.toFloatArray(), "sum must be x + r in float");
                assertRowsClose(k.kind() + " residual n=" + n, reference(h, g, b, rows, n, EPS), out.toFloatArray(),
                        rows, n);
                k.apply(xt, gt, bt, EPS, xt);
                assertRowsClose(k.kind() + " in place n=" + n, reference(x, g, b, rows, n, EPS), xt.toFloatArray(),
                        rows, n);
            }
            for (DType dt : new DType[] {DType.BF16, DType.F16}) {
                float[] xs = normal(n + 8, rows * n, 0.5, 2);
                try (Tensor xt = TestData.of(dt, xs, rows, n); Tensor gt = Tensor.of(g, n); Tensor bt = Tensor.of(b, n);
                     Tensor out = poisoned(rows, n)) {
                    k.apply(xt, gt, bt, EPS, out);
                    assertRowsClose(k.kind() + " " + dt + " n=" + n, reference(xs, g, b, rows, n, EPS),
                            out.toFloatArray(), rows, n);
                }
            }
        }
    }

    @ParameterizedTest
    @MethodSource("impls")
    void nanAndInfinityStayInTheirRow(LayerNorm k) {
        int rows = 3;
        int n = 40;
        float[] x = normal(1, rows * n, 0, 1);
        x[5] = Float.NaN;
        x[n + 39] = Float.NEGATIVE_INFINITY;
        float[] g = normal(2, n, 1, 0.2);
        float[] b = normal(3, n, 0, 0.2);
        try (Tensor xt = Tensor.of(x, rows, n); Tensor gt = Tensor.of(g, n); Tensor bt = Tensor.of(b, n);
             Tensor out = poisoned(rows, n)) {
            k.apply(xt, gt, bt, EPS, out);
            float[] y = out.toFloatArray();
            for (int i = 0; i < 2 * n; i++) {
                assertTrue(Float.isNaN(y[i]), "rows with NaN or infinity come out NaN (mean and variance are NaN)");
            }
            assertRowsClose(k.kind() + " finite row", Arrays.copyOfRange(reference(x, g, b, rows, n, EPS), 2 * n, 3 * n),
                    Arrays.copyOfRange(y, 2 * n, 3 * n), 1, n);
        }
    }

    @Test
    void badInputIsRejectedWithTheArgumentNamed() {
        try (Tensor x = Tensor.of(normal(1, 12, 0, 1), 3, 4); Tensor g4 = Tensor.of(new float[] {1, 1, 1, 1}, 4);
             Tensor b3 = Tensor.of(new float[] {0, 0, 0}, 3); Tensor out = poisoned(3, 4);
             Tensor g2d = Tensor.of(new float[] {1, 1, 1, 1}, 1, 4)) {
            LayerNorm k = LayerNorm.get();
            assertMessage(() -> k.apply(x, g4, b3, 1e-5f, out), "beta");
            assertMessage(() -> k.apply(x, g2d, null, 1e-5f, out), "gamma");
            assertMessage(() -> k.apply(x, g4, null, 0f, out), "eps");
            assertMessage(() -> k.apply(x, g4, null, Float.POSITIVE_INFINITY, out), "eps");
            assertMessage(() -> k.applyResidual(x, null, g4, null, 1e-5f, out, out), "residual");
        }
    }

    /** ONNX Runtime's LayerNormalization (opset 17) on the same inputs. */
    @Test
    void agreesWithOnnxRuntime() throws Exception {
        int rows = 6;
        for (int n : new int[] {3, 64, 384, 4096}) {
            float[] x = normal(31 + n, rows * n, 1.0, 2.0);
            float[] g = normal(32 + n, n, 1, 0.4);
            float[] b = normal(33 + n, n, 0, 0.4);
            byte[] model = TinyModel.node("LayerNormalization", 17)
                    .input("X", rows, n).input("Scale", n).input("B", n).output("Y", rows, n)
                    .attr("epsilon", EPS).attr("axis", -1L).build();
            try (Tensor xt = Tensor.of(x, rows, n); Tensor gt = Tensor.of(g, n); Tensor bt = Tensor.of(b, n);
                 Tensor ort = poisoned(rows, n); Tensor jlm = poisoned(rows, n); OrtOp op = OrtOp.create(model, 1)) {
                op.run(Map.of("X", xt, "Scale", gt, "B", bt), Map.of("Y", ort));
                LayerNorm.get().apply(xt, gt, bt, EPS, jlm);
                double[] want = reference(x, g, b, rows, n, EPS);
                assertRowsClose("onnxruntime n=" + n, want, ort.toFloatArray(), rows, n);
                assertRowsClose("jlm n=" + n, want, jlm.toFloatArray(), rows, n);
            }
        }
    }

    /**
     * Rows of one call are processed together (each pass over a row also reads the next one), so every row must
     * come out bit for bit as when it is normalized alone, at widths with every kind of vector tail.
     */
    @Test
    void eachRowGivesTheSameBitsAsWhenAlone() {
        for (int rows : new int[] {3, 7, 8}) {   // one stream; halves of 3 and 4 rows; of 4 and 4
            for (int n : new int[] {1, 15, 17, 33, 67, 97, 130, 4099}) {
                float[] x = normal(11 + n, rows * n, 0.5, 1.5);
                try (Tensor xt = Tensor.of(x, rows, n); Tensor gt = Tensor.of(normal(13, n, 1, 0.3), n); Tensor bt = Tensor.of(normal(12, n, 0, 0.5), n);
                     Tensor all = poisoned(rows, n)) {
                    LayerNorm.vector().withThreads(1).apply(xt, gt, bt, EPS, all);
                    float[] got = all.toFloatArray();
                    try (Tensor inPlace = Tensor.of(x, rows, n)) {   // in place: the same bits
                        LayerNorm.vector().withThreads(1).apply(inPlace, gt, bt, EPS, inPlace);
                        assertArrayEquals(got, inPlace.toFloatArray(), "in place, " + rows + " rows of width " + n);
                    }
                    for (int r = 0; r < rows; r++) {
                        try (Tensor row = Tensor.of(java.util.Arrays.copyOfRange(x, r * n, (r + 1) * n), 1, n);
                             Tensor one = poisoned(1, n)) {
                            LayerNorm.vector().apply(row, gt, bt, EPS, one);
                            assertArrayEquals(one.toFloatArray(), java.util.Arrays.copyOfRange(got, r * n, (r + 1) * n),
                                    "row " + r + " of " + rows + " of width " + n);
                        }
                    }
                }
            }
        }
    }

    /**
     * Rows of one call are normalized two at a time (one from each half of the call); a row with an outlier first
     * element sends its pair to the one-row path. With and without beta, every row must keep the bits it has alone
     * and stay within the reference bound.
     */
    @Test
    void outlierRowsAmongPairsGiveTheSameBitsAsWhenAlone() {
        int rows = 9;   // halves of rows 0-3 and 4-8: pairs (0, 4), (1, 5), (2, 6), then rows 3, 7, 8
        for (int n : new int[] {67, 4099}) {
            float[] x = normal(95 + n, rows * n, 0, 1);
            x[2 * n] = 1e4f;    // pair (2, 6): both of its rows are outliers
            x[6 * n] = -3e5f;
            x[5 * n] = 2e4f;    // pair (1, 5): only the second
            x[8 * n] = 1e6f;    // the last row, after the pairs
            float[] g = normal(96, n, 1, 0.2);
            float[] b = normal(97, n, 0, 0.3);
            for (boolean withBeta : new boolean[] {true, false}) {
                try (Tensor xt = Tensor.of(x, rows, n); Tensor gt = Tensor.of(g, n);
                     Tensor bt = withBeta ? Tensor.of(b, n) : null; Tensor all = poisoned(rows, n)) {
                    LayerNorm.vector().withThreads(1).apply(xt, gt, bt, EPS, all);
                    float[] got = all.toFloatArray();
                    assertRowsClose("pairs with outliers, beta " + withBeta,
                            reference(x, g, withBeta ? b : null, rows, n, EPS), got, rows, n);
                    for (int r = 0; r < rows; r++) {
                        try (Tensor row = Tensor.of(Arrays.copyOfRange(x, r * n, (r + 1) * n), 1, n);
                             Tensor one = poisoned(1, n)) {
                            LayerNorm.vector().apply(row, gt, bt, EPS, one);
                            assertArrayEquals(one.toFloatArray(), Arrays.copyOfRange(got, r * n, (r + 1) * n),
                                    "row " + r + " of width " + n + ", beta " + withBeta);
                        }
                    }
                }
            }
        }
    }

    /**
     * The F32 rows take their moments about the first element; a first element far from the mean (an outlier)
     * must send the row to the exact two-pass path, rows around it keep the one-pass path, and all stay within
     * the bound.
     */
    @ParameterizedTest
    @MethodSource("impls")
    void anOutlierFirstElementKeepsThePrecision(LayerNorm k) {
        int rows = 4;
        int n = 4099;
        float[] x = normal(91, rows * n, 0, 1);
        x[n] = 1e4f;             // row 1 starts with an outlier
        x[2 * n] = 1e6f;         // row 2, a larger one
        for (int i = 3 * n; i < 4 * n; i++) {
            x[i] = 1000f + 0.01f * x[i];   // row 3: large mean, small spread
        }
        float[] g = normal(92, n, 1, 0.1);
        float[] b = normal(93, n, 0, 0.1);
        try (Tensor xt = Tensor.of(x, rows, n); Tensor gt = Tensor.of(g, n); Tensor bt = Tensor.of(b, n);
             Tensor out = poisoned(rows, n)) {
            k.apply(xt, gt, bt, EPS, out);
            assertRowsClose(k.kind() + " outlier first elements", reference(x, g, b, rows, n, EPS), out.toFloatArray(),
                    rows, n);
        }
    }
}
