package dev.jlm.prune.lasso;

import dev.jlm.simd.Team;
import dev.jlm.simd.l1.L1Kernels;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * Coordinate descent on residuals for the Lasso, elastic net, weighted and non-negative Lasso, with
 * gap-safe screening, working sets and dual extrapolation for the inner problems (in the spirit of celer
 * and skglm). Along a path the first working set comes from the sequential strong rule, so that a
 * solution whose support was guessed right costs one full {@code X^T R} product (its certificate).
 *
 * <p>Every solution is certified on all features: the outer loop stops only on the full duality gap.
 */
final class CdEngine {
    private static final int CHECK_EVERY = 5;
    private static final int ANDERSON = 5;
    private static final int MAX_SETTLE = 500;
    private static final int FRESH_EVERY = 4;
    /**
     * Working sets whose float64 columns take more than this many bytes (past the private caches) are first solved
     * on the 16-bit copy of X (a quarter of the memory traffic per sweep).
     */
    static final long QUANTIZED_MIN_BYTES = 8L << 20;
    /**
     * The first 16-bit round stops at this multiple of the inner tolerance: its solution is off by the 16-bit
     * rounding anyway (true gaps near 1e-6 relative), which the refinement round removes.
     */
    private static final double FIRST_ROUND_TOL = 50;
    /**
     * A 16-bit sweep over the whole set that still moved a coefficient by more than this fraction of the largest is
     * far from the set's optimum (the gaps that follow such sweeps on {@code independent} were 1000-3000 times the
     * tolerance, those under it came after changes near 1e-4 and below): its restricted gap is not computed, the
     * settling of the non-zero part follows at once. Two threads 27.15 against 27.58 ms, one thread 35.30 against
     * 35.89 ms (medians, one JVM alternating, 80 paths each).
     */
    private static final double FAR_CHANGE = 1e-3;
    /**
     * While settling the non-zero part on the 16-bit copy, its gap is taken every second sweep once the largest
     * change is below this (every eighth sweep before): on {@code independent} the checks after changes of 3e-5 to
     * 1e-4 all failed (5 to 58 times the tolerance), those after 1e-6 and below passed. Two threads 20.89 / 20.69
     * against 21.10 / 20.94 ms, one thread 36.86 / 37.68 against 37.44 / 38.08 ms (one JVM alternating, 60 paths each).
     */
    private static final double SETTLING_CHANGE = 1e-5;
    /**
     * With {@code threads > 1}, sweeps over at least this many rows (and {@link Workspace#PARALLEL_MIN} multiply-adds)
     * are split by rows across a {@link Team}: every coordinate step adds the parts' gradients in lockstep, and each
     * thread keeps its share of the residual in its own caches.
     */
    static final int TEAM_MIN_ROWS = 4096;
    /** Rows per part at least, and the parts' boundaries are multiples of 16 (whole vectors). */
    private static final int TEAM_PART_ROWS = 2048;

    private final Workspace ws;
    private final SolverOptions opt;
    final NewtonPolish newton;
    /** {@link #QUANTIZED_MIN_BYTES}, changed only by tests (0: always, Long.MAX_VALUE: never). */
    long quantizedMinBytes = QUANTIZED_MIN_BYTES;
    /** Working-set solves that ran on the 16-bit copy, and those whose certificate then failed (tests). */
    int quantizedSolves;
    int quantizedFallbacks;
    /** Row-split sweeps run so far, and those that more than one thread ran (tests). */
    int teamSweeps;
    int sharedSweeps;
    /** Threads a row-split sweep may recruit; 0: the solver's. Tests set 1 to run the same parts on one thread. */
    int teamThreads;
    /**
     * Row-split sweeps still to run on this thread alone, and how many the next back-off takes: after a team sweep in
     * which the caller spent more than half its time waiting for the others (their cores were busy elsewhere), the
     * following sweeps run their parts on this thread (the same bits), 4 then twice as many after each such sweep
     * again, up to 256; a sweep that went well resets it.
     */
    private int soloSweeps;
    private int backoff = 4;
    /**
     * x_j . R from the last restricted gap, valid while {@code rVersion} has not moved: the certificate reuses
     * them instead of reading the support's columns again. Every change of the residual bumps the version.
     */
    private double[] lastDot = new double[0];
    private long[] dotVersion = new long[0];
    private long rVersion;
    /** Scratch for the 16-bit restricted gap's products. */
    private double[] dots = new double[0];

    CdEngine(Workspace ws, SolverOptions opt) {
        this.ws = ws;
        this.opt = opt;
        this.newton = new NewtonPolish(ws.k, ws.threads);
    }

    /** Carried from one alpha to the next along a path. */
    static final class State {
        double[] c;        // X^T R at the previous solution
        double prevL1 = Double.NaN;
        /** The coefficients the workspace residual belongs to (the previous solution), and its age. */
        double[] wAtR;
        int sinceFresh;
        /** Solves along this path whose 16-bit phase did not end certified: after two, it is not tried again. */
        int quantizedMisses;
        /** Set once the 8-bit pass of the certificate settles fewer than half the features. */
        boolean noI8;
    }

