package dev.jlm.prune.lasso;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlm.core.Tensor;
import java.util.Random;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;

/**
 * Coordinate descent on the 16-bit copy of X (with one round of float64 refinement) against plain float64
 * coordinate descent on tall problems that have the copy (n * p >= 2^19): every solution certified on all
 * features by its own gap and KKT conditions, coefficients within 1e-6 of the largest, for the Lasso with and
 * without intercept, elastic net, weighted and non-negative; and columns with
 * outliers, whose 16-bit copy is coarse, still end certified (the float64 solve takes over when needed); on
 * well-scaled columns most 16-bit solves end certified without it.
 */
class LassoQuantizedTest {

    private static void assertSamePath(LassoProblem pb, double tol, boolean expectMostCertified) {
        try (LassoSolver quantized = new LassoSolver(SolverOptions.defaults().withTol(tol).withAlgorithm(SolverOptions.Algorithm.CD));
             LassoSolver plain = new LassoSolver(SolverOptions.defaults().withTol(tol).withAlgorithm(SolverOptions.Algorithm.CD))) {
            quantized.cdForTests().quantizedMinBytes = 0;
            plain.cdForTests().quantizedMinBytes = Long.MAX_VALUE;
            double[] alphas = LassoSolver.alphaGrid(pb, 12, 0.01);
            LassoPath a = quantized.path(pb, alphas);
            LassoPath b = plain.path(pb, alphas);
            assertTrue(quantized.cdForTests().quantizedSolves > 0, "the 16-bit phase never ran");
            assertEquals(0, plain.cdForTests().quantizedSolves);
            if (expectMostCertified) {
                // A 16-bit solve falls back when its certificate fails: the working set lacked a feature, or the
                // rounding was too coarse. On well-scaled columns most end certified.
                int solves = quantized.cdForTests().quantizedSolves;
                int fallbacks = quantized.cdForTests().quantizedFallbacks;
                assertTrue(2 * fallbacks <= solves, fallbacks + " of " + solves + " 16-bit solves fell back");
            }
            for (int k = 0; k < alphas.length; k++) {
                Solution sa = a.solutions().get(k);
                Solution sb = b.solutions().get(k);
                Certificates.check(pb, sa, tol);
                Certificates.check(pb, sb, tol);
                double max = 0;
                for (double c : sb.coef()) {
                    max = Math.max(max, Math.abs(c));
                }
                for (int j = 0; j < pb.p; j++) {
                    assertEquals(sb.coef()[j], sa.coef()[j], 1e-6 * max, "alpha " + k + " feature " + j);
                }
            }
        }
    }

    private static void withTall(int n, int p, long seed, double rho, boolean outliers,
                                 UnaryOperator<LassoProblem.Builder> conf, boolean expectMostCertified) {
        double[][] d = LassoPathTest.toeplitz(seed, n, p, 13, rho, 1.0);
        if (outliers) {
            Random rnd = new Random(seed);
            for (int j = 0; j < p; j += 5) {
                d[0][rnd.nextInt(n) * p + j] *= 3000; // one huge entry: the column's 16-bit step is coarse
            }
        }
        assertTrue((long) n * p >= LassoProblem.SHADOW_MIN);
        try (Tensor x = Fixtures.f64(d[0], n, p); Tensor y = Fixtures.f64(d[1], n);
             LassoProblem pb = conf.apply(LassoProblem.builder(x, y)).build()) {
            assertSamePath(pb, 1e-10, expectMostCertified);
        }
    }

    @Test
    void lassoWithAndWithoutIntercept() {
        withTall(2003, 263, 21, 0.0, false, b -> b, true);
        withTall(2011, 269, 22, 0.5, false, b -> b.fitIntercept(true), true);
    }

    @Test
    void elasticNetWeightedAndNonNegative() {
        withTall(2003, 263, 23, 0.3, false, b -> b.l1Ratio(0.5), true);
        double[] wts = new double[263];
        Random rnd = new Random(5);
        for (int j = 0; j < wts.length; j++) {
            wts[j] = 0.5 + rnd.nextDouble(); // unpenalized features keep the problem in float64
        }
        withTall(2003, 263, 24, 0.3, false, b -> b.penaltyWeights(wts), true);
        withTall(2003, 263, 25, 0.3, false, b -> b.positive(true), true);
    }

    @Test
    void coarseColumnsStillEndCertified() {
        withTall(2003, 263, 26, 0.0, true, b -> b, false);
    }

    /**
     * The build splits its columns (norms, 16-bit and 8-bit codes, scales and bounds) over threads: one thread and
     * three give the same problem bit for bit; a thread count below 1 is refused.
     */
    @Test
    void buildOnSeveralThreadsGivesTheSameProblem() {
        int n = 2003;
        int p = 263;
        double[][] d = LassoPathTest.toeplitz(27, n, p, 13, 0.3, 1.0);
        try (Tensor x = Fixtures.f64(d[0], n, p); Tensor y = Fixtures.f64(d[1], n);
             LassoProblem one = LassoProblem.builder(x, y).fitIntercept(true).threads(1).build();
             LassoProblem three = LassoProblem.builder(x, y).fitIntercept(true).threads(3).build()) {
            assertTrue(one.x16 != null && three.x16 != null);
            assertEquals(-1, one.x16.mismatch(three.x16), "16-bit codes");
            assertEquals(-1, one.x8.mismatch(three.x8), "8-bit codes");
            assertArrayEquals(one.colNorm2, three.colNorm2);
            assertArrayEquals(one.x16Scale, three.x16Scale);
            assertArrayEquals(one.x16Error, three.x16Error);
            assertArrayEquals(one.x16Norm2, three.x16Norm2);
            assertArrayEquals(one.x8Scale, three.x8Scale);
            assertArrayEquals(one.x8Error, three.x8Error);
            assertArrayEquals(one.x8Floor, three.x8Floor);
            assertThrows(dev.jlm.core.JlmException.InvalidArgument.class, () -> LassoProblem.builder(x, y).threads(0));
        }
    }
}
