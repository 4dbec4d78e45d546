package dev.jlm.simd.rope;

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
import dev.jlm.simd.internal.Rows;
import dev.jlm.simd.internal.Segments;
import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorShuffle;

/** Both RoPE implementations: checks, splitting over (token, head) rows, scalar and vector rows. */
final class RopeImpl extends KernelBase<RopeImpl> implements Rope {
    static final RopeImpl SCALAR = new RopeImpl(false, RowExecutor.cores());
    static final RopeImpl VECTOR = new RopeImpl(true, RowExecutor.cores());
    private static final int L = F.length();
    /** Swaps neighbours: lanes (0 1 2 3 ...) become (1 0 3 2 ...). */
    private static final VectorShuffle<Float> SWAP_PAIRS = VectorShuffle.fromOp(F, i -> i ^ 1);


    private RopeImpl(boolean vector, int threads) {
        super(vector, threads);
    }

    @Override
    protected RopeImpl copy(int threads) {
        return new RopeImpl(vector, threads);
    }

    @Override
    protected String name() {
        return "Rope";
    }

    @Override
    public void apply(Tensor x, RopeTable table, Layout layout, long position, Tensor out) {
        if (x == null || table == null || layout == null || out == null) {
            throw new JlmException.InvalidArgument((x == null ? "x" : table == null ? "table"
                    : layout == null ? "layout" : "out") + " must not be null");
        }
        Rows.requireFloatInput(x, "x");
        Rows.requireF32(out, "out");
        Rows.requireSameShape(x, "x", out, "out");
        if (x.rank() < 2) {
            throw new JlmException.InvalidArgument("rope x " + x + " must be [seq, headDim] or [..., seq, heads, headDim]");
        }
        int headDim = Rows.cols(x, "x");
        int rot = table.rotaryDim();
        if (rot > headDim) {
            throw new JlmException.InvalidArgument("rope table rotaryDim " + rot + " exceeds the head size " + headDim
                    + " of x " + x);
        }
        long heads = x.rank() >= 3 ? x.dim(-2) : 1;
        long seq = x.rank() >= 3 ? x.dim(-3) : x.dim(0);
        if (position < 0 || position + seq > table.maxPositions()) {
            throw new JlmException.InvalidArgument("rope positions " + position + ".." + (position + seq - 1)
                    + " are outside the table of " + table.maxPositions() + " positions");
        }
        long xs = Rows.rowStride(x, "x");
        long os = Rows.rowStride(out, "out");
        Rows.requireNoPartialOverlap(x, "x", xs, out, "out", os);
        long rows = Rows.rows(x, headDim);
        if (rows == 0 || headDim == 0) {
            return;
        }
        boolean inter = layout == Layout.INTERLEAVED;
        MemorySegment c;
        MemorySegment s;
        if (vector && inter) {
            MemorySegment[] p = table.pairs();
            c = p[0];
            s = p[1];
        } else {
            c = table.cosSegment();
            s = table.sinSegment();
        }
        if (heads > Integer.MAX_VALUE) {
            throw new JlmException.InvalidArgument("rope x " + x + " has too many heads");
        }
        DType xt = x.dtype();
        MemorySegment xm = x.segment();
        MemorySegment om = out.segment();
        boolean v = vector;
        // the F32 loops need plain off-heap memory (see Segments); heap or mapped memory takes the any-dtype ones
        boolean f32 = xt == DType.F32 && Segments.plain(xm, om) && Segments.plain(c, s);
        boolean copyTail = rot < headDim && !Rows.overlaps(x, out);   // in place, the tail is already there
        int h = (int) heads;
        // The unit of work is a token: all its heads share one row of the cos/sin table, loaded once per vector.
        long tokens = rows / heads;
        int chunks = RowExecutor.chunks(tokens, heads * headDim, threads, xm, om, c, s);
        if (chunks <= 1) {
            tokens(v, inter, copyTail, f32, xt, xm, xs, om, os, c, s, rot, headDim, h, seq, position, 0, tokens);
        } else {
            RowExecutor.run(chunks, tokens, (from, to) ->
                    tokens(v, inter, copyTail, f32, xt, xm, xs, om, os, c, s, rot, headDim, h, seq, position, from,
                            to));
        }
    }

