package dev.jlm.prune.lasso;

import dev.jlm.simd.l1.L1Kernels;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * FISTA (accelerated proximal gradient) for every problem kind, with backtracking on the Lipschitz constant
 * (started from a power-iteration estimate of {@code ||X||_2^2}) and adaptive (gradient) restart. One step
 * costs one {@code X^T R} product and one {@code X W} product; the residual at the extrapolated point is a
 * linear combination of known residuals, so it is not recomputed. The gap is checked every few steps.
 */
final class FistaEngine {
    private static final int CHECK_EVERY = 10;

    private final Workspace ws;
    private final SolverOptions opt;

    FistaEngine(Workspace ws, SolverOptions opt) {
        this.ws = ws;
        this.opt = opt;
    }

    /** Solves in place from {@code w}; returns {gap, steps}. */
    double[] solve(LassoProblem pb, double alpha, double[] w) {
        L1Kernels k = ws.k;
        int n = pb.n;
        int tt = pb.tasks;
        int pt = pb.p * tt;
        long nt = (long) n * tt;
        double l1 = alpha * pb.l1Ratio * n;
        double l2 = alpha * (1 - pb.l1Ratio) * n;
        double tolAbs = opt.tol() * pb.yNorm2;
        double lip = lipschitzEstimate(pb) + l2;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment rw = arena.allocate(8 * nt, 64);   // residual at the previous iterate
            MemorySegment ru = ws.r;                          // residual at the candidate
            MemorySegment rz = arena.allocate(8 * nt, 64);   // residual at the extrapolated point
            ws.residual(pb, w, rw);
            MemorySegment.copy(rw, 0, rz, 0, 8 * nt);
            double[] z = w.clone();
            double[] u = new double[pt];
            double[] grad = new double[pt];
            double[] c = new double[pt];
            double t = 1;
            double gap = Double.POSITIVE_INFINITY;
            int it = 0;
            MemorySegment.copy(rw, 0, ru, 0, 8 * nt);
            while (true) {
                if (it % CHECK_EVERY == 0 || it >= opt.maxIter()) {
                    // Certificate at the current iterate w (residual rw).
                    ws.xtr(pb, rw, c);
                    for (int i = 0; i < pt; i++) {
                        c[i] -= l2 * w[i];
                    }
                    double rn2 = k.sumSquares(rw, 0, (int) nt);
                    double ry = k.dot(rw, 0, pb.y, 0, (int) nt);
                    gap = Duality.gap(rn2, l1, l2, Duality.omega(pb, w), Duality.norm2(w), Duality.dualNorm(pb, c), rn2, ry);
                    if (gap <= tolAbs || it >= opt.maxIter()) {
                        break;
                    }
                }
                // Gradient of the smooth part at z: -X^T R_z + l2 z.
                ws.xtr(pb, rz, grad);
                double fz = 0.5 * k.sumSquares(rz, 0, (int) nt) + 0.5 * l2 * Duality.norm2(z);
                for (int i = 0; i < pt; i++) {
                    grad[i] = -grad[i] + l2 * z[i];
                }
                while (true) {
                    for (int i = 0; i < pt; i++) {
                        u[i] = z[i] - grad[i] / lip;
                    }
                    prox(pb, u, l1 / lip);
                    ws.residual(pb, u, ru);
                    double fu = 0.5 * k.sumSquares(ru, 0, (int) nt) + 0.5 * l2 * Duality.norm2(u);
                    double lin = 0;
                    double dd = 0;
                    for (int i = 0; i < pt; i++) {
                        double d = u[i] - z[i];
                        lin += grad[i] * d;
                        dd += d * d;
                    }
                    if (fu <= fz + lin + 0.5 * lip * dd + 1e-12 * Math.abs(fz)) {
                        break;
                    }
                    lip *= 2;
                }
                // Adaptive restart: momentum that points against the step is dropped.
                double dot = 0;
                for (int i = 0; i < pt; i++) {
                    dot += (z[i] - u[i]) * (u[i] - w[i]);
                }
                if (dot > 0) {
                    t = 1;
                }
                double tn = (1 + Math.sqrt(1 + 4 * t * t)) / 2;
                double beta = (t - 1) / tn;
                t = tn;
                for (int i = 0; i < pt; i++) {
                    z[i] = u[i] + beta * (u[i] - w[i]);
                }
                // R_z = (1 + beta) R_u - beta R_w, then the candidate becomes the iterate.
                MemorySegment.copy(ru, 0, rz, 0, 8 * nt);
                if (beta != 0) {
                    scale(rz, nt, 1 + beta);
                    k.axpy(-beta, rw, 0, rz, 0, (int) nt);
                }
                MemorySegment.copy(ru, 0, rw, 0, 8 * nt);
                System.arraycopy(u, 0, w, 0, pt);
                it++;
            }
            MemorySegment.copy(rw, 0, ws.r, 0, 8 * nt);
            return new double[] {gap, it};
        }
    }

    private static void scale(MemorySegment m, long count, double s) {
        for (long i = 0; i < count; i++) {
            m.setAtIndex(LassoProblem.F64, i, m.getAtIndex(LassoProblem.F64, i) * s);
        }
    }

    /** The prox of {@code step * Omega} in place. */
    private void prox(LassoProblem pb, double[] u, double step) {
        switch (pb.kind) {
            case LASSO -> {
                for (int j = 0; j < pb.p; j++) {
                    double thr = step * (pb.weights == null ? 1 : pb.weights[j]);
                    u[j] = pb.positive ? Math.max(u[j] - thr, 0) : L1Kernels.softThreshold(u[j], thr);
                }
            }
            case GROUP -> {
                for (int g = 0; g < pb.groups.length; g++) {
                    groupProx(u, pb.groups[g], 1, step * pb.groupWeights[g]);
                }
            }
            case MULTI_TASK -> {
                for (int j = 0; j < pb.p; j++) {
                    groupProx(u, new int[] {j}, pb.tasks, step);
                }
            }
        }
    }

    private static void groupProx(double[] u, int[] fs, int tt, double thr) {
        double s = 0;
        for (int f : fs) {
            for (int t = 0; t < tt; t++) {
                s += u[f * tt + t] * u[f * tt + t];
            }
        }
        double nrm = Math.sqrt(s);
        double sc = nrm > thr ? 1 - thr / nrm : 0;
        for (int f : fs) {
            for (int t = 0; t < tt; t++) {
                u[f * tt + t] *= sc;
            }
        }
    }

    /** {@code ||X||_2^2} by a few power iterations (a lower bound; backtracking corrects it). */
    private double lipschitzEstimate(LassoProblem pb) {
        int n = pb.n;
        int p = pb.p;
        double[] v = new double[p];
        java.util.Arrays.fill(v, 1 / Math.sqrt(p));
        double lambda = 0;
        MemorySegment xv = ws.tmp;
        for (int it = 0; it < 20; it++) {
            xv.asSlice(0, 8L * n).fill((byte) 0);
            for (int j = 0; j < p; j++) {
                if (v[j] != 0) {
                    ws.k.axpy(v[j], pb.x, (long) j * n, xv, 0, n);
                }
            }
            double[] u = new double[p];
            ws.k.columnDots(pb.x, n, n, 0, p, xv, 0, ws.pbuf, 0);
            for (int j = 0; j < p; j++) {
                u[j] = ws.pbuf.getAtIndex(LassoProblem.F64, j);
            }
            double nu = Math.sqrt(Duality.norm2(u));
            if (nu == 0) {
                return 1e-12;
            }
            double prev = lambda;
            lambda = nu;
            for (int j = 0; j < p; j++) {
                v[j] = u[j] / nu;
            }
            if (Math.abs(lambda - prev) <= 1e-3 * lambda) {
                break;
            }
        }
        return lambda;
    }
}
