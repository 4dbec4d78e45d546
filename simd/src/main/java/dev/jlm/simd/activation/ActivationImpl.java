package dev.jlm.simd.activation;

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

/** Both activation implementations: checks, row splitting, scalar and vector loops. */
final class ActivationImpl extends KernelBase<ActivationImpl> implements Activations {
    static final ActivationImpl SCALAR = new ActivationImpl(false, RowExecutor.cores());
    static final ActivationImpl VECTOR = new ActivationImpl(true, RowExecutor.cores());
    private static final int L = F.length();

    private static final int SILU = 0;
    private static final int GELU_TANH = 1;
    private static final int GELU_ERF = 2;
    private static final int SWIGLU = 3;


    private ActivationImpl(boolean vector, int threads) {
        super(vector, threads);
    }

    @Override
    protected ActivationImpl copy(int threads) {
        return new ActivationImpl(vector, threads);
    }

    @Override
    protected String name() {
        return "Activations";
    }

    @Override
    public void silu(Tensor x, Tensor out) {
        run(SILU, x, null, out);
    }

    @Override
    public void geluTanh(Tensor x, Tensor out) {
        run(GELU_TANH, x, null, out);
    }

    @Override
    public void geluErf(Tensor x, Tensor out) {
        run(GELU_ERF, x, null, out);
    }

    @Override
    public void swiglu(Tensor gate, Tensor up, Tensor out) {
        if (up == null) {
            throw new JlmException.InvalidArgument("up must not be null");
        }
        run(SWIGLU, gate, up, out);
    }

    private void run(int op, Tensor x, Tensor u, Tensor out) {
        String xName = op == SWIGLU ? "gate" : "x";
        if (x == null || out == null) {
            throw new JlmException.InvalidArgument((x == null ? xName : "out") + " must not be null");
        }
        Rows.requireFloatInput(x, xName);
        Rows.requireF32(out, "out");
        Rows.requireSameShape(x, xName, out, "out");
        int n = Rows.cols(x, xName);
        long xs = Rows.rowStride(x, xName);
        long os = Rows.rowStride(out, "out");
        Rows.requireNoPartialOverlap(x, xName, xs, out, "out", os);
        DType ut = null;
        MemorySegment um = null;
        long us = 0;
        if (u != null) {
            Rows.requireFloatInput(u, "up");
            Rows.requireSameShape(x, xName, u, "up");
            us = Rows.rowStride(u, "up");
            Rows.requireNoPartialOverlap(u, "up", us, out, "out", os);
            ut = u.dtype();
            um = u.segment();
        }
        long rows = Rows.rows(x, n);
        if (rows == 0 || n == 0) {
            return;
        }
        DType xt = x.dtype();
        MemorySegment xm = x.segment();
        MemorySegment om = out.segment();
        boolean v = vector;
        int chunks = RowExecutor.chunks(rows, n, threads);
        if (chunks <= 1) {
            rows(op, v, xt, xm, xs, ut, um, us, om, os, n, 0, rows);
        } else {
            DType utf = ut;
            MemorySegment umf = um;
            long usf = us;
            RowExecutor.run(chunks, rows, (from, to) -> rows(op, v, xt, xm, xs, utf, umf, usf, om, os, n, from, to));
        }
    }