    /** Solves in place from the warm start {@code w}; returns {gap, epochs}. */
    double[] solve(LassoProblem pb, double alpha, double[] w, State st) {
        L1Kernels k = ws.k;
        int n = pb.n;
        int p = pb.p;
        double l1 = alpha * pb.l1Ratio * n;
        double l2 = alpha * (1 - pb.l1Ratio) * n;
        double tolAbs = opt.tol() * pb.yNorm2;
        MemorySegment r = ws.r;
        // Along a path the residual left by the previous alpha belongs to this warm start: reuse it, but
        // recompute it now and then so that rounding in the updates cannot build up.
        if (st.wAtR != null && st.sinceFresh < FRESH_EVERY && Arrays.equals(st.wAtR, w)) {
            st.sinceFresh++;
        } else {
            ws.residual(pb, w, r);
            st.sinceFresh = 0;
        }
        rVersion++;
        if (lastDot.length < p) {
            lastDot = new double[p];
            dotVersion = new long[p];
        }
        newton.reset();
        // Along a path the warm start's support and signs are often the new optimum's: they count as a sweep's,
        // so that the step can be taken after the first sweep instead of the second.
        newton.seed(w);
        double[] v = new double[p];
        for (int j = 0; j < p; j++) {
            v[j] = pb.weights == null ? 1 : pb.weights[j];
        }
        boolean[] screened = new boolean[p];
        for (int j = 0; j < p; j++) {
            if (pb.colNorm2[j] == 0) {
                screened[j] = true; // an empty column: coefficient 0, never touched
                w[j] = 0;
            }
        }
        double[] c = new double[p];
        double[] est = new double[p]; // c with the estimates in place of the bounds: for choosing features
        int[] set = null;
        if (opt.screening() && st.c != null && !Double.isNaN(st.prevL1)) {
            set = strongSet(pb, w, v, st, l1, l2, screened);
        }
        int epochs = 0;
        double gap = Double.POSITIVE_INFINITY;
        int prevSize = set == null ? 0 : set.length;
        boolean quantizedTried = false;
        boolean quantizedPending = false;
        for (int outer = 0; ; outer++) {
            boolean strong = outer == 0 && set != null;
            if (!strong) {
                products(pb, w, c, est, l1, v, st);
                gap = fullGap(pb, w, c, l1, l2, v);
                if ((gap <= tolAbs && unpenalizedSettled(pb, w, c, l2, v, tolAbs)) || epochs >= opt.maxIter()) {
                    break;
                }
                if (opt.screening()) {
                    screen(pb, w, c, l1, l2, v, gap, screened);
                    set = workingSet(pb, w, est, l1, l2, v, screened, Math.max(prevSize * 2, 16));
                } else {
                    set = allFeatures(screened);
                }
                prevSize = set.length;
            }
            double innerTol = strong ? 0.8 * tolAbs : Math.max(0.3 * gap, 0.8 * tolAbs);
            if (!opt.screening()) {
                innerTol = 0.5 * tolAbs;
            }
            if (!quantizedTried && st.quantizedMisses < 2 && pb.x16 != null && opt.screening() && allPenalized(v)
                    && (long) set.length * pb.n * 8 > quantizedMinBytes) {
                // Large working sets are solved on the 16-bit copy first (a quarter of the memory per sweep), then
                // refined; the residual is recomputed in float64 and the full certificate decides as always. If it
                // fails, the rest of this solve runs in float64 (with the Newton step); after two such misses along
                // a path the copy is not used for it again.
                quantizedTried = true;
                quantizedPending = true;
                quantizedSolves++;
                epochs += innerQuantized(pb, w, set, l1, l2, v, FIRST_ROUND_TOL * innerTol, opt.maxIter() - epochs, null);
                ws.residual(pb, w, r);
                // The 16-bit gradients are off by e_j . r (e_j the column's rounding), which moves the dual scaling
                // and so the gap at first order. One round of iterative refinement: the float64 gradients at this
                // point correct the 16-bit ones, so that only the rounding of the change since remains.
                double[] corr = corrections(pb, set, r);
                epochs += innerQuantized(pb, w, set, l1, l2, v, 0.5 * innerTol, opt.maxIter() - epochs, corr);
                ws.residual(pb, w, r);
                st.sinceFresh = 0;
                rVersion++;
            } else {
                if (quantizedPending) {
                    st.quantizedMisses++; // the 16-bit phase did not end certified
                    quantizedFallbacks++;
                    quantizedPending = false;
                }
                epochs += inner(pb, w, set, l1, l2, v, innerTol, opt.maxIter() - epochs);
            }
        }
        st.c = est;
        st.prevL1 = l1;
        st.wAtR = w.clone();
        return new double[] {gap, epochs};
    }

