package dev.jlm.simd.norm;

import static dev.jlm.simd.testing.TestData.assertClose;
import static dev.jlm.simd.testing.TestData.assertMessage;
import static dev.jlm.simd.testing.TestData.normal;
import static dev.jlm.simd.testing.TestData.poisoned;
import static dev.jlm.simd.testing.TestData.widths;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlm.core.DType;
import dev.jlm.core.Simd;
import dev.jlm.core.Tensor;
import dev.jlm.simd.RowExecutor;
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
 * RMSNorm against a double-precision reference. Bound: relative error 4e-6 per element (float sums over up to
 * 8192 elements, then two rounded products); no absolute slack, the output is a product and never cancels.
 */
class RmsNormTest {
    static final double REL = 4e-6;
    static final float EPS = 1e-5f;

    static Stream<RmsNorm> impls() {
        return Stream.of(RmsNorm.scalar(), RmsNorm.vector());
    }

    /** y = x / sqrt(mean(x^2) + eps) * g, in double. */
    static double[] reference(float[] x, float[] g, int rows, int n, double eps) {
        double[] y = new double[rows * n];
        for (int r = 0; r < rows; r++) {
            double ss = 0;
            for (int i = 0; i < n; i++) {
                ss += (double) x[r * n + i] * x[r * n + i];
            }
            double inv = 1.0 / Math.sqrt(ss / n + eps);
            for (int i = 0; i < n; i++) {
                y[r * n + i] = x[r * n + i] * inv * g[i];
            }
        }
        return y;
    }

    @ParameterizedTest
    @MethodSource("impls")
    void matchesReferenceAtEveryWidth(RmsNorm k) {
        for (int n : widths()) {
            int rows = n >= 2048 ? 2 : 3;
            float[] x = normal(n, rows * n, 0.3, 2.0);
            float[] g = normal(1000 + n, n, 1.0, 0.5);
            try (Tensor xt = Tensor.of(x, rows, n); Tensor gt = Tensor.of(g, n); Tensor out = poisoned(rows, n)) {
                k.apply(xt, gt, EPS, out);
                assertClose(k.kind() + " n=" + n, reference(x, g, rows, n, EPS), out.toFloatArray(), REL, 0);
            }
        }
    }

    @ParameterizedTest
    @MethodSource("impls")
    void residualFormReturnsTheSumAndItsNorm(RmsNorm k) {
        for (int n : new int[] {1, 17, 33, 384, 4096}) {
            int rows = 3;
            float[] x = normal(7 * n, rows * n, 0, 1.5);
            float[] r = normal(11 * n, rows * n, 0.2, 1.0);
            float[] g = normal(13 * n, n, 1.0, 0.2);
            float[] h = new float[rows * n];
            for (int i = 0; i < h.length; i++) {
                h[i] = x[i] + r[i];
            }
            try (Tensor xt = Tensor.of(x, rows, n); Tensor rt = Tensor.of(r, rows, n); Tensor gt = Tensor.of(g, n);
                 Tensor sum = poisoned(rows, n); Tensor out = poisoned(rows, n)) {
                k.applyResidual(xt, rt, gt, EPS, sum, out);
                assertArrayEquals(h, sum.toFloatArray(), k.kind() + " n=" + n + ": sum must be x + r in float");
                assertClose(k.kind() + " residual n=" + n, reference(h, g, rows, n, EPS), out.toFloatArray(), REL, 0);
                // In place on the residual stream: sum is r itself.
                k.applyResidual(xt, rt, gt, EPS, rt, out);
                assertArrayEquals(h, rt.toFloatArray());
            }
        }
    }

    /**
     * The residual form adds the next row while it writes the current one: every row, its sum and its output must
     * come out bit for bit as when the row is alone, also in place on the residual stream (sum = r).
     */
    @Test
    void residualRowsGiveTheSameBitsAsWhenAlone() {
        for (int rows : new int[] {2, 3, 7}) {
            for (int n : new int[] {1, 15, 17, 67, 130, 4099}) {
                float[] x = normal(21 + n, rows * n, 0, 1.5);
                float[] r = normal(22 + n, rows * n, 0.3, 1);
                float[] g = normal(23 + n, n, 1, 0.2);
                try (Tensor xt = Tensor.of(x, rows, n); Tensor rt = Tensor.of(r, rows, n); Tensor gt = Tensor.of(g, n);
                     Tensor sum = poisoned(rows, n); Tensor out = poisoned(rows, n); Tensor inPlace = poisoned(rows, n)) {
                    RmsNorm.vector().withThreads(1).applyResidual(xt, rt, gt, EPS, sum, out);
                    float[] hs = sum.toFloatArray();
                    float[] ys = out.toFloatArray();
                    for (int i = 0; i < rows; i++) {
                        try (Tensor x1 = Tensor.of(Arrays.copyOfRange(x, i * n, (i + 1) * n), 1, n);
                             Tensor r1 = Tensor.of(Arrays.copyOfRange(r, i * n, (i + 1) * n), 1, n);
                             Tensor h1 = poisoned(1, n); Tensor y1 = poisoned(1, n)) {
                            RmsNorm.vector().applyResidual(x1, r1, gt, EPS, h1, y1);
                            String what = "row " + i + " of " + rows + " of width " + n;
                            assertArrayEquals(h1.toFloatArray(), Arrays.copyOfRange(hs, i * n, (i + 1) * n), what);
                            assertArrayEquals(y1.toFloatArray(), Arrays.copyOfRange(ys, i * n, (i + 1) * n), what);
                        }
                    }
                    RmsNorm.vector().withThreads(1).applyResidual(xt, rt, gt, EPS, rt, inPlace);
                    assertArrayEquals(hs, rt.toFloatArray(), "in place, width " + n);
                    assertArrayEquals(ys, inPlace.toFloatArray(), "in place, width " + n);
                }
            }
        }
    }

