package dev.jlm.prune.lasso;

import dev.jlm.simd.RowExecutor;
import dev.jlm.simd.l1.L1Kernels;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Buffers of one {@link LassoSolver}: the residuals, the {@code X^T R} output, snapshots for dual extrapolation.
 * Grown on demand, reused across solves, freed on close. Confined to one solver; with {@code threads > 1} the large
 * products are split on the kernels' shared {@link RowExecutor}.
 */
final class Workspace implements AutoCloseable {
    static final int SNAPSHOTS = 5;
    /**
     * Products below this many multiply-adds stay on the calling thread: a hand-off costs more. The solver holds the
     * shared workers awake for a whole call ({@link dev.jlm.simd.RowExecutor#hold}), so a hand-off costs about a
     * microsecond: with 2^15 the {@code toeplitz} benchmark path on 2 threads took a median 8.63 ms against 9.07 ms
     * with 2^18 (one JVM, alternating, 150 paths each), {@code independent} the same (24.75 / 24.64 ms); 2^13 and
     * 2^14 were no better than 2^18. (Before the hold: 2^18, when 2^16 was 3% faster in one comparison and 12%
     * slower in another.)
     */
    static final long PARALLEL_MIN = 1L << 15;

    final L1Kernels k = L1Kernels.get();
    final int threads;
    private Arena arena = Arena.ofShared();
    private long nCap = -1;
    private long pCap = -1;
    /** Residuals, column-major [n, T]. */
    MemorySegment r;
    /** X^T R, [T, p] (task-major, as the column products write it). */
    MemorySegment xtr;
    /** Snapshots of the residual for extrapolation, and one extra n-vector. */
    MemorySegment snaps;
    MemorySegment tmp;
    /** The residual of the 16-bit copy of X while coordinate descent runs on it. */
    MemorySegment r16;
    /** A p*T buffer for FISTA and prox steps. */
    MemorySegment pbuf;

    Workspace(int threads) {
        this.threads = threads;
    }

    void ensure(LassoProblem pb) {
        long nT = (long) pb.n * pb.tasks;
        long pT = (long) pb.p * pb.tasks;
        if (nT <= nCap && pT <= pCap) {
            return;
        }
        arena.close();
        arena = Arena.ofShared();
        nCap = Math.max(nT, nCap);
        pCap = Math.max(pT, pCap);
        r = arena.allocate(8 * nCap, 64);
        tmp = arena.allocate(8 * nCap, 64);
        r16 = arena.allocate(8 * nCap, 64);
        snaps = arena.allocate(8 * nCap * SNAPSHOTS, 64);
        xtr = arena.allocate(8 * pCap, 64);
        pbuf = arena.allocate(8 * pCap, 64);
    }

    /** R = Y - X W for W row-major [p, T]; a single task split by rows across the threads when worth it. */
    void residual(LassoProblem pb, double[] w, MemorySegment out) {
        int n = pb.n;
        if (threads > 1 && pb.tasks == 1) {
            int nnz = 0;
            for (double v : w) {
                nnz += v != 0 ? 1 : 0;
            }
            if ((long) nnz * n >= PARALLEL_MIN) {
                split(threads, n, (long) nnz * n, 16, (from, to) -> {
                    MemorySegment.copy(pb.y, 8L * from, out, 8L * from, 8L * (to - from));
                    for (int j = 0; j < pb.p; j++) {
                        if (w[j] != 0) {
                            k.axpy(-w[j], pb.x, (long) j * n + from, out, from, to - from);
                        }
                    }
                });
                return;
            }
        }
        MemorySegment.copy(pb.y, 0, out, 0, 8L * n * pb.tasks);
        for (int j = 0; j < pb.p; j++) {
            for (int t = 0; t < pb.tasks; t++) {
                double v = w[j * pb.tasks + t];
                if (v != 0) {
                    k.axpy(-v, pb.x, (long) j * n, out, (long) t * n, n);
                }
            }
        }
    }