    /**
     * X^T R for the certificate. With a 16-bit shadow of X (large problems), one pass over the shadow gives
     * every product within a known error; a feature that is zero and whose bound
     * {@code |scale_j q_j . R| + err_j ||R||} stays below 0.999 of its threshold keeps that bound (an upper bound
     * of {@code |x_j . R|}, or of {@code x_j . R} when non-negative), the others are recomputed in float64 (or
     * taken from the last restricted gap when the residual has not changed since). The dual norm is then exact
     * (set by the support) and the gap, screening and working sets stay valid. This quarters the memory traffic
     * of the pass that dominates tall problems.
     */
    private void products(LassoProblem pb, double[] w, double[] c, double[] est, double l1, double[] v, State st) {
        if (pb.x16 == null || !opt.screening()) {
            ws.xtr(pb, ws.r, c);
            System.arraycopy(c, 0, est, 0, pb.p);
            return;
        }
        int n = pb.n;
        int p = pb.p;
        double rn = Math.sqrt(ws.k.sumSquares(ws.r, 0, n));
        int[] again = new int[p];
        int m = 0;
        if (pb.x8 != null && !st.noI8) {
            // Early along a path the threshold is far above the correlations and the 8-bit bound settles most
            // features; the others take the 16-bit products. Once it settles fewer than half, it is dropped for
            // the rest of the path.
            ws.xtr8(pb, ws.r, c);
            for (int j = 0; j < p; j++) {
                double b = (pb.positive ? c[j] : Math.abs(c[j])) + pb.x8Error[j] * rn + pb.x8Floor[j];
                est[j] = c[j];
                if (w[j] == 0 && v[j] > 0 && b < 0.999 * l1 * v[j]) {
                    c[j] = b;
                } else {
                    again[m++] = j;
                }
            }
            st.noI8 = 2 * (p - m) < p;
            ws.dots16(pb, again, m, ws.r, c);
        } else {
            ws.xtr16(pb, ws.r, c);
            for (int j = 0; j < p; j++) {
                again[m++] = j;
            }
        }
        int m16 = 0;
        for (int i = 0; i < m; i++) {
            int j = again[i];
            double b = (pb.positive ? c[j] : Math.abs(c[j])) + pb.x16Error[j] * rn;
            est[j] = c[j];
            if (w[j] == 0 && v[j] > 0 && b < 0.999 * l1 * v[j]) {
                c[j] = b;
            } else {
                again[m16++] = j;
            }
        }
        int left = 0;
        for (int i = 0; i < m16; i++) {
            int j = again[i];
            if (dotVersion[j] == rVersion) {
                c[j] = lastDot[j];
                est[j] = c[j];
            } else {
                again[left++] = j;
            }
        }
        ws.dots(pb, again, left, ws.r, c);
        for (int i = 0; i < left; i++) {
            est[again[i]] = c[again[i]];
        }
    }

    /**
     * The dual norm leaves unpenalized features out, so the gap bounds the error only once their correlations
     * with the residual vanish: each must be within the KKT slack {@code ||x_j|| sqrt(2 tolAbs)} of zero.
     */
    private static boolean unpenalizedSettled(LassoProblem pb, double[] w, double[] c, double l2, double[] v,
                                              double tolAbs) {
        if (pb.weights == null) {
            return true;
        }
        for (int j = 0; j < pb.p; j++) {
            if (v[j] == 0 && Math.abs(c[j] - l2 * w[j]) > Math.sqrt(pb.colNorm2[j] * 2 * tolAbs)) {
                return false;
            }
        }
        return true;
    }

    /**
     * Unpenalized features are left out of the gap, so the 16-bit phase could leave their gradients at the
     * level of the loose KKT slack; problems with such features stay in float64.
     */
    private static boolean allPenalized(double[] v) {
        for (double x : v) {
            if (x == 0) {
                return false;
            }
        }
        return true;
    }

    private static int[] allFeatures(boolean[] screened) {
        int cnt = 0;
        for (boolean s : screened) {
            cnt += s ? 0 : 1;
        }
        int[] out = new int[cnt];
        int q = 0;
        for (int j = 0; j < screened.length; j++) {
            if (!screened[j]) {
                out[q++] = j;
            }
        }
        return out;
    }

    /** Support, unpenalized features and the features the sequential strong rule keeps. */
    private int[] strongSet(LassoProblem pb, double[] w, double[] v, State st, double l1, double l2,
                            boolean[] screened) {
        int p = pb.p;
        double prevL2 = l2 * st.prevL1 / l1; // l2 scales with alpha like l1
        int[] forced = new int[p];
        int nf = 0;
        int[] cand = new int[p];
        double[] key = new double[p]; // minus the ratio: the closest to entering have the smallest keys
        int nc = 0;
        int violators = 0; // already past the new threshold at the current coefficients: they will enter
        for (int j = 0; j < p; j++) {
            if (screened[j]) {
                continue;
            }
            double a = st.c[j] - prevL2 * w[j];
            a = pb.positive ? a : Math.abs(a);
            if (w[j] != 0 || v[j] == 0) {
                forced[nf++] = j;
            } else if (a >= (2 * l1 - st.prevL1) * v[j]) {
                double ratio = a / v[j];
                key[j] = -ratio;
                cand[nc++] = j;
                violators += ratio > l1 ? 1 : 0;
            }
        }
        // With correlated features the strong rule keeps many; the closest to entering first, and only as
        // many as a working set would hold (the certificate adds any that were wrongly left out).
        int keep = Math.min(nc, Math.max(violators, Math.max(16, 2 * nf) - nf));
        int[] out = Arrays.copyOf(forced, nf + keep);
        System.arraycopy(smallest(key, cand, nc, keep), 0, out, nf, keep);
        Arrays.sort(out);
        return out;
    }

