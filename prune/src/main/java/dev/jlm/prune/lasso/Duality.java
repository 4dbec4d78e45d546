package dev.jlm.prune.lasso;

/**
 * The duality gap of scikit-learn's coordinate descent, generalized to weighted, group and multi-task
 * penalties. Everything here is on the unscaled objective
 * {@code P(w) = 1/2 ||R||^2 + l1 * Omega(w) + l2/2 ||w||^2} with {@code l1 = n alpha l1Ratio} and
 * {@code l2 = n alpha (1 - l1Ratio)}; the dual point is {@code theta = s * rho} for a residual {@code rho}
 * with {@code s = min(1, l1 / Omega*(X^T rho - l2 w))}, which makes it feasible. For rho = R this is exactly
 * scikit-learn's gap; the solvers stop when it is at most {@code tol * ||y||^2}.
 */
final class Duality {
    private Duality() {
    }

    /**
     * The dual norm {@code Omega*(c)} of {@code c} ({@code p * T} values, row-major {@code [p, T]}): the largest
     * {@code |c_j| / v_j} (or {@code c_j / v_j} when non-negative) over penalized features, the largest
     * {@code ||c_g|| / v_g} over groups, or the largest row norm for several tasks.
     */
    static double dualNorm(LassoProblem pb, double[] c) {
        double m = 0;
        switch (pb.kind) {
            case LASSO -> {
                for (int j = 0; j < pb.p; j++) {
                    double v = pb.weights == null ? 1 : pb.weights[j];
                    if (v > 0) {
                        double a = pb.positive ? c[j] : Math.abs(c[j]);
                        m = Math.max(m, a / v);
                    }
                }
            }
            case GROUP -> {
                for (int g = 0; g < pb.groups.length; g++) {
                    double s = 0;
                    for (int j : pb.groups[g]) {
                        s += c[j] * c[j];
                    }
                    m = Math.max(m, Math.sqrt(s) / pb.groupWeights[g]);
                }
            }
            case MULTI_TASK -> {
                int tt = pb.tasks;
                for (int j = 0; j < pb.p; j++) {
                    double s = 0;
                    for (int t = 0; t < tt; t++) {
                        double v = c[j * tt + t];
                        s += v * v;
                    }
                    m = Math.max(m, Math.sqrt(s));
                }
            }
        }
        return m;
    }

    /** The penalty {@code Omega(w)}. */
    static double omega(LassoProblem pb, double[] w) {
        double s = 0;
        switch (pb.kind) {
            case LASSO -> {
                for (int j = 0; j < pb.p; j++) {
                    s += (pb.weights == null ? 1 : pb.weights[j]) * Math.abs(w[j]);
                }
            }
            case GROUP -> {
                for (int g = 0; g < pb.groups.length; g++) {
                    double q = 0;
                    for (int j : pb.groups[g]) {
                        q += w[j] * w[j];
                    }
                    s += pb.groupWeights[g] * Math.sqrt(q);
                }
            }
            case MULTI_TASK -> {
                int tt = pb.tasks;
                for (int j = 0; j < pb.p; j++) {
                    double q = 0;
                    for (int t = 0; t < tt; t++) {
                        q += w[j * tt + t] * w[j * tt + t];
                    }
                    s += Math.sqrt(q);
                }
            }
        }
        return s;
    }

    static double norm2(double[] w) {
        double s = 0;
        for (double v : w) {
            s += v * v;
        }
        return s;
    }

    /** The primal objective, unscaled. */
    static double primal(double rNorm2, double l1, double l2, double omega, double wNorm2) {
        return 0.5 * rNorm2 + l1 * omega + 0.5 * l2 * wNorm2;
    }

    /**
     * The gap for the primal residual norm {@code rNorm2} and a dual point built from residual {@code rho}.
     *
     * @param dualNorm {@code Omega*(X^T rho - l2 w)}
     * @param rhoNorm2 {@code ||rho||^2}
     * @param rhoY     {@code rho . y}
     */
    static double gap(double rNorm2, double l1, double l2, double omega, double wNorm2,
                      double dualNorm, double rhoNorm2, double rhoY) {
        double s = dualNorm > l1 ? l1 / dualNorm : 1.0;
        double dual = s * rhoY - 0.5 * s * s * (rhoNorm2 + l2 * wNorm2);
        return primal(rNorm2, l1, l2, omega, wNorm2) - dual;
    }

    /** The scaling {@code s} of the dual point. */
    static double scale(double l1, double dualNorm) {
        return dualNorm > l1 ? l1 / dualNorm : 1.0;
    }
}