    /** c[j * T + t] = x_j . R_t for all features, split across the threads. */
    void xtr(LassoProblem pb, MemorySegment res, double[] c) {
        int n = pb.n;
        int p = pb.p;
        for (int t = 0; t < pb.tasks; t++) {
            long rOff = (long) t * n;
            long oOff = (long) t * p;
            if (threads <= 1 || p < 64 || (long) n * p < PARALLEL_MIN) {
                k.columnDots(pb.x, n, n, 0, p, res, rOff, xtr, oOff);
            } else {
                split(threads, p, (long) n * p, 4,
                        (from, to) -> k.columnDots(pb.x, n, n, from, to, res, rOff, xtr, oOff + from));
            }
            for (int j = 0; j < p; j++) {
                c[j * pb.tasks + t] = xtr.getAtIndex(LassoProblem.F64, oOff + j);
            }
        }
    }

    /** c[j] = scale_j (q_j . R) (single task) on the 16-bit copy of X, split across the threads. */
    void xtr16(LassoProblem pb, MemorySegment res, double[] c) {
        int n = pb.n;
        split(threads, pb.p, (long) n * pb.p, 4,
                (from, to) -> k.columnDotsI16(pb.x16, n, n, from, to, res, 0, xtr, from));
        for (int j = 0; j < pb.p; j++) {
            c[j] = pb.x16Scale[j] * xtr.getAtIndex(LassoProblem.F64, j);
        }
    }

    /** c[j] = scale8_j (q8_j . R) (single task) on the 8-bit copy of X, split across the threads. */
    void xtr8(LassoProblem pb, MemorySegment res, double[] c) {
        int n = pb.n;
        split(threads, pb.p, (long) n * pb.p, 4,
                (from, to) -> k.columnDotsI8(pb.x8, n, n, from, to, res, 0, xtr, from));
        for (int j = 0; j < pb.p; j++) {
            c[j] = pb.x8Scale[j] * xtr.getAtIndex(LassoProblem.F64, j);
        }
    }

    /** c[idx[i]] = scale_j (q_j . res) on the 16-bit copy for i < m (single task), split when worth it. */
    void dots16(LassoProblem pb, int[] idx, int m, MemorySegment res, double[] c) {
        int n = pb.n;
        split(m, (long) m * n, (from, to) -> {
            for (int i = from; i < to; i++) {
                c[idx[i]] = pb.x16Scale[idx[i]] * k.dotI16(pb.x16, (long) idx[i] * n, res, 0, n);
            }
        });
    }

    /** c[idx[i]] = x_{idx[i]} . res for i < m (single task), split across the threads when worth it. */
    void dots(LassoProblem pb, int[] idx, int m, MemorySegment res, double[] c) {
        int n = pb.n;
        split(m, (long) m * n, (from, to) -> {
            for (int i = from; i < to; i++) {
                c[idx[i]] = k.dot(pb.x, (long) idx[i] * n, res, 0, n);
            }
        });
    }

    /** A range [from, to) of a split loop. */
    @FunctionalInterface
    interface Range {
        void run(int from, int to);
    }

    /** {@link #split(int, int, long, int, Range)} with this workspace's threads, ranges of any length. */
    private void split(int count, long work, Range body) {
        split(threads, count, work, 1, body);
    }