    /**
     * The {@code size} entries of {@code cand[0..nc)} (feature indices in increasing order) with the smallest keys
     * in {@link Double#compare} order, ties taken in index order, returned in increasing index order: what a stable
     * sort by key followed by the first {@code size} would give, with a primitive sort of the keys instead.
     */
    static int[] smallest(double[] key, int[] cand, int nc, int size) {
        int[] out = new int[size];
        if (size == 0) {
            return out;
        }
        double[] sorted = new double[nc];
        for (int i = 0; i < nc; i++) {
            sorted[i] = key[cand[i]];
        }
        Arrays.sort(sorted);
        double thr = sorted[size - 1];
        int below = 0;
        for (int i = 0; i < size && Double.compare(sorted[i], thr) < 0; i++) {
            below++;
        }
        int ties = size - below;
        int m = 0;
        for (int i = 0; i < nc && m < size; i++) {
            int c = Double.compare(key[cand[i]], thr);
            if (c < 0 || (c == 0 && ties-- > 0)) {
                out[m++] = cand[i];
            }
        }
        return out;
    }

    private double fullGap(LassoProblem pb, double[] w, double[] c, double l1, double l2, double[] v) {
        int n = pb.n;
        double[] xta = new double[pb.p];
        for (int j = 0; j < pb.p; j++) {
            xta[j] = c[j] - l2 * w[j];
        }
        double dn = Duality.dualNorm(pb, xta);
        double rn2 = ws.k.sumSquares(ws.r, 0, n);
        double ry = ws.k.dot(ws.r, 0, pb.y, 0, n);
        return Duality.gap(rn2, l1, l2, Duality.omega(pb, w), Duality.norm2(w), dn, rn2, ry);
    }

    private void screen(LassoProblem pb, double[] w, double[] c, double l1, double l2, double[] v, double gap,
                        boolean[] screened) {
        double[] xta = new double[pb.p];
        for (int j = 0; j < pb.p; j++) {
            xta[j] = c[j] - l2 * w[j];
        }
        double s = Duality.scale(l1, Duality.dualNorm(pb, xta));
        double radius = Math.sqrt(2 * gap);
        for (int j = 0; j < pb.p; j++) {
            if (screened[j] || v[j] == 0) {
                continue;
            }
            double a = pb.positive ? xta[j] : Math.abs(xta[j]);
            if (s * a + radius * Math.sqrt(pb.colNorm2[j] + l2) < l1 * v[j]) {
                screened[j] = true;
                if (w[j] != 0) {
                    ws.k.axpy(w[j], pb.x, (long) j * pb.n, ws.r, 0, pb.n);
                    rVersion++;
                    w[j] = 0;
                }
            }
        }
    }

    /** The support, unpenalized features, then the features closest to their constraint. */
    private int[] workingSet(LassoProblem pb, double[] w, double[] c, double l1, double l2, double[] v,
                             boolean[] screened, int minSize) {
        int p = pb.p;
        double[] xta = new double[p];
        for (int j = 0; j < p; j++) {
            xta[j] = c[j] - l2 * w[j];
        }
        double s = Duality.scale(l1, Duality.dualNorm(pb, xta));
        int cand = 0;
        int forced = 0;
        int[] idx = new int[p];
        double[] d = new double[p];
        for (int j = 0; j < p; j++) {
            if (screened[j]) {
                continue;
            }
            idx[cand++] = j;
            if (w[j] != 0 || v[j] == 0) {
                d[j] = Double.NEGATIVE_INFINITY;
                forced++;
            } else {
                double a = pb.positive ? xta[j] : Math.abs(xta[j]);
                d[j] = (l1 * v[j] - s * a) / Math.sqrt(pb.colNorm2[j] + l2);
            }
        }
        int size = Math.min(cand, Math.max(minSize, 2 * forced));
        return smallest(d, idx, cand, size);
    }