    @ParameterizedTest
    @MethodSource("impls")
    void inPlaceAndStridedRows(RmsNorm k) {
        int rows = 5;
        int n = 45;
        float[] x = normal(3, rows * n, 1, 1);
        float[] g = normal(4, n, 1, 0.1);
        double[] want = reference(x, g, rows, n, EPS);
        try (Tensor xt = Tensor.of(x, rows, n); Tensor gt = Tensor.of(g, n)) {
            k.apply(xt, gt, EPS, xt);
            assertClose("in place", want, xt.toFloatArray(), REL, 0);
        }
        // Rows of a wider buffer: the left half of [rows, 2n], each row 2n elements from the next.
        float[] wide = new float[rows * 2 * n];
        for (int r = 0; r < rows; r++) {
            System.arraycopy(x, r * n, wide, r * 2 * n, n);
        }
        try (Tensor w = Tensor.of(wide, rows, 2L * n); Tensor gt = Tensor.of(g, n); Tensor out = poisoned(rows, n)) {
            Tensor view = w.slice(1, 0, n);
            k.apply(view, gt, EPS, out);
            assertClose("strided rows", want, out.toFloatArray(), REL, 0);
        }
    }

    @ParameterizedTest
    @MethodSource("impls")
    void sixteenBitInputsAreReadDirectly(RmsNorm k) {
        for (DType dt : new DType[] {DType.BF16, DType.F16}) {
            for (int n : new int[] {7, 16, 100, 2048}) {
                int rows = 2;
                float[] x = normal(n, rows * n, 0, 3);
                float[] g = normal(n + 1, n, 1, 0.3);
                try (Tensor xt = TestData.of(dt, x, rows, n); Tensor gt = Tensor.of(g, n);
                     Tensor out = poisoned(rows, n)) {
                    k.apply(xt, gt, EPS, out);   // x now holds the rounded values
                    assertClose(k.kind() + " " + dt + " n=" + n, reference(x, g, rows, n, EPS), out.toFloatArray(),
                            REL, 0);
                }
            }
        }
    }

    @ParameterizedTest
    @MethodSource("impls")
    void nanAndInfinityStayInTheirRow(RmsNorm k) {
        int rows = 4;
        int n = 37;
        float[] x = normal(5, rows * n, 0, 1);
        x[n + 20] = Float.NaN;
        x[2 * n + 3] = Float.POSITIVE_INFINITY;
        float[] g = normal(6, n, 1, 0.2);
        try (Tensor xt = Tensor.of(x, rows, n); Tensor gt = Tensor.of(g, n); Tensor out = poisoned(rows, n)) {
            k.apply(xt, gt, EPS, out);
            float[] y = out.toFloatArray();
            assertClose(k.kind() + " non-finite", reference(x, g, rows, n, EPS), y, REL, 0);
            for (int i = 0; i < n; i++) {
                assertTrue(Float.isNaN(y[n + i]), "the NaN row is NaN");
                assertTrue(Float.isFinite(y[i]) && Float.isFinite(y[3 * n + i]), "other rows are finite");
            }
        }
    }

    @Test
    void manyThreadsGiveTheSameBitsAsOne() {
        int rows = 64;
        int n = 4096;   // 2^18 elements: above the threshold for two pieces
        float[] x = normal(9, rows * n, 0, 1);
        float[] g = normal(10, n, 1, 0.2);
        try (Tensor xt = Tensor.of(x, rows, n); Tensor gt = Tensor.of(g, n); Tensor a = poisoned(rows, n);
             Tensor b = poisoned(rows, n)) {
            RmsNorm.vector().withThreads(1).apply(xt, gt, EPS, a);
            RmsNorm.vector().withThreads(Math.max(2, RowExecutor.cores())).apply(xt, gt, EPS, b);
            assertArrayEquals(a.toFloatArray(), b.toFloatArray());
        }
    }

    @Test
    void startUpChoiceFollowsTheSwitch() {
        assertEquals(Simd.useVector() ? "vector" : "scalar", RmsNorm.get().kind());
    }

