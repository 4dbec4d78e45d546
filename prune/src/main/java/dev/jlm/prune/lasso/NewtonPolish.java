package dev.jlm.prune.lasso;

import dev.jlm.simd.l1.L1Kernels;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * The active-set Newton step of coordinate descent: once the support and the signs have settled, the
 * Lasso / elastic-net optimum on that support solves the linear KKT system
 * {@code (X_A^T X_A + l2 I) w_A = X_A^T y - l1 v_A s_A}. One Cholesky solve replaces the slow tail of
 * coordinate descent on correlated columns. The step is kept only when the signs agree and the objective
 * does not go up; the caller's duality gap still decides whether the result is optimal.
 *
 * <p>The inner products of the columns that have been in a support are kept across the solves of one
 * problem (a path adds a few columns per alpha), so that a step costs {@code n} per new pair plus
 * {@code k^3 / 3} for the factorization.
 */
final class NewtonPolish {
    /** The largest support solved directly (the factorization costs k^3/3). */
    static final int MAX_K = 800;
    /**
     * Multiply-adds of the blocked column products ({@link L1Kernels#crossDots}) per element of a coordinate step
     * at the same cost: 0.05-0.08 ns against 0.25-0.29 ns (n = 10000, 48 columns, one thread, stand-alone loop),
     * about 4; 8 lets the step come a little more often and was faster on the {@code independent} path (one JVM
     * alternating, 60 paths each: 1 thread 34.68 / 37.51 against 35.29 / 37.87 ms, 2 threads 20.87 / 20.61 against
     * 21.18 / 20.96 ms; 16: 37.79 against 38.37 and 26.35 against 27.03 ms in a slower stretch; 2: slower), the
     * {@code toeplitz} path the same (9.55 / 9.54 ms).
     */
    private static final long PRODUCTS_PER_SWEEP_STEP = 8;

    private final L1Kernels k;
    private final int threads;
    private LassoProblem cached;
    private int[] slotOf;
    private int[] featOf;
    private int size;
    private int cap;
    private double[] g;  // cap x cap, row-major, symmetric: x_{featOf[a]} . x_{featOf[b]}
    private double[] q;  // x_{featOf[a]} . y
    /** Lower Cholesky factor of G + l2 I on the slots fac[0..kf), rows of length facCap. */
    private double[] lf;
    private int[] fac;
    private int kf;
    private int facCap;
    private double facL2 = Double.NaN;
    private int updates;
    private long tried = 0;
    private long previous = 0;
    private int stable = 0;
    private int need = 1;
    /** Multiply-adds the inner products may still use (grows with each sweep's cost). */
    long budget;
    private boolean deferred;
    /** Whether the last step kept was a full one (every sign held): the support's KKT system is solved. */
    boolean lastFull;
    /** Off only to compare with plain coordinate descent (tests). */
    boolean enabled = true;
    /** Steps taken and kept, for tests. */
    int accepted;

    NewtonPolish(L1Kernels k) {
        this(k, 1);
    }

    /**
     * With {@code threads > 1} the new inner products (by groups of four new columns) and the residual update of a
     * step (by rows) are split across the kernels' shared workers when they hold at least
     * {@link Workspace#PARALLEL_MIN} multiply-adds; every value is computed as on one thread.
     */
    NewtonPolish(L1Kernels k, int threads) {
        this.k = k;
        this.threads = Math.max(1, threads);
    }

    /**
     * Forgets the cached inner products and the factor (at the start of each path or single solve, so that
     * every call pays for its own: nothing carries over between calls).
     */
    void forget() {
        cached = null;
        kf = 0;
        budget = 0;
    }

    /** Forgets the sign pattern history (at the start of each solve). */
    void reset() {
        tried = 0;
        previous = 0;
        stable = 0;
        need = 1;
    }

    /**
     * Takes the support and signs of {@code w} (a warm start) as those of a previous sweep: if the first sweep
     * leaves them as they are, the step is tried at once.
     */
    void seed(double[] w) {
        long sig = 1;
        for (int j = 0; j < w.length; j++) {
            if (w[j] != 0) {
                sig = sig * 0x9E3779B97F4A7C15L + (w[j] > 0 ? 2L * j + 1 : 2L * j + 2);
            }
        }
        previous = sig;
    }