    /**
     * Cyclic coordinate descent on the set until its restricted gap is below {@code innerTol}. Rounds of one
     * sweep over the whole set (then the restricted gap, with dual extrapolation) and sweeps over its non-zero
     * part only, Anderson-accelerated, until that part has settled: zeros that stay zero cost nothing there.
     */
    private int inner(LassoProblem pb, double[] w, int[] set, double l1, double l2, double[] v, double innerTol,
                      int maxEpochs) {
        if (set.length == 0) {
            return 0;
        }
        L1Kernels k = ws.k;
        int n = pb.n;
        MemorySegment r = ws.r;
        int snaps = 0;
        int e = 0;
        while (e < maxEpochs) {
            sweep(pb, w, set, set.length, l1, l2, v);
            e++;
            boolean solved = newton.afterSweep(pb, w, set, set.length, l1, l2, v, r, ws.tmp) && newton.lastFull;
            rVersion++;
            if (solved && pb.x16 != null && (long) set.length * 4 >= pb.p) {
                // The support's KKT system is solved, and the restricted gap would read more memory than the
                // certificate's 16-bit pass: let the full certificate decide at once.
                break;
            }
            int slot = snaps % Workspace.SNAPSHOTS;
            MemorySegment.copy(r, 0, ws.snaps, 8L * slot * n, 8L * n);
            snaps++;
            double g = restrictedGap(pb, w, set, set.length, l1, l2, v, r);
            if (g > innerTol && snaps >= Workspace.SNAPSHOTS && ws.extrapolate(n, slot, ws.tmp)) {
                g = Math.min(g, restrictedGapWithDual(pb, w, set, set.length, l1, l2, v, ws.tmp, k.sumSquares(r, 0, n)));
            }
            if (g <= innerTol) {
                break;
            }
            int[] act = new int[set.length];
            int m = 0;
            for (int j : set) {
                if (w[j] != 0 || v[j] == 0) {
                    act[m++] = j;
                }
            }
            if (m == 0 || m == set.length) {
                if (m == set.length) {
                    e += settle(pb, w, act, m, l1, l2, v, innerTol, maxEpochs - e);
                }
                continue;
            }
            e += settle(pb, w, act, m, l1, l2, v, 0.5 * innerTol, maxEpochs - e);
        }
        return e;
    }

    /**
     * Coordinate descent on the 16-bit copy of X (column j is {@code scale_j q_j}) over the set, until the gap of that
     * problem restricted to the set is below {@code tol}: rounds of one sweep over the set, then sweeps over its
     * non-zero part. The residual {@code ws.r16} starts from the float64 one and follows the 16-bit columns; the
     * caller recomputes the float64 residual afterwards.
     */
    private int innerQuantized(LassoProblem pb, double[] w, int[] set, double l1, double l2, double[] v, double tol,
                               int maxEpochs, double[] corr) {
        if (set.length == 0) {
            return 0;
        }
        MemorySegment.copy(ws.r, 0, ws.r16, 0, 8L * pb.n);
        int e = 0;
        int[] act = new int[set.length];
        while (e < maxEpochs) {
            double moved = sweepQuantized(pb, w, set, set.length, l1, l2, v, corr);
            e++;
            if (moved <= FAR_CHANGE && restrictedGapQuantized(pb, w, set, set.length, l1, l2, v, corr) <= tol) {
                break;
            }
            int m = 0;
            for (int j : set) {
                if (w[j] != 0 || v[j] == 0) {
                    act[m++] = j;
                }
            }
            if (m == 0) {
                continue;
            }
            int settle = 0;
            boolean settled = false;
            while (e < maxEpochs && settle < MAX_SETTLE) {
                double change = sweepQuantized(pb, w, act, m, l1, l2, v, corr);
                e++;
                settle++;
                if ((change == 0 || settle % 2 == 0) && (change <= SETTLING_CHANGE || settle % 8 == 0)
                        && restrictedGapQuantized(pb, w, act, m, l1, l2, v, corr) <= 0.5 * tol) {
                    settled = true;
                    break;
                }
            }
            // The non-zero part has settled: the set's gap at this very point usually holds too (its zeros stay
            // below their thresholds), and costs the products of the set, not a sweep over it as well.
            if (settled && restrictedGapQuantized(pb, w, set, set.length, l1, l2, v, corr) <= tol) {
                break;
            }
        }
        return e;
    }

    /** {@code x_j . r - scale_j (q_j . r)} for the features of the set (zero elsewhere). */
    private double[] corrections(LassoProblem pb, int[] set, MemorySegment r) {
        double[] corr = new double[pb.p];
        double[] q = new double[pb.p];
        ws.dots(pb, set, set.length, r, corr);
        ws.dots16(pb, set, set.length, r, q);
        for (int j : set) {
            corr[j] -= q[j];
        }
        return corr;
    }

