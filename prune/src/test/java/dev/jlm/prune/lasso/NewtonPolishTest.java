package dev.jlm.prune.lasso;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlm.core.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;

/**
 * The active-set Newton step of coordinate descent: paths with and without it reach the same certified
 * optimum on correlated problems (Lasso, elastic net, weighted, non-negative), and a single step from a
 * perturbed point lands on the optimum of its support, also after the kept factor has had columns added and
 * removed.
 */
class NewtonPolishTest {

    private static void assertSamePath(LassoProblem pb, double tol) {
        try (LassoSolver with = new LassoSolver(SolverOptions.defaults().withTol(tol));
             LassoSolver without = new LassoSolver(SolverOptions.defaults().withTol(tol))) {
            without.cdForTests().newton.enabled = false;
            double[] alphas = LassoSolver.alphaGrid(pb, 20, 0.01);
            LassoPath a = with.path(pb, alphas);
            LassoPath b = without.path(pb, alphas);
            assertTrue(with.cdForTests().newton.accepted > 0, "no Newton step was kept");
            assertEquals(0, without.cdForTests().newton.accepted);
            for (int k = 0; k < alphas.length; k++) {
                Solution sa = a.solutions().get(k);
                Solution sb = b.solutions().get(k);
                assertEquals("cd", sa.algorithm());
                Certificates.check(pb, sb, tol);
                Certificates.check(pb, sa, tol);
                double max = 0;
                for (double c : sb.coef()) {
                    max = Math.max(max, Math.abs(c));
                }
                // Both within the certificate's reach of the unique optimum: ||X(w - w*)||^2 <= 2 tol ||y||^2.
                for (int j = 0; j < pb.p; j++) {
                    assertEquals(sb.coef()[j], sa.coef()[j], 1e-6 * max, "alpha " + k + " feature " + j);
                }
            }
        }
    }

    private static void withToeplitz(int n, int p, long seed, UnaryOperator<LassoProblem.Builder> conf,
                                     java.util.function.Consumer<LassoProblem> body) {
        double[][] d = LassoPathTest.toeplitz(seed, n, p, 10, 0.7, 0.3);
        try (Tensor x = Fixtures.f64(d[0], n, p); Tensor y = Fixtures.f64(d[1], n);
             LassoProblem pb = conf.apply(LassoProblem.builder(x, y)).build()) {
            body.accept(pb);
        }
    }

    @Test
    void correlatedLassoPathMatchesPlainCoordinateDescent() {
        withToeplitz(60, 301, 11, b -> b, pb -> assertSamePath(pb, 1e-10));
        withToeplitz(97, 53, 12, b -> b.fitIntercept(true), pb -> assertSamePath(pb, 1e-10));
    }

    @Test
    void elasticNetWeightedAndNonNegativeMatch() {
        withToeplitz(60, 131, 13, b -> b.l1Ratio(0.5), pb -> assertSamePath(pb, 1e-10));
        double[] wts = new double[131];
        Random rnd = new Random(5);
        for (int j = 0; j < wts.length; j++) {
            wts[j] = j % 17 == 0 ? 0 : 0.5 + rnd.nextDouble();
        }
        withToeplitz(60, 131, 14, b -> b.penaltyWeights(wts), pb -> assertSamePath(pb, 1e-10));
        withToeplitz(60, 131, 15, b -> b.positive(true), pb -> assertSamePath(pb, 1e-10));
    }

    /**
     * From the optimum of several alphas (solved to 1e-13), perturbed but with the same signs, one step lands on
     * the optimum within 1e-8 of the largest coefficient. The alphas go down and up again, so the kept factor
     * gains and loses columns between the steps.
     */
    @Test
    void oneStepLandsOnTheOptimumOfItsSupport() {
        withToeplitz(80, 211, 16, b -> b, pb -> {
            try (LassoSolver solver = new LassoSolver(SolverOptions.defaults().withTol(1e-13));
                 Arena arena = Arena.ofConfined()) {
                double[] alphas = LassoSolver.alphaGrid(pb, 20, 0.02);
                LassoPath path = solver.path(pb, alphas);
                NewtonPolish np = new NewtonPolish(dev.jlm.simd.l1.L1Kernels.get());
                np.budget = Long.MAX_VALUE / 4; // no cost limit on the inner products here
                int n = pb.n;
                MemorySegment r = arena.allocate(8L * n, 64);
                MemorySegment save = arena.allocate(8L * n, 64);
                double[] v = new double[pb.p];
                java.util.Arrays.fill(v, 1);
                Random rnd = new Random(3);
                int[] all = new int[pb.p];
                for (int j = 0; j < pb.p; j++) {
                    all[j] = j;
                }
                for (int k : new int[] {5, 12, 19, 8, 15, 3, 19}) {
                    double[] opt = path.solutions().get(k).coef();
                    double[] w = opt.clone();
                    double max = 0;
                    for (int j = 0; j < pb.p; j++) {
                        w[j] *= 1 + 0.2 * (rnd.nextDouble() - 0.5); // same signs, 10% off
                        max = Math.max(max, Math.abs(opt[j]));
                    }
                    residual(pb, w, r);
                    double l1 = alphas[k] * n;
                    assertTrue(np.step(pb, w, all, pb.p, l1, 0, v, r, save), "step refused at alpha " + k);
                    for (int j = 0; j < pb.p; j++) {
                        assertEquals(opt[j], w[j], 1e-8 * max, "alpha " + k + " feature " + j);
                    }
                    // The residual was updated with the coefficients.
                    MemorySegment fresh = arena.allocate(8L * n, 64);
                    residual(pb, w, fresh);
                    for (int i = 0; i < n; i++) {
                        assertEquals(fresh.getAtIndex(LassoProblem.F64, i), r.getAtIndex(LassoProblem.F64, i),
                                1e-9 * Math.sqrt(pb.yNorm2));
                    }
                }
                assertEquals(7, np.accepted);
            }
        });
    }

