package dev.jlm.core.eval;

import dev.jlm.core.DType;
import dev.jlm.core.JlmException;
import dev.jlm.core.Tensor;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * TensorMetrics against a straightforward double-precision computation. Tolerance: 1e-12 relative (both
 * sides sum the same float inputs in double; only the summation order may differ).
 */
class TensorMetricsTest {
    private static final double REL = 1e-12;

    /** Reference figures over the rows whose mask entry is 1 (null: all). */
    static double[] reference(float[] a, float[] b, int len, long[] mask) {
        int rows = a.length / len;
        double cosSum = 0, cosMin = Double.POSITIVE_INFINITY, maxAbs = 0, absSum = 0, dd = 0, aa = 0;
        int counted = 0;
        for (int r = 0; r < rows; r++) {
            if (mask != null && mask[r] == 0) {
                continue;
            }
            counted++;
            double dot = 0, na = 0, nb = 0;
            for (int j = 0; j < len; j++) {
                double x = a[r * len + j], y = b[r * len + j];
                dot += x * y;
                na += x * x;
                nb += y * y;
                maxAbs = Math.max(maxAbs, Math.abs(x - y));
                absSum += Math.abs(x - y);
                dd += (x - y) * (x - y);
                aa += x * x;
            }
            double cos = dot / Math.sqrt(na * nb);
            cosSum += cos;
            cosMin = Math.min(cosMin, cos);
        }
        return new double[] {counted, cosSum / counted, cosMin, maxAbs, absSum / ((double) counted * len),
                Math.sqrt(dd / aa)};
    }