    /** {@link #sweep} on the 16-bit copy, with its residual {@code ws.r16}. */
    private double sweepQuantized(LassoProblem pb, double[] w, int[] idx, int m, double l1, double l2, double[] v,
                                  double[] corr) {
        int parts = teamParts(pb, m);
        if (parts > 1) {
            return sweepTeam(pb, w, idx, m, l1, l2, v, corr, true, parts);
        }
        L1Kernels k = ws.k;
        int n = pb.n;
        MemorySegment q = pb.x16;
        MemorySegment r = ws.r16;
        double[] scale = pb.x16Scale;
        long pending = -1;
        double pendingAlpha = 0;
        double dwMax = 0;
        double wMax = 0;
        for (int i = 0; i < m; i++) {
            int j = idx[i];
            double nrm = pb.x16Norm2[j];
            long off = (long) j * n;
            double wj = w[j];
            double g = scale[j] * (pending >= 0 ? k.axpyDotI16(pendingAlpha, q, pending, r, 0, q, off, n)
                    : k.dotI16(q, off, r, 0, n));
            if (corr != null) {
                g += corr[j];
            }
            pending = -1;
            double z = g + nrm * wj;
            double thr = l1 * v[j];
            double wn = pb.coordinate(z, thr, nrm + l2);
            if (wn != wj) {
                pending = off;
                pendingAlpha = (wj - wn) * scale[j];
                w[j] = wn;
                dwMax = Math.max(dwMax, Math.abs(wj - wn));
            }
            wMax = Math.max(wMax, Math.abs(wn));
        }
        if (pending >= 0) {
            k.axpyI16(pendingAlpha, q, pending, r, 0, n);
        }
        return wMax == 0 ? 0 : dwMax / wMax;
    }

    /**
     * The gap of the 16-bit problem restricted to the first m features of {@code set}. Its residual is
     * {@code y' - X16 w} for a target {@code y'} that differs from y by the 16-bit error of the starting point, so
     * {@code r . y'} is taken as {@code ||r||^2 + sum_j w_j (x16_j . r)} (w is zero outside the set).
     */
    private double restrictedGapQuantized(LassoProblem pb, double[] w, int[] set, int m, double l1, double l2,
                                          double[] v, double[] corr) {
        L1Kernels k = ws.k;
        int n = pb.n;
        double dn = 0;
        double omega = 0;
        double wn2 = 0;
        double wd = 0;
        if (dots.length < pb.p) {
            dots = new double[pb.p];
        }
        ws.dots16(pb, set, m, ws.r16, dots); // split across the threads when worth it
        for (int i = 0; i < m; i++) {
            int j = set[i];
            double d = dots[j] + (corr == null ? 0 : corr[j]);
            double a = d - l2 * w[j];
            a = pb.positive ? a : Math.abs(a);
            if (v[j] > 0) {
                dn = Math.max(dn, a / v[j]);
            }
            omega += v[j] * Math.abs(w[j]);
            wn2 += w[j] * w[j];
            wd += w[j] * d;
        }
        double rn2 = k.sumSquares(ws.r16, 0, n);
        return Duality.gap(rn2, l1, l2, omega, wn2, dn, rn2, rn2 + wd);
    }

    /** Anderson-accelerated sweeps over the first m features of act until their restricted gap is below tol. */
    private int settle(LassoProblem pb, double[] w, int[] act, int m, double l1, double l2, double[] v, double tol,
                       int maxEpochs) {
        double[][] hist = new double[ANDERSON + 1][m];
        int nh = 0;
        int e = 0;
        while (e < maxEpochs && e < MAX_SETTLE) {
            double change = sweep(pb, w, act, m, l1, l2, v);
            e++;
            boolean polished = newton.afterSweep(pb, w, act, m, l1, l2, v, ws.r, ws.tmp);
            rVersion++;
            if (polished) {
                nh = 0; // the history no longer leads to this point
                if (restrictedGap(pb, w, act, m, l1, l2, v, ws.r) <= tol) {
                    break;
                }
                continue;
            }
            for (int i = 0; i < m; i++) {
                hist[nh][i] = w[act[i]];
            }
            if (++nh == ANDERSON + 1) {
                anderson(pb, w, act, m, hist, l1, l2, v);
                nh = 0;
            }
            // The restricted gap costs about a sweep: every CHECK_EVERY sweeps, or when nothing moved.
            if (change == 0 || e % CHECK_EVERY == 0) {
                if (restrictedGap(pb, w, act, m, l1, l2, v, ws.r) <= tol) {
                    break;
                }
            }
        }
        return e;
    }

    /**
     * One cyclic pass over the first m features of {@code idx}; each residual update is fused with the next
     * coordinate's gradient (one pass over r per coordinate). Returns the largest change relative to the
     * largest coefficient (0 when all are zero).
     */
    private double sweep(LassoProblem pb, double[] w, int[] idx, int m, double l1, double l2, double[] v) {
        rVersion++;
        int parts = teamParts(pb, m);
        if (parts > 1) {
            return sweepTeam(pb, w, idx, m, l1, l2, v, null, false, parts);
        }
        L1Kernels k = ws.k;
        int n = pb.n;
        MemorySegment x = pb.x;
        MemorySegment r = ws.r;
        long pending = -1;
        double pendingDelta = 0;
        double dwMax = 0;
        double wMax = 0;
        for (int q = 0; q < m; q++) {
            int j = idx[q];
            double nrm = pb.colNorm2[j];
            long off = (long) j * n;
            double wj = w[j];
            double g = pending >= 0 ? k.axpyDot(pendingDelta, x, pending, r, 0, x, off, n) : k.dot(x, off, r, 0, n);
            pending = -1;
            double z = g + nrm * wj;
            double thr = l1 * v[j];
            double wn = pb.coordinate(z, thr, nrm + l2);
            if (wn != wj) {
                pending = off;
                pendingDelta = wj - wn;
                w[j] = wn;
                dwMax = Math.max(dwMax, Math.abs(pendingDelta));
            }
            wMax = Math.max(wMax, Math.abs(wn));
        }
        if (pending >= 0) {
            k.axpy(pendingDelta, x, pending, r, 0, n);
        }
        return wMax == 0 ? 0 : dwMax / wMax;
    }

