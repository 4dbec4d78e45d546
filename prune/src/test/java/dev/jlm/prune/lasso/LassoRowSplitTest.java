package dev.jlm.prune.lasso;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlm.core.Tensor;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;

/**
 * Coordinate sweeps split by rows across a team of threads (solvers with {@code threads > 1} on problems with at
 * least {@link CdEngine#TEAM_MIN_ROWS} rows): the float64 sweeps and those on the 16-bit copy, every solution
 * certified, the same optimum as one thread, and the same bits whether the parts ran on two threads or one; and on
 * smaller problems, whose products only are split, the same bits as one thread.
 */
class LassoRowSplitTest {

    private static void check(int n, int p, long seed, double rho, UnaryOperator<LassoProblem.Builder> conf,
                              boolean quantized) {
        double[][] d = LassoPathTest.toeplitz(seed, n, p, 90, rho, 1.0);
        double tol = 1e-10;
        SolverOptions cd = SolverOptions.defaults().withTol(tol).withAlgorithm(SolverOptions.Algorithm.CD);
        try (Tensor x = Fixtures.f64(d[0], n, p); Tensor y = Fixtures.f64(d[1], n);
             LassoProblem pb = conf.apply(LassoProblem.builder(x, y)).build();
             LassoSolver one = new LassoSolver(cd.withThreads(1));
             LassoSolver team = new LassoSolver(cd.withThreads(2));
             LassoSolver solo = new LassoSolver(cd.withThreads(2))) {
            assertTrue(n >= CdEngine.TEAM_MIN_ROWS);
            assertTrue(!quantized || pb.x16 != null, "the problem should have the 16-bit copy");
            long bytes = quantized ? 0 : Long.MAX_VALUE;
            one.cdForTests().quantizedMinBytes = bytes;
            team.cdForTests().quantizedMinBytes = bytes;
            solo.cdForTests().quantizedMinBytes = bytes;
            solo.cdForTests().teamThreads = 1; // the same parts, all on the calling thread
            double[] alphas = LassoSolver.alphaGrid(pb, 10, 0.01);
            LassoPath a = one.path(pb, alphas);
            LassoPath b = team.path(pb, alphas);
            LassoPath c = solo.path(pb, alphas);
            assertEquals(0, one.cdForTests().teamSweeps);
            assertTrue(team.cdForTests().teamSweeps > 0, "no sweep was split by rows");
            assertTrue(solo.cdForTests().teamSweeps > 0);
            assertEquals(0, solo.cdForTests().sharedSweeps);
            if (dev.jlm.simd.RowExecutor.cores() > 1) {
                // A worker joins when it comes within the join window; in a cold JVM (interpreted code, the JIT
                // compiling on the same cores) it may miss it for a whole path, so give it a few more.
                for (int again = 0; again < 20 && team.cdForTests().sharedSweeps == 0; again++) {
                    assertArrayEquals(c.coefMatrix(), team.path(pb, alphas).coefMatrix());
                }
                assertTrue(team.cdForTests().sharedSweeps > 0, "no sweep ran on two threads");
            }
            if (quantized) {
                assertTrue(team.cdForTests().quantizedSolves > 0, "the 16-bit phase never ran");
            }
            for (int k = 0; k < alphas.length; k++) {
                Solution sa = a.solutions().get(k);
                Solution sb = b.solutions().get(k);
                Solution sc = c.solutions().get(k);
                Certificates.check(pb, sb, tol);
                Certificates.check(pb, sc, tol);
                Certificates.assertClose(sa.coef(), sb.coef(), 1e-6, "alpha " + k);
                // Parts are added in part order whoever computed them: bit for bit the same path.
                assertArrayEquals(sb.coef(), sc.coef(), "alpha " + k);
            }
        }
    }