    @Test
    void badInputIsRejectedWithTheArgumentNamed() {
        try (Tensor x = Tensor.of(normal(1, 12, 0, 1), 3, 4); Tensor g3 = Tensor.of(new float[] {1, 1, 1}, 3);
             Tensor g4 = Tensor.of(new float[] {1, 1, 1, 1}, 4); Tensor out = poisoned(3, 4);
             Tensor out2 = poisoned(4, 3); Tensor i8 = Tensor.allocate(DType.I8, 3, 4);
             Tensor big = Tensor.allocate(DType.F32, 4, 6, 4)) {
            RmsNorm k = RmsNorm.get();
            assertMessage(() -> k.apply(x, g3, EPS, out), "gamma");
            assertMessage(() -> k.apply(x, g4, EPS, out2), "out");
            assertMessage(() -> k.apply(x, g4, 0f, out), "eps");
            assertMessage(() -> k.apply(x, g4, -1f, out), "eps");
            assertMessage(() -> k.apply(x, g4, Float.NaN, out), "eps");
            assertMessage(() -> k.apply(i8, g4, EPS, out), "x");
            assertMessage(() -> k.apply(x, g4, EPS, i8), "out");
            assertMessage(() -> k.apply(x, null, EPS, out), "gamma");
            // Rows 0..2 of each block of 6: not evenly spaced.
            Tensor uneven = big.slice(1, 0, 3);
            try (Tensor o = poisoned(4, 3, 4)) {
                assertMessage(() -> k.apply(uneven, g4, EPS, o), "evenly spaced");
            }
            // Output overlapping the input by one row.
            Tensor shifted = big.reshape(24, 4).slice(0, 1, 4);
            Tensor source = big.reshape(24, 4).slice(0, 0, 3);
            assertMessage(() -> k.apply(source, g4, EPS, shifted), "overlaps");
            assertMessage(() -> k.applyResidual(x, x, g4, EPS, out, out), "share memory");
        }
    }

    /** ONNX Runtime's RMSNormalization (opset 23) on the same inputs. */
    @Test
    void agreesWithOnnxRuntime() throws Exception {
        int rows = 7;
        for (int n : new int[] {5, 64, 384, 2048}) {
            float[] x = normal(21 + n, rows * n, 0.1, 1.7);
            float[] g = normal(22 + n, n, 1, 0.4);
            byte[] model = TinyModel.node("RMSNormalization", 23)
                    .input("X", rows, n).input("scale", n).output("Y", rows, n)
                    .attr("epsilon", EPS).attr("axis", -1L).build();
            try (Tensor xt = Tensor.of(x, rows, n); Tensor gt = Tensor.of(g, n); Tensor ort = poisoned(rows, n);
                 Tensor jlm = poisoned(rows, n); OrtOp op = OrtOp.create(model, 1)) {
                op.run(Map.of("X", xt, "scale", gt), Map.of("Y", ort));
                RmsNorm.get().apply(xt, gt, EPS, jlm);
                double[] want = reference(x, g, rows, n, EPS);
                assertClose("onnxruntime n=" + n, want, ort.toFloatArray(), REL, 0);
                assertClose("jlm n=" + n, want, jlm.toFloatArray(), REL, 0);
            }
        }
    }

    /**
     * Rows of one call are processed together (each pass over a row also reads the next one), so every row must
     * come out bit for bit as when it is normalized alone, at widths with every kind of vector tail.
     */
    @Test
    void eachRowGivesTheSameBitsAsWhenAlone() {
        for (int rows : new int[] {2, 3, 7, 8}) {   // one pair; a pair and a row; halves of 3 and 4; of 4 and 4
            for (int n : new int[] {1, 15, 17, 33, 67, 97, 130, 4099}) {
                float[] x = normal(11 + n, rows * n, 0.5, 1.5);
                try (Tensor xt = Tensor.of(x, rows, n); Tensor gt = Tensor.of(normal(13, n, 1, 0.3), n);
                     Tensor all = poisoned(rows, n)) {
                    RmsNorm.vector().withThreads(1).apply(xt, gt, EPS, all);
                    float[] got = all.toFloatArray();
                    try (Tensor inPlace = Tensor.of(x, rows, n)) {   // in place: the same bits
                        RmsNorm.vector().withThreads(1).apply(inPlace, gt, EPS, inPlace);
                        assertArrayEquals(got, inPlace.toFloatArray(), "in place, " + rows + " rows of width " + n);
                    }
                    for (int r = 0; r < rows; r++) {
                        try (Tensor row = Tensor.of(Arrays.copyOfRange(x, r * n, (r + 1) * n), 1, n);
                             Tensor one = poisoned(1, n)) {
                            RmsNorm.vector().apply(row, gt, EPS, one);
                            assertArrayEquals(one.toFloatArray(), Arrays.copyOfRange(got, r * n, (r + 1) * n),
                                    "row " + r + " of " + rows + " of width " + n);
                        }
                    }
                }
            }
        }
    }
}