    /** Parts of a row-split sweep over m features: 1 (no split) unless the solver has threads and the sweep is big. */
    private int teamParts(LassoProblem pb, int m) {
        if (ws.threads <= 1 || pb.n < TEAM_MIN_ROWS || (long) m * pb.n < Workspace.PARALLEL_MIN) {
            return 1;
        }
        return Math.min(Math.min(ws.threads, 64), pb.n / TEAM_PART_ROWS);
    }

    /** First row of part {@code part} of {@code parts}: a multiple of 16, and n for the end. */
    private static int partStart(int n, int parts, int part) {
        return part >= parts ? n : (int) ((long) n * part / parts) & ~15;
    }

    /**
     * {@link #sweep} (or {@link #sweepQuantized} when {@code quantized}) with the rows cut into {@code parts} parts
     * across a {@link Team}: each member updates its parts of the residual and computes its parts of each gradient,
     * the team adds them up in part order, and every member then takes the same coordinate step (the same bits, so
     * the pending residual update is the same on every part). Only member 0 writes the coefficients; the others read
     * a coefficient before publishing their part of its step, and member 0 writes it only after reading all parts,
     * so nobody reads a value of this sweep too early. The result does not depend on how many threads joined.
     * (The one-part sweeps keep their own loops: run through this one, as a team of one, the 200-row steps of the
     * {@code toeplitz} benchmark made its path 3-7% slower.)
     */
    private double sweepTeam(LassoProblem pb, double[] w, int[] idx, int m, double l1, double l2, double[] v,
                             double[] corr, boolean quantized, int parts) {
        double[] out = new double[3];
        teamSweeps++;
        int threads = teamThreads > 0 ? teamThreads : ws.threads;
        if (soloSweeps > 0) {
            soloSweeps--;
            threads = 1;
        }
        long t0 = System.nanoTime();
        Team.run(threads, parts, member -> {
            L1Kernels k = ws.k;
            int n = pb.n;
            MemorySegment x = quantized ? pb.x16 : pb.x;
            MemorySegment r = quantized ? ws.r16 : ws.r;
            double[] scale = pb.x16Scale;
            double[] norm2 = quantized ? pb.x16Norm2 : pb.colNorm2;
            boolean lead = member.rank() == 0;
            int first = member.firstPart();
            int stride = member.size();
            long pending = -1;
            double pendingAlpha = 0;
            double dwMax = 0;
            double wMax = 0;
            for (int i = 0; i < m; i++) {
                int j = idx[i];
                long off = (long) j * n;
                double wj = w[j];
                for (int part = first; part < parts; part += stride) {
                    int lo = partStart(n, parts, part);
                    int len = partStart(n, parts, part + 1) - lo;
                    double d;
                    if (quantized) {
                        d = pending >= 0 ? k.axpyDotI16(pendingAlpha, x, pending + lo, r, lo, x, off + lo, len)
                                : k.dotI16(x, off + lo, r, lo, len);
                    } else {
                        d = pending >= 0 ? k.axpyDot(pendingAlpha, x, pending + lo, r, lo, x, off + lo, len)
                                : k.dot(x, off + lo, r, lo, len);
                    }
                    member.put(part, d);
                }
                double g = member.sum();
                if (quantized) {
                    g *= scale[j];
                    if (corr != null) {
                        g += corr[j];
                    }
                }
                pending = -1;
                double nrm = norm2[j];
                double wn = pb.coordinate(g + nrm * wj, l1 * v[j], nrm + l2);
                if (wn != wj) {
                    pending = off;
                    pendingAlpha = quantized ? (wj - wn) * scale[j] : wj - wn;
                    if (lead) {
                        w[j] = wn;
                    }
                    dwMax = Math.max(dwMax, Math.abs(wj - wn));
                }
                wMax = Math.max(wMax, Math.abs(wn));
            }
            if (pending >= 0) {
                for (int part = first; part < parts; part += stride) {
                    int lo = partStart(n, parts, part);
                    int len = partStart(n, parts, part + 1) - lo;
                    if (quantized) {
                        k.axpyI16(pendingAlpha, x, pending + lo, r, lo, len);
                    } else {
                        k.axpy(pendingAlpha, x, pending + lo, r, lo, len);
                    }
                }
            }
            if (lead) {
                out[0] = dwMax;
                out[1] = wMax;
                out[2] = member.size() > 1 ? member.waitedNanos() : -1;
                sharedSweeps += member.size() > 1 ? 1 : 0;
            }
        });
        if (out[2] >= 0) {
            if (out[2] > 0.5 * (System.nanoTime() - t0)) {
                soloSweeps = backoff;
                backoff = Math.min(256, 2 * backoff);
            } else {
                backoff = 4;
            }
        }
        return out[1] == 0 ? 0 : out[0] / out[1];
    }

