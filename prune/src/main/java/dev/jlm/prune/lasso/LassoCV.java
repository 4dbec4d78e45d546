package dev.jlm.prune.lasso;

import dev.jlm.core.DType;
import dev.jlm.core.JlmException;
import dev.jlm.core.Tensor;
import java.util.Random;
import java.util.function.UnaryOperator;

/**
 * K-fold cross-validation over a regularization path: the samples are shuffled with a seed and split into
 * {@code folds} folds; every fold solves the same alphas (from the full data's alphaMax) on the other folds
 * and scores the held-out mean squared error; the alpha with the smallest mean error wins and the full data is
 * solved along the path down to it.
 */
public final class LassoCV {
    private LassoCV() {
    }

    /**
     * The outcome.
     *
     * @param alphas    the grid
     * @param meanMse   held-out mean squared error per alpha, averaged over folds
     * @param stdMse    its standard deviation over folds
     * @param bestIndex index of the chosen alpha
     * @param best      the solution on all the data at the chosen alpha
     * @param folds     number of folds
     * @param seed      the shuffling seed
     */
    public record Result(double[] alphas, double[] meanMse, double[] stdMse, int bestIndex, Solution best, int folds,
                         long seed) {
        public Result {
            alphas = alphas.clone();
            meanMse = meanMse.clone();
            stdMse = stdMse.clone();
        }

        @Override
        public double[] alphas() {
            return alphas.clone();
        }

        @Override
        public double[] meanMse() {
            return meanMse.clone();
        }

        @Override
        public double[] stdMse() {
            return stdMse.clone();
        }

        public double bestAlpha() {
            return alphas[bestIndex];
        }
    }

    /**
     * Runs the cross-validation.
     *
     * @param x         X as a row-major {@code [n, p]} F32 or F64 tensor
     * @param y         y as {@code [n]} or {@code [n, T]}
     * @param configure sets the penalty on each problem's builder (fitIntercept, l1Ratio, groups, ...)
     * @param nAlphas   number of alphas
     * @param eps       the smallest alpha as a fraction of alphaMax
     * @param folds     number of folds, 2 to n
     * @param seed      shuffling seed
     * @param options   solver options
     */
    public static Result fit(Tensor x, Tensor y, UnaryOperator<LassoProblem.Builder> configure, int nAlphas, double eps,
                             int folds, long seed, SolverOptions options) {
        if (x.rank() != 2 || !x.isContiguous()) {
            throw new JlmException.InvalidArgument("cross-validation needs X as a contiguous row-major [n, p] tensor, got " + x);
        }
        int n = (int) x.dim(0);
        int p = (int) x.dim(1);
        int tasks = y.rank() == 1 ? 1 : (int) y.dim(1);
        if (folds < 2 || folds > n) {
            throw new JlmException.InvalidArgument("folds must be in [2, n=" + n + "], not " + folds);
        }
        if (y.dim(0) != n) {
            throw new JlmException.InvalidArgument("y has " + y.dim(0) + " rows but X has " + n + " samples");
        }
        double[] alphas;
        try (LassoProblem full = configure.apply(LassoProblem.builder(x, y)).build()) {
            alphas = LassoSolver.alphaGrid(full, nAlphas, eps);
        }
        int[] perm = new int[n];
        for (int i = 0; i < n; i++) {
            perm[i] = i;
        }
        Random rnd = new Random(seed);
        for (int i = n - 1; i > 0; i--) {
            int k = rnd.nextInt(i + 1);
            int t = perm[i];
            perm[i] = perm[k];
            perm[k] = t;
        }
        double[][] mse = new double[folds][nAlphas];
        try (LassoSolver solver = new LassoSolver(options)) {
            for (int f = 0; f < folds; f++) {
                int from = (int) ((long) n * f / folds);
                int to = (int) ((long) n * (f + 1) / folds);
                int[] train = new int[n - (to - from)];
                int[] test = new int[to - from];
                for (int i = 0, a = 0, b = 0; i < n; i++) {
                    if (i >= from && i < to) {
                        test[b++] = perm[i];
                    } else {
                        train[a++] = perm[i];
                    }
                }
                try (Tensor xt = rows(x, train, p); Tensor yt = rows(y, train, tasks);
                     LassoProblem pb = configure.apply(LassoProblem.builder(xt, yt)).build()) {
                    LassoPath path = solver.path(pb, alphas);
                    for (int a = 0; a < nAlphas; a++) {
                        Solution s = path.solutions().get(a);
                        double err = 0;
                        for (int i : test) {
                            for (int t = 0; t < tasks; t++) {
                                double pred = s.intercept()[t];
                                for (int j = 0; j < p; j++) {
                                    double w = s.coef(j, t);
                                    if (w != 0) {
                                        pred += w * x.getDouble(i, j);
                                    }
                                }
                                double yv = y.rank() == 1 ? y.getDouble(i) : y.getDouble(i, t);
                                err += (yv - pred) * (yv - pred);
                            }
                        }
                        mse[f][a] = err / ((double) test.length * tasks);
                    }
                }
            }
            double[] mean = new double[nAlphas];
            double[] std = new double[nAlphas];
            int best = 0;
            for (int a = 0; a < nAlphas; a++) {
                for (int f = 0; f < folds; f++) {
                    mean[a] += mse[f][a] / folds;
                }
                for (int f = 0; f < folds; f++) {
                    std[a] += (mse[f][a] - mean[a]) * (mse[f][a] - mean[a]) / folds;
                }
                std[a] = Math.sqrt(std[a]);
                if (mean[a] < mean[best]) {
                    best = a;
                }
            }
            double[] head = java.util.Arrays.copyOf(alphas, best + 1);
            try (LassoProblem full = configure.apply(LassoProblem.builder(x, y)).build()) {
                Solution s = solver.path(full, head).solutions().get(best);
                return new Result(alphas, mean, std, best, s, folds, seed);
            }
        }
    }

    private static Tensor rows(Tensor src, int[] idx, int cols) {
        boolean vector = src.rank() == 1;
        Tensor out = vector ? Tensor.allocate(DType.F64, idx.length) : Tensor.allocate(DType.F64, idx.length, cols);
        for (int r = 0; r < idx.length; r++) {
            for (int c = 0; c < cols; c++) {
                double v = vector ? src.getDouble(idx[r]) : src.getDouble(idx[r], c);
                out.segment().setAtIndex(LassoProblem.F64, (long) r * cols + c, v);
            }
        }
        return out;
    }
}