    /**
     * Called after each sweep over {@code idx[0..m)}: when the support and signs are the same as after the
     * previous sweep and no step was tried for them yet, tries one. Returns true when w and r were replaced.
     */
    boolean afterSweep(LassoProblem pb, double[] w, int[] idx, int m, double l1, double l2, double[] v,
                       MemorySegment r, MemorySegment save) {
        if (!enabled) {
            return false;
        }
        budget += (long) m * pb.n;
        long sig = 1;
        int nz = 0;
        for (int q = 0; q < m; q++) {
            int j = idx[q];
            if (w[j] != 0) {
                sig = sig * 0x9E3779B97F4A7C15L + (w[j] > 0 ? 2L * j + 1 : 2L * j + 2);
                nz++;
            }
        }
        stable = sig == previous ? stable + 1 : 0;
        previous = sig;
        // A step is tried once the pattern has held for `need` sweeps; partial steps (a sign was wrong) double
        // that wait, so that a support still moving costs few factorizations.
        if (stable < need || sig == tried || nz == 0) {
            return false;
        }
        tried = sig;
        deferred = false;
        boolean kept = step(pb, w, idx, m, l1, l2, v, r, save);
        if (deferred) {
            tried = 0; // not tried: the same pattern may be tried once the budget allows
        }
        return kept;
    }

    /**
     * Newton steps on the non-zero (and unpenalized) features among {@code idx[0..m)} with their signs fixed, as
     * a primal active-set method: up to the first sign change the objective is the quadratic whose minimizer
     * the KKT solve gives, so the point moves that far; the coordinates that reach zero leave the support (an
     * O(k^2) update of the factor) and the solve is repeated, until a full step keeps every sign.
     */
    boolean step(LassoProblem pb, double[] w, int[] idx, int m, double l1, double l2, double[] v, MemorySegment r,
                 MemorySegment save) {
        int n = pb.n;
        int[] act = new int[m];
        int ka = 0;
        for (int q = 0; q < m; q++) {
            int j = idx[q];
            if (w[j] != 0 || v[j] == 0) {
                act[ka++] = j;
            }
        }
        if (ka == 0 || ka > MAX_K || (l2 == 0 && ka > n)) {
            return false;
        }
        // New inner products cost n each; they may take at most what the sweeps so far have cost, so that on
        // problems where coordinate descent needs few sweeps (tall, independent columns) the step stays cheap.
        // Computed in blocks, a product's multiply-add costs about a quarter of a sweep's step per element.
        long missing = 0;
        for (int i = 0; i < ka; i++) {
            if (cached != pb || slotOf[act[i]] == 0) {
                missing++;
            }
        }
        long cost = missing * ((cached != pb ? 0 : size) + missing) * n / PRODUCTS_PER_SWEEP_STEP;
        if (cost > budget) {
            deferred = true;
            return false;
        }
        budget -= cost;
        int[] slots = ensure(pb, act, ka);
        double[] z = new double[pb.p]; // the moving point, on the features of act
        for (int i = 0; i < ka; i++) {
            z[act[i]] = w[act[i]];
        }
        int kStart = ka;
        boolean full = false;
        for (int round = 0; round < 4 + kStart / 4 && ka > 0; round++) {
            if (!factorFor(slots, ka, l2)) {
                return false;
            }
            // The factor's order is fac[]; the right-hand side and the solution follow it.
            double[] b = new double[kf];
            for (int i = 0; i < kf; i++) {
                int j = featOf[fac[i]];
                double s = w[j] > 0 ? 1 : (w[j] < 0 ? -1 : 0);
                b[i] = q[fac[i]] - l1 * v[j] * s;
            }
            k.forwardSolve(lf, kf, cap, b, 0);
            k.backwardSolve(lf, kf, cap, b);
            double t = 1;
            for (int i = 0; i < kf; i++) {
                int j = featOf[fac[i]];
                if (!Double.isFinite(b[i])) {
                    return false;
                }
                if (v[j] > 0 && (b[i] == 0 || (b[i] > 0) != (w[j] > 0))) {
                    t = Math.min(t, z[j] / (z[j] - b[i]));
                }
            }
            int left = 0;
            for (int i = 0; i < kf; i++) {
                int j = featOf[fac[i]];
                double nz = t >= 1 ? b[i] : z[j] + t * (b[i] - z[j]);
                // Past zero, or at zero up to rounding when it defined t: the coordinate leaves the support.
                boolean out = v[j] > 0 && (nz == 0 || (nz > 0) != (w[j] > 0)
                        || (t < 1 && Math.abs(nz) <= 1e-12 * Math.abs(z[j])));
                z[j] = out ? 0 : nz;
                if (!out) {
                    slots[left++] = fac[i];
                }
            }
            ka = left;
            if (t >= 1 && left == kf) {
                full = true;
                break;
            }
        }
        need = full ? 1 : Math.min(2 * need, 64);
        lastFull = full;
        double[] b = new double[kStart];
        for (int i = 0; i < kStart; i++) {
            b[i] = z[act[i]];
        }
        ka = kStart;
        // Keep the step only if the objective does not increase (rounding on ill-conditioned supports).
        double before = objective(pb, w, act, ka, l1, l2, v, r);
        MemorySegment.copy(r, 0, save, 0, 8L * n);
        double[] old = new double[ka];
        double[] delta = new double[ka];
        for (int i = 0; i < ka; i++) {
            int j = act[i];
            old[i] = w[j];
            delta[i] = w[j] - b[i];
            w[j] = b[i];
        }
        int fka = ka;
        Workspace.split(threads, n, (long) ka * n, 16, (from, to) -> {
            for (int i = 0; i < fka; i++) {
                if (delta[i] != 0) {
                    k.axpy(delta[i], pb.x, (long) act[i] * n + from, r, from, to - from);
                }
            }
        });
        double after = objective(pb, w, act, ka, l1, l2, v, r);
        if (!(after <= before)) {
            lastFull = false;
            for (int i = 0; i < ka; i++) {
                w[act[i]] = old[i];
            }
            MemorySegment.copy(save, 0, r, 0, 8L * n);
            return false;
        }
        accepted++;
        return true;
    }

