package dev.jlm.prune.lasso;

import dev.jlm.core.JlmException;
import dev.jlm.simd.RowExecutor;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Solves {@link LassoProblem}s for one alpha or along a path of alphas, each solution certified by its
 * duality gap (scikit-learn's definition, see {@link SolverOptions#tol()}).
 *
 * <p>A solver owns reusable buffers and, with {@code threads > 1}, splits its large {@code X^T r} products on the
 * kernels' shared {@code RowExecutor}: create it once, solve many problems, close it. It is confined to one thread at a time (a call
 * from a second thread while one runs fails with {@link IllegalStateException}); different solvers may run
 * concurrently, also on the same problem.
 */
public final class LassoSolver implements AutoCloseable {
    static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** {@code AUTO} takes the Gram solver for tall problems only while {@code n p^2} stays below this. */
    static final long GRAM_MAX_WORK = 1L << 27;

    private final SolverOptions options;
    private final Workspace ws;
    private final CdEngine cd;
    private final GramEngine gram;
    private final BlockEngine block;
    private final FistaEngine fista;
    private final AtomicBoolean busy = new AtomicBoolean();

    public LassoSolver(SolverOptions options) {
        this.options = options;
        this.ws = new Workspace(options.threads());
        this.cd = new CdEngine(ws, options);
        this.gram = new GramEngine(ws, options);
        this.block = new BlockEngine(ws, options);
        this.fista = new FistaEngine(ws, options);
    }

    /** The coordinate descent engine, for tests that switch its Newton step off. */
    CdEngine cdForTests() {
        return cd;
    }

    public SolverOptions options() {
        return options;
    }

    /**
     * {@code nAlphas} alphas from {@code alphaMax} down to {@code eps * alphaMax}, evenly spaced on a log scale
     * (scikit-learn's and glmnet's grid).
     */
    public static double[] alphaGrid(LassoProblem pb, int nAlphas, double eps) {
        if (nAlphas < 1) {
            throw new JlmException.InvalidArgument("nAlphas must be >= 1, not " + nAlphas);
        }
        if (!(eps > 0 && eps <= 1)) {
            throw new JlmException.InvalidArgument("eps must be in (0, 1], not " + eps);
        }
        double amax = pb.alphaMax();
        if (!(amax > 0)) {
            throw new JlmException.InvalidArgument("alphaMax is 0 (y is orthogonal to every column of X, or y is constant)"
                    + ": the solution is 0 for every alpha");
        }
        double[] a = new double[nAlphas];
        for (int i = 0; i < nAlphas; i++) {
            a[i] = nAlphas == 1 ? amax : amax * Math.pow(eps, (double) i / (nAlphas - 1));
        }
        return a;
    }

    /** Solves for one alpha from zero. */
    public Solution solve(LassoProblem pb, double alpha) {
        return solve(pb, alpha, null);
    }

    /** Solves for one alpha from a warm start ({@code p * T} coefficients, or null for zeros). */
    public Solution solve(LassoProblem pb, double alpha, double[] warmStart) {
        enter();
        try (RowExecutor.Hold awake = awake()) {
            double[] w = new double[pb.p * pb.tasks];
            if (warmStart != null) {
                if (warmStart.length != w.length) {
                    throw new JlmException.InvalidArgument("warm start has " + warmStart.length + " values, expected " + w.length);
                }
                System.arraycopy(warmStart, 0, w, 0, w.length);
            }
            cd.newton.forget();
            return solveOne(pb, alpha, w, new CdEngine.State());
        } finally {
            busy.set(false);
        }
    }

    /** The path over {@code nAlphas} alphas down to {@code eps * alphaMax} ({@link #alphaGrid}). */
    public LassoPath path(LassoProblem pb, int nAlphas, double eps) {
        return path(pb, alphaGrid(pb, nAlphas, eps));
    }

    /** The path over the given alphas (best decreasing), each solution warm-started from the previous one. */
    public LassoPath path(LassoProblem pb, double[] alphas) {
        enter();
        try (RowExecutor.Hold awake = awake()) {
            long t0 = System.nanoTime();
            double[] w = new double[pb.p * pb.tasks];
            CdEngine.State st = new CdEngine.State();
            cd.newton.forget();
            List<Solution> out = new ArrayList<>(alphas.length);
            for (double a : alphas) {
                out.add(solveOne(pb, a, w, st));
            }
            return new LassoPath(alphas, out, (System.nanoTime() - t0) / 1e9);
        } finally {
            busy.set(false);
        }
    }

    /**
     * With threads, the shared workers stay awake for the whole call: its parallel products and sweeps come every few
     * hundred microseconds, between serial steps longer than the workers' own spin, and waking a parked worker costs
     * about as much as a small product (null, nothing held, with one thread).
     */
    private RowExecutor.Hold awake() {
        return options.threads() > 1 ? RowExecutor.hold() : null;
    }

    private void enter() {
        if (!busy.compareAndSet(false, true)) {
            throw new IllegalStateException("this LassoSolver is in use by another thread; use one solver per thread");
        }
    }

