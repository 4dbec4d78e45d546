package dev.jlm.core.eval;

import dev.jlm.core.DType;
import dev.jlm.core.JlmException;
import dev.jlm.core.Tensor;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Mean pooling and sentence cosines against hand computation in double; tolerance 1e-12 relative. */
class EmbeddingMetricsTest {
    private static final int B = 4, S = 9, H = 13;

    /** Hand computation: the plain average of the kept token vectors. */
    static double[][] pool(float[] h, long[] mask) {
        double[][] out = new double[B][H];
        for (int b = 0; b < B; b++) {
            int n = 0;
            for (int t = 0; t < S; t++) {
                if (mask[b * S + t] == 1) {
                    n++;
                    for (int j = 0; j < H; j++) {
                        out[b][j] += h[(b * S + t) * H + j];
                    }
                }
            }
            for (int j = 0; j < H; j++) {
                out[b][j] /= n;
            }
        }
        return out;
    }

    static long[] mask(int... lengths) {
        long[] m = new long[B * S];
        for (int b = 0; b < B; b++) {
            for (int t = 0; t < lengths[b]; t++) {
                m[b * S + t] = 1;
            }
        }
        return m;
    }

    static Tensor maskTensor(long[] m) {
        Tensor t = Tensor.allocate(DType.I64, B, S);
        for (int i = 0; i < m.length; i++) {
            t.setDouble(m[i], i / S, i % S);
        }
        return t;
    }

    @Test
    void meanPoolingMatchesHandComputation() {
        Random rnd = new Random(21);
        float[] h = TensorMetricsTest.randomArray(rnd, B * S * H);
        long[] m = mask(9, 1, 5, 3);
        for (int i = 0; i < m.length; i++) {
            if (m[i] == 0) {
                h[i * H] = Float.NaN; // padding garbage must not reach the embedding
            }
        }
        double[][] ref = pool(h, m);
        try (Tensor th = Tensor.of(h, B, S, H); Tensor tm = maskTensor(m)) {
            double[][] got = EmbeddingMetrics.meanPool(th, tm, false);
            double[][] unit = EmbeddingMetrics.meanPool(th, tm, true);
            for (int b = 0; b < B; b++) {
                double norm = 0;
                for (int j = 0; j < H; j++) {
                    assertEquals(ref[b][j], got[b][j], 1e-12 * Math.max(1, Math.abs(ref[b][j])));
                    norm += ref[b][j] * ref[b][j];
                }
                norm = Math.sqrt(norm);
                double unitNorm = 0;
                for (int j = 0; j < H; j++) {
                    assertEquals(ref[b][j] / norm, unit[b][j], 1e-12);
                    unitNorm += unit[b][j] * unit[b][j];
                }
                assertEquals(1, unitNorm, 1e-12);
            }
        }
    }

    @Test
    void allZeroMaskGivesZeroVector() {
        Random rnd = new Random(22);
        float[] h = TensorMetricsTest.randomArray(rnd, B * S * H);
        try (Tensor th = Tensor.of(h, B, S, H); Tensor tm = maskTensor(mask(0, 2, 0, 1))) {
            double[][] got = EmbeddingMetrics.meanPool(th, tm, true);
            for (double v : got[0]) {
                assertEquals(0, v);
            }
            assertTrue(got[1][0] != 0);
        }
    }

    @Test
    void sentenceCosinesMatchHandComputation() {
        Random rnd = new Random(23);
        float[] a = TensorMetricsTest.randomArray(rnd, B * S * H);
        float[] b = TensorMetricsTest.perturbed(rnd, a, 0.6);
        long[] m = mask(4, 9, 2, 7);
        double[][] pa = pool(a, m), pb = pool(b, m);
        double sum = 0, min = Double.POSITIVE_INFINITY;
        for (int s = 0; s < B; s++) {
            double dot = 0, na = 0, nb = 0;
            for (int j = 0; j < H; j++) {
                dot += pa[s][j] * pb[s][j];
                na += pa[s][j] * pa[s][j];
                nb += pb[s][j] * pb[s][j];
            }
            double c = dot / Math.sqrt(na * nb);
            sum += c;
            min = Math.min(min, c);
        }
        try (Tensor ta = Tensor.of(a, B, S, H); Tensor tb = Tensor.of(b, B, S, H); Tensor tm = maskTensor(m)) {
            EmbeddingMetrics acc = new EmbeddingMetrics("last_hidden_state").add(ta, tb, tm);
            EmbeddingMetrics.Result r = acc.result();
            assertEquals(B, r.sentences());
            assertEquals(sum / B, r.meanCosine(), 1e-12);
            assertEquals(min, r.minCosine(), 1e-12);
            assertTrue(r.minCosine() < r.meanCosine() && r.meanCosine() < 1);
            // a second batch (the same one) keeps mean and min, doubles the count
            EmbeddingMetrics.Result twice = acc.add(ta, tb, tm).result();
            assertEquals(2 * B, twice.sentences());
            assertEquals(sum / B, twice.meanCosine(), 1e-12);

            EmbeddingMetrics.Result self = new EmbeddingMetrics("x").add(ta, ta, tm).result();
            assertEquals(1, self.meanCosine(), 1e-15);
        }
    }

    @Test
    void nanInAKeptTokenShows() {
        Random rnd = new Random(24);
        float[] a = TensorMetricsTest.randomArray(rnd, B * S * H);
        float[] b = TensorMetricsTest.perturbed(rnd, a, 0.1);
        b[(2 * S + 1) * H + 4] = Float.NaN; // sentence 2, token 1: kept
        try (Tensor ta = Tensor.of(a, B, S, H); Tensor tb = Tensor.of(b, B, S, H); Tensor tm = maskTensor(mask(3, 3, 3, 3))) {
            EmbeddingMetrics.Result r = new EmbeddingMetrics("x").add(ta, tb, tm).result();
            assertTrue(Double.isNaN(r.meanCosine()) && Double.isNaN(r.minCosine()));
        }
    }

    @Test
    void badShapesAreReported() {
        try (Tensor h = Tensor.of(new float[B * S * H], B, S, H); Tensor m = Tensor.allocate(DType.I64, B, S + 1);
             Tensor flat = Tensor.of(new float[B * H], B, H)) {
            assertThrows(JlmException.InvalidArgument.class, () -> EmbeddingMetrics.meanPool(h, m, false));
            try (Tensor ok = Tensor.allocate(DType.I64, B, S)) {
                JlmException e = assertThrows(JlmException.InvalidArgument.class,
                        () -> new EmbeddingMetrics("pooled").add(flat, flat, ok));
                assertTrue(e.getMessage().contains("pooled"), e.getMessage());
            }
        }
    }
}