    private double objective(LassoProblem pb, double[] w, int[] act, int ka, double l1, double l2, double[] v,
                             MemorySegment r) {
        double o = 0.5 * k.sumSquares(r, 0, pb.n);
        for (int i = 0; i < ka; i++) {
            double wj = w[act[i]];
            o += l1 * v[act[i]] * Math.abs(wj) + 0.5 * l2 * wj * wj;
        }
        return o;
    }

    /** Slots for the given features, computing the inner products of the new ones with every kept column. */
    private int[] ensure(LassoProblem pb, int[] act, int ka) {
        if (cached != pb) {
            cached = pb;
            kf = 0;
            slotOf = new int[pb.p];
            size = 0;
            cap = 0;
            g = new double[0];
            q = new double[0];
        }
        int missing = 0;
        for (int i = 0; i < ka; i++) {
            if (slotOf[act[i]] == 0) {
                missing++;
            }
        }
        if (size + missing > 2 * MAX_K) {
            Arrays.fill(slotOf, 0); // too many stale columns: start again from this support
            size = 0;
            kf = 0;
        }
        if (size + missing > cap) {
            int nc = Math.min(Math.max(2 * cap, size + missing + 16), Math.max(2 * MAX_K, size + missing));
            double[] ng = new double[nc * nc];
            for (int a = 0; a < size; a++) {
                System.arraycopy(g, a * cap, ng, a * nc, size);
            }
            g = ng;
            q = Arrays.copyOf(q, nc);
            featOf = featOf == null ? new int[nc] : Arrays.copyOf(featOf, nc);
            cap = nc;
        }
        int n = pb.n;
        int[] slots = new int[ka];
        int s0 = size;
        for (int i = 0; i < ka; i++) {
            int j = act[i];
            if (slotOf[j] == 0) {
                int s = size++;
                slotOf[j] = s + 1;
                featOf[s] = j;
            }
            slots[i] = slotOf[j] - 1;
        }
        int added = size - s0;
        if (added > 0) {
            // the new rows of G against every column kept (old and new) in blocks, then mirrored into the new columns
            long[] newOff = new long[added];
            for (int a = 0; a < added; a++) {
                newOff[a] = (long) featOf[s0 + a] * n;
            }
            long[] allOff = new long[size];
            for (int t = 0; t < size; t++) {
                allOff[t] = (long) featOf[t] * n;
            }
            // By groups of four new columns (the kernel's blocks), so that every product is computed as on one thread.
            int groups = (added + 3) / 4;
            int fs0 = s0;
            int fSize = size;
            Workspace.split(threads, groups, (long) added * size * n, 1, (from, to) -> {
                int a0 = 4 * from;
                int a1 = Math.min(added, 4 * to);
                long[] part = java.util.Arrays.copyOfRange(newOff, a0, a1);
                k.crossDots(pb.x, part, a1 - a0, pb.x, allOff, fSize, n, g, (fs0 + a0) * cap, cap);
            });
            for (int a = s0; a < size; a++) {
                q[a] = k.dot(pb.x, newOff[a - s0], pb.y, 0, n);
                for (int t = 0; t < s0; t++) {
                    g[t * cap + a] = g[a * cap + t];
                }
                for (int t = s0; t < a; t++) {
                    g[a * cap + t] = g[t * cap + a]; // the new block symmetric in its last bits too
                }
                g[a * cap + a] = pb.colNorm2[featOf[a]];
            }
        }
        return slots;
    }

