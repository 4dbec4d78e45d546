package dev.jlm.simd.softmax;

import dev.jlm.simd.internal.KernelBase;
import static dev.jlm.simd.internal.Lanes.F;
import static dev.jlm.simd.internal.Lanes.F32;
import static dev.jlm.simd.internal.Lanes.LE;

import dev.jlm.core.DType;
import dev.jlm.core.JlmException;
import dev.jlm.core.Tensor;
import dev.jlm.simd.RowExecutor;
import dev.jlm.simd.internal.Lanes;
import dev.jlm.simd.internal.Rows;
import dev.jlm.simd.internal.VMath;
import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/** Both softmax implementations: argument checks, row splitting, and the scalar and vector rows. */
final class SoftmaxImpl extends KernelBase<SoftmaxImpl> implements Softmax {
    static final SoftmaxImpl SCALAR = new SoftmaxImpl(false, RowExecutor.cores());
    static final SoftmaxImpl VECTOR = new SoftmaxImpl(true, RowExecutor.cores());
    private static final int L = F.length();


    private SoftmaxImpl(boolean vector, int threads) {
        super(vector, threads);
    }

    @Override
    protected SoftmaxImpl copy(int threads) {
        return new SoftmaxImpl(vector, threads);
    }

    @Override
    protected String name() {
        return "Softmax";
    }

    @Override
    public void apply(Tensor x, Tensor out) {
        apply(x, null, out);
    }

    @Override
    public void apply(Tensor x, Tensor mask, Tensor out) {
        if (x == null || out == null) {
            throw new JlmException.InvalidArgument((x == null ? "x" : "out") + " must not be null");
        }
        Rows.requireFloatInput(x, "x");
        Rows.requireF32(out, "out");
        Rows.requireSameShape(x, "x", out, "out");
        int n = Rows.cols(x, "x");
        long rows = Rows.rows(x, n);
        long xs = Rows.rowStride(x, "x");
        long os = Rows.rowStride(out, "out");
        Rows.requireNoPartialOverlap(x, "x", xs, out, "out", os);
        DType mt = null;
        MemorySegment mm = null;
        long ms = 0;
        long maskRows = 0;
        if (mask != null) {
            Rows.requireFloatInput(mask, "mask");
            if (Rows.cols(mask, "mask") != n) {
                throw new JlmException.InvalidArgument("mask " + mask + " must have the last axis of x " + x);
            }
            maskRows = Rows.rows(mask, n);
            if (n > 0 && (maskRows == 0 || rows % maskRows != 0)) {
                throw new JlmException.InvalidArgument("mask " + mask + " has " + maskRows
                        + " rows, which do not divide the " + rows + " rows of x " + x);
            }
            ms = Rows.rowStride(mask, "mask");
            Rows.requireDisjoint(mask, "mask", out, "out");
            mt = mask.dtype();
            mm = mask.segment();
        }
        if (rows == 0 || n == 0) {
            return;
        }
        DType xt = x.dtype();
        MemorySegment xm = x.segment();
        MemorySegment om = out.segment();
        boolean v = vector;
        int chunks = RowExecutor.chunks(rows, n, threads);
        if (chunks <= 1) {
            rows(v, xt, xm, xs, mt, mm, ms, maskRows, om, os, n, 0, rows);
        } else {
            DType mtf = mt;
            MemorySegment mmf = mm;
            long msf = ms;
            long mr = maskRows;
            RowExecutor.run(chunks, rows, (from, to) -> rows(v, xt, xm, xs, mtf, mmf, msf, mr, om, os, n, from, to));
        }
    }

    private static void rows(boolean vector, DType xt, MemorySegment x, long xs, DType mt, MemorySegment m, long ms,
                             long maskRows, MemorySegment y, long ys, int n, long from, long to) {
        for (long i = from; i < to; i++) {
            long mi = m == null ? 0 : (i % maskRows) * ms;
            if (vector) {
                if (xt == DType.F32 && (m == null || mt == DType.F32)) {
                    vectorRowF32(x, i * xs, m, mi, y, i * ys, n);
                } else {
                    vectorRow(xt, x, i * xs, mt, m, mi, y, i * ys, n);
                }
            } else {
                scalarRow(xt, x, i * xs, mt, m, mi, y, i * ys, n);
            }
        }
    }

