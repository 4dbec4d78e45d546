package dev.jlm.simd.norm;

import dev.jlm.simd.internal.KernelBase;
import dev.jlm.core.DType;
import dev.jlm.core.JlmException;
import dev.jlm.core.Tensor;
import dev.jlm.simd.RowExecutor;
import dev.jlm.simd.internal.Rows;
import dev.jlm.simd.internal.Segments;
import java.lang.foreign.MemorySegment;

/** Argument checks and row splitting for both norms; the per-row work is in {@link ScalarNorms} and {@link VectorNorms}. */
final class NormImpl extends KernelBase<NormImpl> implements RmsNorm, LayerNorm {
    static final NormImpl SCALAR = new NormImpl(false, RowExecutor.cores());
    static final NormImpl VECTOR = new NormImpl(true, RowExecutor.cores());


    private NormImpl(boolean vector, int threads) {
        super(vector, threads);
    }

    @Override
    protected NormImpl copy(int threads) {
        return new NormImpl(vector, threads);
    }

    @Override
    protected String name() {
        return "Norm";
    }

    // ---- RMSNorm ----------------------------------------------------------------------------

    @Override
    public void apply(Tensor x, Tensor gamma, float eps, Tensor out) {
        run(false, x, null, gamma, null, eps, null, out);
    }

    @Override
    public void applyResidual(Tensor x, Tensor residual, Tensor gamma, float eps, Tensor sum, Tensor out) {
        checkResidualArgs(residual, sum);
        run(false, x, residual, gamma, null, eps, sum, out);
    }

    // ---- LayerNorm --------------------------------------------------------------------------

    @Override
    public void apply(Tensor x, Tensor gamma, Tensor beta, float eps, Tensor out) {
        run(true, x, null, gamma, beta, eps, null, out);
    }

    @Override
    public void applyResidual(Tensor x, Tensor residual, Tensor gamma, Tensor beta, float eps, Tensor sum,
                              Tensor out) {
        checkResidualArgs(residual, sum);
        run(true, x, residual, gamma, beta, eps, sum, out);
    }

    private static void checkResidualArgs(Tensor residual, Tensor sum) {
        if (residual == null) {
            throw new JlmException.InvalidArgument("residual must not be null");
        }
        if (sum == null) {
            throw new JlmException.InvalidArgument("sum must not be null");
        }
    }

    // ---- shared -----------------------------------------------------------------------------

    private void run(boolean layer, Tensor x, Tensor r, Tensor gamma, Tensor beta, float eps, Tensor sum, Tensor out) {
        if (x == null || gamma == null || out == null) {
            throw new JlmException.InvalidArgument((x == null ? "x" : gamma == null ? "gamma" : "out")
                    + " must not be null");
        }
        Rows.requireFloatInput(x, "x");
        Rows.requireF32(out, "out");
        Rows.requireF32(gamma, "gamma");
        Rows.requireSameShape(x, "x", out, "out");
        int n = Rows.cols(x, "x");
        Rows.requireVector(gamma, "gamma", n, x);
        if (beta != null) {
            Rows.requireF32(beta, "beta");
            Rows.requireVector(beta, "beta", n, x);
        }
        Rows.requireEps(eps);
        long xs = Rows.rowStride(x, "x");
        long os = Rows.rowStride(out, "out");
        Rows.requireNoPartialOverlap(x, "x", xs, out, "out", os);
        long rs = 0;
        long ss = 0;
        if (r != null) {
            Rows.requireFloatInput(r, "residual");
            Rows.requireF32(sum, "sum");
            Rows.requireSameShape(x, "x", r, "residual");
            Rows.requireSameShape(x, "x", sum, "sum");
            rs = Rows.rowStride(r, "residual");
            ss = Rows.rowStride(sum, "sum");
            Rows.requireNoPartialOverlap(r, "residual", rs, out, "out", os);
            Rows.requireNoPartialOverlap(x, "x", xs, sum, "sum", ss);
            Rows.requireNoPartialOverlap(r, "residual", rs, sum, "sum", ss);
            Rows.requireDisjoint(sum, "sum", out, "out");
        }
        long rows = Rows.rows(x, n);
        if (rows == 0 || n == 0) {
            return;
        }
        DType xt = x.dtype();
        MemorySegment xm = x.segment();
        MemorySegment gm = gamma.segment();
        MemorySegment bm = beta == null ? null : beta.segment();
        MemorySegment om = out.segment();
        DType rt = r == null ? null : r.dtype();
        MemorySegment rm = r == null ? null : r.segment();
        MemorySegment hm = sum == null ? null : sum.segment();
        boolean v = vector;
        int chunks = RowExecutor.chunks(rows, r == null ? n : 2L * n, threads, xm, gm, bm, om, rm, hm);
        if (chunks <= 1) {
            rows(layer, v, xt, xm, xs, rt, rm, rs, gm, bm, hm, ss, om, os, n, eps, 0, rows);
        } else {
            long ssum = ss;
            long rstr = rs;
            RowExecutor.run(chunks, rows,
                    (from, to) -> rows(layer, v, xt, xm, xs, rt, rm, rstr, gm, bm, hm, ssum, om, os, n, eps, from, to));
        }
    }