    /** Tokens [from, to) (counting across batches); each has {@code heads} rows of {@code headDim}. */
    private static void tokens(boolean vector, boolean inter, boolean copyTail, boolean f32, DType xt,
                               MemorySegment x, long xs, MemorySegment y, long ys, MemorySegment c, MemorySegment s,
                               int rot, int headDim, int heads, long seq, long position, long from, long to) {
        long token = from % seq;
        int half = rot / 2;
        for (long t = from; t < to; t++) {
            long pos = position + token;
            long x0 = t * heads * xs;
            long y0 = t * heads * ys;
            if (vector) {
                if (inter) {
                    if (f32) {
                        vectorInterleavedF32(x, x0, xs, y, y0, ys, heads, c, s, pos * rot, rot);
                    } else {
                        vectorInterleaved(xt, x, x0, xs, y, y0, ys, heads, c, s, pos * rot, rot);
                    }
                } else if (f32) {
                    vectorHalfF32(x, x0, xs, y, y0, ys, heads, c, s, pos * half, half);
                } else {
                    vectorHalf(xt, x, x0, xs, y, y0, ys, heads, c, s, pos * half, half);
                }
            } else {
                for (int h = 0; h < heads; h++) {
                    if (inter) {
                        scalarInterleaved(xt, x, x0 + h * xs, y, y0 + h * ys, c, s, pos * half, half, 0);
                    } else {
                        scalarHalf(xt, x, x0 + h * xs, y, y0 + h * ys, c, s, pos * half, half, 0);
                    }
                }
            }
            if (copyTail) {   // the dimensions past the rotary ones pass through
                for (int h = 0; h < heads; h++) {
                    for (int i = rot; i < headDim; i++) {
                        y.set(F32, (y0 + h * ys + i) * 4, Lanes.get(xt, x, x0 + h * xs + i));
                    }
                }
            }
            if (++token == seq) {
                token = 0;
            }
        }
    }

    // ---- scalar reference (ti: first table element of this position) ----------------------------

    /** Pairs [start, half) of one head. */
    private static void scalarHalf(DType xt, MemorySegment x, long xi, MemorySegment y, long yi, MemorySegment c,
                                   MemorySegment s, long ti, int half, int start) {
        for (int i = start; i < half; i++) {
            float a = Lanes.get(xt, x, xi + i);
            float b = Lanes.get(xt, x, xi + i + half);
            float cv = c.get(F32, (ti + i) * 4);
            float sv = s.get(F32, (ti + i) * 4);
            y.set(F32, (yi + i) * 4, a * cv - b * sv);
            y.set(F32, (yi + i + half) * 4, b * cv + a * sv);
        }
    }

    /** Pairs [start, half) of one head; c and s are the half tables. */
    private static void scalarInterleaved(DType xt, MemorySegment x, long xi, MemorySegment y, long yi,
                                          MemorySegment c, MemorySegment s, long ti, int half, int start) {
        for (int i = start; i < half; i++) {
            float a = Lanes.get(xt, x, xi + 2L * i);
            float b = Lanes.get(xt, x, xi + 2L * i + 1);
            float cv = c.get(F32, (ti + i) * 4);
            float sv = s.get(F32, (ti + i) * 4);
            y.set(F32, (yi + 2L * i) * 4, a * cv - b * sv);
            y.set(F32, (yi + 2L * i + 1) * 4, b * cv + a * sv);
        }
    }

    // ---- Vector API: every head of a token with the token's table row (F32: in registers; else from L1) ----