    /**
     * With threads the new inner products (by groups of four columns) and the residual update (by rows) are split
     * across workers: the step must give the same bits as on one thread, on a problem big enough to be split.
     */
    @Test
    void aSplitStepGivesTheSameBitsAsOneThread() {
        withToeplitz(40009, 61, 17, b -> b, pb -> {
            try (LassoSolver solver = new LassoSolver(SolverOptions.defaults().withTol(1e-12));
                 Arena arena = Arena.ofShared()) { // the split reads the residual on the workers
                double[] alphas = LassoSolver.alphaGrid(pb, 10, 0.02);
                LassoPath path = solver.path(pb, alphas);
                int n = pb.n;
                double[] v = new double[pb.p];
                java.util.Arrays.fill(v, 1);
                int[] all = new int[pb.p];
                for (int j = 0; j < pb.p; j++) {
                    all[j] = j;
                }
                NewtonPolish one = new NewtonPolish(dev.jlm.simd.l1.L1Kernels.get(), 1);
                NewtonPolish two = new NewtonPolish(dev.jlm.simd.l1.L1Kernels.get(), 2);
                one.budget = Long.MAX_VALUE / 4;
                two.budget = Long.MAX_VALUE / 4;
                Random rnd = new Random(5);
                for (int k : new int[] {9, 4, 9, 6}) {
                    double[] opt = path.solutions().get(k).coef();
                    double[] w1 = opt.clone();
                    for (int j = 0; j < pb.p; j++) {
                        w1[j] *= 1 + 0.2 * (rnd.nextDouble() - 0.5);
                    }
                    double[] w2 = w1.clone();
                    assertTrue((long) path.solutions().get(k).nnz() * n >= Workspace.PARALLEL_MIN, "too small to split");
                    MemorySegment r1 = arena.allocate(8L * n, 64);
                    MemorySegment r2 = arena.allocate(8L * n, 64);
                    MemorySegment save = arena.allocate(8L * n, 64);
                    residual(pb, w1, r1);
                    MemorySegment.copy(r1, 0, r2, 0, 8L * n);
                    double l1 = alphas[k] * n;
                    assertTrue(one.step(pb, w1, all, pb.p, l1, 0, v, r1, save));
                    assertTrue(two.step(pb, w2, all, pb.p, l1, 0, v, r2, save));
                    assertArrayEquals(w1, w2, "coefficients at alpha " + k);
                    assertEquals(-1, r1.mismatch(r2), "residual at alpha " + k);
                }
            }
        });
    }

    /** A wrong sign pattern: the step stops at sign changes (no coefficient changes sign) and ends lower. */
    @Test
    void wrongSignsGiveADescentStepNotACrash() {
        withToeplitz(80, 211, 17, b -> b, pb -> {
            try (LassoSolver solver = new LassoSolver(SolverOptions.defaults().withTol(1e-12));
                 Arena arena = Arena.ofConfined()) {
                double alpha = 0.05 * pb.alphaMax();
                double[] opt = solver.solve(pb, alpha).coef();
                double[] w = opt.clone();
                int flipped = -1;
                for (int j = 0; j < pb.p && flipped < 0; j++) {
                    if (w[j] != 0) {
                        w[j] = -0.01 * w[j];
                        flipped = j;
                    }
                }
                assertTrue(flipped >= 0);
                int n = pb.n;
                MemorySegment r = arena.allocate(8L * n, 64);
                MemorySegment save = arena.allocate(8L * n, 64);
                residual(pb, w, r);
                double[] v = new double[pb.p];
                java.util.Arrays.fill(v, 1);
                int[] all = new int[pb.p];
                for (int j = 0; j < pb.p; j++) {
                    all[j] = j;
                }
                double l1 = alpha * n;
                double before = objective(pb, w, l1);
                double[] start = w.clone();
                NewtonPolish np = new NewtonPolish(dev.jlm.simd.l1.L1Kernels.get());
                np.budget = Long.MAX_VALUE / 4; // no cost limit on the inner products here
                if (np.step(pb, w, all, pb.p, l1, 0, v, r, save)) {
                    for (int j = 0; j < pb.p; j++) {
                        assertTrue(w[j] == 0 || Math.signum(w[j]) == Math.signum(start[j]), "feature " + j + " changed sign");
                    }
                    assertTrue(objective(pb, w, l1) < before);
                } else {
                    assertEquals(before, objective(pb, w, l1), 0, "a refused step leaves w unchanged");
                }
                for (double c : w) {
                    assertTrue(Double.isFinite(c));
                }
            }
        });
    }

    private static void residual(LassoProblem pb, double[] w, MemorySegment out) {
        int n = pb.n;
        for (int i = 0; i < n; i++) {
            double s = pb.y.getAtIndex(LassoProblem.F64, i);
            for (int j = 0; j < pb.p; j++) {
                if (w[j] != 0) {
                    s -= w[j] * pb.x.getAtIndex(LassoProblem.F64, (long) j * n + i);
                }
            }
            out.setAtIndex(LassoProblem.F64, i, s);
        }
    }

    private static double objective(LassoProblem pb, double[] w, double l1) {
        int n = pb.n;
        double o = 0;
        for (int i = 0; i < n; i++) {
            double s = pb.y.getAtIndex(LassoProblem.F64, i);
            for (int j = 0; j < pb.p; j++) {
                s -= w[j] * pb.x.getAtIndex(LassoProblem.F64, (long) j * n + i);
            }
            o += 0.5 * s * s;
        }
        for (double c : w) {
            o += l1 * Math.abs(c);
        }
        return o;
    }
}
