package dev.jlm.bench.lasso;

import dev.jlm.core.Simd;
import dev.jlm.core.Tensor;
import dev.jlm.prune.lasso.LassoPath;
import dev.jlm.prune.lasso.LassoProblem;
import dev.jlm.prune.lasso.LassoSolver;
import dev.jlm.prune.lasso.Npy;
import dev.jlm.prune.lasso.SolverOptions;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;

/**
 * The jlm side of {@code benchmarks/scripts/lasso/compare.py}:
 * <pre>
 *   java -cp benchmarks.jar dev.jlm.bench.lasso.LassoBenchData write DIR
 *       writes both problems as .npy (X by columns as [p, n], y, the 20 alphas)
 *   java -cp benchmarks.jar dev.jlm.bench.lasso.LassoBenchData time DIR PROBLEM THREADS REPEATS [TOL]
 *       solves the path REPEATS times after a warm-up (at least 3 paths and 6 seconds), writes
 *       DIR/PROBLEM_jlm_coef.npy and prints one JSON line: best and median wall seconds, the best CPU seconds (of
 *       the solving thread with one thread, of all Java threads of the JVM with more), the largest
 *       relative duality gap, nnz at the end of the path, and the wall seconds of the very first path of the JVM
 *       (first_s: cold, mostly interpreted and lower-tier code)
 *   java -cp benchmarks.jar dev.jlm.bench.lasso.LassoBenchData threads PROBLEM REPEATS [TOL]
 *       one thread against two in one JVM, paths alternating (the steadier comparison on a shared host)
 *   java -cp benchmarks.jar dev.jlm.bench.lasso.LassoBenchData peer PROBLEM IMPL INDEX...
 *       one fit of a Java peer (tribuo or smile) at each given alpha index (0 = alphaMax, 19 = 1%), after a
 *       warm-up fit at index 1; prints seconds and the relative duality gap of each (peers that take
 *       minutes per path are measured alpha by alpha this way)
 * </pre>
 * Wall time is measured around {@link LassoSolver#path} (best_s), and separately around the problem's build on
 * the same threads (build_best_s: norms and the 16-bit and 8-bit copies of a large X), the data already in memory;
 * scikit-learn's and glmnet's timed calls include their own preparation of X, so build plus path is the figure to
 * compare with theirs when X is solved once.
 */
public final class LassoBenchData {
    private static final long WARMUP_NANOS = 6_000_000_000L;

    private LassoBenchData() {
    }

    /** CPU nanoseconds used so far by all live Java threads of this JVM. */
    private static long javaThreadsCpu(java.lang.management.ThreadMXBean th) {
        long sum = 0;
        for (long id : th.getAllThreadIds()) {
            sum += Math.max(0, th.getThreadCpuTime(id));
        }
        return sum;
    }