    /**
     * Up to four vectors of the token's table row are held in registers while every head of the token is
     * rotated with them, each head front to back: the table is read once per token and the heads stream
     * sequentially, with the loop over heads (not over a few vectors) as the one the JIT sees.
     */
    private static void vectorHalfF32(MemorySegment x, long x0, long xs, MemorySegment y, long y0, long ys, int heads,
                                      MemorySegment c, MemorySegment s, long ti, int half) {
        if (x.getClass() != NATIVE || y.getClass() != NATIVE || c.getClass() != NATIVE || s.getClass() != NATIVE) {
            throw Segments.notPlain();
        }
        int vecEnd = half - half % L;
        for (int i0 = 0; i0 < vecEnd; i0 += 4 * L) {
            int nv = Math.min(4, (vecEnd - i0) / L);
            FloatVector c0 = FloatVector.fromMemorySegment(F, c, (ti + i0) * 4, LE);
            FloatVector s0 = FloatVector.fromMemorySegment(F, s, (ti + i0) * 4, LE);
            FloatVector c1 = nv > 1 ? FloatVector.fromMemorySegment(F, c, (ti + i0 + L) * 4, LE) : c0;
            FloatVector s1 = nv > 1 ? FloatVector.fromMemorySegment(F, s, (ti + i0 + L) * 4, LE) : s0;
            FloatVector c2 = nv > 2 ? FloatVector.fromMemorySegment(F, c, (ti + i0 + 2 * L) * 4, LE) : c0;
            FloatVector s2 = nv > 2 ? FloatVector.fromMemorySegment(F, s, (ti + i0 + 2 * L) * 4, LE) : s0;
            FloatVector c3 = nv > 3 ? FloatVector.fromMemorySegment(F, c, (ti + i0 + 3 * L) * 4, LE) : c0;
            FloatVector s3 = nv > 3 ? FloatVector.fromMemorySegment(F, s, (ti + i0 + 3 * L) * 4, LE) : s0;
            for (int h = 0; h < heads; h++) {
                long xh = x0 + h * xs + i0;
                long yh = y0 + h * ys + i0;
                if (nv > 0) {
                    FloatVector a = FloatVector.fromMemorySegment(F, x, (xh + 0 * L) * 4, LE);
                    FloatVector b = FloatVector.fromMemorySegment(F, x, (xh + 0 * L + half) * 4, LE);
                    a.mul(c0).sub(b.mul(s0)).intoMemorySegment(y, (yh + 0 * L) * 4, LE);
                    b.fma(c0, a.mul(s0)).intoMemorySegment(y, (yh + 0 * L + half) * 4, LE);
                }
                if (nv > 1) {
                    FloatVector a = FloatVector.fromMemorySegment(F, x, (xh + 1 * L) * 4, LE);
                    FloatVector b = FloatVector.fromMemorySegment(F, x, (xh + 1 * L + half) * 4, LE);
                    a.mul(c1).sub(b.mul(s1)).intoMemorySegment(y, (yh + 1 * L) * 4, LE);
                    b.fma(c1, a.mul(s1)).intoMemorySegment(y, (yh + 1 * L + half) * 4, LE);
                }
                if (nv > 2) {
                    FloatVector a = FloatVector.fromMemorySegment(F, x, (xh + 2 * L) * 4, LE);
                    FloatVector b = FloatVector.fromMemorySegment(F, x, (xh + 2 * L + half) * 4, LE);
                    a.mul(c2).sub(b.mul(s2)).intoMemorySegment(y, (yh + 2 * L) * 4, LE);
                    b.fma(c2, a.mul(s2)).intoMemorySegment(y, (yh + 2 * L + half) * 4, LE);
                }
                if (nv > 3) {
                    FloatVector a = FloatVector.fromMemorySegment(F, x, (xh + 3 * L) * 4, LE);
                    FloatVector b = FloatVector.fromMemorySegment(F, x, (xh + 3 * L + half) * 4, LE);
                    a.mul(c3).sub(b.mul(s3)).intoMemorySegment(y, (yh + 3 * L) * 4, LE);
                    b.fma(c3, a.mul(s3)).intoMemorySegment(y, (yh + 3 * L + half) * 4, LE);
                }
            }
        }
        if (vecEnd < half) {
            for (int h = 0; h < heads; h++) {
                scalarHalf(DType.F32, x, x0 + h * xs, y, y0 + h * ys, c, s, ti, half, vecEnd);
            }
        }
    }

    private static void vectorHalf(DType xt, MemorySegment x, long x0, long xs, MemorySegment y, long y0, long ys,
                                   int heads, MemorySegment c, MemorySegment s, long ti, int half) {
        int vecEnd = half - half % L;
        for (int h = 0; h < heads; h++) {
            long xh = x0 + h * xs;
            long yh = y0 + h * ys;
            int i = 0;
            // plain off-heap memory only (the class test in the condition, see Segments); else lane by lane
            for (; x.getClass() == NATIVE && y.getClass() == NATIVE && i < vecEnd; i += L) {
                FloatVector cv = FloatVector.fromMemorySegment(F, c, (ti + i) * 4, LE);
                FloatVector sv = FloatVector.fromMemorySegment(F, s, (ti + i) * 4, LE);
                FloatVector a = Lanes.load(xt, x, xh + i);
                FloatVector b = Lanes.load(xt, x, xh + i + half);
                a.mul(cv).sub(b.mul(sv)).intoMemorySegment(y, (yh + i) * 4, LE);
                b.fma(cv, a.mul(sv)).intoMemorySegment(y, (yh + i + half) * 4, LE);
            }
            if (i < half) {
                scalarHalf(xt, x, xh, y, yh, c, s, ti, half, i);
            }
        }
    }

