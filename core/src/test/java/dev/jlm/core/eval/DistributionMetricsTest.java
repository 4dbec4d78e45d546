package dev.jlm.core.eval;

import dev.jlm.core.DType;
import dev.jlm.core.Tensor;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * DistributionMetrics against the textbook formulas in double precision: softmax as exp(x) / sum exp(x)
 * (logits kept small so nothing overflows), KL as sum p ln(p/q), JS with M = (p+q)/2 directly.
 * Tolerance: 1e-9 relative (the class works in log space, the reference in linear space).
 */
class DistributionMetricsTest {
    private static final double REL = 1e-9;
    private static final double LN2 = Math.log(2);

    static double[] softmax(float[] x, int from, int len) {
        double[] p = new double[len];
        double s = 0;
        for (int j = 0; j < len; j++) {
            p[j] = Math.exp(x[from + j]);
            s += p[j];
        }
        for (int j = 0; j < len; j++) {
            p[j] /= s;
        }
        return p;
    }

    static double kl(double[] p, double[] q) {
        double s = 0;
        for (int j = 0; j < p.length; j++) {
            if (p[j] > 0) {
                s += p[j] * Math.log(p[j] / q[j]);
            }
        }
        return s;
    }

    static int argmax(float[] x, int from, int len) {
        int best = 0;
        for (int j = 1; j < len; j++) {
            if (x[from + j] > x[from + best]) {
                best = j;
            }
        }
        return best;
    }

    /** {rows, forward KL, reverse KL, JS, top-1} by the textbook formulas, over rows with mask 1 (null: all). */
    static double[] reference(float[] a, float[] b, int len, long[] mask) {
        double fwd = 0, rev = 0, js = 0, agree = 0;
        int n = 0;
        for (int r = 0; r < a.length / len; r++) {
            if (mask != null && mask[r] == 0) {
                continue;
            }
            n++;
            double[] p = softmax(a, r * len, len), q = softmax(b, r * len, len), m = new double[len];
            for (int j = 0; j < len; j++) {
                m[j] = (p[j] + q[j]) / 2;
            }
            fwd += kl(p, q);
            rev += kl(q, p);
            js += kl(p, m) / 2 + kl(q, m) / 2;
            agree += argmax(a, r * len, len) == argmax(b, r * len, len) ? 1 : 0;
        }
        return new double[] {n, fwd / n, rev / n, js / n, agree / n};
    }

    static void assertMatches(double[] ref, DistributionMetrics.Result r, double rel) {
        assertEquals((long) ref[0], r.rows());
        assertEquals(ref[1], r.forwardKl(), rel * ref[1], "forward KL");
        assertEquals(ref[2], r.reverseKl(), rel * ref[2], "reverse KL");
        assertEquals(ref[3], r.jensenShannon(), rel * ref[3], "JS");
        assertEquals(ref[4], r.top1Agreement(), 1e-15, "top-1");
    }

    @Test
    void matchesTextbookFormulasOnRandomLogits() {
        Random rnd = new Random(11);
        int[][] cases = {{1, 2}, {7, 3}, {16, 31}, {5, 1000}, {3, 17}};
        for (int[] c : cases) {
            int rows = c[0], len = c[1];
            float[] a = TensorMetricsTest.randomArray(rnd, rows * len);
            for (int i = 0; i < a.length; i++) {
                a[i] *= 3;
            }
            float[] b = TensorMetricsTest.perturbed(rnd, a, 0.8);
            double[] ref = reference(a, b, len, null);
            assertTrue(ref[1] > 1e-6 && ref[3] > 1e-6, "the data must give clearly non-zero divergences: " + java.util.Arrays.toString(ref) + " " + java.util.Arrays.toString(c));
            assertMatches(ref, new DistributionMetrics("logits", false).add(a, b, len).result(), REL);
            try (Tensor ta = Tensor.of(a, rows, len); Tensor tb = Tensor.of(b, rows, len)) {
                assertMatches(ref, new DistributionMetrics("logits", false).add(ta, tb).result(), REL);
            }
        }
    }

    @Test
    void someRowsAgreeAndSomeDoNot() {
        Random rnd = new Random(12);
        float[] a = TensorMetricsTest.randomArray(rnd, 200 * 5);
        float[] b = TensorMetricsTest.perturbed(rnd, a, 0.5);
        DistributionMetrics.Result r = new DistributionMetrics("l", false).add(a, b, 5).result();
        assertTrue(r.top1Agreement() > 0.3 && r.top1Agreement() < 1, "agreement " + r.top1Agreement());
        assertEquals(reference(a, b, 5, null)[4], r.top1Agreement(), 1e-15);
    }

