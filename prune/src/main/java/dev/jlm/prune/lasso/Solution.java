package dev.jlm.prune.lasso;

/**
 * One solution with its certificate. Coefficients are {@code [p]} for one task and {@code [p, T]} row-major
 * (row j holds feature j's coefficient for every task) for several.
 *
 * @param alpha          the regularization strength
 * @param coef           the coefficients
 * @param intercept      one intercept per task (zeros without {@code fitIntercept})
 * @param dualityGap     the duality gap on the {@code 1/(2n)} scale of the objective
 * @param relativeGap    the duality gap divided by {@code ||y||^2 / n}: scikit-learn's stopping quantity
 * @param objective      the primal objective on the {@code 1/(2n)} scale
 * @param iterations     epochs of coordinate descent (or FISTA steps)
 * @param seconds        wall time of this solve
 * @param converged      true when {@code relativeGap <= tol}
 * @param algorithm      the algorithm that produced it ("cd", "gram", "bcd", "fista")
 */
public record Solution(double alpha, double[] coef, double[] intercept, double dualityGap, double relativeGap,
                       double objective, int iterations, double seconds, boolean converged, String algorithm) {
    public Solution {
        coef = coef.clone();
        intercept = intercept.clone();
    }

    @Override
    public double[] coef() {
        return coef.clone();
    }

    @Override
    public double[] intercept() {
        return intercept.clone();
    }

    /** Number of non-zero coefficients. */
    public int nnz() {
        int k = 0;
        for (double c : coef) {
            k += c != 0 ? 1 : 0;
        }
        return k;
    }

    /** Coefficient of feature {@code j} for task {@code t}. */
    public double coef(int j, int t) {
        return coef[j * intercept.length + t];
    }
}