    // ---- scalar reference ---------------------------------------------------------------------

    private static void scalarRow(DType xt, MemorySegment x, long xi, DType mt, MemorySegment m, long mi,
                                  MemorySegment y, long yi, int n) {
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) {
            max = Math.max(max, value(xt, x, xi, mt, m, mi, i));
        }
        double sum = 0;
        for (int i = 0; i < n; i++) {
            double e = Math.exp(value(xt, x, xi, mt, m, mi, i) - max);
            sum += e;
            y.set(F32, (yi + i) * 4, (float) e);
        }
        double inv = 1.0 / sum;
        for (int i = 0; i < n; i++) {
            y.set(F32, (yi + i) * 4, (float) (y.get(F32, (yi + i) * 4) * inv));
        }
    }

    /** x[i] (+ mask[i]) in float, as the vector path sees it. */
    private static float value(DType xt, MemorySegment x, long xi, DType mt, MemorySegment m, long mi, int i) {
        float v = Lanes.get(xt, x, xi + i);
        return m == null ? v : v + Lanes.get(mt, m, mi + i);
    }

    // ---- Vector API -----------------------------------------------------------------------------

    /** Three passes over the row (max; exp, kept in out, and sum; scale), each a small method of its own. */
    private static void vectorRowF32(MemorySegment x, long xi, MemorySegment m, long mi, MemorySegment y, long yi,
                                     int n) {
        float max = m == null ? maxF32(x, xi, n) : maxMaskedF32(x, xi, m, mi, n);
        float sum = expSumF32(x, xi, m, mi, max, y, yi, n);
        scaleInPlace(y, yi * 4, n, 1f / sum);
    }

    /**
     * The row maximum, by compare and blend (cheaper than MAX with its NaN rules). A NaN is skipped here but turns
     * exp and the sum into NaN in the next pass, so a row with a NaN still comes out NaN.
     */
    private static float maxF32(MemorySegment x, long xi, int n) {
        FloatVector m0 = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
        FloatVector m1 = m0;
        int i = 0;
        for (int up = n - 2 * L; i <= up; i += 2 * L) {
            FloatVector v0 = FloatVector.fromMemorySegment(F, x, (xi + i) * 4, LE);
            FloatVector v1 = FloatVector.fromMemorySegment(F, x, (xi + i + L) * 4, LE);
            m0 = m0.blend(v0, v0.compare(VectorOperators.GT, m0));
            m1 = m1.blend(v1, v1.compare(VectorOperators.GT, m1));
        }
        for (int up = n - L; i <= up; i += L) {
            FloatVector v = FloatVector.fromMemorySegment(F, x, (xi + i) * 4, LE);
            m0 = m0.blend(v, v.compare(VectorOperators.GT, m0));
        }
        float max = m0.lanewise(VectorOperators.MAX, m1).reduceLanes(VectorOperators.MAX);
        for (; i < n; i++) {
            max = Math.max(max, x.get(F32, (xi + i) * 4));
        }
        return max;
    }

    private static float maxMaskedF32(MemorySegment x, long xi, MemorySegment m, long mi, int n) {
        FloatVector m0 = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
        int i = 0;
        for (int up = n - L; i <= up; i += L) {
            FloatVector v = FloatVector.fromMemorySegment(F, x, (xi + i) * 4, LE)
                    .add(FloatVector.fromMemorySegment(F, m, (mi + i) * 4, LE));
            m0 = m0.blend(v, v.compare(VectorOperators.GT, m0));
        }
        float max = m0.reduceLanes(VectorOperators.MAX);
        for (; i < n; i++) {
            max = Math.max(max, x.get(F32, (xi + i) * 4) + m.get(F32, (mi + i) * 4));
        }
        return max;
    }

    /**
     * y = exp(x (+ mask) - max); returns the sum of y. exp is written out here (VMath's arithmetic and constants) so
     * that no vector crosses a call: a vector handed to a method the JIT declines to inline is boxed, and that
     * decision depends on compilation order. A vector with a lane below exp's fast range (masked scores, NaN) is
     * done lane by lane in double.
     */
    private static float expSumF32(MemorySegment x, long xi, MemorySegment m, long mi, float max, MemorySegment y,
                                   long yi, int n) {
        FloatVector s0 = FloatVector.zero(F);
        FloatVector one = FloatVector.broadcast(F, 1f);
        FloatVector q1 = FloatVector.broadcast(F, VMath.Q1);
        FloatVector q0 = FloatVector.broadcast(F, VMath.Q0);
        FloatVector ln2Hi = FloatVector.broadcast(F, -VMath.LN2_HI);
        FloatVector ln2Lo = FloatVector.broadcast(F, -VMath.LN2_LO);
        float rare = 0;
        int i = 0;
        for (int up = n - L; i <= up; i += L) {
            FloatVector a = FloatVector.fromMemorySegment(F, x, (xi + i) * 4, LE);
            if (m != null) {
                a = a.add(FloatVector.fromMemorySegment(F, m, (mi + i) * 4, LE));
            }
            a = a.sub(max);
            if (a.compare(VectorOperators.GE, -VMath.FAST_RANGE).allTrue()) {
                FloatVector t = a.fma(VMath.LOG2E, VMath.ROUND);
                FloatVector k = t.sub(VMath.ROUND);
                FloatVector r = k.fma(ln2Lo, k.fma(ln2Hi, a));
                FloatVector e = r.fma(VMath.Q3, VMath.Q2).fma(r, q1).fma(r, q0).fma(r, one).fma(r, one)
                        .reinterpretAsInts().add(t.reinterpretAsInts().lanewise(VectorOperators.LSHL, 23))
                        .reinterpretAsFloats();
                e.intoMemorySegment(y, (yi + i) * 4, LE);
                s0 = s0.add(e);
            } else {
                rare += expLanes(x, xi, m, mi, max, y, yi, i, i + L);
            }
        }
        return Lanes.sum(s0) + rare + expLanes(x, xi, m, mi, max, y, yi, i, n);
    }

    /** y = exp(x (+ mask) - max) for elements [from, to), in double; returns their sum. */
    private static float expLanes(MemorySegment x, long xi, MemorySegment m, long mi, float max, MemorySegment y,
                                  long yi, int from, int to) {
        float sum = 0;
        for (int i = from; i < to; i++) {
            float v = x.get(F32, (xi + i) * 4) + (m == null ? 0f : m.get(F32, (mi + i) * 4));
            float e = (float) Math.exp(v - max);
            y.set(F32, (yi + i) * 4, e);
            sum += e;
        }
        return sum;
    }

    private static void vectorRow(DType xt, MemorySegment x, long xi, DType mt, MemorySegment m, long mi,
                                  MemorySegment y, long yi, int n) {
        long yb = yi * 4;
        FloatVector m0 = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
        int i = 0;
        for (int up = n - L; i <= up; i += L) {
            FloatVector v = Lanes.load(xt, x, xi + i);
            if (m != null) {
                v = v.add(Lanes.load(mt, m, mi + i));
            }
            m0 = m0.lanewise(VectorOperators.MAX, v);
        }
        float max = m0.reduceLanes(VectorOperators.MAX);
        for (; i < n; i++) {
            max = Math.max(max, value(xt, x, xi, mt, m, mi, i));
        }
        FloatVector s0 = FloatVector.zero(F);
        i = 0;
        for (int up = n - L; i <= up; i += L) {
            FloatVector v = Lanes.load(xt, x, xi + i);
            if (m != null) {
                v = v.add(Lanes.load(mt, m, mi + i));
            }
            FloatVector e = VMath.expNonPositive(v.sub(max));
            e.intoMemorySegment(y, yb + i * 4L, LE);
            s0 = s0.add(e);
        }
        float sum = Lanes.sum(s0);
        for (; i < n; i++) {
            float e = (float) Math.exp(value(xt, x, xi, mt, m, mi, i) - max);
            y.set(F32, yb + i * 4L, e);
            sum += e;
        }
        scaleInPlace(y, yb, n, 1f / sum);
    }

    private static void scaleInPlace(MemorySegment y, long yb, int n, float s) {
        int i = 0;
        for (int up = n - L; i <= up; i += L) {
            FloatVector.fromMemorySegment(F, y, yb + i * 4L, LE).mul(s).intoMemorySegment(y, yb + i * 4L, LE);
        }
        for (; i < n; i++) {
            y.set(F32, yb + i * 4L, y.get(F32, yb + i * 4L) * s);
        }
    }
}