    @Test
    void identicalGivesZeroAndJsIsSymmetricAndBounded() {
        Random rnd = new Random(13);
        float[] a = TensorMetricsTest.randomArray(rnd, 9 * 50);
        DistributionMetrics.Result same = new DistributionMetrics("l", false).add(a, a.clone(), 50).result();
        assertEquals(0, same.forwardKl(), 1e-15);
        assertEquals(0, same.reverseKl(), 1e-15);
        assertEquals(0, same.jensenShannon(), 1e-15);
        assertEquals(1, same.top1Agreement());

        float[] b = TensorMetricsTest.perturbed(rnd, a, 2.0);
        DistributionMetrics.Result ab = new DistributionMetrics("l", false).add(a, b, 50).result();
        DistributionMetrics.Result ba = new DistributionMetrics("l", false).add(b, a, 50).result();
        assertEquals(ab.jensenShannon(), ba.jensenShannon(), 1e-15);
        assertEquals(ab.forwardKl(), ba.reverseKl(), 1e-15);
        assertEquals(ab.reverseKl(), ba.forwardKl(), 1e-15);
        assertTrue(ab.forwardKl() != ab.reverseKl(), "KL is not symmetric");
        assertTrue(ab.jensenShannon() > 0 && ab.jensenShannon() <= LN2);

        // disjoint one-hot distributions reach the bound ln 2
        float[] p = {1, 0, 0, 0}, q = {0, 0, 1, 0};
        DistributionMetrics.Result disjoint = new DistributionMetrics("probs", true).add(p, q, 4).result();
        assertEquals(LN2, disjoint.jensenShannon(), 1e-9);
        assertTrue(disjoint.jensenShannon() <= LN2);
        assertTrue(Double.isFinite(disjoint.forwardKl()), "the floor keeps KL finite: " + disjoint.forwardKl());
        assertEquals(0, disjoint.top1Agreement());
    }

    @Test
    void logSoftmaxIsStableForLargeLogits() {
        Random rnd = new Random(14);
        float[] a = TensorMetricsTest.randomArray(rnd, 4 * 64);
        float[] b = TensorMetricsTest.perturbed(rnd, a, 0.5);
        double[] ref = reference(a, b, 64, null);
        float[] a2 = a.clone(), b2 = b.clone();
        for (int i = 0; i < a.length; i++) { // exp(x) overflows double above ~709
            a2[i] += 5000;
            b2[i] -= 3000;
        }
        // float rounding of x + 5000 changes the values themselves by up to ~2.4e-4, hence the looser bound
        DistributionMetrics.Result r = new DistributionMetrics("l", false).add(a2, b2, 64).result();
        assertTrue(Double.isFinite(r.forwardKl()));
        assertEquals(ref[1], r.forwardKl(), 0.02 * ref[1]);
        assertEquals(ref[3], r.jensenShannon(), 0.02 * ref[3]);
        // shift invariance where the shift is exact: values on a 2^-10 grid below 64 in magnitude, plus 64
        float[] plain = new float[a.length], shifted = new float[a.length];
        for (int i = 0; i < a.length; i++) {
            plain[i] = Math.round(a[i] * 4 * 1024) / 1024f;
            shifted[i] = plain[i] + 64;
        }
        DistributionMetrics.Result rs = new DistributionMetrics("l", false).add(shifted, b, 64).result();
        DistributionMetrics.Result rp = new DistributionMetrics("l", false).add(plain, b, 64).result();
        assertEquals(rp.forwardKl(), rs.forwardKl(), 1e-12 * rp.forwardKl());
        assertEquals(rp.jensenShannon(), rs.jensenShannon(), 1e-12 * rp.jensenShannon());
    }

    @Test
    void probabilitiesGiveTheSameFiguresAsTheirLogits() {
        Random rnd = new Random(15);
        int rows = 6, len = 40;
        float[] a = TensorMetricsTest.randomArray(rnd, rows * len);
        float[] b = TensorMetricsTest.perturbed(rnd, a, 0.6);
        float[] pa = new float[a.length], pb = new float[b.length];
        for (int r = 0; r < rows; r++) {
            double[] p = softmax(a, r * len, len), q = softmax(b, r * len, len);
            for (int j = 0; j < len; j++) {
                pa[r * len + j] = (float) p[j];
                pb[r * len + j] = (float) q[j];
            }
        }
        double[] ref = reference(a, b, len, null);
        // probabilities rounded to float: relative error ~1e-7 per entry, 1e-5 on the figures is ample
        assertMatches(ref, new DistributionMetrics("probs", true).add(pa, pb, len).result(), 1e-5);
        // unnormalized probabilities are renormalized
        float[] half = pa.clone();
        for (int i = 0; i < half.length; i++) {
            half[i] *= 0.5f;
        }
        assertMatches(ref, new DistributionMetrics("probs", true).add(half, pb, len).result(), 1e-5);
    }