    static float[] randomArray(Random rnd, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) rnd.nextGaussian();
        }
        return v;
    }

    /** b = a + noise, so cosines are close to but not exactly 1. */
    static float[] perturbed(Random rnd, float[] a, double noise) {
        float[] b = new float[a.length];
        for (int i = 0; i < a.length; i++) {
            b[i] = (float) (a[i] + noise * rnd.nextGaussian());
        }
        return b;
    }

    static void assertClose(double expected, double actual, String what) {
        assertEquals(expected, actual, REL * Math.max(1, Math.abs(expected)), what);
    }

    static void assertMatches(double[] ref, TensorMetrics.Result r) {
        assertEquals((long) ref[0], r.rows());
        assertClose(ref[1], r.meanCosine(), "mean cosine");
        assertClose(ref[2], r.minCosine(), "min cosine");
        assertClose(ref[3], r.maxAbsError(), "max abs error");
        assertClose(ref[4], r.meanAbsError(), "mean abs error");
        assertClose(ref[5], r.relativeL2Error(), "relative L2 error");
    }

    @Test
    void matchesReferenceOnRandomData() {
        Random rnd = new Random(1);
        long[][] shapes = {{1, 1}, {3, 5, 7}, {2, 13, 17}, {4, 384}, {31}, {2, 3, 1, 19}};
        for (long[] shape : shapes) {
            int n = (int) Arrays.stream(shape).reduce(1, (x, y) -> x * y);
            int len = (int) shape[shape.length - 1];
            float[] a = randomArray(rnd, n);
            float[] b = perturbed(rnd, a, 0.3);
            double[] ref = reference(a, b, len, null);
            try (Tensor ta = Tensor.of(a, shape); Tensor tb = Tensor.of(b, shape)) {
                TensorMetrics.Result r = new TensorMetrics("out").add(ta, tb).result();
                assertMatches(ref, r);
                assertEquals(n, r.elements());
                assertTrue(r.minCosine() < r.meanCosine() || len == 1 || r.rows() == 1, Arrays.toString(shape));
            }
            assertMatches(ref, new TensorMetrics("out").add(a, b, len).result());
        }
    }

    @Test
    void selfIsOneNegationIsMinusOne() {
        Random rnd = new Random(2);
        float[] a = randomArray(rnd, 3 * 97);
        float[] neg = new float[a.length];
        for (int i = 0; i < a.length; i++) {
            neg[i] = -a[i];
        }
        TensorMetrics.Result same = new TensorMetrics("x").add(a, a.clone(), 97).result();
        assertEquals(1.0, same.meanCosine(), 1e-15);
        assertEquals(1.0, same.minCosine(), 1e-15);
        assertEquals(0.0, same.maxAbsError());
        assertEquals(0.0, same.relativeL2Error());
        TensorMetrics.Result opposite = new TensorMetrics("x").add(a, neg, 97).result();
        assertEquals(-1.0, opposite.meanCosine(), 1e-15);
        assertEquals(-1.0, opposite.minCosine(), 1e-15);
        assertClose(2.0, opposite.relativeL2Error(), "||a - (-a)|| / ||a||");
    }

    @Test
    void zeroRowConventions() {
        float[] zeros = new float[4];
        float[] some = {0, 1.5f, 0, -2};
        assertEquals(1.0, new TensorMetrics("z").add(zeros, zeros.clone(), 4).result().meanCosine());
        assertEquals(0.0, new TensorMetrics("z").add(zeros, some, 4).result().meanCosine());
        assertEquals(0.0, new TensorMetrics("z").add(some, zeros, 4).result().meanCosine());
        assertEquals(0.0, new TensorMetrics("z").add(zeros, zeros.clone(), 4).result().relativeL2Error());
        assertEquals(Double.POSITIVE_INFINITY, new TensorMetrics("z").add(zeros, some, 4).result().relativeL2Error());
    }

    @Test
    void nanInEitherInputShowsEverywhere() {
        Random rnd = new Random(3);
        float[] a = randomArray(rnd, 5 * 11);
        for (int side = 0; side < 2; side++) {
            float[] x = a.clone();
            float[] y = perturbed(rnd, a, 0.1);
            (side == 0 ? x : y)[23] = Float.NaN;
            TensorMetrics.Result r = new TensorMetrics("n").add(x, y, 11).result();
            assertTrue(Double.isNaN(r.meanCosine()), "mean cosine");
            assertTrue(Double.isNaN(r.minCosine()), "min cosine");
            assertTrue(Double.isNaN(r.maxAbsError()), "max abs error");
            assertTrue(Double.isNaN(r.meanAbsError()), "mean abs error");
            assertTrue(Double.isNaN(r.relativeL2Error()), "relative L2");
        }
        // a NaN in the first row must not be hidden by later, finite rows (min/max keep NaN)
        float[] x = a.clone();
        x[0] = Float.NaN;
        TensorMetrics acc = new TensorMetrics("n").add(x, a, 11);
        acc.add(a, perturbed(rnd, a, 0.1), 11);
        assertTrue(Double.isNaN(acc.result().minCosine()));
        assertTrue(Double.isNaN(acc.result().maxAbsError()));
    }

    @Test
    void maskLeavesRowsOutOfEveryFigure() {
        Random rnd = new Random(4);
        int batch = 3, seq = 7, hidden = 13;
        float[] a = randomArray(rnd, batch * seq * hidden);
        float[] b = perturbed(rnd, a, 0.5);
        long[] mask = new long[batch * seq];
        int[] lengths = {7, 2, 5};
        for (int s = 0; s < batch; s++) {
            for (int t = 0; t < lengths[s]; t++) {
                mask[s * seq + t] = 1;
            }
        }
        // garbage at padding, NaN included, must not matter
        for (int r = 0; r < batch * seq; r++) {
            if (mask[r] == 0) {
                b[r * hidden] = Float.NaN;
                a[r * hidden + 1] = 1e6f;
            }
        }
        double[] ref = reference(a, b, hidden, mask);
        assertEquals(14, (long) ref[0]);
        try (Tensor ta = Tensor.of(a, batch, seq, hidden); Tensor tb = Tensor.of(b, batch, seq, hidden);
             Tensor tm = Tensor.allocate(DType.I64, batch, seq)) {
            for (int i = 0; i < mask.length; i++) {
                tm.setDouble(mask[i], i / seq, i % seq);
            }
            assertMatches(ref, new TensorMetrics("m").add(ta, tb, tm).result());
            try (Tensor wrong = Tensor.allocate(DType.I64, batch, seq + 1)) {
                JlmException e = assertThrows(JlmException.InvalidArgument.class,
                        () -> new TensorMetrics("last_hidden_state").add(ta, tb, wrong));
                assertTrue(e.getMessage().contains("last_hidden_state"), e.getMessage());
            }
        }
        assertMatches(ref, new TensorMetrics("m").add(a, b, hidden, mask).result());
    }

    @Test
    void streamingAndMergeEqualOnePass() {
        Random rnd = new Random(5);
        float[] a1 = randomArray(rnd, 4 * 9), a2 = randomArray(rnd, 6 * 9);
        float[] b1 = perturbed(rnd, a1, 0.2), b2 = perturbed(rnd, a2, 0.7);
        float[] a = new float[a1.length + a2.length], b = new float[a.length];
        System.arraycopy(a1, 0, a, 0, a1.length);
        System.arraycopy(a2, 0, a, a1.length, a2.length);
        System.arraycopy(b1, 0, b, 0, b1.length);
        System.arraycopy(b2, 0, b, b1.length, b2.length);
        double[] ref = reference(a, b, 9, null);
        assertMatches(ref, new TensorMetrics("s").add(a1, b1, 9).add(a2, b2, 9).result());
        assertMatches(ref, new TensorMetrics("s").add(a1, b1, 9).merge(new TensorMetrics("t").add(a2, b2, 9)).result());
    }

    @Test
    void otherDtypesAndStridedViews() {
        Random rnd = new Random(6);
        float[] a = randomArray(rnd, 4 * 6 * 10);
        float[] b = perturbed(rnd, a, 0.2);
        for (DType dt : new DType[] {DType.F16, DType.BF16, DType.F64}) {
            try (Tensor ta = Tensor.allocate(dt, 4, 6, 10); Tensor tb = Tensor.allocate(dt, 4, 6, 10)) {
                for (int i = 0; i < a.length; i++) {
                    ta.setDouble(a[i], i / 60, i / 10 % 6, i % 10);
                    tb.setDouble(b[i], i / 60, i / 10 % 6, i % 10);
                }
                // the reference sees the values as the dtype holds them
                double[] ref = reference(ta.toFloatArray(), tb.toFloatArray(), 10, null);
                assertMatches(ref, new TensorMetrics(dt.name()).add(ta, tb).result());
            }
        }
        // a float32 reference against a float16 candidate (a model converted to f16)
        try (Tensor ta = Tensor.of(a, 4, 6, 10); Tensor th = Tensor.allocate(DType.F16, 4, 6, 10)) {
            for (int i = 0; i < b.length; i++) {
                th.setDouble(b[i], i / 60, i / 10 % 6, i % 10);
            }
            double[] ref = reference(a, th.toFloatArray(), 10, null);
            assertMatches(ref, new TensorMetrics("mixed").add(ta, th).result());
        }
        try (Tensor ta = Tensor.of(a, 4, 6, 10); Tensor tb = Tensor.of(b, 4, 6, 10)) {
            Tensor va = ta.slice(1, 1, 4), vb = tb.slice(1, 1, 4); // strided views [4, 3, 10]
            assertTrue(!va.isContiguous());
            double[] ref = reference(va.toFloatArray(), vb.toFloatArray(), 10, null);
            assertMatches(ref, new TensorMetrics("view").add(va, vb).result());
        }
    }

    @Test
    void badInputIsReportedNotCrashed() {
        try (Tensor a = Tensor.of(new float[6], 2, 3); Tensor b = Tensor.of(new float[6], 3, 2)) {
            JlmException e = assertThrows(JlmException.InvalidArgument.class, () -> new TensorMetrics("logits").add(a, b));
            assertTrue(e.getMessage().contains("logits") && e.getMessage().contains("[2, 3]"), e.getMessage());
        }
        assertThrows(JlmException.InvalidArgument.class, () -> new TensorMetrics("x").add(new float[6], new float[7], 3));
        assertThrows(JlmException.InvalidArgument.class, () -> new TensorMetrics("x").add(new float[7], new float[7], 3));
        assertThrows(JlmException.InvalidArgument.class,
                () -> new TensorMetrics("x").add(new float[6], new float[6], 3, new long[3]));
        TensorMetrics.Result empty = new TensorMetrics("x").result();
        assertEquals(0, empty.rows());
        assertTrue(Double.isNaN(empty.meanCosine()) && Double.isNaN(empty.minCosine()) && Double.isNaN(empty.maxAbsError()));
    }
}