    private Solution solveOne(LassoProblem pb, double alpha, double[] w, CdEngine.State st) {
        if (!(alpha > 0) || Double.isInfinite(alpha)) {
            throw new JlmException.InvalidArgument("alpha must be > 0 and finite, not " + alpha
                    + " (for least squares take the end of a path with a small eps)");
        }
        long t0 = System.nanoTime();
        ws.ensure(pb);
        SolverOptions.Algorithm algo = options.algorithm();
        if (algo == SolverOptions.Algorithm.AUTO) {
            // The Gram matrix costs n p^2 / 2 multiply-adds up front. Measured on 20-alpha paths (independent
            // Gaussian columns, tol 1e-8): it paid at n=10000 p=100 and n=2000 p=250 (n p^2 ~ 1.0e8, 1.25e8) and
            // lost at n=10000 p=250 and n=2000 p=500 (6.3e8, 5.0e8), where coordinate descent on the residual
            // with the 16-bit copy is faster.
            algo = pb.kind == LassoProblem.Kind.LASSO && pb.n >= 4 * pb.p && (long) pb.n * pb.p * pb.p <= GRAM_MAX_WORK
                    ? SolverOptions.Algorithm.GRAM : SolverOptions.Algorithm.CD;
        }
        if (algo == SolverOptions.Algorithm.GRAM && pb.kind != LassoProblem.Kind.LASSO) {
            throw new JlmException.Unsupported("the Gram solver handles the Lasso and elastic net only, not " + pb.kind);
        }
        double[] res;
        String name;
        switch (algo) {
            case GRAM -> {
                res = gram.solve(pb, alpha, w);
                name = "gram";
                st.c = null;
            }
            case FISTA -> {
                res = fista.solve(pb, alpha, w);
                name = "fista";
                st.c = null;
            }
            default -> {
                if (pb.kind == LassoProblem.Kind.LASSO) {
                    res = cd.solve(pb, alpha, w, st);
                    name = "cd";
                } else {
                    res = block.solve(pb, alpha, w);
                    name = "bcd";
                }
            }
        }
        double gapAbs = res[0];
        if (algo == SolverOptions.Algorithm.GRAM) {
            gapAbs = exactGap(pb, alpha, w); // the Gram identities lose digits; certify on the residual
        }
        int n = pb.n;
        double l1 = alpha * pb.l1Ratio * n;
        double l2 = alpha * (1 - pb.l1Ratio) * n;
        if (!"cd".equals(name)) {
            ws.residual(pb, w, ws.r); // coordinate descent keeps it up to date
        }
        double rn2 = ws.k.sumSquares(ws.r, 0, n * pb.tasks);
        double objective = Duality.primal(rn2, l1, l2, Duality.omega(pb, w), Duality.norm2(w)) / n;
        double rel = pb.yNorm2 > 0 ? gapAbs / pb.yNorm2 : (gapAbs == 0 ? 0 : Double.POSITIVE_INFINITY);
        double[] icpt = new double[pb.tasks];
        if (pb.fitIntercept) {
            for (int t = 0; t < pb.tasks; t++) {
                double s = pb.yMean[t];
                for (int j = 0; j < pb.p; j++) {
                    s -= pb.xMean[j] * w[j * pb.tasks + t];
                }
                icpt[t] = s;
            }
        }
        return new Solution(alpha, w, icpt, gapAbs / n, rel, objective, (int) res[1], (System.nanoTime() - t0) / 1e9,
                gapAbs <= options.tol() * pb.yNorm2, name);
    }

    /**
     * The relative duality gap (scikit-learn's definition, see {@link SolverOptions#tol()}) of any coefficients
     * for this problem at {@code alpha}: a certificate for solutions from elsewhere (another library, a file).
     * With {@code fitIntercept} the coefficients are scored with their optimal intercept.
     */
    public double relativeGap(LassoProblem pb, double alpha, double[] coef) {
        if (coef.length != pb.p * pb.tasks) {
            throw new JlmException.InvalidArgument("coefficients: " + coef.length + " values, expected " + pb.p * pb.tasks);
        }
        enter();
        try {
            ws.ensure(pb);
            double g = exactGap(pb, alpha, coef.clone());
            return pb.yNorm2 > 0 ? g / pb.yNorm2 : g;
        } finally {
            busy.set(false);
        }
    }

    /** The duality gap (unscaled) computed from the residual with a full X^T R product. */
    double exactGap(LassoProblem pb, double alpha, double[] w) {
        int n = pb.n;
        int tt = pb.tasks;
        double l1 = alpha * pb.l1Ratio * n;
        double l2 = alpha * (1 - pb.l1Ratio) * n;
        ws.residual(pb, w, ws.r);
        double[] c = new double[pb.p * tt];
        ws.xtr(pb, ws.r, c);
        for (int i = 0; i < c.length; i++) {
            c[i] -= l2 * w[i];
        }
        double rn2 = ws.k.sumSquares(ws.r, 0, n * tt);
        double ry = ws.k.dot(ws.r, 0, pb.y, 0, n * tt);
        return Duality.gap(rn2, l1, l2, Duality.omega(pb, w), Duality.norm2(w), Duality.dualNorm(pb, c), rn2, ry);
    }

    /** Frees the buffers. */
    @Override
    public void close() {
        gram.close();
        ws.close();
    }
}