    @Test
    void negativeInfinityLogitsMeanZeroProbability() {
        float ninf = Float.NEGATIVE_INFINITY;
        float[] a = {1, 2, ninf, 0.5f};
        float[] b = {1.5f, 2, ninf, 0};
        DistributionMetrics.Result r = new DistributionMetrics("l", false).add(a, b, 4).result();
        float[] a3 = {1, 2, 0.5f}, b3 = {1.5f, 2, 0};
        double[] ref = reference(a3, b3, 3, null);
        assertMatches(ref, r, REL);
    }

    @Test
    void nanShowsInEveryFigure() {
        Random rnd = new Random(16);
        float[] a = TensorMetricsTest.randomArray(rnd, 4 * 10);
        for (boolean probs : new boolean[] {false, true}) {
            for (int side = 0; side < 2; side++) {
                float[] x = a.clone(), y = TensorMetricsTest.perturbed(rnd, a, 0.3);
                if (probs) {
                    for (int i = 0; i < x.length; i++) {
                        x[i] = Math.abs(x[i]);
                        y[i] = Math.abs(y[i]);
                    }
                }
                (side == 0 ? x : y)[13] = Float.NaN;
                DistributionMetrics.Result r = new DistributionMetrics("l", probs).add(x, y, 10).result();
                assertTrue(Double.isNaN(r.forwardKl()), "forward");
                assertTrue(Double.isNaN(r.reverseKl()), "reverse");
                assertTrue(Double.isNaN(r.jensenShannon()), "JS");
                assertTrue(Double.isNaN(r.top1Agreement()), "top-1");
            }
        }
    }

    @Test
    void maskSelectsTokenRows() {
        Random rnd = new Random(17);
        int batch = 2, seq = 5, vocab = 23;
        float[] a = TensorMetricsTest.randomArray(rnd, batch * seq * vocab);
        float[] b = TensorMetricsTest.perturbed(rnd, a, 0.7);
        long[] mask = {1, 1, 1, 0, 0, 1, 0, 0, 0, 0};
        for (int r = 0; r < mask.length; r++) {
            if (mask[r] == 0) {
                b[r * vocab + 3] = Float.NaN;
            }
        }
        double[] ref = reference(a, b, vocab, mask);
        assertEquals(4, (long) ref[0]);
        try (Tensor ta = Tensor.of(a, batch, seq, vocab); Tensor tb = Tensor.of(b, batch, seq, vocab);
             Tensor tm = Tensor.allocate(DType.I32, batch, seq)) {
            for (int i = 0; i < mask.length; i++) {
                tm.setDouble(mask[i], i / seq, i % seq);
            }
            assertMatches(ref, new DistributionMetrics("logits", false).add(ta, tb, tm).result(), REL);
        }
        assertMatches(ref, new DistributionMetrics("logits", false).add(a, b, vocab, mask).result(), REL);
        // streaming: two halves equal the whole; merge equals too
        float[] a1 = java.util.Arrays.copyOfRange(a, 0, seq * vocab), a2 = java.util.Arrays.copyOfRange(a, seq * vocab, a.length);
        float[] b1 = java.util.Arrays.copyOfRange(b, 0, seq * vocab), b2 = java.util.Arrays.copyOfRange(b, seq * vocab, b.length);
        long[] m1 = java.util.Arrays.copyOfRange(mask, 0, seq), m2 = java.util.Arrays.copyOfRange(mask, seq, mask.length);
        assertMatches(ref, new DistributionMetrics("logits", false).add(a1, b1, vocab, m1).add(a2, b2, vocab, m2).result(), REL);
        assertMatches(ref, new DistributionMetrics("logits", false).add(a1, b1, vocab, m1)
                .merge(new DistributionMetrics("logits", false).add(a2, b2, vocab, m2)).result(), REL);
    }

    @Test
    void logitsHeuristic() {
        assertTrue(DistributionMetrics.looksLikeLogits("logits", new long[] {1, 7, 32000}));
        assertTrue(DistributionMetrics.looksLikeLogits("start_Logits", new long[] {1, 128}));
        assertTrue(DistributionMetrics.looksLikeLogits("probs", new long[] {4, 2}));
        assertTrue(DistributionMetrics.looksLikeLogits("scores", new long[] {4, 10}));
        assertFalse(DistributionMetrics.looksLikeLogits("scores", new long[] {4, 1}));
        assertFalse(DistributionMetrics.looksLikeLogits("last_hidden_state", new long[] {1, 7, 384}));
        assertFalse(DistributionMetrics.looksLikeLogits("logits", new long[0]));
        assertTrue(DistributionMetrics.looksLikeProbabilities("probabilities"));
        assertFalse(DistributionMetrics.looksLikeProbabilities("log_probs"));
        assertFalse(DistributionMetrics.looksLikeProbabilities("logits"));
        DistributionMetrics.Result empty = new DistributionMetrics("x", false).result();
        assertTrue(Double.isNaN(empty.forwardKl()) && Double.isNaN(empty.top1Agreement()));
    }
}