    /** c and s are the pair tables ({@link RopeTable#pairs()}), ti the first element of this position in them. */
    /**
     * As {@link #vectorHalfF32}, with up to eight vectors of the pair tables in registers (they are as wide as the
     * rotation: eight vectors at head size 128), so that each head is read in one sequential run; wider rotations
     * take the any-dtype loop (head after head, the table reloaded from L1).
     */
    private static void vectorInterleavedF32(MemorySegment x, long x0, long xs, MemorySegment y, long y0, long ys,
                                             int heads, MemorySegment c, MemorySegment s, long ti, int rot) {
        if (x.getClass() != NATIVE || y.getClass() != NATIVE || c.getClass() != NATIVE || s.getClass() != NATIVE) {
            throw Segments.notPlain();
        }
        int vecEnd = rot - rot % L;
        if (vecEnd > 8 * L) {
            vectorInterleaved(DType.F32, x, x0, xs, y, y0, ys, heads, c, s, ti, rot);
            return;
        }
        if (vecEnd > 0) {
            int i0 = 0;
            int nv = vecEnd / L;
            FloatVector c0 = FloatVector.fromMemorySegment(F, c, (ti + i0) * 4, LE);
            FloatVector s0 = FloatVector.fromMemorySegment(F, s, (ti + i0) * 4, LE);
            FloatVector c1 = nv > 1 ? FloatVector.fromMemorySegment(F, c, (ti + i0 + 1 * L) * 4, LE) : c0;
            FloatVector s1 = nv > 1 ? FloatVector.fromMemorySegment(F, s, (ti + i0 + 1 * L) * 4, LE) : s0;
            FloatVector c2 = nv > 2 ? FloatVector.fromMemorySegment(F, c, (ti + i0 + 2 * L) * 4, LE) : c0;
            FloatVector s2 = nv > 2 ? FloatVector.fromMemorySegment(F, s, (ti + i0 + 2 * L) * 4, LE) : s0;
            FloatVector c3 = nv > 3 ? FloatVector.fromMemorySegment(F, c, (ti + i0 + 3 * L) * 4, LE) : c0;
            FloatVector s3 = nv > 3 ? FloatVector.fromMemorySegment(F, s, (ti + i0 + 3 * L) * 4, LE) : s0;
            FloatVector c4 = nv > 4 ? FloatVector.fromMemorySegment(F, c, (ti + i0 + 4 * L) * 4, LE) : c0;
            FloatVector s4 = nv > 4 ? FloatVector.fromMemorySegment(F, s, (ti + i0 + 4 * L) * 4, LE) : s0;
            FloatVector c5 = nv > 5 ? FloatVector.fromMemorySegment(F, c, (ti + i0 + 5 * L) * 4, LE) : c0;
            FloatVector s5 = nv > 5 ? FloatVector.fromMemorySegment(F, s, (ti + i0 + 5 * L) * 4, LE) : s0;
            FloatVector c6 = nv > 6 ? FloatVector.fromMemorySegment(F, c, (ti + i0 + 6 * L) * 4, LE) : c0;
            FloatVector s6 = nv > 6 ? FloatVector.fromMemorySegment(F, s, (ti + i0 + 6 * L) * 4, LE) : s0;
            FloatVector c7 = nv > 7 ? FloatVector.fromMemorySegment(F, c, (ti + i0 + 7 * L) * 4, LE) : c0;
            FloatVector s7 = nv > 7 ? FloatVector.fromMemorySegment(F, s, (ti + i0 + 7 * L) * 4, LE) : s0;
            for (int h = 0; h < heads; h++) {
                long xh = x0 + h * xs + i0;
                long yh = y0 + h * ys + i0;
                if (nv > 0) {
                    FloatVector v = FloatVector.fromMemorySegment(F, x, (xh + 0 * L) * 4, LE);
                    v.fma(c0, v.rearrange(SWAP_PAIRS).mul(s0)).intoMemorySegment(y, (yh + 0 * L) * 4, LE);
                }
                if (nv > 1) {
                    FloatVector v = FloatVector.fromMemorySegment(F, x, (xh + 1 * L) * 4, LE);
                    v.fma(c1, v.rearrange(SWAP_PAIRS).mul(s1)).intoMemorySegment(y, (yh + 1 * L) * 4, LE);
                }
                if (nv > 2) {
                    FloatVector v = FloatVector.fromMemorySegment(F, x, (xh + 2 * L) * 4, LE);
                    v.fma(c2, v.rearrange(SWAP_PAIRS).mul(s2)).intoMemorySegment(y, (yh + 2 * L) * 4, LE);
                }
                if (nv > 3) {
                    FloatVector v = FloatVector.fromMemorySegment(F, x, (xh + 3 * L) * 4, LE);
                    v.fma(c3, v.rearrange(SWAP_PAIRS).mul(s3)).intoMemorySegment(y, (yh + 3 * L) * 4, LE);
                }
                if (nv > 4) {
                    FloatVector v = FloatVector.fromMemorySegment(F, x, (xh + 4 * L) * 4, LE);
                    v.fma(c4, v.rearrange(SWAP_PAIRS).mul(s4)).intoMemorySegment(y, (yh + 4 * L) * 4, LE);
                }
                if (nv > 5) {
                    FloatVector v = FloatVector.fromMemorySegment(F, x, (xh + 5 * L) * 4, LE);
                    v.fma(c5, v.rearrange(SWAP_PAIRS).mul(s5)).intoMemorySegment(y, (yh + 5 * L) * 4, LE);
                }
                if (nv > 6) {
                    FloatVector v = FloatVector.fromMemorySegment(F, x, (xh + 6 * L) * 4, LE);
                    v.fma(c6, v.rearrange(SWAP_PAIRS).mul(s6)).intoMemorySegment(y, (yh + 6 * L) * 4, LE);
                }
                if (nv > 7) {
                    FloatVector v = FloatVector.fromMemorySegment(F, x, (xh + 7 * L) * 4, LE);
                    v.fma(c7, v.rearrange(SWAP_PAIRS).mul(s7)).intoMemorySegment(y, (yh + 7 * L) * 4, LE);
                }
            }
        }
        if (vecEnd < rot) {
            for (int h = 0; h < heads; h++) {
                pairTail(DType.F32, x, x0 + h * xs, y, y0 + h * ys, c, s, ti, rot, vecEnd);
            }
        }
    }

