package dev.jlm.prune.lasso;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlm.core.JlmException;
import dev.jlm.core.Tensor;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Paths, threads, concurrent solvers, cross-validation and the run logic behind {@code jlm lasso}. */
class LassoPathTest {
    @TempDir
    Path dir;

    /** Toeplitz(rho)-correlated rows, k true non-zeros, noise sigma: the benchmark's problem in small. */
    static double[][] toeplitz(long seed, int n, int p, int k, double rho, double sigma) {
        Random rnd = new Random(seed);
        double[] x = new double[n * p];
        for (int i = 0; i < n; i++) {
            double prev = rnd.nextGaussian();
            for (int j = 0; j < p; j++) {
                prev = j == 0 ? prev : rho * prev + Math.sqrt(1 - rho * rho) * rnd.nextGaussian();
                x[i * p + j] = prev;
            }
        }
        double[] y = new double[n];
        for (int i = 0; i < n; i++) {
            for (int s = 0; s < k; s++) {
                int j = (int) ((long) s * p / k);
                y[i] += (s % 2 == 0 ? 1 : -1) * (1 + s % 3) * x[i * p + j];
            }
            y[i] += sigma * rnd.nextGaussian();
        }
        return new double[][] {x, y};
    }

    @Test
    void pathIsCertifiedAndThreadsAgree() {
        double[][] d = toeplitz(7, 60, 301, 10, 0.5, 0.5);
        try (Tensor x = Fixtures.f64(d[0], 60, 301); Tensor y = Fixtures.f64(d[1], 60);
             LassoProblem pb = LassoProblem.builder(x, y).build();
             LassoSolver one = new LassoSolver(SolverOptions.defaults().withTol(1e-8));
             LassoSolver two = new LassoSolver(SolverOptions.defaults().withTol(1e-8).withThreads(2))) {
            double[] alphas = LassoSolver.alphaGrid(pb, 20, 0.01);
            assertEquals(pb.alphaMax(), alphas[0], 0);
            assertEquals(0.01 * pb.alphaMax(), alphas[19], 1e-15 * alphas[0]);
            for (int i = 1; i < alphas.length; i++) {
                assertEquals(alphas[i - 1] * Math.pow(0.01, 1.0 / 19), alphas[i], 1e-12 * alphas[i]);
            }
            LassoPath a = one.path(pb, alphas);
            LassoPath b = two.path(pb, alphas);
            assertEquals(0, a.solutions().getFirst().nnz());
            assertTrue(a.solutions().getLast().nnz() > 10, "the end of the path should be dense-ish");
            assertTrue(a.maxRelativeGap() <= 1e-8);
            for (int k = 0; k < alphas.length; k++) {
                Certificates.check(pb, a.solutions().get(k), 1e-8);
                Certificates.check(pb, b.solutions().get(k), 1e-8);
            }
            // Same certified optimum whatever the threads; the KKT check above bounds both.
            double[] ca = a.coefMatrix();
            double[] cb = b.coefMatrix();
            assertEquals(ca.length, 20 * 301);
            for (int i = 0; i < ca.length; i++) {
                assertEquals(ca[i], cb[i], 1e-3 * (1 + Math.abs(ca[i])));
            }
        }
    }

