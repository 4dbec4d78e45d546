package dev.jlm.prune.lasso;

import java.util.List;

/**
 * Solutions along a decreasing sequence of alphas, computed with warm starts.
 *
 * @param alphas    the alphas, in the order solved (decreasing)
 * @param solutions one solution per alpha
 * @param seconds   wall time of the whole path
 */
public record LassoPath(double[] alphas, List<Solution> solutions, double seconds) {
    public LassoPath {
        alphas = alphas.clone();
        solutions = List.copyOf(solutions);
    }

    @Override
    public double[] alphas() {
        return alphas.clone();
    }

    /** All coefficients as one row-major {@code [nAlphas, p * T]} array. */
    public double[] coefMatrix() {
        int k = solutions.isEmpty() ? 0 : solutions.getFirst().coef().length;
        double[] out = new double[solutions.size() * k];
        for (int a = 0; a < solutions.size(); a++) {
            System.arraycopy(solutions.get(a).coef(), 0, out, a * k, k);
        }
        return out;
    }

    /** The largest relative duality gap along the path. */
    public double maxRelativeGap() {
        return solutions.stream().mapToDouble(Solution::relativeGap).max().orElse(0);
    }

    /** Total epochs along the path. */
    public long iterations() {
        return solutions.stream().mapToLong(Solution::iterations).sum();
    }
}
