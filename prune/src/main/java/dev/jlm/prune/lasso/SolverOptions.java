package dev.jlm.prune.lasso;

import dev.jlm.core.JlmException;

/**
 * How a {@link LassoSolver} works: stopping tolerance, iteration cap, algorithm, threads and screening.
 *
 * @param tol       stop when the duality gap, as scikit-learn defines it, is at most {@code tol * ||y||^2}
 *                  (unscaled objective), i.e. at most {@code tol * ||y||^2 / n} on the {@code 1/(2n)} scale
 * @param maxIter   the most epochs (passes of coordinate descent over the working set, or FISTA steps) per alpha
 * @param algorithm which algorithm; {@link Algorithm#AUTO} picks per problem
 * @param threads   threads for the {@code X^T r} products (1 = the calling thread only)
 * @param screening gap-safe screening and working sets (true by default; false runs plain cyclic
 *                  coordinate descent over all features, the reference behaviour of scikit-learn)
 */
public record SolverOptions(double tol, int maxIter, Algorithm algorithm, int threads, boolean screening) {

    /** The algorithms. */
    public enum Algorithm {
        /** Coordinate descent; the Gram variant for tall problems (n >= 4p and n p^2 <= 2^27); FISTA never chosen. */
        AUTO,
        /** Coordinate descent on residuals (block coordinate descent for group and multi-task). */
        CD,
        /** Coordinate descent on the Gram matrix X^T X (Lasso and elastic net only). */
        GRAM,
        /** Accelerated proximal gradient with backtracking and adaptive restart. */
        FISTA
    }

    public SolverOptions {
        if (!(tol > 0) || Double.isInfinite(tol)) {
            throw new JlmException.InvalidArgument("tol must be > 0 and finite, not " + tol);
        }
        if (maxIter < 1) {
            throw new JlmException.InvalidArgument("maxIter must be >= 1, not " + maxIter);
        }
        if (threads < 1) {
            throw new JlmException.InvalidArgument("threads must be >= 1, not " + threads);
        }
        if (algorithm == null) {
            throw new JlmException.InvalidArgument("algorithm must not be null");
        }
    }

    /** tol 1e-4 (scikit-learn's default), 10000 epochs, AUTO, 1 thread, screening on. */
    public static SolverOptions defaults() {
        return new SolverOptions(1e-4, 10_000, Algorithm.AUTO, 1, true);
    }

    public SolverOptions withTol(double v) {
        return new SolverOptions(v, maxIter, algorithm, threads, screening);
    }

    public SolverOptions withMaxIter(int v) {
        return new SolverOptions(tol, v, algorithm, threads, screening);
    }

    public SolverOptions withAlgorithm(Algorithm v) {
        return new SolverOptions(tol, maxIter, v, threads, screening);
    }

    public SolverOptions withThreads(int v) {
        return new SolverOptions(tol, maxIter, algorithm, v, screening);
    }

    public SolverOptions withScreening(boolean v) {
        return new SolverOptions(tol, maxIter, algorithm, threads, v);
    }
}
