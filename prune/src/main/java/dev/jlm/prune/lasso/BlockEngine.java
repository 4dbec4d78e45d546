package dev.jlm.prune.lasso;

import dev.jlm.simd.l1.L1Kernels;
import java.lang.foreign.MemorySegment;

/**
 * Block coordinate descent for the group Lasso (a block is a group, one task) and the multi-task Lasso (a
 * block is one feature's row of coefficients across tasks). Each block takes a proximal gradient step with
 * the block's Lipschitz constant (the squared spectral norm of its columns, exact for one column) and the
 * group soft-threshold; the full duality gap is checked every few epochs, and gap-safe screening removes
 * blocks that are certainly zero.
 */
final class BlockEngine {
    private static final int CHECK_EVERY = 5;

    private final Workspace ws;
    private final SolverOptions opt;

    BlockEngine(Workspace ws, SolverOptions opt) {
        this.ws = ws;
        this.opt = opt;
    }

    /** Features of each block, its penalty weight and Lipschitz constant. */
    private record Blocks(int[][] features, double[] weight, double[] lipschitz) {
    }

    private Blocks blocks(LassoProblem pb) {
        if (pb.kind == LassoProblem.Kind.MULTI_TASK) {
            int[][] f = new int[pb.p][];
            double[] wt = new double[pb.p];
            for (int j = 0; j < pb.p; j++) {
                f[j] = new int[] {j};
                wt[j] = 1;
            }
            return new Blocks(f, wt, pb.colNorm2.clone());
        }
        double[] lip = new double[pb.groups.length];
        for (int g = 0; g < lip.length; g++) {
            lip[g] = spectralNorm2(pb, pb.groups[g]);
        }
        return new Blocks(pb.groups, pb.groupWeights, lip);
    }

    /**
     * A certified upper bound of the largest eigenvalue of {@code X_g^T X_g}: power iteration from a start
     * vector with no symmetry (a symmetric start can miss the top eigenvector of a symmetric Gram matrix),
     * then a Cholesky factorization of {@code mu I - G} proves {@code mu} is above the spectrum; when it does
     * not, the Gershgorin / trace bound. An underestimate would make the block steps diverge.
     */
    private double spectralNorm2(LassoProblem pb, int[] f) {
        int m = f.length;
        if (m == 1) {
            return pb.colNorm2[f[0]];
        }
        double[][] gm = new double[m][m];
        double trace = 0;
        for (int a = 0; a < m; a++) {
            for (int b = a; b < m; b++) {
                gm[a][b] = gm[b][a] = ws.k.dot(pb.x, (long) f[a] * pb.n, pb.x, (long) f[b] * pb.n, pb.n);
            }
            trace += gm[a][a];
        }
        double gersh = 0;
        for (int a = 0; a < m; a++) {
            double row = 0;
            for (int b = 0; b < m; b++) {
                row += Math.abs(gm[a][b]);
            }
            gersh = Math.max(gersh, row);
        }
        double safe = Math.min(trace, gersh);
        if (m > 512) {
            return safe;
        }
        double[] v = new double[m];
        for (int a = 0; a < m; a++) {
            v[a] = 1 + 0.5 * Math.sin(1.0 + 2.3 * a);
        }
        double lambda = 0;
        for (int it = 0; it < 200; it++) {
            double nv = Math.sqrt(Duality.norm2(v));
            double[] u = new double[m];
            for (int a = 0; a < m; a++) {
                for (int b = 0; b < m; b++) {
                    u[a] += gm[a][b] * v[b] / nv;
                }
            }
            double nu = Math.sqrt(Duality.norm2(u));
            if (nu == 0) {
                return 0;
            }
            double prev = lambda;
            lambda = nu;
            v = u;
            if (Math.abs(lambda - prev) <= 1e-10 * lambda) {
                break;
            }
        }
        double mu = lambda * (1 + 1e-6) + 1e-300;
        return mu < safe && aboveSpectrum(gm, mu) ? mu : safe;
    }