    /**
     * Brings the kept factor {@code L L^T = G_AA + l2 I} to the given slots (in any order): columns that left are
     * removed (Givens rotations, O(k^2) each), new ones appended (a forward solve each); a factor for another l2,
     * or one that would change by more than half, is rebuilt. False when a pivot is not clearly positive.
     */
    private boolean factorFor(int[] slots, int ka, double l2) {
        if (lf == null || lf.length < cap * cap || facCap != cap || l2 != facL2) {
            lf = new double[cap * cap];
            facCap = cap;
            fac = new int[cap];
            kf = 0;
            facL2 = l2;
        }
        boolean[] want = new boolean[size];
        for (int i = 0; i < ka; i++) {
            want[slots[i]] = true;
        }
        int keep = 0;
        boolean[] have = new boolean[size];
        for (int i = 0; i < kf; i++) {
            if (fac[i] < size && want[fac[i]]) {
                keep++;
            }
        }
        int changes = (kf - keep) + (ka - keep);
        if (changes > kf / 2 + 8 || updates > 4 * MAX_K) {
            kf = 0; // rebuilding costs about as much as these updates, and resets the rounding
            updates = 0;
        }
        for (int i = kf - 1; i >= 0; i--) {
            if (!want[fac[i]]) {
                remove(i);
                updates++;
            }
        }
        for (int i = 0; i < kf; i++) {
            have[fac[i]] = true;
        }
        for (int i = 0; i < ka; i++) {
            if (!have[slots[i]]) {
                if (!append(slots[i])) {
                    return false;
                }
                updates++;
            }
        }
        return true;
    }

    /** Appends slot s as the last row of the factor. */
    private boolean append(int s) {
        int m = kf;
        int row = m * cap;
        double d = g[s * cap + s] + facL2;
        double diag0 = d;
        for (int i = 0; i < m; i++) {
            lf[row + i] = g[s * cap + fac[i]];
        }
        k.forwardSolve(lf, m, cap, lf, row); // the new row solves L t = g_s against the rows above it
        for (int i = 0; i < m; i++) {
            d -= lf[row + i] * lf[row + i];
        }
        if (!(d > 1e-12 * diag0)) {
            return false; // (nearly) dependent on the kept columns
        }
        lf[row + m] = Math.sqrt(d);
        fac[m] = s;
        kf = m + 1;
        return true;
    }

    /** Removes row/column p of the factor: drop the row, then rotate the columns back to lower triangular. */
    private void remove(int p) {
        int m = kf;
        for (int i = p; i < m - 1; i++) {
            System.arraycopy(lf, (i + 1) * cap, lf, i * cap, i + 2);
            fac[i] = fac[i + 1];
        }
        kf = m - 1;
        for (int c = p; c < kf; c++) {
            int rc = c * cap;
            double a = lf[rc + c];
            double bb = lf[rc + c + 1];
            double h = Math.hypot(a, bb);
            double cs = a / h;
            double sn = bb / h;
            lf[rc + c] = h;
            lf[rc + c + 1] = 0;
            for (int r = c + 1; r < kf; r++) {
                int rr = r * cap;
                double x = lf[rr + c];
                double y = lf[rr + c + 1];
                lf[rr + c] = cs * x + sn * y;
                lf[rr + c + 1] = -sn * x + cs * y;
            }
        }
    }
}
