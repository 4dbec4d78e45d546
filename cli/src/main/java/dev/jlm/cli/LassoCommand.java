package dev.jlm.cli;

import dev.jlm.prune.lasso.LassoRun;
import dev.jlm.prune.lasso.SolverOptions;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;

/** {@code jlm lasso}: sparse regression on NumPy files. */
@Command(name = "lasso", mixinStandardHelpOptions = true,
        description = {"Solve a Lasso, elastic net, group or multi-task Lasso (scikit-learn's objective "
                + "(1/2n)||y - Xw||^2 + alpha ||w||_1) for one alpha or a regularization path, on .npy files.",
                "Every solution is certified by its duality gap, reported with it."})
final class LassoCommand implements Callable<Integer> {
    @Option(names = "--x", required = true, paramLabel = "X.npy", description = "Design matrix [n, p], float32/float64, C or Fortran order.")
    Path x;

    @Option(names = "--y", required = true, paramLabel = "Y.npy", description = "Targets [n] or [n, tasks] (multi-task).")
    Path y;

    @Option(names = "--alpha", paramLabel = "A", description = "One alpha.")
    Double alpha;

    @Option(names = "--alphas", paramLabel = "A.npy", description = "The alphas of a path, 1-D .npy.")
    Path alphas;

    @Option(names = "--path", paramLabel = "N", description = "A geometric path of N alphas from alpha_max down to eps * alpha_max (default 100).")
    Integer path;

    @Option(names = "--eps", paramLabel = "E", defaultValue = "1e-3", description = "Smallest alpha of --path as a fraction of alpha_max (default: ${DEFAULT-VALUE}).")
    double eps;

    @Option(names = "--l1-ratio", paramLabel = "R", defaultValue = "1", description = "Elastic-net mixing in (0, 1] (default: ${DEFAULT-VALUE}, the Lasso).")
    double l1Ratio;

    @Option(names = "--groups", paramLabel = "G.npy", description = "Group id per feature, 1-D .npy: group Lasso.")
    Path groups;

    @Option(names = "--tol", paramLabel = "T", defaultValue = "1e-4", description = "Duality-gap tolerance, relative to ||y||^2/n as in scikit-learn (default: ${DEFAULT-VALUE}).")
    double tol;

    @Option(names = "--max-iter", paramLabel = "N", defaultValue = "10000", description = "Most epochs per alpha (default: ${DEFAULT-VALUE}).")
    int maxIter;

    @Option(names = "--solver", paramLabel = "auto|cd|gram|fista", defaultValue = "auto", description = "Algorithm (default: ${DEFAULT-VALUE}).")
    String solver;

    @Option(names = "--threads", paramLabel = "N", defaultValue = "1", description = "Threads for the problem's build, the X^T r products and, from 4096 rows, the coordinate sweeps (default: ${DEFAULT-VALUE}).")
    int threads;

    @Option(names = "--fit-intercept", description = "Fit an unpenalized intercept.")
    boolean fitIntercept;

    @Option(names = "--positive", description = "Non-negative coefficients.")
    boolean positive;

    @Option(names = "--out", required = true, paramLabel = "COEF.npy", description = "Coefficients: [p] (or [p, tasks]) for one alpha, [alphas, p] for a path.")
    Path out;

    @Mixin
    CommonOptions common;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        SolverOptions.Algorithm algorithm;
        try {
            algorithm = SolverOptions.Algorithm.valueOf(solver.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new dev.jlm.core.JlmException.InvalidArgument("--solver must be auto, cd, gram or fista, not '" + solver + "'");
        }
        SolverOptions so = SolverOptions.defaults().withTol(tol).withMaxIter(maxIter).withAlgorithm(algorithm).withThreads(threads);
        LassoRun.Result r = LassoRun.run(new LassoRun.Options(x, y, alpha, alphas, path, eps, l1Ratio, groups,
                fitIntercept, positive, so, out));
        PrintWriter o = spec.commandLine().getOut();
        o.println(common.json ? r.json() : table(r));
        return 0;
    }

    private static String table(LassoRun.Result r) {
        StringBuilder sb = new StringBuilder(String.format(Locale.ROOT, "%-12s %7s %12s %8s %9s %s%n",
                "alpha", "nnz", "rel. gap", "epochs", "seconds", "solver"));
        for (var s : r.path().solutions()) {
            sb.append(String.format(Locale.ROOT, "%-12.5g %7d %12.3e %8d %9.4f %s%s%n", s.alpha(), s.nnz(), s.relativeGap(),
                    s.iterations(), s.seconds(), s.algorithm(), s.converged() ? "" : "  (not converged)"));
        }
        sb.append(String.format(Locale.ROOT, "%d alphas in %.3f s", r.path().solutions().size(), r.path().seconds()));
        return sb.toString();
    }
}