    private static void rows(int op, boolean vector, DType xt, MemorySegment x, long xs, DType ut, MemorySegment u,
                             long us, MemorySegment y, long ys, int n, long from, long to) {
        boolean f32 = xt == DType.F32 && (u == null || ut == DType.F32);
        for (long r = from; r < to; r++) {
            long xi = r * xs;
            long ui = r * us;
            long yi = r * ys;
            int i = 0;
            if (vector) {
                // One small method per op and input type: a loop of Vector API calls compiles to plain vector
                // code only when everything in it is inlined, and the JIT stops inlining in methods that grow big.
                i = f32 ? switch (op) {
                    case SILU -> siluF32(x, xi, y, yi, n);
                    case GELU_TANH -> geluTanhF32(x, xi, y, yi, n);
                    case GELU_ERF -> geluErfF32(x, xi, y, yi, n);
                    default -> swigluF32(x, xi, u, ui, y, yi, n);
                } : switch (op) {
                    case SILU -> silu(xt, x, xi, y, yi, n);
                    case GELU_TANH -> geluTanh(xt, x, xi, y, yi, n);
                    case GELU_ERF -> geluErf(xt, x, xi, y, yi, n);
                    default -> swiglu(xt, x, xi, ut, u, ui, y, yi, n);
                };
            }
            // The scalar reference, and the tail of a vector row.
            for (; i < n; i++) {
                float v = Lanes.get(xt, x, xi + i);
                float o = switch (op) {
                    case SILU -> VMath.silu(v);
                    case GELU_TANH -> VMath.geluTanh(v);
                    case GELU_ERF -> VMath.geluErf(v);
                    default -> VMath.silu(v) * Lanes.get(ut, u, ui + i);
                };
                y.set(F32, (yi + i) * 4, o);
            }
        }
    }

    // Each returns where the scalar tail starts. Offsets are element indices.

    private static int siluF32(MemorySegment x, long xi, MemorySegment y, long yi, int n) {
        int i = 0;
        for (int up = n - L; i <= up; i += L) {
            VMath.silu(FloatVector.fromMemorySegment(F, x, (xi + i) * 4, LE)).intoMemorySegment(y, (yi + i) * 4, LE);
        }
        return i;
    }

    private static int geluTanhF32(MemorySegment x, long xi, MemorySegment y, long yi, int n) {
        int i = 0;
        for (int up = n - L; i <= up; i += L) {
            VMath.geluTanh(FloatVector.fromMemorySegment(F, x, (xi + i) * 4, LE))
                    .intoMemorySegment(y, (yi + i) * 4, LE);
        }
        return i;
    }

    private static int geluErfF32(MemorySegment x, long xi, MemorySegment y, long yi, int n) {
        int i = 0;
        for (int up = n - L; i <= up; i += L) {
            VMath.geluErf(FloatVector.fromMemorySegment(F, x, (xi + i) * 4, LE)).intoMemorySegment(y, (yi + i) * 4, LE);
        }
        return i;
    }

    private static int swigluF32(MemorySegment x, long xi, MemorySegment u, long ui, MemorySegment y, long yi, int n) {
        int i = 0;
        for (int up = n - L; i <= up; i += L) {
            FloatVector g = VMath.silu(FloatVector.fromMemorySegment(F, x, (xi + i) * 4, LE));
            g.mul(FloatVector.fromMemorySegment(F, u, (ui + i) * 4, LE)).intoMemorySegment(y, (yi + i) * 4, LE);
        }
        return i;
    }

    private static int silu(DType xt, MemorySegment x, long xi, MemorySegment y, long yi, int n) {
        int i = 0;
        for (int up = n - L; i <= up; i += L) {
            VMath.silu(Lanes.load(xt, x, xi + i)).intoMemorySegment(y, (yi + i) * 4, LE);
        }
        return i;
    }

    private static int geluTanh(DType xt, MemorySegment x, long xi, MemorySegment y, long yi, int n) {
        int i = 0;
        for (int up = n - L; i <= up; i += L) {
            VMath.geluTanh(Lanes.load(xt, x, xi + i)).intoMemorySegment(y, (yi + i) * 4, LE);
        }
        return i;
    }

    private static int geluErf(DType xt, MemorySegment x, long xi, MemorySegment y, long yi, int n) {
        int i = 0;
        for (int up = n - L; i <= up; i += L) {
            VMath.geluErf(Lanes.load(xt, x, xi + i)).intoMemorySegment(y, (yi + i) * 4, LE);
        }
        return i;
    }

    private static int swiglu(DType xt, MemorySegment x, long xi, DType ut, MemorySegment u, long ui, MemorySegment y,
                              long yi, int n) {
        int i = 0;
        for (int up = n - L; i <= up; i += L) {
            VMath.silu(Lanes.load(xt, x, xi + i)).mul(Lanes.load(ut, u, ui + i)).intoMemorySegment(y, (yi + i) * 4, LE);
        }
        return i;
    }
}
