package dev.jlm.prune.lasso;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Independent checks of a solution from heap copies of the data: the duality gap recomputed here in plain
 * double loops, and the KKT conditions with a rigorous slack. If the gap (unscaled) is at most
 * {@code tol ||y||^2}, then {@code ||X(w - w*)||^2 <= 2 tol ||y||^2}, so every correlation
 * {@code x_j^T r / n} is within {@code ||x_j|| sqrt(2 tol) ||y|| / n} of its value at the optimum.
 */
final class Certificates {
    private Certificates() {
    }

    /** Centered (when fitIntercept) copies of the problem data. */
    record Data(double[][] x, double[][] y, int n, int p, int tasks) {
        static Data of(LassoProblem pb) {
            int n = pb.n, p = pb.p, tt = pb.tasks;
            double[][] x = new double[p][n];
            double[][] y = new double[tt][n];
            for (int j = 0; j < p; j++) {
                for (int i = 0; i < n; i++) {
                    x[j][i] = pb.x.getAtIndex(LassoProblem.F64, (long) j * n + i);
                }
            }
            for (int t = 0; t < tt; t++) {
                for (int i = 0; i < n; i++) {
                    y[t][i] = pb.y.getAtIndex(LassoProblem.F64, (long) t * n + i);
                }
            }
            return new Data(x, y, n, p, tt);
        }

        double[][] residual(double[] w) {
            double[][] r = new double[tasks][];
            for (int t = 0; t < tasks; t++) {
                r[t] = y[t].clone();
                for (int j = 0; j < p; j++) {
                    double v = w[j * tasks + t];
                    if (v != 0) {
                        for (int i = 0; i < n; i++) {
                            r[t][i] -= v * x[j][i];
                        }
                    }
                }
            }
            return r;
        }

        double dot(double[] a, double[] b) {
            double s = 0;
            for (int i = 0; i < a.length; i++) {
                s += a[i] * b[i];
            }
            return s;
        }

        double yNorm2() {
            double s = 0;
            for (double[] yt : y) {
                s += dot(yt, yt);
            }
            return s;
        }
    }

    /** Checks gap <= tol (recomputed here) and the KKT conditions for every kind of problem. */
    static void check(LassoProblem pb, Solution s, double tol) {
        Data d = Data.of(pb);
        double alpha = s.alpha();
        double[] w = s.coef();
        int n = d.n, p = d.p, tt = d.tasks;
        double l1 = alpha * pb.l1Ratio * n;
        double l2 = alpha * (1 - pb.l1Ratio) * n;
        double[][] r = d.residual(w);
        double[] c = new double[p * tt];
        for (int j = 0; j < p; j++) {
            for (int t = 0; t < tt; t++) {
                c[j * tt + t] = d.dot(d.x[j], r[t]) - l2 * w[j * tt + t];
            }
        }
        double rn2 = 0, ry = 0;
        for (int t = 0; t < tt; t++) {
            rn2 += d.dot(r[t], r[t]);
            ry += d.dot(r[t], d.y[t]);
        }
        double wn2 = 0;
        for (double v : w) {
            wn2 += v * v;
        }
        double gap = Duality.gap(rn2, l1, l2, Duality.omega(pb, w), wn2, Duality.dualNorm(pb, c), rn2, ry);
        double yn2 = d.yNorm2();
        assertTrue(gap <= tol * yn2 * (1 + 1e-6) + 1e-13 * yn2,
                "alpha " + alpha + ": recomputed relative gap " + gap / yn2 + " > tol " + tol + " (solver said " + s.relativeGap() + ")");
        assertTrue(Math.abs(gap / yn2 - s.relativeGap()) <= 1e-6 * tol + 1e-12,
                "reported relative gap " + s.relativeGap() + " differs from recomputed " + gap / yn2);
        double slackBase = Math.sqrt(2 * tol * yn2) * (1 + 1e-6) + 1e-9 * Math.sqrt(yn2);
        switch (pb.kind) {
            case LASSO -> {
                for (int j = 0; j < p; j++) {
                    double v = pb.weights == null ? 1 : pb.weights[j];
                    double slack = Math.sqrt(pb.colNorm2[j] + l2) * slackBase + 1e-12 * l1;
                    double bound = l1 * v;
                    if (pb.positive) {
                        assertTrue(w[j] >= 0, "negative coefficient " + w[j] + " with positive=true");
                        assertTrue(c[j] <= bound + slack, "KKT: x_j^T r = " + c[j] + " > " + bound + " at j=" + j);
                        if (w[j] > 0) {
                            assertTrue(Math.abs(c[j] - bound) <= slack, "KKT equality at j=" + j + ": " + c[j] + " vs " + bound);
                        }
                    } else {
                        assertTrue(Math.abs(c[j]) <= bound + slack,
                                "KKT: |x_j^T r| = " + Math.abs(c[j]) + " > " + bound + " + " + slack + " at j=" + j);
                        if (w[j] != 0) {
                            assertTrue(Math.abs(c[j] - Math.signum(w[j]) * bound) <= slack,
                                    "KKT equality with sign at j=" + j + ": " + c[j] + " vs " + Math.signum(w[j]) * bound);
                        }
                    }
                    if (pb.colNorm2[j] == 0) {
                        assertTrue(w[j] == 0, "empty column " + j + " has coefficient " + w[j]);
                    }
                }
            }
            case GROUP, MULTI_TASK -> {
                int[][] blocks;
                double[] weight;
                if (pb.kind == LassoProblem.Kind.GROUP) {
                    blocks = pb.groups;
                    weight = pb.groupWeights;
                } else {
                    blocks = new int[p][];
                    weight = new double[p];
                    for (int j = 0; j < p; j++) {
                        blocks[j] = new int[] {j};
                        weight[j] = 1;
                    }
                }
                for (int b = 0; b < blocks.length; b++) {
                    double cn = 0, wn = 0, xf = 0;
                    for (int f : blocks[b]) {
                        xf += pb.colNorm2[f] + l2;
                        for (int t = 0; t < tt; t++) {
                            cn += c[f * tt + t] * c[f * tt + t];
                            wn += w[f * tt + t] * w[f * tt + t];
                        }
                    }
                    cn = Math.sqrt(cn);
                    wn = Math.sqrt(wn);
                    double slack = Math.sqrt(xf) * slackBase + 1e-12 * l1;
                    double bound = l1 * weight[b];
                    assertTrue(cn <= bound + slack, "KKT: block " + b + " correlation norm " + cn + " > " + bound);
                    if (wn > 0) {
                        // X_b^T r - l2 w_b = l1 v_b w_b / ||w_b||
                        double dev = 0;
                        for (int f : blocks[b]) {
                            for (int t = 0; t < tt; t++) {
                                double e = c[f * tt + t] - bound * w[f * tt + t] / wn;
                                dev += e * e;
                            }
                        }
                        assertTrue(Math.sqrt(dev) <= slack, "KKT equality at block " + b + ": deviation " + Math.sqrt(dev));
                    }
                }
            }
        }
    }

    /** Every coefficient of {@code got} within {@code rel} times the largest of {@code want} of its own. */
    static void assertClose(double[] want, double[] got, double rel, String what) {
        org.junit.jupiter.api.Assertions.assertEquals(want.length, got.length, what);
        double max = 0;
        for (double v : want) {
            max = Math.max(max, Math.abs(v));
        }
        for (int j = 0; j < want.length; j++) {
            org.junit.jupiter.api.Assertions.assertEquals(want[j], got[j], rel * max, what + ", coefficient " + j);
        }
    }
}