    /**
     * One thread against two in one JVM: paths alternate between a 1-thread and a 2-thread solver on the same problem
     * (after 7 s of alternating warm-up), so that both see the same moments of a shared host; prints each one's
     * percentiles and the ratio of the medians as one JSON line.
     */
    private static void alternateThreads(String name, int repeats, double tol) {
        BenchProblems.Problem pr = BenchProblems.get(name);
        try (Tensor x = pr.columns(); Tensor y = pr.target();
             LassoProblem pb = BenchProblems.problem(x, y, 2);
             LassoSolver one = new LassoSolver(SolverOptions.defaults().withTol(tol).withThreads(1));
             LassoSolver two = new LassoSolver(SolverOptions.defaults().withTol(tol).withThreads(2))) {
            long w0 = System.nanoTime();
            for (int k = 0; System.nanoTime() - w0 < 7_000_000_000L; k++) {
                (k % 2 == 0 ? one : two).path(pb, pr.alphas());
            }
            double[][] t = new double[2][repeats];
            double gap = 0;
            for (int r = 0; r < 2 * repeats; r++) {
                LassoSolver s = r % 2 == 0 ? one : two;
                long t0 = System.nanoTime();
                LassoPath path = s.path(pb, pr.alphas());
                t[r % 2][r / 2] = (System.nanoTime() - t0) / 1e9;
                gap = Math.max(gap, path.maxRelativeGap());
            }
            Arrays.sort(t[0]);
            Arrays.sort(t[1]);
            int h = repeats / 2;
            System.out.println(String.format(Locale.ROOT,
                    "{\"problem\":\"%s\",\"repeats\":%d,\"one_p25_s\":%.6f,\"one_median_s\":%.6f,\"one_p75_s\":%.6f,"
                            + "\"two_p25_s\":%.6f,\"two_median_s\":%.6f,\"two_p75_s\":%.6f,\"median_ratio\":%.3f,"
                            + "\"max_rel_gap\":%.3e,\"simd\":\"%s\"}",
                    name, repeats, t[0][repeats / 4], t[0][h], t[0][3 * repeats / 4], t[1][repeats / 4], t[1][h],
                    t[1][3 * repeats / 4], t[0][h] / t[1][h], gap, Simd.describe()));
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length >= 2 && args[0].equals("write")) {
            Path dir = Path.of(args[1]);
            Files.createDirectories(dir);
            for (String name : new String[] {"toeplitz", "independent"}) {
                BenchProblems.write(BenchProblems.get(name), dir);
            }
            System.out.println("wrote the problems to " + dir);
            return;
        }
        if (args.length >= 5 && args[0].equals("time")) {
            Path dir = Path.of(args[1]);
            String name = args[2];
            int threads = Integer.parseInt(args[3]);
            int repeats = Integer.parseInt(args[4]);
            double tol = args.length > 5 ? Double.parseDouble(args[5]) : 1e-8;
            BenchProblems.Problem pr = BenchProblems.get(name);
            try (Tensor x = pr.columns(); Tensor y = pr.target();
                 LassoProblem pb = BenchProblems.problem(x, y, threads);
                 LassoSolver solver = new LassoSolver(SolverOptions.defaults().withTol(tol).withThreads(threads))) {
                // The first path of a fresh JVM runs mostly in the interpreter and the lower compiler tiers: it is
                // reported on its own; the timed runs come after at least 3 paths and 6 seconds of warm-up (with
                // threads, the row-split sweeps settle only after 4-5 s of compiling on two cores).
                long w0 = System.nanoTime();
                LassoPath path = solver.path(pb, pr.alphas());
                double first = (System.nanoTime() - w0) / 1e9;
                int warmups = 1;
                while (warmups < 3 || System.nanoTime() - w0 < WARMUP_NANOS) {
                    path = solver.path(pb, pr.alphas());
                    warmups++;
                }
                double[] secs = new double[repeats];
                double[] cpu = new double[repeats];
                var th = java.lang.management.ManagementFactory.getThreadMXBean();
                for (int r = 0; r < repeats; r++) {
                    // One thread: that thread's CPU time; more: the sum over the JVM's Java threads (the solver's pool
                    // included; the process total is counted in 10 ms ticks here, too coarse for these paths).
                    long c0 = threads == 1 ? th.getCurrentThreadCpuTime() : javaThreadsCpu(th);
                    long t0 = System.nanoTime();
                    path = solver.path(pb, pr.alphas());
                    secs[r] = (System.nanoTime() - t0) / 1e9;
                    cpu[r] = ((threads == 1 ? th.getCurrentThreadCpuTime() : javaThreadsCpu(th)) - c0) / 1e9;
                }
                // The problem's build (centring checks, norms, the 16-bit and 8-bit copies of a large X) on the same
                // threads: a one-time cost per X, which scikit-learn's and glmnet's timed calls include in their own form.
                double[] buildSecs = new double[repeats];
                double[] buildCpu = new double[repeats];
                for (int r = 0; r < repeats; r++) {
                    long c0 = threads == 1 ? th.getCurrentThreadCpuTime() : javaThreadsCpu(th);
                    long t0 = System.nanoTime();
                    LassoProblem again = BenchProblems.problem(x, y, threads);
                    buildSecs[r] = (System.nanoTime() - t0) / 1e9;
                    buildCpu[r] = ((threads == 1 ? th.getCurrentThreadCpuTime() : javaThreadsCpu(th)) - c0) / 1e9;
                    again.close();
                }
                Arrays.sort(secs);
                Arrays.sort(cpu);
                Arrays.sort(buildSecs);
                Arrays.sort(buildCpu);
                Npy.writeF64(dir.resolve(name + "_jlm_coef.npy"), path.coefMatrix(), pr.alphas().length, pr.p());
                System.out.println(String.format(Locale.ROOT,
                        "{\"problem\":\"%s\",\"threads\":%d,\"best_s\":%.6f,\"median_s\":%.6f,\"best_cpu_s\":%.6f,"
                                + "\"build_best_s\":%.6f,\"build_best_cpu_s\":%.6f,\"max_rel_gap\":%.3e,"
                                + "\"first_s\":%.6f,\"warmup_paths\":%d,"
                                + "\"nnz_last\":%d,\"epochs\":%d,\"tol\":%.1e,\"simd\":\"%s\"}",
                        name, threads, secs[0], secs[repeats / 2], cpu[0], buildSecs[0], buildCpu[0], path.maxRelativeGap(),
                        first, warmups,
                        path.solutions().getLast().nnz(), path.iterations(), tol, Simd.describe()));
            }
            return;
        }
        if (args.length >= 3 && args[0].equals("threads")) {
            alternateThreads(args[1], Integer.parseInt(args[2]), args.length > 3 ? Double.parseDouble(args[3]) : 1e-8);
            return;
        }
        if (args.length >= 4 && args[0].equals("peer")) {
            LassoBench b = new LassoBench();
            b.problem = args[1];
            b.impl = args[2];
            b.threads = 1;
            b.setup();
            try {
                double[] alphas = b.data.alphas();
                b.peerFit(alphas[1]);
                for (int q = 3; q < args.length; q++) {
                    int a = Integer.parseInt(args[q]);
                    long t0 = System.nanoTime();
                    double[] coef = b.peerFit(alphas[a]);
                    double secs = (System.nanoTime() - t0) / 1e9;
                    int nnz = 0;
                    for (double c : coef) {
                        nnz += c != 0 ? 1 : 0;
                    }
                    System.out.println(String.format(Locale.ROOT,
                            "{\"problem\":\"%s\",\"impl\":\"%s\",\"alpha_index\":%d,\"seconds\":%.3f,\"rel_gap\":%.3e,\"nnz\":%d}",
                            b.problem, b.impl, a, secs, b.solver.relativeGap(b.pb, alphas[a], coef), nnz));
                }
            } finally {
                b.tearDown();
            }
            return;
        }
        System.err.println("usage: LassoBenchData write DIR | time DIR PROBLEM THREADS REPEATS [TOL] | threads PROBLEM REPEATS [TOL]"
                + " | peer PROBLEM IMPL INDEX...");
        System.exit(2);
    }
}
