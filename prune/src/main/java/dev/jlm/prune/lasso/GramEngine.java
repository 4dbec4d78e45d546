package dev.jlm.prune.lasso;

import dev.jlm.simd.l1.L1Kernels;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Coordinate descent on the Gram matrix {@code G = X^T X} and {@code q = X^T y} for tall problems: one
 * update costs O(p) instead of O(n), and the full duality gap costs O(p) too, so it is checked every epoch.
 * The Gram matrix is computed once per problem (row blocks, so columns stay in cache) and kept while the
 * same problem is solved again (a path).
 */
final class GramEngine implements AutoCloseable {
    private static final int ROW_BLOCK = 512;

    private final Workspace ws;
    private final SolverOptions opt;
    private LassoProblem cached;
    private Arena arena;
    private MemorySegment g;
    private double[] q;

    GramEngine(Workspace ws, SolverOptions opt) {
        this.ws = ws;
        this.opt = opt;
    }

    private void prepare(LassoProblem pb) {
        if (cached == pb) {
            return;
        }
        close();
        int n = pb.n;
        int p = pb.p;
        arena = Arena.ofShared();
        g = arena.allocate(8L * p * p, 64);
        MemorySegment part = arena.allocate(8L * p, 64);
        L1Kernels k = ws.k;
        for (int i0 = 0; i0 < n; i0 += ROW_BLOCK) {
            int rows = Math.min(ROW_BLOCK, n - i0);
            MemorySegment xb = pb.x.asSlice(8L * i0);
            for (int j = 0; j < p; j++) {
                // Lower triangle, row j: G[j, 0..j] += X_block[:, 0..j]^T x_j,block
                k.columnDots(xb, n, rows, 0, j + 1, xb, (long) j * n, part, 0);
                k.axpy(1.0, part, 0, g, (long) j * p, j + 1);
            }
        }
        for (int j = 0; j < p; j++) {
            for (int l = 0; l < j; l++) {
                g.setAtIndex(LassoProblem.F64, (long) l * p + j, g.getAtIndex(LassoProblem.F64, (long) j * p + l));
            }
        }
        q = new double[p];
        ws.xtr(pb, pb.y, q);
        cached = pb;
    }

    /** Solves in place from {@code w}; returns {gap, epochs}. */
    double[] solve(LassoProblem pb, double alpha, double[] w) {
        prepare(pb);
        L1Kernels k = ws.k;
        int p = pb.p;
        int n = pb.n;
        double l1 = alpha * pb.l1Ratio * n;
        double l2 = alpha * (1 - pb.l1Ratio) * n;
        double tolAbs = opt.tol() * pb.yNorm2;
        MemorySegment h = ws.pbuf; // H = G w
        h.asSlice(0, 8L * p).fill((byte) 0);
        for (int j = 0; j < p; j++) {
            if (pb.colNorm2[j] == 0) {
                w[j] = 0;
            }
            if (w[j] != 0) {
                k.axpy(w[j], g, (long) j * p, h, 0, p);
            }
        }
        double gap = Double.POSITIVE_INFINITY;
        int e = 0;
        double[] xta = new double[p];
        while (true) {
            // Gap: X^T R = q - H, ||R||^2 = ||y||^2 - 2 w.q + w.H, R.y = ||y||^2 - w.q.
            double wq = 0;
            double wh = 0;
            for (int j = 0; j < p; j++) {
                double hj = h.getAtIndex(LassoProblem.F64, j);
                xta[j] = q[j] - hj - l2 * w[j];
                wq += w[j] * q[j];
                wh += w[j] * hj;
            }
            double rn2 = Math.max(0, pb.yNorm2 - 2 * wq + wh);
            double ry = pb.yNorm2 - wq;
            gap = Duality.gap(rn2, l1, l2, Duality.omega(pb, w), Duality.norm2(w), Duality.dualNorm(pb, xta), rn2, ry);
            if (gap <= tolAbs || e >= opt.maxIter()) {
                break;
            }
            for (int j = 0; j < p; j++) {
                double nrm = pb.colNorm2[j];
                if (nrm == 0) {
                    continue;
                }
                double wj = w[j];
                double z = q[j] - h.getAtIndex(LassoProblem.F64, j) + nrm * wj;
                double thr = l1 * (pb.weights == null ? 1 : pb.weights[j]);
                double wn = pb.coordinate(z, thr, nrm + l2);
                if (wn != wj) {
                    k.axpy(wn - wj, g, (long) j * p, h, 0, p);
                    w[j] = wn;
                }
            }
            e++;
        }
        return new double[] {gap, e};
    }

    @Override
    public void close() {
        if (arena != null && arena.scope().isAlive()) {
            arena.close();
        }
        cached = null;
        arena = null;
    }
}