    /**
     * Anderson acceleration of the primal iterates (as in skglm): from the last ANDERSON + 1 epochs' coefficients,
     * the affine combination that best cancels their differences; kept only if it lowers the objective.
     */
    private void anderson(LassoProblem pb, double[] w, int[] set, int m, double[][] hist, double l1, double l2,
                          double[] v) {
        int kk = ANDERSON;
        double[][] a = new double[kk][kk + 1];
        double scale = 0;
        for (int i = 0; i < kk; i++) {
            for (int l = i; l < kk; l++) {
                double s = 0;
                for (int q = 0; q < m; q++) {
                    s += (hist[i + 1][q] - hist[i][q]) * (hist[l + 1][q] - hist[l][q]);
                }
                a[i][l] = a[l][i] = s;
            }
            a[i][kk] = 1;
            scale = Math.max(scale, a[i][i]);
        }
        if (!(scale > 0)) {
            return;
        }
        double[] z = Workspace.solve(a, kk, scale * 1e-14);
        if (z == null) {
            return;
        }
        double sum = 0;
        for (double c : z) {
            sum += c;
        }
        if (sum == 0 || !Double.isFinite(sum)) {
            return;
        }
        double[] acc = new double[m];
        for (int i = 0; i < kk; i++) {
            double c = z[i] / sum;
            for (int q = 0; q < m; q++) {
                acc[q] += c * hist[i + 1][q];
            }
        }
        if (pb.positive) {
            for (int q = 0; q < m; q++) {
                acc[q] = Math.max(acc[q], 0);
            }
        }
        L1Kernels k = ws.k;
        int n = pb.n;
        MemorySegment racc = ws.tmp;
        MemorySegment.copy(pb.y, 0, racc, 0, 8L * n);
        for (int q = 0; q < m; q++) {
            if (acc[q] != 0) {
                k.axpy(-acc[q], pb.x, (long) set[q] * n, racc, 0, n);
            }
        }
        double pAcc = 0.5 * k.sumSquares(racc, 0, n);
        double pCur = 0.5 * k.sumSquares(ws.r, 0, n);
        for (int q = 0; q < m; q++) {
            int j = set[q];
            pAcc += l1 * v[j] * Math.abs(acc[q]) + 0.5 * l2 * acc[q] * acc[q];
            pCur += l1 * v[j] * Math.abs(w[j]) + 0.5 * l2 * w[j] * w[j];
        }
        if (pAcc < pCur) {
            for (int q = 0; q < m; q++) {
                w[set[q]] = acc[q];
            }
            MemorySegment.copy(racc, 0, ws.r, 0, 8L * n);
            rVersion++;
        }
    }

    private double restrictedGap(LassoProblem pb, double[] w, int[] set, int m, double l1, double l2, double[] v,
                                 MemorySegment r) {
        double rn2 = ws.k.sumSquares(r, 0, pb.n);
        return restrictedGapWithDual(pb, w, set, m, l1, l2, v, r, rn2);
    }

    /** The gap of the problem restricted to {@code set}, with the dual point built from residual {@code rho}. */
    private double restrictedGapWithDual(LassoProblem pb, double[] w, int[] set, int m, double l1, double l2,
                                         double[] v, MemorySegment rho, double rn2) {
        L1Kernels k = ws.k;
        int n = pb.n;
        double dn = 0;
        double omega = 0;
        double wn2 = 0;
        boolean keep = rho == ws.r;
        if (dots.length < pb.p) {
            dots = new double[pb.p];
        }
        ws.dots(pb, set, m, rho, dots); // split across the threads when worth it
        for (int q = 0; q < m; q++) {
            int j = set[q];
            double d = dots[j];
            if (keep) {
                lastDot[j] = d;
                dotVersion[j] = rVersion;
            }
            double a = d - l2 * w[j];
            a = pb.positive ? a : Math.abs(a);
            if (v[j] > 0) {
                dn = Math.max(dn, a / v[j]);
            }
            omega += v[j] * Math.abs(w[j]);
            wn2 += w[j] * w[j];
        }
        double rhoN2 = k.sumSquares(rho, 0, n);
        double rhoY = k.dot(rho, 0, pb.y, 0, n);
        return Duality.gap(rn2, l1, l2, omega, wn2, dn, rhoN2, rhoY);
    }
}