    /** True when {@code mu I - G} is positive definite (its Cholesky factorization succeeds). */
    private static boolean aboveSpectrum(double[][] g, double mu) {
        int m = g.length;
        double[][] l = new double[m][m];
        for (int i = 0; i < m; i++) {
            for (int j = 0; j <= i; j++) {
                double s = (i == j ? mu : 0) - g[i][j];
                for (int q = 0; q < j; q++) {
                    s -= l[i][q] * l[j][q];
                }
                if (i == j) {
                    if (!(s > 0)) {
                        return false;
                    }
                    l[i][i] = Math.sqrt(s);
                } else {
                    l[i][j] = s / l[j][j];
                }
            }
        }
        return true;
    }

    /** Solves in place from {@code w}; returns {gap, epochs}. */
    double[] solve(LassoProblem pb, double alpha, double[] w) {
        L1Kernels k = ws.k;
        int n = pb.n;
        int tt = pb.tasks;
        double l1 = alpha * pb.l1Ratio * n;
        double l2 = alpha * (1 - pb.l1Ratio) * n;
        double tolAbs = opt.tol() * pb.yNorm2;
        Blocks bl = blocks(pb);
        int nb = bl.features.length;
        boolean[] screened = new boolean[nb];
        MemorySegment r = ws.r;
        ws.residual(pb, w, r);
        double[] c = new double[pb.p * tt];
        MemorySegment buf = ws.pbuf;
        double gap = Double.POSITIVE_INFINITY;
        int e = 0;
        while (true) {
            if (e % CHECK_EVERY == 0 || e >= opt.maxIter()) {
                ws.xtr(pb, r, c);
                double[] xta = new double[c.length];
                for (int i = 0; i < c.length; i++) {
                    xta[i] = c[i] - l2 * w[i];
                }
                double dn = Duality.dualNorm(pb, xta);
                double rn2 = k.sumSquares(r, 0, n * tt);
                double ry = k.dot(r, 0, pb.y, 0, n * tt);
                double wn2 = Duality.norm2(w);
                gap = Duality.gap(rn2, l1, l2, Duality.omega(pb, w), wn2, dn, rn2, ry);
                if (gap <= tolAbs || e >= opt.maxIter()) {
                    break;
                }
                if (opt.screening()) {
                    double s = Duality.scale(l1, dn);
                    double radius = Math.sqrt(2 * gap);
                    for (int b = 0; b < nb; b++) {
                        if (screened[b]) {
                            continue;
                        }
                        double q = 0;
                        for (int f : bl.features[b]) {
                            for (int t = 0; t < tt; t++) {
                                q += xta[f * tt + t] * xta[f * tt + t];
                            }
                        }
                        if (s * Math.sqrt(q) + radius * Math.sqrt(bl.lipschitz[b] + l2) < l1 * bl.weight[b]) {
                            screened[b] = true;
                            for (int f : bl.features[b]) {
                                for (int t = 0; t < tt; t++) {
                                    if (w[f * tt + t] != 0) {
                                        k.axpy(w[f * tt + t], pb.x, (long) f * n, r, (long) t * n, n);
                                        w[f * tt + t] = 0;
                                    }
                                }
                            }
                        }
                    }
                }
            }
            for (int b = 0; b < nb; b++) {
                double lip = bl.lipschitz[b];
                if (screened[b] || lip == 0) {
                    continue;
                }
                int[] fs = bl.features[b];
                int m = 0;
                // z = L/(L + l2) * (w_b + X_b^T R / L), packed into buf, then the group soft-threshold.
                for (int f : fs) {
                    for (int t = 0; t < tt; t++) {
                        double grad = k.dot(pb.x, (long) f * n, r, (long) t * n, n);
                        double zz = (lip * w[f * tt + t] + grad) / (lip + l2);
                        buf.setAtIndex(LassoProblem.F64, m++, zz);
                    }
                }
                k.groupSoftThreshold(buf, 0, m, l1 * bl.weight[b] / (lip + l2));
                m = 0;
                for (int f : fs) {
                    for (int t = 0; t < tt; t++) {
                        int at = f * tt + t;
                        double u = buf.getAtIndex(LassoProblem.F64, m++);
                        if (u != w[at]) {
                            k.axpy(w[at] - u, pb.x, (long) f * n, r, (long) t * n, n);
                            w[at] = u;
                        }
                    }
                }
            }
            e++;
        }
        return new double[] {gap, e};
    }
}