    private static void vectorInterleaved(DType xt, MemorySegment x, long x0, long xs, MemorySegment y, long y0,
                                          long ys, int heads, MemorySegment c, MemorySegment s, long ti, int rot) {
        int vecEnd = rot - rot % L;
        for (int h = 0; h < heads; h++) {
            long xh = x0 + h * xs;
            long yh = y0 + h * ys;
            int i = 0;
            for (; x.getClass() == NATIVE && y.getClass() == NATIVE && i < vecEnd; i += L) {   // (as vectorHalf)
                FloatVector cv = FloatVector.fromMemorySegment(F, c, (ti + i) * 4, LE);
                FloatVector sv = FloatVector.fromMemorySegment(F, s, (ti + i) * 4, LE);
                FloatVector v = Lanes.load(xt, x, xh + i);
                v.fma(cv, v.rearrange(SWAP_PAIRS).mul(sv)).intoMemorySegment(y, (yh + i) * 4, LE);
            }
            if (i < rot) {
                pairTail(xt, x, xh, y, yh, c, s, ti, rot, i);
            }
        }
    }

    /** Interleaved pairs from element {@code start} on, with the pair tables. */
    private static void pairTail(DType xt, MemorySegment x, long xi, MemorySegment y, long yi, MemorySegment c,
                                 MemorySegment s, long ti, int rot, int start) {
        for (int i = start; i < rot; i += 2) {
            float a = Lanes.get(xt, x, xi + i);
            float b = Lanes.get(xt, x, xi + i + 1);
            float cv = c.get(F32, (ti + i) * 4);
            float sn = s.get(F32, (ti + i + 1) * 4);
            y.set(F32, (yi + i) * 4, a * cv - b * sn);
            y.set(F32, (yi + i + 1) * 4, b * cv + a * sn);
        }
    }
}