    /**
     * Below {@link CdEngine#TEAM_MIN_ROWS} rows nothing but the products is split (by columns in multiples of four,
     * by rows in multiples of 16), each value computed as on one thread: the same path bit for bit, 16-bit phase and
     * Newton step included.
     */
    @Test
    void splitProductsGiveTheSameBitsAsOneThread() {
        int n = 2003;
        int p = 613;
        double[][] d = LassoPathTest.toeplitz(35, n, p, 60, 0.4, 1.0);
        try (Tensor x = Fixtures.f64(d[0], n, p); Tensor y = Fixtures.f64(d[1], n);
             LassoProblem pb = LassoProblem.builder(x, y).build();
             LassoSolver one = new LassoSolver(SolverOptions.defaults().withTol(1e-10).withThreads(1));
             LassoSolver two = new LassoSolver(SolverOptions.defaults().withTol(1e-10).withThreads(2))) {
            assertTrue(n < CdEngine.TEAM_MIN_ROWS && (long) n * p >= 16 * Workspace.PARALLEL_MIN);
            one.cdForTests().quantizedMinBytes = 0;
            two.cdForTests().quantizedMinBytes = 0;
            double[] alphas = LassoSolver.alphaGrid(pb, 10, 0.01);
            LassoPath a = one.path(pb, alphas);
            LassoPath b = two.path(pb, alphas);
            assertTrue(two.cdForTests().quantizedSolves > 0, "the 16-bit phase never ran");
            assertEquals(0, two.cdForTests().teamSweeps);
            assertArrayEquals(a.coefMatrix(), b.coefMatrix());
            for (int k = 0; k < alphas.length; k++) {
                assertEquals(a.solutions().get(k).dualityGap(), b.solutions().get(k).dualityGap(), 0.0);
            }
        }
    }

    /**
     * Several solvers with two threads each on one problem at once: they compete for the workers, so their teams
     * form or not at random, and each path must still be the one a lone solver gives, bit for bit.
     */
    @Test
    void concurrentSolversWithTeamsGiveTheSamePath() throws Exception {
        int n = 4229;
        int p = 181;
        double[][] d = LassoPathTest.toeplitz(36, n, p, 90, 0.3, 1.0);
        try (Tensor x = Fixtures.f64(d[0], n, p); Tensor y = Fixtures.f64(d[1], n);
             LassoProblem pb = LassoProblem.builder(x, y).build()) {
            double[] alphas = LassoSolver.alphaGrid(pb, 8, 0.01);
            SolverOptions opt = SolverOptions.defaults().withTol(1e-10).withAlgorithm(SolverOptions.Algorithm.CD)
                    .withThreads(2);
            double[] want;
            try (LassoSolver alone = new LassoSolver(opt)) {
                want = alone.path(pb, alphas).coefMatrix();
                assertTrue(alone.cdForTests().teamSweeps > 0, "no sweep was split by rows");
            }
            java.util.concurrent.ExecutorService ex = java.util.concurrent.Executors.newFixedThreadPool(3);
            try {
                java.util.List<java.util.concurrent.Future<double[]>> fs = new java.util.ArrayList<>();
                for (int t = 0; t < 3; t++) {
                    fs.add(ex.submit(() -> {
                        try (LassoSolver s = new LassoSolver(opt)) {
                            double[] last = null;
                            for (int rep = 0; rep < 3; rep++) {
                                last = s.path(pb, alphas).coefMatrix();
                                assertArrayEquals(want, last);
                            }
                            return last;
                        }
                    }));
                }
                for (java.util.concurrent.Future<double[]> f : fs) {
                    assertArrayEquals(want, f.get(120, java.util.concurrent.TimeUnit.SECONDS));
                }
            } finally {
                ex.shutdownNow();
            }
        }
    }

    @Test
    void float64SweepsSplitByRows() {
        check(4099, 211, 31, 0.3, b -> b, false);
        check(4243, 173, 32, 0.0, b -> b.fitIntercept(true).l1Ratio(0.7), false);
    }

    @Test
    void sixteenBitSweepsSplitByRows() {
        check(8209, 157, 33, 0.2, b -> b, true);
        check(8221, 149, 34, 0.5, b -> b.fitIntercept(true).positive(true), true);
    }
}