    /** Rows [from, to) of one call; r == null for the plain form, b == null for RMSNorm or LayerNorm without bias. */
    private static void rows(boolean layer, boolean vector, DType xt, MemorySegment x, long xs, DType rt,
                             MemorySegment r, long rs, MemorySegment g, MemorySegment b, MemorySegment h, long hs,
                             MemorySegment y, long ys, int n, float eps, long from, long to) {
        if (vector && r == null && xt == DType.F32 && Segments.plain(x, y) && Segments.plain(g, b)) {
            if (layer) {
                VectorNorms.layerRowsF32(x, xs, g, b, y, ys, n, eps, from, to);
            } else {
                VectorNorms.rmsRowsF32(x, xs, g, y, ys, n, eps, from, to);
            }
            return;
        }
        if (vector && r != null && xt == DType.F32 && rt == DType.F32 && Segments.plain(x, y) && Segments.plain(r, h)
                && Segments.plain(g, b) && (!layer || b != null)) {
            if (layer) {
                VectorNorms.layerResidualRowsF32(x, xs, r, rs, g, b, h, hs, y, ys, n, eps, from, to);
            } else {
                VectorNorms.rmsResidualRowsF32(x, xs, r, rs, g, h, hs, y, ys, n, eps, from, to);
            }
            return;
        }
        for (long i = from; i < to; i++) {
            long xi = i * xs;
            long yi = i * ys;
            if (r == null) {
                if (layer) {
                    if (vector) {
                        VectorNorms.layer(xt, x, xi, g, b, y, yi, n, eps);
                    } else {
                        ScalarNorms.layer(xt, x, xi, g, b, y, yi, n, eps);
                    }
                } else if (vector) {
                    VectorNorms.rms(xt, x, xi, g, y, yi, n, eps);
                } else {
                    ScalarNorms.rms(xt, x, xi, g, y, yi, n, eps);
                }
            } else {
                long ri = i * rs;
                long hi = i * hs;
                if (layer) {
                    if (vector) {
                        VectorNorms.layerResidual(xt, x, xi, rt, r, ri, g, b, h, hi, y, yi, n, eps);
                    } else {
                        ScalarNorms.layerResidual(xt, x, xi, rt, r, ri, g, b, h, hi, y, yi, n, eps);
                    }
                } else if (vector) {
                    VectorNorms.rmsResidual(xt, x, xi, rt, r, ri, g, h, hi, y, yi, n, eps);
                } else {
                    ScalarNorms.rmsResidual(xt, x, xi, rt, r, ri, g, h, hi, y, yi, n, eps);
                }
            }
        }
    }
}
