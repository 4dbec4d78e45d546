package dev.jlm.prune.lasso;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlm.core.Tensor;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Group and multi-task Lasso on random problems: every solution certified by its own KKT conditions and gap,
 * and block coordinate descent agreeing with FISTA (two different algorithms) to 1e-5 of the largest coefficient.
 */
class GroupMultiTaskTest {
    private static final double TOL = 1e-10;

    private static Tensor gaussian(Random rnd, double corr, int n, int p) {
        double[] v = new double[n * p];
        for (int i = 0; i < n; i++) {
            double prev = rnd.nextGaussian();
            for (int j = 0; j < p; j++) {
                prev = corr * prev + Math.sqrt(1 - corr * corr) * rnd.nextGaussian();
                v[i * p + j] = prev;
            }
        }
        return Fixtures.f64(v, n, p);
    }

    @ParameterizedTest(name = "seed {0}")
    @ValueSource(ints = {1, 2, 3})
    void groupLasso(int seed) {
        Random rnd = new Random(seed);
        int n = 37 + seed * 11, p = 29; // odd sizes; groups of uneven size, one singleton
        int[] groups = new int[p];
        for (int j = 0; j < p; j++) {
            groups[j] = j < 1 ? 0 : 1 + (j - 1) / (2 + seed);
        }
        double[] yv = new double[n];
        try (Tensor x = gaussian(rnd, 0.5, n, p)) {
            for (int i = 0; i < n; i++) {
                yv[i] = 1.5 * x.getDouble(i, 1) - x.getDouble(i, 2) + 0.7 * x.getDouble(i, 5) + 0.5 * rnd.nextGaussian() + 3;
            }
            try (Tensor y = Fixtures.f64(yv, n)) {
                for (double l1Ratio : new double[] {1.0, 0.6}) {
                    try (LassoProblem pb = LassoProblem.builder(x, y).groups(groups).fitIntercept(true).l1Ratio(l1Ratio).build()) {
                        assertEquals(LassoProblem.Kind.GROUP, pb.kind());
                        compare(pb, 6, 0.02);
                    }
                }
            }
        }
    }

    /**
     * Diabetes features are centered with equal norms, so each pair's Gram matrix is [[a, b], [b, a]]: its
     * eigenvectors are (1, 1) and (1, -1), the trap for a power iteration started at (1, 1). A block step
     * with an underestimated Lipschitz constant diverges; this must converge and be certified.
     */
    @org.junit.jupiter.api.Test
    void groupLassoWithSymmetricBlocks() {
        try (Npy.NpyArray x = Fixtures.read("diabetes_X"); Npy.NpyArray y = Fixtures.read("diabetes_y");
             LassoProblem pb = Fixtures.builder(x, y).fitIntercept(true).groups(new int[] {0, 0, 1, 1, 2, 2, 3, 3, 4, 4}).build()) {
            compare(pb, 8, 0.005);
        }
    }

    @ParameterizedTest(name = "seed {0}")
    @ValueSource(ints = {1, 2})
    void multiTask(int seed) {
        Random rnd = new Random(100 + seed);
        int n = 41, p = 53, tasks = 3 + seed; // n < p
        double[] yv = new double[n * tasks];
        try (Tensor x = gaussian(rnd, 0.3, n, p)) {
            for (int i = 0; i < n; i++) {
                for (int t = 0; t < tasks; t++) {
                    yv[i * tasks + t] = (t + 1) * x.getDouble(i, 3) - x.getDouble(i, 17) * (t % 2 == 0 ? 1 : -2)
                            + 0.3 * rnd.nextGaussian();
                }
            }
            try (Tensor y = Fixtures.f64(yv, n, tasks)) {
                for (double l1Ratio : new double[] {1.0, 0.8}) {
                    try (LassoProblem pb = LassoProblem.builder(x, y).l1Ratio(l1Ratio).build()) {
                        assertEquals(LassoProblem.Kind.MULTI_TASK, pb.kind());
                        compare(pb, 5, 0.03);
                    }
                }
            }
        }
    }

    private static void compare(LassoProblem pb, int nAlphas, double eps) {
        try (LassoSolver bcd = new LassoSolver(SolverOptions.defaults().withTol(TOL));
             LassoSolver fista = new LassoSolver(SolverOptions.defaults().withTol(TOL)
                     .withAlgorithm(SolverOptions.Algorithm.FISTA).withMaxIter(500_000))) {
            LassoPath a = bcd.path(pb, nAlphas, eps);
            LassoPath b = fista.path(pb, nAlphas, eps);
            boolean someSparse = false;
            for (int k = 0; k < nAlphas; k++) {
                Solution sa = a.solutions().get(k);
                Solution sb = b.solutions().get(k);
                assertEquals("bcd", sa.algorithm());
                assertEquals("fista", sb.algorithm());
                assertTrue(sa.converged() && sb.converged(), "not converged at alpha " + sa.alpha());
                Certificates.check(pb, sa, TOL);
                Certificates.check(pb, sb, TOL);
                double max = 0;
                for (double c : sa.coef()) {
                    max = Math.max(max, Math.abs(c));
                }
                for (int i = 0; i < sa.coef().length; i++) {
                    assertEquals(sa.coef()[i], sb.coef()[i], 1e-5 * Math.max(max, 1e-12), "coef " + i + " at alpha " + sa.alpha());
                }
                someSparse |= sa.nnz() > 0 && sa.nnz() < sa.coef().length;
            }
            assertTrue(someSparse, "the path should have sparse, non-empty solutions");
            assertEquals(0, a.solutions().getFirst().nnz(), "alphaMax gives all zeros");
        }
    }
}