    @Test
    void largeProblemScreensWithThe16BitShadowAndStaysCertified() {
        int n = 2100, p = 2000; // 4.2M elements: above LassoProblem.SHADOW_MIN
        double[][] d = toeplitz(11, n, p, 30, 0.3, 1.0);
        try (Tensor x = Fixtures.f64(d[0], n, p); Tensor y = Fixtures.f64(d[1], n);
             LassoProblem pb = LassoProblem.builder(x, y).fitIntercept(true).build();
             LassoSolver fast = new LassoSolver(SolverOptions.defaults().withTol(1e-9).withThreads(2));
             LassoSolver plain = new LassoSolver(SolverOptions.defaults().withTol(1e-9).withScreening(false))) {
            assertTrue(pb.x16 != null, "the 16-bit shadow should exist at this size");
            // The shadow's error bound holds: |x_j . r - scale_j fl(q_j . r)| <= err_j ||r|| for random r.
            java.util.Random rnd = new java.util.Random(2);
            double[] r = new double[n];
            double rn = 0;
            for (int i = 0; i < n; i++) {
                r[i] = rnd.nextGaussian() * (i % 7 == 0 ? 100 : 1);
                rn += r[i] * r[i];
            }
            rn = Math.sqrt(rn);
            // The 8-bit products as the certificate computes them (float32 arithmetic in the vector kernels).
            double[] q8s = new double[p];
            try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
                java.lang.foreign.MemorySegment rs = arena.allocate(8L * n, 8);
                java.lang.foreign.MemorySegment out = arena.allocate(8L * p, 8);
                for (int i = 0; i < n; i++) {
                    rs.setAtIndex(LassoProblem.F64, i, r[i]);
                }
                dev.jlm.simd.l1.L1Kernels.get().columnDotsI8(pb.x8, n, n, 0, p, rs, 0, out, 0);
                for (int j = 0; j < p; j++) {
                    q8s[j] = out.getAtIndex(LassoProblem.F64, j);
                }
            }
            double worst = 0;
            double worst8 = 0;
            for (int j = 0; j < p; j++) {
                java.math.BigDecimal exact = java.math.BigDecimal.ZERO;
                double q = 0;
                for (int i = 0; i < n; i++) {
                    double xv = pb.x.getAtIndex(LassoProblem.F64, (long) j * n + i);
                    exact = exact.add(new java.math.BigDecimal(xv).multiply(new java.math.BigDecimal(r[i])));
                    q += pb.x16.getAtIndex(LassoProblem.I16, (long) j * n + i) * r[i];
                }
                double diff = Math.abs(exact.doubleValue() - pb.x16Scale[j] * q);
                assertTrue(diff <= pb.x16Error[j] * rn, "column " + j + ": " + diff + " > " + pb.x16Error[j] * rn);
                worst = Math.max(worst, diff / (pb.x16Error[j] * rn));
                // The same for the 8-bit copy of the certificate's first pass.
                double diff8 = Math.abs(exact.doubleValue() - pb.x8Scale[j] * q8s[j]);
                double bound8 = pb.x8Error[j] * rn + pb.x8Floor[j];
                assertTrue(diff8 <= bound8, "8-bit column " + j + ": " + diff8 + " > " + bound8);
                worst8 = Math.max(worst8, diff8 / bound8);
            }
            assertTrue(worst > 1e-3, "the bound should not be loose by orders of magnitude: " + worst);
            assertTrue(worst8 > 1e-3, "the 8-bit bound should not be loose by orders of magnitude: " + worst8);
            double[] alphas = LassoSolver.alphaGrid(pb, 4, 0.02);
            LassoPath a = fast.path(pb, alphas);
            LassoPath b = plain.path(pb, alphas);
            for (int k = 0; k < alphas.length; k++) {
                Solution sa = a.solutions().get(k);
                Certificates.check(pb, sa, 1e-9);
                double max = 0;
                for (double c : b.solutions().get(k).coef()) {
                    max = Math.max(max, Math.abs(c));
                }
                for (int j = 0; j < p; j++) {
                    assertEquals(b.solutions().get(k).coef()[j], sa.coef()[j], 1e-4 * Math.max(max, 1e-12));
                }
            }
            assertTrue(a.solutions().getLast().nnz() > 30, "the end of the path should hold noise features too");
        }
    }

    @Test
    void solversRunConcurrentlyOnOneProblemAndRefuseSharing() throws Exception {
        double[][] d = toeplitz(8, 80, 200, 8, 0.5, 0.3);
        try (Tensor x = Fixtures.f64(d[0], 80, 200); Tensor y = Fixtures.f64(d[1], 80);
             LassoProblem pb = LassoProblem.builder(x, y).fitIntercept(true).build()) {
            ExecutorService ex = Executors.newFixedThreadPool(4);
            try {
                Future<LassoPath>[] fs = new Future[4];
                for (int t = 0; t < 4; t++) {
                    fs[t] = ex.submit(() -> {
                        try (LassoSolver s = new LassoSolver(SolverOptions.defaults().withTol(1e-10))) {
                            return s.path(pb, 10, 0.05);
                        }
                    });
                }
                double[] first = fs[0].get().coefMatrix();
                for (int t = 1; t < 4; t++) {
                    assertArrayEquals(first, fs[t].get().coefMatrix(), "deterministic across threads");
                }
                // One solver used by two threads at once fails fast instead of corrupting its buffers.
                try (LassoSolver shared = new LassoSolver(SolverOptions.defaults().withTol(1e-12).withScreening(false))) {
                    Future<?> busy = ex.submit(() -> shared.path(pb, 200, 1e-4));
                    Thread.sleep(20);
                    if (!busy.isDone()) {
                        assertThrows(IllegalStateException.class, () -> shared.solve(pb, 0.1));
                    }
                    busy.get();
                }
            } finally {
                ex.shutdown();
            }
        }
    }

    @Test
    void fistaAndCdAgreeOnTheLasso() {
        double[][] d = toeplitz(9, 50, 90, 6, 0.5, 0.2);
        try (Tensor x = Fixtures.f64(d[0], 50, 90); Tensor y = Fixtures.f64(d[1], 50);
             LassoProblem pb = LassoProblem.builder(x, y).build();
             LassoSolver cd = new LassoSolver(SolverOptions.defaults().withTol(1e-11));
             LassoSolver fista = new LassoSolver(SolverOptions.defaults().withTol(1e-11)
                     .withAlgorithm(SolverOptions.Algorithm.FISTA).withMaxIter(500_000))) {
            double alpha = 0.05 * pb.alphaMax();
            Solution a = cd.solve(pb, alpha);
            Solution b = fista.solve(pb, alpha);
            Certificates.check(pb, b, 1e-11);
            double max = 0;
            for (double c : a.coef()) {
                max = Math.max(max, Math.abs(c));
            }
            for (int j = 0; j < 90; j++) {
                assertEquals(a.coef()[j], b.coef()[j], 1e-5 * max);
            }
        }
    }

    @Test
    void crossValidationPicksAnInteriorAlpha() {
        double[][] d = toeplitz(10, 120, 60, 5, 0.5, 1.0);
        try (Tensor x = Fixtures.f64(d[0], 120, 60); Tensor y = Fixtures.f64(d[1], 120)) {
            LassoCV.Result r = LassoCV.fit(x, y, b -> b.fitIntercept(true), 30, 1e-3, 5, 42, SolverOptions.defaults().withTol(1e-8));
            assertEquals(30, r.alphas().length);
            assertTrue(r.bestIndex() > 0 && r.bestIndex() < 29, "best index " + r.bestIndex());
            for (double m : r.meanMse()) {
                assertTrue(m >= r.meanMse()[r.bestIndex()]);
            }
            assertTrue(r.meanMse()[0] > 2 * r.meanMse()[r.bestIndex()], "the empty model should be clearly worse");
            assertEquals(r.bestAlpha(), r.best().alpha());
            assertTrue(r.best().converged());
            LassoCV.Result again = LassoCV.fit(x, y, b -> b.fitIntercept(true), 30, 1e-3, 5, 42, SolverOptions.defaults().withTol(1e-8));
            assertArrayEquals(r.meanMse(), again.meanMse(), "the seed fixes the folds");
        }
    }

    @Test
    void runWritesCoefficientsAndJson() {
        Path out = dir.resolve("coef.npy");
        LassoRun.Options base = LassoRun.Options.of(Fixtures.path("diabetes_X"), Fixtures.path("diabetes_y"), out);
        LassoRun.Options o = new LassoRun.Options(base.x(), base.y(), null, null, 12, 1e-2, 1.0, null, true, false,
                SolverOptions.defaults().withTol(1e-10), out);
        LassoRun.Result r = LassoRun.run(o);
        try (Npy.NpyArray coef = Npy.read(out)) {
            assertArrayEquals(new long[] {12, 10}, coef.shape());
            assertArrayEquals(r.path().coefMatrix(), coef.toDoubleArray());
        }
        String json = r.json();
        assertTrue(json.startsWith("{\"samples\":442,\"features\":10,\"tasks\":1,\"kind\":\"lasso\""), json);
        for (String key : new String[] {"\"alphas\":[", "\"nnz\":[0,", "\"relativeGaps\":[", "\"iterations\":[", "\"seconds\":[",
                "\"totalSeconds\":", "\"buildSeconds\":", "\"converged\":[true"}) {
            assertTrue(json.contains(key), key + " missing in " + json);
        }
        // One alpha from the command line reproduces the scikit-learn fixture.
        double[] alphas = Fixtures.doubles("diabetes_alphas");
        double[] ref = Fixtures.doubles("diabetes_lasso_coef");
        LassoRun.Result one = LassoRun.run(new LassoRun.Options(base.x(), base.y(), alphas[2], null, null, 1e-3, 1.0, null, true,
                false, SolverOptions.defaults().withTol(1e-10), out));
        try (Npy.NpyArray coef = Npy.read(out)) {
            assertArrayEquals(new long[] {10}, coef.shape());
            double[] c = coef.toDoubleArray();
            for (int j = 0; j < 10; j++) {
                assertEquals(ref[2 * 10 + j], c[j], 1e-6 * 800);
            }
        }
        assertEquals(1, one.path().solutions().size());
        // Fortran-order float32 X and alphas from a file.
        Path alphaFile = dir.resolve("alphas.npy");
        Npy.writeF64(alphaFile, Fixtures.doubles("correlated_alphas"), 3);
        LassoRun.Result corr = LassoRun.run(new LassoRun.Options(Fixtures.path("correlated_X"), Fixtures.path("correlated_y"),
                null, alphaFile, null, 1e-3, 1.0, null, false, false, SolverOptions.defaults().withTol(1e-10), null));
        double[] refc = Fixtures.doubles("correlated_lasso_coef");
        for (int j = 0; j < 120; j++) {
            assertEquals(refc[2 * 120 + j], corr.path().solutions().get(2).coef()[j], 1e-5);
        }
    }

    @Test
    void runRefusesBadOptionsAndFiles() throws Exception {
        Path x = Fixtures.path("diabetes_X");
        Path y = Fixtures.path("diabetes_y");
        Path ty = Fixtures.path("tall_y");
        assertThrows(JlmException.InvalidArgument.class, () -> LassoRun.run(new LassoRun.Options(x, y, 0.1, null, 10, 1e-3, 1.0,
                null, false, false, SolverOptions.defaults(), null)));
        JlmException e = assertThrows(JlmException.InvalidArgument.class, () -> LassoRun.run(new LassoRun.Options(x, ty, 0.1, null,
                null, 1e-3, 1.0, null, false, false, SolverOptions.defaults(), null)));
        assertTrue(e.getMessage().contains("tall_y"), e.getMessage());
        Path groups = dir.resolve("groups.npy");
        Npy.writeF64(groups, new double[] {0, 0, 1, 1.5, 2, 2, 3, 3, 4, 4}, 10);
        e = assertThrows(JlmException.InvalidArgument.class, () -> LassoRun.run(new LassoRun.Options(x, y, 0.1, null, null, 1e-3,
                1.0, groups, false, false, SolverOptions.defaults(), null)));
        assertTrue(e.getMessage().contains("groups.npy"), e.getMessage());
        Npy.writeF64(groups, new double[] {0, 0, 1, 1, 2, 2, 3, 3, 4, 4}, 10);
        LassoRun.Result g = LassoRun.run(new LassoRun.Options(x, y, 0.5, null, null, 1e-3, 1.0, groups, true, false,
                SolverOptions.defaults().withTol(1e-8), null));
        assertTrue(g.json().contains("\"kind\":\"group\""));
        assertTrue(g.path().solutions().getFirst().converged(), g.json());
        Path junk = dir.resolve("junk.npy");
        Files.writeString(junk, "hello");
        assertThrows(JlmException.InvalidModel.class, () -> LassoRun.run(LassoRun.Options.of(junk, y, null)));
    }
}