    /**
     * Runs {@code body} over [0, count): whole on this thread with one thread or below {@link #PARALLEL_MIN}
     * multiply-adds of {@code work}, else cut into one contiguous range per thread whose inner bounds are multiples
     * of {@code align}, on the kernels' shared {@link RowExecutor} (the calling thread runs the first). Rows split in
     * multiples of 16 end every range on a vector boundary at any width, so a range computes each element as the
     * whole loop would (the kernels' scalar tails round differently); columns split in multiples of 4 keep the
     * column products' blocks of four.
     */
    static void split(int threads, int count, long work, int align, Range body) {
        int pieces = Math.min(threads, count / align);
        if (threads <= 1 || work < PARALLEL_MIN || pieces < 2) {
            body.run(0, count);
            return;
        }
        RowExecutor.run(pieces, pieces, (p0, p1) -> {
            for (long piece = p0; piece < p1; piece++) {
                int from = piece == 0 ? 0 : (int) ((long) count * piece / pieces) / align * align;
                int to = piece + 1 == pieces ? count : (int) ((long) count * (piece + 1) / pieces) / align * align;
                if (to > from) {
                    body.run(from, to);
                }
            }
        });
    }

    @Override
    public void close() {
        if (arena.scope().isAlive()) {
            arena.close();
        }
    }

    /**
     * Dual extrapolation (Anderson-like, as in celer): from residuals r_0..r_K taken at successive checks,
     * the combination sum c_i r_{i+1} with c solving (U^T U) z = 1, c = z / sum z, U_i = r_{i+1} - r_i.
     * Writes it into {@code out} and returns true, or false when the system is too ill-conditioned.
     */
    boolean extrapolate(int n, int newest, MemorySegment out) {
        int m = SNAPSHOTS - 1;
        // Snapshot ring: slot (newest - i) mod SNAPSHOTS is the i-th most recent.
        long[] off = new long[SNAPSHOTS];
        for (int i = 0; i < SNAPSHOTS; i++) {
            off[i] = (long) Math.floorMod(newest - (SNAPSHOTS - 1 - i), SNAPSHOTS) * n; // oldest first
        }
        double[][] a = new double[m][m + 1];
        // U_i . U_l = (r_{i+1} - r_i) . (r_{l+1} - r_l), expanded into products of snapshots.
        double[][] g = new double[SNAPSHOTS][SNAPSHOTS];
        for (int i = 0; i < SNAPSHOTS; i++) {
            for (int l = i; l < SNAPSHOTS; l++) {
                g[i][l] = g[l][i] = k.dot(snaps, off[i], snaps, off[l], n);
            }
        }
        double scale = 0;
        for (int i = 0; i < m; i++) {
            for (int l = 0; l < m; l++) {
                a[i][l] = g[i + 1][l + 1] - g[i + 1][l] - g[i][l + 1] + g[i][l];
            }
            a[i][m] = 1;
            scale = Math.max(scale, a[i][i]);
        }
        if (!(scale > 0)) {
            return false;
        }
        double[] z = solve(a, m, scale * 1e-13);
        if (z == null) {
            return false;
        }
        double sum = 0;
        for (double v : z) {
            sum += v;
        }
        if (sum == 0 || !Double.isFinite(sum)) {
            return false;
        }
        out.fill((byte) 0);
        for (int i = 0; i < m; i++) {
            k.axpy(z[i] / sum, snaps, off[i + 1], out, 0, n);
        }
        return true;
    }

    static double[] solve(double[][] a, int m, double tiny) {
        for (int col = 0; col < m; col++) {
            int piv = col;
            for (int r = col + 1; r < m; r++) {
                if (Math.abs(a[r][col]) > Math.abs(a[piv][col])) {
                    piv = r;
                }
            }
            if (Math.abs(a[piv][col]) <= tiny) {
                return null;
            }
            double[] t = a[col];
            a[col] = a[piv];
            a[piv] = t;
            for (int r = col + 1; r < m; r++) {
                double f = a[r][col] / a[col][col];
                for (int c = col; c <= m; c++) {
                    a[r][c] -= f * a[col][c];
                }
            }
        }
        double[] z = new double[m];
        for (int r = m - 1; r >= 0; r--) {
            double s = a[r][m];
            for (int c = r + 1; c < m; c++) {
                s -= a[r][c] * z[c];
            }
            z[r] = s / a[r][r];
        }
        return z;
    }
}
