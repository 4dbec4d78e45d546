package dev.jlm.simd.activation;

import dev.jlm.simd.internal.KernelBase;
import static dev.jlm.simd.internal.Lanes.F;
import static dev.jlm.simd.internal.Lanes.F32;
import static dev.jlm.simd.internal.Lanes.LE;
import static dev.jlm.simd.internal.Segments.NATIVE;

import dev.jlm.core.DType;
import dev.jlm.core.JlmException;
import dev.jlm.core.Tensor;
import dev.jlm.simd.RowExecutor;
import dev.jlm.simd.internal.Lanes;
import dev.jlm.simd.internal.RowScratch;
import dev.jlm.simd.internal.Rows;
import dev.jlm.simd.internal.Segments;
import dev.jlm.simd.internal.VMath;
import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/** Both activation implementations: checks, row splitting, scalar and vector loops. */
final class ActivationImpl extends KernelBase<ActivationImpl> implements Activations {
    static final ActivationImpl SCALAR = new ActivationImpl(false, RowExecutor.cores());
    static final ActivationImpl VECTOR = new ActivationImpl(true, RowExecutor.cores());
    private static final int L = F.length();

    private static final int SILU = 0;
    private static final int GELU_TANH = 1;
    private static final int GELU_ERF = 2;
    private static final int SWIGLU = 3;
    private static final FloatVector ONE = FloatVector.broadcast(F, 1f);
    private static final FloatVector Q1 = FloatVector.broadcast(F, VMath.Q1);
    private static final FloatVector Q0 = FloatVector.broadcast(F, VMath.Q0);
    private static final FloatVector NLN2_HI = FloatVector.broadcast(F, -VMath.LN2_HI);
    private static final FloatVector NLN2_LO = FloatVector.broadcast(F, -VMath.LN2_LO);
    private static final FloatVector E7 = FloatVector.broadcast(F, VMath.E7);
    private static final FloatVector E6 = FloatVector.broadcast(F, VMath.E6);
    private static final FloatVector E5 = FloatVector.broadcast(F, VMath.E5);
    private static final FloatVector E4 = FloatVector.broadcast(F, VMath.E4);
    private static final FloatVector E3 = FloatVector.broadcast(F, VMath.E3);
    private static final FloatVector E2 = FloatVector.broadcast(F, VMath.E2);
    private static final FloatVector E1 = FloatVector.broadcast(F, VMath.E1);
    private static final FloatVector E0 = FloatVector.broadcast(F, VMath.E0);


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
        int chunks = RowExecutor.chunks(rows, n, threads, xm, um, om);
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
        // the vector loops are F32 loops on plain off-heap memory (see Segments); 16-bit inputs there are converted
        // to F32 a piece at a time, heap or mapped memory takes the scalar reference
        boolean plain = Segments.plain(x, u, y);
        boolean f32 = xt == DType.F32 && (u == null || ut == DType.F32) && plain;
        boolean staged = vector && !f32 && plain;
        for (long r = from; r < to; r++) {
            long xi = r * xs;
            long ui = r * us;
            long yi = r * ys;
            if (staged) {
                stagedRow(op, xt, x, xi, ut, u, ui, y, yi, n);
                continue;
            }
            int i = 0;
            if (vector && f32) {
                // One small method per op: a loop of Vector API calls compiles to plain vector code only when
                // everything in it is inlined, and the JIT stops inlining in methods that grow big. (Heap or mapped
                // memory: the scalar reference below does the row.)
                i = switch (op) {
                    case SILU -> siluF32(x, xi, null, 0, y, yi, n);
                    case GELU_TANH -> geluTanhF32(x, xi, y, yi, n);
                    case GELU_ERF -> geluErfF32(x, xi, y, yi, n);
                    default -> siluF32(x, xi, u, ui, y, yi, n);
                };
            }
            scalar(op, xt, x, xi, ut, u, ui, y, yi, i, n);
        }
    }

    /** Elements converted from F16/BF16 per piece of a row, through the F32 loops. */
    private static final int PIECE = 2048;

    /**
     * A row with a 16-bit input on plain off-heap memory: pieces of it converted to F32 in this thread's scratch,
     * then the F32 loop. The any-dtype loops call VMath with vectors, and a call the JIT does not inline boxes
     * every vector (measured: SiLU on F16 128x1536 took 2.4 MB per call and 3-4x the time of F32 in some runs).
     */
    private static void stagedRow(int op, DType xt, MemorySegment x, long xi, DType ut, MemorySegment u, long ui,
                                  MemorySegment y, long yi, int n) {
        MemorySegment sc = RowScratch.get(2L * PIECE * 4);
        for (int p0 = 0; p0 < n; p0 += PIECE) {
            int len = Math.min(PIECE, n - p0);
            Lanes.toF32(xt, x, xi + p0, len, sc, 0);
            MemorySegment us = u;
            long uo = ui + p0;
            if (u != null && ut != DType.F32) {
                Lanes.toF32(ut, u, ui + p0, len, sc, 4L * PIECE);
                us = sc;
                uo = PIECE;
            }
            int i = switch (op) {
                case SILU -> siluF32(sc, 0, null, 0, y, yi + p0, len);
                case GELU_TANH -> geluTanhF32(sc, 0, y, yi + p0, len);
                case GELU_ERF -> geluErfF32(sc, 0, y, yi + p0, len);
                default -> siluF32(sc, 0, us, uo, y, yi + p0, len);
            };
            scalar(op, DType.F32, sc, 0, DType.F32, us, uo, y, yi + p0, i, len);
        }
    }

    /** The scalar reference for elements [from, to) of a row: the scalar kernel, vector tails and rare lanes. */
    private static void scalar(int op, DType xt, MemorySegment x, long xi, DType ut, MemorySegment u, long ui,
                               MemorySegment y, long yi, int from, int to) {
        for (int i = from; i < to; i++) {
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

    // F32 loops write exp out in their own body (VMath's arithmetic, same constants): no vector crosses a call,
    // so nothing is boxed whatever the JIT decides to inline. A vector with a lane outside exp's fast range
    // (|argument| > 86, NaN, infinities) goes to the scalar reference instead.

    /** SiLU, or SwiGLU when {@code u} is given: x / (1 + e^-x) (* u). */
    private static int siluF32(MemorySegment x, long xi, MemorySegment u, long ui, MemorySegment y, long yi, int n) {
        if (x.getClass() != NATIVE || y.getClass() != NATIVE || u != null && u.getClass() != NATIVE) {
            throw Segments.notPlain();
        }
        int i = 0;
        for (int up = n - L; i <= up; i += L) {
            FloatVector v = FloatVector.fromMemorySegment(F, x, (xi + i) * 4, LE);
            FloatVector a = v.neg();
            if (!a.abs().compare(VectorOperators.LE, VMath.FAST_RANGE).allTrue()) {
                scalar(u == null ? SILU : SWIGLU, DType.F32, x, xi, DType.F32, u, ui, y, yi, i, i + L);
                continue;
            }
            FloatVector t = a.fma(VMath.LOG2E, VMath.ROUND);
            FloatVector k = t.sub(VMath.ROUND);
            FloatVector r = k.fma(NLN2_LO, k.fma(NLN2_HI, a));
            FloatVector e = r.fma(VMath.Q3, VMath.Q2).fma(r, Q1).fma(r, Q0).fma(r, ONE).fma(r, ONE)
                    .reinterpretAsInts().add(t.reinterpretAsInts().lanewise(VectorOperators.LSHL, 23))
                    .reinterpretAsFloats();
            FloatVector g = v.div(e.add(1f));
            if (u != null) {
                g = g.mul(FloatVector.fromMemorySegment(F, u, (ui + i) * 4, LE));
            }
            g.intoMemorySegment(y, (yi + i) * 4, LE);
        }
        return i;
    }

    /** GELU, tanh form, as x / (1 + e^(-2 sqrt(2/pi) (x + 0.044715 x^3))). */
    private static int geluTanhF32(MemorySegment x, long xi, MemorySegment y, long yi, int n) {
        if (x.getClass() != NATIVE || y.getClass() != NATIVE) {
            throw Segments.notPlain();
        }
        int i = 0;
        for (int up = n - L; i <= up; i += L) {
            FloatVector v = FloatVector.fromMemorySegment(F, x, (xi + i) * 4, LE);
            FloatVector a = v.mul(v).fma(VMath.GELU_C, 1f).mul(v).mul(-2f * VMath.SQRT_2_OVER_PI);
            if (!a.abs().compare(VectorOperators.LE, VMath.FAST_RANGE).allTrue()) {
                scalar(GELU_TANH, DType.F32, x, xi, null, null, 0, y, yi, i, i + L);
                continue;
            }
            FloatVector t = a.fma(VMath.LOG2E, VMath.ROUND);
            FloatVector k = t.sub(VMath.ROUND);
            FloatVector r = k.fma(NLN2_LO, k.fma(NLN2_HI, a));
            FloatVector e = r.fma(VMath.Q3, VMath.Q2).fma(r, Q1).fma(r, Q0).fma(r, ONE).fma(r, ONE)
                    .reinterpretAsInts().add(t.reinterpretAsInts().lanewise(VectorOperators.LSHL, 23))
                    .reinterpretAsFloats();
            v.div(e.add(1f)).intoMemorySegment(y, (yi + i) * 4, LE);
        }
        return i;
    }

    /** GELU, erf form: 0.5 x erfc(-x / sqrt 2), erfc(z) = t e^(-z^2 + R(t)) with t = 1 / (1 + z/2), z >= 0. */
    /** The erfc fit's polynomial E0 + E1 q + ... + E9 q^9 in Estrin's form (four levels instead of nine). */
    private static FloatVector erfcFit(FloatVector q) {
        FloatVector q2 = q.mul(q);
        FloatVector q4 = q2.mul(q2);
        FloatVector c01 = q.fma(E1, E0);
        FloatVector c23 = q.fma(E3, E2);
        FloatVector c45 = q.fma(E5, E4);
        FloatVector c67 = q.fma(E7, E6);
        FloatVector c89 = q.fma(VMath.E9, VMath.E8);
        FloatVector lo = c23.fma(q2, c01);
        FloatVector hi = c67.fma(q2, c45);
        return c89.fma(q4.mul(q4), hi.fma(q4, lo));
    }

    private static int geluErfF32(MemorySegment x, long xi, MemorySegment y, long yi, int n) {
        if (x.getClass() != NATIVE || y.getClass() != NATIVE) {
            throw Segments.notPlain();
        }
        int i = 0;
        // Two vectors per step, the erfc fit and exp in Estrin's form: each vector is a long chain of dependent
        // operations (a division, a degree-9 polynomial, exp), and two shallower chains side by side keep the
        // core busy where one deep chain left it waiting.
        for (int up = n - 2 * L; i <= up; i += 2 * L) {
            FloatVector v0 = FloatVector.fromMemorySegment(F, x, (xi + i) * 4, LE);
            FloatVector v1 = FloatVector.fromMemorySegment(F, x, (xi + i + L) * 4, LE);
            FloatVector z0 = v0.abs().mul(VMath.INV_SQRT2);
            FloatVector z1 = v1.abs().mul(VMath.INV_SQRT2);
            FloatVector q0 = ONE.div(z0.fma(0.5f, 1f));
            FloatVector q1 = ONE.div(z1.fma(0.5f, 1f));
            FloatVector p0 = erfcFit(q0);
            FloatVector p1 = erfcFit(q1);
            FloatVector a0 = z0.mul(z0).neg().add(p0);
            FloatVector a1 = z1.mul(z1).neg().add(p1);
            if (!a0.abs().compare(VectorOperators.LE, VMath.FAST_RANGE)
                    .and(a1.abs().compare(VectorOperators.LE, VMath.FAST_RANGE)).allTrue()) {
                scalar(GELU_ERF, DType.F32, x, xi, null, null, 0, y, yi, i, i + 2 * L);
                continue;
            }
            FloatVector t0 = a0.fma(VMath.LOG2E, VMath.ROUND);
            FloatVector t1 = a1.fma(VMath.LOG2E, VMath.ROUND);
            FloatVector k0 = t0.sub(VMath.ROUND);
            FloatVector k1 = t1.sub(VMath.ROUND);
            FloatVector r0 = k0.fma(NLN2_LO, k0.fma(NLN2_HI, a0));
            FloatVector r1 = k1.fma(NLN2_LO, k1.fma(NLN2_HI, a1));
            FloatVector s0 = r0.mul(r0);
            FloatVector s1 = r1.mul(r1);
            // 1 + r + r^2 (Q0 + Q1 r + r^2 (Q2 + Q3 r)), as in the softmax kernels
            FloatVector e0 = s0.fma(s0.fma(r0.fma(VMath.Q3, VMath.Q2), r0.fma(Q1, Q0)), r0.add(ONE))
                    .reinterpretAsInts().add(t0.reinterpretAsInts().lanewise(VectorOperators.LSHL, 23))
                    .reinterpretAsFloats().mul(q0);   // erfc(|x| / sqrt 2)
            FloatVector e1 = s1.fma(s1.fma(r1.fma(VMath.Q3, VMath.Q2), r1.fma(Q1, Q0)), r1.add(ONE))
                    .reinterpretAsInts().add(t1.reinterpretAsInts().lanewise(VectorOperators.LSHL, 23))
                    .reinterpretAsFloats().mul(q1);
            FloatVector c0 = e0.neg().add(2f).blend(e0, v0.compare(VectorOperators.LT, 0f));   // erfc(-x / sqrt 2)
            FloatVector c1 = e1.neg().add(2f).blend(e1, v1.compare(VectorOperators.LT, 0f));
            v0.mul(0.5f).mul(c0).intoMemorySegment(y, (yi + i) * 4, LE);
            v1.mul(0.5f).mul(c1).intoMemorySegment(y, (yi + i + L) * 4, LE);
        }
        for (int up = n - L; i <= up; i += L) {
            FloatVector v = FloatVector.fromMemorySegment(F, x, (xi + i) * 4, LE);
            FloatVector z = v.abs().mul(VMath.INV_SQRT2);
            FloatVector q = ONE.div(z.fma(0.5f, 1f));
            FloatVector p = q.fma(VMath.E9, VMath.E8).fma(q, E7).fma(q, E6).fma(q, E5).fma(q, E4).fma(q, E3)
                    .fma(q, E2).fma(q, E1).fma(q, E0);
            FloatVector a = z.mul(z).neg().add(p);
            if (!a.abs().compare(VectorOperators.LE, VMath.FAST_RANGE).allTrue()) {
                scalar(GELU_ERF, DType.F32, x, xi, null, null, 0, y, yi, i, i + L);
                continue;
            }
            FloatVector t = a.fma(VMath.LOG2E, VMath.ROUND);
            FloatVector k = t.sub(VMath.ROUND);
            FloatVector r = k.fma(NLN2_LO, k.fma(NLN2_HI, a));
            FloatVector e = r.fma(VMath.Q3, VMath.Q2).fma(r, Q1).fma(r, Q0).fma(r, ONE).fma(r, ONE)
                    .reinterpretAsInts().add(t.reinterpretAsInts().lanewise(VectorOperators.LSHL, 23))
                    .reinterpretAsFloats().mul(q);   // erfc(|x| / sqrt 2)
            FloatVector c = e.neg().add(2f).blend(e, v.compare(VectorOperators.LT, 0f));   // erfc(-x / sqrt 2)
            v.mul(0.5f).mul(c).intoMemorySegment(y, (yi + i) * 4, LE);
        }
        return i;
    }

    // Each returns where the scalar tail starts. Offsets are element indices.




}
