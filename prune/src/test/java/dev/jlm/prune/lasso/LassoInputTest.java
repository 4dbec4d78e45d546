package dev.jlm.prune.lasso;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlm.core.DType;
import dev.jlm.core.JlmException;
import dev.jlm.core.Tensor;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Bad input: clear errors, and degenerate but valid input (empty or constant columns) solved without NaN. */
class LassoInputTest {
    private static Tensor randomX(Random rnd, int n, int p) {
        double[] v = new double[n * p];
        for (int i = 0; i < v.length; i++) {
            v[i] = rnd.nextGaussian();
        }
        return Fixtures.f64(v, n, p);
    }

    private static Tensor randomY(Random rnd, int n) {
        double[] v = new double[n];
        for (int i = 0; i < n; i++) {
            v[i] = rnd.nextGaussian();
        }
        return Fixtures.f64(v, n);
    }

    /**
     * X and y in a confined arena (only the calling thread may touch them): the problem's build and a solver with
     * two threads must not hand that memory to worker threads, and give the solution they give on shared memory.
     */
    @Test
    void confinedInputsWorkWithThreads() {
        int n = 4111;
        int p = 257; // above the size where the build makes the 16-bit copies and the products are split
        double[][] d = LassoPathTest.toeplitz(9, n, p, 40, 0.3, 1.0);
        double[] cols = new double[n * p];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < p; j++) {
                cols[j * n + i] = d[0][i * p + j];
            }
        }
        try (Tensor xs = Fixtures.f64(d[0], n, p); Tensor xcs = Fixtures.f64(cols, p, n); Tensor ys = Fixtures.f64(d[1], n);
             LassoProblem shared = LassoProblem.builder(xs, ys).threads(2).build();
             LassoSolver solver = new LassoSolver(SolverOptions.defaults().withTol(1e-10).withThreads(2));
             java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
            double[] alphas = LassoSolver.alphaGrid(shared, 6, 0.01);
            double[] want = solver.path(shared, alphas).coefMatrix();
            Tensor x = Tensor.allocate(arena, DType.F64, n, p);
            Tensor xc = Tensor.allocate(arena, DType.F64, p, n);
            Tensor y = Tensor.allocate(arena, DType.F64, n);
            java.lang.foreign.MemorySegment.copy(xs.segment(), 0, x.segment(), 0, 8L * n * p);
            java.lang.foreign.MemorySegment.copy(xcs.segment(), 0, xc.segment(), 0, 8L * n * p);
            java.lang.foreign.MemorySegment.copy(ys.segment(), 0, y.segment(), 0, 8L * n);
            try (LassoProblem rows = LassoProblem.builder(x, y).threads(2).build();
                 LassoProblem byColumns = LassoProblem.builderColumns(xc, y).threads(2).build()) {
                for (LassoProblem pb : new LassoProblem[] {rows, byColumns}) {
                    LassoPath path = solver.path(pb, alphas);
                    Certificates.assertClose(want, path.coefMatrix(), 1e-6, "confined X");
                    for (Solution s : path.solutions()) {
                        Certificates.check(pb, s, 1e-10);
                    }
                }
            }
        }
    }

    @Test
    void nonFiniteValuesAreRefused() {
        Random rnd = new Random(3);
        try (Tensor x = randomX(rnd, 20, 5); Tensor y = randomY(rnd, 20)) {
            x.setDouble(Double.NaN, 4, 2);
            JlmException e = assertThrows(JlmException.InvalidArgument.class, () -> LassoProblem.builder(x, y).build());
            assertTrue(e.getMessage().contains("non-finite") && e.getMessage().contains("feature 2"), e.getMessage());
            x.setDouble(1.0, 4, 2);
            y.setDouble(Double.POSITIVE_INFINITY, 7);
            e = assertThrows(JlmException.InvalidArgument.class, () -> LassoProblem.builder(x, y).build());
            assertTrue(e.getMessage().contains("y") && e.getMessage().contains("row 7"), e.getMessage());
        }
        // X given by columns and used in place: the check still happens.
        try (Tensor xc = randomX(rnd, 5, 20); Tensor y = randomY(rnd, 20)) {
            xc.setDouble(Double.NaN, 3, 11);
            JlmException e = assertThrows(JlmException.InvalidArgument.class, () -> LassoProblem.builderColumns(xc, y).build());
            assertTrue(e.getMessage().contains("non-finite") && e.getMessage().contains("sample 11, feature 3"),
                    e.getMessage());
        }
    }

    @Test
    void shapeAndOptionMistakesAreRefused() {
        Random rnd = new Random(4);
        try (Tensor x = randomX(rnd, 20, 5); Tensor y = randomY(rnd, 19); Tensor y20 = randomY(rnd, 20);
             Tensor x3 = Tensor.allocate(DType.F64, 2, 2, 2); Tensor xi = Tensor.allocate(DType.I32, 20, 5)) {
            assertThrows(JlmException.InvalidArgument.class, () -> LassoProblem.builder(x, y).build());
            assertThrows(JlmException.InvalidArgument.class, () -> LassoProblem.builder(x3, y20).build());
            assertThrows(JlmException.InvalidArgument.class, () -> LassoProblem.builder(xi, y20).build());
            assertThrows(JlmException.InvalidArgument.class, () -> LassoProblem.builder(x, y20).l1Ratio(0));
            assertThrows(JlmException.InvalidArgument.class, () -> LassoProblem.builder(x, y20).l1Ratio(1.5));
            assertThrows(JlmException.InvalidArgument.class,
                    () -> LassoProblem.builder(x, y20).penaltyWeights(new double[] {1, 1, -1, 1, 1}).build());
            assertThrows(JlmException.InvalidArgument.class,
                    () -> LassoProblem.builder(x, y20).penaltyWeights(new double[] {1, 1}).build());
            assertThrows(JlmException.InvalidArgument.class,
                    () -> LassoProblem.builder(x, y20).groups(new int[] {0, 0, 1}).build());
            assertThrows(JlmException.InvalidArgument.class,
                    () -> LassoProblem.builder(x, y20).groups(new int[] {0, 0, 1, -1, 2}).build());
            assertThrows(JlmException.Unsupported.class,
                    () -> LassoProblem.builder(x, y20).groups(new int[] {0, 0, 1, 1, 2}).positive(true).build());
            try (LassoProblem pb = LassoProblem.builder(x, y20).build();
                 LassoProblem gp = LassoProblem.builder(x, y20).groups(new int[] {0, 0, 1, 1, 2}).build();
                 LassoSolver s = new LassoSolver(SolverOptions.defaults());
                 LassoSolver gs = new LassoSolver(SolverOptions.defaults().withAlgorithm(SolverOptions.Algorithm.GRAM))) {
                JlmException e = assertThrows(JlmException.InvalidArgument.class, () -> s.solve(pb, 0.0));
                assertTrue(e.getMessage().contains("alpha"), e.getMessage());
                assertThrows(JlmException.InvalidArgument.class, () -> s.solve(pb, -1.0));
                assertThrows(JlmException.InvalidArgument.class, () -> s.solve(pb, Double.NaN));
                assertThrows(JlmException.InvalidArgument.class, () -> s.solve(pb, 0.1, new double[3]));
                assertThrows(JlmException.Unsupported.class, () -> gs.solve(gp, 0.1));
                assertThrows(JlmException.InvalidArgument.class, () -> LassoSolver.alphaGrid(pb, 0, 1e-2));
                assertThrows(JlmException.InvalidArgument.class, () -> LassoSolver.alphaGrid(pb, 10, 0));
            }
            assertThrows(JlmException.InvalidArgument.class, () -> SolverOptions.defaults().withTol(0));
            assertThrows(JlmException.InvalidArgument.class, () -> SolverOptions.defaults().withThreads(0));
        }
    }

    @Test
    void emptyAndConstantColumnsGetZeroCoefficients() {
        Random rnd = new Random(5);
        int n = 40, p = 9;
        for (SolverOptions.Algorithm algo : SolverOptions.Algorithm.values()) {
            try (Tensor x = randomX(rnd, n, p); Tensor y = randomY(rnd, n)) {
                for (int i = 0; i < n; i++) {
                    x.setDouble(0.0, i, 2);          // empty column
                    x.setDouble(3.5, i, 6);          // constant: empty once centered
                    y.setDouble(y.getDouble(i) + 2 * x.getDouble(i, 0) - 1.5 * x.getDouble(i, 6) + 4, i);
                }
                try (LassoProblem pb = LassoProblem.builder(x, y).fitIntercept(true).build();
                     LassoSolver s = new LassoSolver(SolverOptions.defaults().withTol(1e-10).withAlgorithm(algo))) {
                    LassoPath path = s.path(pb, 8, 1e-3);
                    for (Solution sol : path.solutions()) {
                        assertEquals(0.0, sol.coef()[2], "empty column, " + algo);
                        assertEquals(0.0, sol.coef()[6], "constant column, " + algo);
                        assertTrue(Double.isFinite(sol.intercept()[0]) && Double.isFinite(sol.relativeGap()));
                        Certificates.check(pb, sol, 1e-10);
                    }
                }
            }
        }
    }

    @Test
    void constantTargetHasAlphaMaxZero() {
        Random rnd = new Random(6);
        try (Tensor x = randomX(rnd, 10, 3); Tensor y = Fixtures.f64(new double[] {2, 2, 2, 2, 2, 2, 2, 2, 2, 2}, 10);
             LassoProblem pb = LassoProblem.builder(x, y).fitIntercept(true).build();
             LassoSolver s = new LassoSolver(SolverOptions.defaults())) {
            assertEquals(0.0, pb.alphaMax());
            assertThrows(JlmException.InvalidArgument.class, () -> LassoSolver.alphaGrid(pb, 5, 0.1));
            Solution sol = s.solve(pb, 0.1);
            assertEquals(0, sol.nnz());
            assertEquals(2.0, sol.intercept()[0], 1e-12);
            assertTrue(sol.converged());
        }
    }
}
