package dev.jlm.simd.softmax;

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
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;

/** Both softmax implementations: argument checks, row splitting, and the scalar and vector rows. */
final class SoftmaxImpl extends KernelBase<SoftmaxImpl> implements Softmax {
    static final SoftmaxImpl SCALAR = new SoftmaxImpl(false, RowExecutor.cores());
    static final SoftmaxImpl VECTOR = new SoftmaxImpl(true, RowExecutor.cores());
    private static final int L = F.length();
    /**
     * Rows of at least this many elements sum their exponentials in pieces (a power of two of them, at least 8192
     * elements each, whole vectors), added in piece order; a call with fewer such rows than threads runs the pieces
     * of each row on several threads (a vocabulary-sized row when sampling). The pieces depend on the width only,
     * so every thread count gives the same bits.
     */
    static final int SPLIT_MIN = 16384;
    private static final int PIECE_MIN = 8192;
    /**
     * Elements per block of {@link #expSumF32}'s partial sums: 128 steps of two vectors (blocks of 512 elements with
     * 16 lanes left the inner loop too short for the JIT's unrolling: 5-10% slower).
     */
    private static final int SUM_BLOCK = 256 * L;
    /**
     * Rows of at most this many elements take {@link #shortRows} (measured, one thread: 1.3-2x faster from 16 to
     * 384 elements; at 512, 4096 rows took 1.1-1.2 ms that way against 0.70 ms row by row).
     */
    static final int SHORT = 384;
    /**
     * F32 rows of at least this many elements take the pairs of {@link #shortRows} only while the input is at most
     * {@link #PAIRS_MAX_BYTES}; past that (read from memory, not from the cache) row after row is faster: the pair
     * kernel reads the next two rows side by side, two streams a row apart, which the hardware prefetch follows
     * poorly (one thread, 16-64 MB of input: 0.81-0.92 against 0.49-0.50 ns per element at 128 elements, 0.80-0.89
     * against 0.35-0.38 at 256 and 384; within 4 MB the pairs are faster, 0.37 against 0.49 at 128).
     */
    static final int PAIRS_STREAM_MIN = 128;
    static final long PAIRS_MAX_BYTES = 8L << 20;
    /** 16-bit short rows converted to F32 at a time (at most 96 KB of scratch). */
    private static final int SHORT_BLOCK = 64;


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
        // The F32 paths need plain off-heap memory (see Segments); heap or mapped memory takes the general one.
        boolean plain = Segments.plain(xm, om, mm);
        if (v && plain && xt == DType.F32 && mm == null && n >= SPLIT_MIN && threads > 1 && rows < threads
                && RowExecutor.shareable(xm, om)) {
            for (long i = 0; i < rows; i++) {
                splitRow(xm, i * xs, om, i * os, n, threads);
            }
            return;
        }
        boolean pairs = n < PAIRS_STREAM_MIN || 4L * rows * n <= PAIRS_MAX_BYTES;
        int chunks = RowExecutor.chunks(rows, n, threads, xm, om, mm);
        if (chunks <= 1) {
            rows(v, plain, pairs, xt, xm, xs, mt, mm, ms, maskRows, om, os, n, 0, rows);
        } else {
            DType mtf = mt;
            MemorySegment mmf = mm;
            long msf = ms;
            long mr = maskRows;
            RowExecutor.run(chunks, rows, (from, to) -> rows(v, plain, pairs, xt, xm, xs, mtf, mmf, msf, mr, om, os, n, from,
                    to));
        }
    }

    private static void rows(boolean vector, boolean plain, boolean pairs, DType xt, MemorySegment x, long xs,
                             DType mt, MemorySegment m, long ms, long maskRows, MemorySegment y, long ys, int n,
                             long from, long to) {
        if (vector && plain && m == null && n >= L && n <= SHORT && pairs) {
            if (xt == DType.F32) {
                shortRows(x, xs, y, ys, n, from, to);
                return;
            }
            // 16-bit rows: a block of them converted to F32 in this thread's scratch, then the same pairs (past the
            // pairs' size, each row converted and done on its own below: 65536x128 F16 on one thread 8.0 ->
            // 6.2-6.3 ms; blocks of 64 converted rows done row after row took 7.1-7.4 ms)
            MemorySegment sc = RowScratch.get(4L * SHORT_BLOCK * n);
            for (long r0 = from; r0 < to; r0 += SHORT_BLOCK) {
                int count = (int) Math.min(SHORT_BLOCK, to - r0);
                for (int r = 0; r < count; r++) {
                    Lanes.toF32(xt, x, (r0 + r) * xs, n, sc, 4L * r * n);
                }
                shortRows(sc, n, y.asSlice(4 * r0 * ys), ys, n, 0, count);
            }
            return;
        }
        if (vector && plain && xt == DType.F32 && m == null && to - from > 1) {
            // Row after row, the scaling of one row and the maximum of the next share one loop: two independent
            // streams instead of two short loops with a reduction's latency between them (10-15% faster at
            // 1536x128 and 4096x512, one thread).
            float max = maxF32(x, from * xs, n);
            for (long i = from; i < to; i++) {
                float inv = 1f / expSumPieces(x, i * xs, max, y, i * ys, n);
                if (i + 1 < to) {
                    max = scaleThenMax(y, i * ys * 4, n, inv, x, (i + 1) * xs);
                } else {
                    scaleInPlace(y, i * ys * 4, n, inv);
                }
            }
            return;
        }
        for (long i = from; i < to; i++) {
            long mi = m == null ? 0 : (i % maskRows) * ms;
            if (vector) {
                if (plain && xt == DType.F32 && (m == null || mt == DType.F32)) {
                    vectorRowF32(x, i * xs, m, mi, y, i * ys, n);
                } else if (plain && (m == null || mt == DType.F32)) {
                    // a 16-bit row: converted to F32 in this thread's scratch, then the F32 row (the any-dtype
                    // row calls VMath with vectors, which the JIT may box when it does not inline the call)
                    MemorySegment sc = RowScratch.get(4L * n);
                    Lanes.toF32(xt, x, i * xs, n, sc, 0);
                    vectorRowF32(sc, 0, m, mi, y, i * ys, n);
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

    /** Pieces a row of n elements sums its exponentials in: 1 below {@link #SPLIT_MIN}. */
    static int pieces(int n) {
        if (n < SPLIT_MIN) {
            return 1;
        }
        return Math.min(8, Integer.highestOneBit(n / PIECE_MIN));
    }

    /**
     * Start of piece {@code p} of {@code pieces} in a row of n elements (n for p = pieces): whole vectors, the last
     * piece the longest.
     */
    private static int pieceStart(int p, int pieces, int n) {
        return p == pieces ? n : (int) ((long) n * p / pieces) / L * L;
    }

    /** expSumF32 (no mask) summed piece by piece in piece order. */
    private static float expSumPieces(MemorySegment x, long xi, float max, MemorySegment y, long yi, int n) {
        int pieces = pieces(n);
        if (pieces == 1) {
            return expSumF32(x, xi, null, 0, max, y, yi, n);
        }
        float sum = 0f;
        for (int p = 0; p < pieces; p++) {
            int a = pieceStart(p, pieces, n);
            sum += expSumF32(x, xi + a, null, 0, max, y, yi + a, pieceStart(p + 1, pieces, n) - a);
        }
        return sum;
    }

    /**
     * One long F32 row (no mask) on several threads: the pieces' maxima, then their exponential sums (the same
     * pieces and order as {@link #expSumPieces}), then the scaling, each step split over the shared executor.
     */
    private static void splitRow(MemorySegment x, long xi, MemorySegment y, long yi, int n, int threads) {
        int pieces = pieces(n);
        int chunks = Math.min(threads, pieces);
        float[] part = new float[pieces];
        RowExecutor.run(chunks, pieces, (from, to) -> {
            for (long p = from; p < to; p++) {
                int a = pieceStart((int) p, pieces, n);
                int b = pieceStart((int) p + 1, pieces, n);
                part[(int) p] = maxF32(x, xi + a, b - a);
            }
        });
        float max = Float.NEGATIVE_INFINITY;
        for (float v : part) {
            max = Math.max(max, v);
        }
        float mx = max;
        RowExecutor.run(chunks, pieces, (from, to) -> {
            for (long p = from; p < to; p++) {
                int a = pieceStart((int) p, pieces, n);
                int b = pieceStart((int) p + 1, pieces, n);
                part[(int) p] = expSumF32(x, xi + a, null, 0, mx, y, yi + a, b - a);
            }
        });
        float sum = 0f;
        for (float v : part) {
            sum += v;
        }
        float inv = 1f / sum;
        RowExecutor.run(chunks, pieces, (from, to) -> {
            for (long p = from; p < to; p++) {
                int a = pieceStart((int) p, pieces, n);
                int b = pieceStart((int) p + 1, pieces, n);
                scaleInPlace(y, (yi + a) * 4, b - a, inv);
            }
        });
    }

    /** Three passes over the row (max; exp, kept in out, and sum; scale), each a small method of its own. */
    private static void vectorRowF32(MemorySegment x, long xi, MemorySegment m, long mi, MemorySegment y, long yi,
                                     int n) {
        float max = m == null ? maxF32(x, xi, n) : maxMaskedF32(x, xi, m, mi, n);
        float sum = m == null ? expSumPieces(x, xi, max, y, yi, n) : expSumF32(x, xi, m, mi, max, y, yi, n);
        scaleInPlace(y, yi * 4, n, 1f / sum);
    }

    /**
     * The row maximum, by compare and blend (cheaper than MAX with its NaN rules). A NaN is skipped here but turns
     * exp and the sum into NaN in the next pass, so a row with a NaN still comes out NaN.
     */
    private static float maxF32(MemorySegment x, long xi, int n) {
        if (x.getClass() != NATIVE) {
            throw Segments.notPlain();
        }
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
        if (x.getClass() != NATIVE || m.getClass() != NATIVE) {
            throw Segments.notPlain();
        }
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
     * decision depends on compilation order. Two vectors per step, each with its own sum, and the polynomial in
     * Estrin's form: the pass is bound by the latency of each vector's chain of dependent operations (the scheduler
     * fills up), so independent chains and a shallower polynomial are what make it faster; one more multiply does
     * not matter. A pair with a lane below exp's fast range (masked scores, NaN) is done lane by lane in double.
     */
    private static float expSumF32(MemorySegment x, long xi, MemorySegment m, long mi, float max, MemorySegment y,
                                   long yi, int n) {
        if (x.getClass() != NATIVE || y.getClass() != NATIVE || m != null && m.getClass() != NATIVE) {
            throw Segments.notPlain();
        }
        FloatVector s0 = FloatVector.zero(F);
        FloatVector s1 = s0;
        FloatVector one = FloatVector.broadcast(F, 1f);
        FloatVector q0 = FloatVector.broadcast(F, VMath.Q0);
        FloatVector q1 = FloatVector.broadcast(F, VMath.Q1);
        FloatVector q2 = FloatVector.broadcast(F, VMath.Q2);
        FloatVector q3 = FloatVector.broadcast(F, VMath.Q3);
        FloatVector log2e = FloatVector.broadcast(F, VMath.LOG2E);
        FloatVector round = FloatVector.broadcast(F, VMath.ROUND);
        FloatVector ln2Hi = FloatVector.broadcast(F, -VMath.LN2_HI);
        FloatVector ln2Lo = FloatVector.broadcast(F, -VMath.LN2_LO);
        FloatVector low = FloatVector.broadcast(F, -VMath.FAST_RANGE);
        FloatVector mx = FloatVector.broadcast(F, max);
        float rare = 0;
        int i = 0;
        // Two sums per block of SUM_BLOCK elements, added to the totals t0, t1 after each block: a lane's chain of
        // float additions stays short whatever the lane count (with 4 lanes a 32000-wide row had chains of 2000).
        FloatVector t0 = s0;
        FloatVector t1 = s0;
        for (int up = n - 2 * L; i <= up; ) {
            s0 = FloatVector.zero(F);
            s1 = s0;
            for (int end = Math.min(up, i + SUM_BLOCK - 2 * L); i <= end; i += 2 * L) {
                FloatVector a = FloatVector.fromMemorySegment(F, x, (xi + i) * 4, LE);
                FloatVector b = FloatVector.fromMemorySegment(F, x, (xi + i + L) * 4, LE);
                if (m != null) {
                    a = a.add(FloatVector.fromMemorySegment(F, m, (mi + i) * 4, LE));
                    b = b.add(FloatVector.fromMemorySegment(F, m, (mi + i + L) * 4, LE));
                }
                a = a.sub(mx);
                b = b.sub(mx);
                if (a.compare(VectorOperators.GE, low).and(b.compare(VectorOperators.GE, low)).allTrue()) {
                    FloatVector ta = a.fma(log2e, round);
                    FloatVector tb = b.fma(log2e, round);
                    FloatVector ka = ta.sub(round);
                    FloatVector kb = tb.sub(round);
                    FloatVector ra = ka.fma(ln2Lo, ka.fma(ln2Hi, a));
                    FloatVector rb = kb.fma(ln2Lo, kb.fma(ln2Hi, b));
                    // 1 + r + r^2 (Q0 + Q1 r + r^2 (Q2 + Q3 r)): VMath's polynomial, three levels deep instead of five
                    FloatVector ra2 = ra.mul(ra);
                    FloatVector rb2 = rb.mul(rb);
                    FloatVector ea = ra2.fma(ra2.fma(ra.fma(q3, q2), ra.fma(q1, q0)), ra.add(one))
                            .reinterpretAsInts().add(ta.reinterpretAsInts().lanewise(VectorOperators.LSHL, 23))
                            .reinterpretAsFloats();
                    FloatVector eb = rb2.fma(rb2.fma(rb.fma(q3, q2), rb.fma(q1, q0)), rb.add(one))
                            .reinterpretAsInts().add(tb.reinterpretAsInts().lanewise(VectorOperators.LSHL, 23))
                            .reinterpretAsFloats();
                    ea.intoMemorySegment(y, (yi + i) * 4, LE);
                    eb.intoMemorySegment(y, (yi + i + L) * 4, LE);
                    s0 = s0.add(ea);
                    s1 = s1.add(eb);
                } else {
                    rare += expLanes(x, xi, m, mi, max, y, yi, i, i + 2 * L);
                }
            }
            t0 = t0.add(s0);
            t1 = t1.add(s1);
        }
        // Lanes.sum written out: this method is past the JIT's inlining budget, and a call that takes a vector boxes it
        FloatVector s = t0.add(t1);
        if (L > 8) {
            s = s.add(s.rearrange(Lanes.FOLD8));
        }
        if (L > 4) {
            s = s.add(s.rearrange(Lanes.FOLD4));
        }
        if (L > 2) {
            s = s.add(s.rearrange(Lanes.FOLD2));
        }
        if (L > 1) {
            s = s.add(s.rearrange(Lanes.FOLD1));
        }
        return s.lane(0) + rare + expTailF32(x, xi, m, mi, max, y, yi, i, n);
    }

    /**
     * expSumF32 for the last elements [from, n), fewer than two vectors: whole vectors, the last one ending at the
     * row's end and overlapping the one before (only its new lanes are stored and summed; rows shorter than a
     * vector go lane by lane). A method of
     * its own because a larger expSumF32 makes the JIT stop inlining into it (its node budget), and the call that
     * is then left out takes a vector: boxed.
     */
    private static float expTailF32(MemorySegment x, long xi, MemorySegment m, long mi, float max, MemorySegment y,
                                    long yi, int from, int n) {
        if (x.getClass() != NATIVE || y.getClass() != NATIVE || m != null && m.getClass() != NATIVE) {
            throw Segments.notPlain();
        }
        int i = from;
        float sum = 0;
        if (n < L) {
            return expLanes(x, xi, m, mi, max, y, yi, i, n);
        }
        while (i < n) {
            // the last vector ends at the row's end and overlaps the one before: only its lanes from i on count
            int at = Math.min(i, n - L);
            VectorMask<Float> fresh = F.indexInRange(at - i, L + at - i);
            FloatVector a = FloatVector.fromMemorySegment(F, x, (xi + at) * 4, LE);
            if (m != null) {
                a = a.add(FloatVector.fromMemorySegment(F, m, (mi + at) * 4, LE));
            }
            a = a.sub(max);
            if (a.compare(VectorOperators.GE, -VMath.FAST_RANGE).or(fresh.not()).allTrue()) {
                FloatVector t = a.fma(VMath.LOG2E, VMath.ROUND);
                FloatVector k = t.sub(VMath.ROUND);
                FloatVector r = k.fma(FloatVector.broadcast(F, -VMath.LN2_LO),
                        k.fma(FloatVector.broadcast(F, -VMath.LN2_HI), a));
                FloatVector one = FloatVector.broadcast(F, 1f);
                FloatVector e = r.fma(VMath.Q3, VMath.Q2).fma(r, FloatVector.broadcast(F, VMath.Q1))
                        .fma(r, FloatVector.broadcast(F, VMath.Q0)).fma(r, one).fma(r, one)
                        .reinterpretAsInts().add(t.reinterpretAsInts().lanewise(VectorOperators.LSHL, 23))
                        .reinterpretAsFloats();
                // the overlapping lanes keep what is stored (in place, x there is already output)
                FloatVector stored = FloatVector.fromMemorySegment(F, y, (yi + at) * 4, LE);
                stored.blend(e, fresh).intoMemorySegment(y, (yi + at) * 4, LE);
                sum += Lanes.sum(FloatVector.zero(F).blend(e, fresh));
            } else {
                sum += expLanes(x, xi, m, mi, max, y, yi, i, at + L);
            }
            i = at + L;
        }
        return sum;
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

    /** Any input type and mask: loads through {@link Lanes#load}; heap or mapped memory lane by lane. */
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
        FloatVector total = s0;
        int inBlock = 0;
        i = 0;
        // the loops that store run on plain off-heap memory only (the class test in the condition, see Segments);
        // on heap or mapped memory the lane-by-lane loops after them do the row
        for (int up = n - L; x.getClass() == NATIVE && y.getClass() == NATIVE && (m == null || m.getClass() == NATIVE)
                && i <= up; i += L) {
            FloatVector v = Lanes.load(xt, x, xi + i);
            if (m != null) {
                v = v.add(Lanes.load(mt, m, mi + i));
            }
            FloatVector e = VMath.expNonPositive(v.sub(max));
            e.intoMemorySegment(y, yb + i * 4L, LE);
            s0 = s0.add(e);
            if (++inBlock == SUM_BLOCK / L) {   // blocks as in expSumF32: short chains of float additions
                total = total.add(s0);
                s0 = FloatVector.zero(F);
                inBlock = 0;
            }
        }
        double sum = Lanes.sum(total.add(s0));   // in double: on heap memory this loop may do the whole row
        for (; i < n; i++) {
            float e = (float) Math.exp(value(xt, x, xi, mt, m, mi, i) - max);
            y.set(F32, yb + i * 4L, e);
            sum += e;
        }
        float inv = (float) (1.0 / sum);
        i = 0;
        for (int up = n - L; y.getClass() == NATIVE && i <= up; i += L) {
            FloatVector.fromMemorySegment(F, y, yb + i * 4L, LE).mul(inv).intoMemorySegment(y, yb + i * 4L, LE);
        }
        for (; i < n; i++) {
            y.set(F32, yb + i * 4L, y.get(F32, yb + i * 4L) * inv);
        }
    }

    /**
     * Softmax of F32 rows [from, to) of {@link #L} to {@link #SHORT} elements, no mask, two rows at a time, all in
     * this one method. A short row is a chain of dependent steps (maximum, its reduction, exponentials, the sum's
     * reduction, the scaling) that one row alone leaves mostly waiting, so the pairs are pipelined: the loop that
     * computes a pair's exponentials also takes the next pair's maxima and scales the pair before, and each pass of
     * it has work that does not wait on the others. An odd last row is paired with itself. The elements after the
     * last whole vector are done by one more vector that ends at the row's end and overlaps the one before; the
     * sum, the stores and the scaling take only its new lanes. No masked loads or stores: with them the JIT checks
     * the segments again at every access.
     */
    private static void shortRows(MemorySegment x, long xs, MemorySegment y, long ys, int n, long from, long to) {
        if (x.getClass() != NATIVE || y.getClass() != NATIVE) {
            throw Segments.notPlain();
        }
        FloatVector one = FloatVector.broadcast(F, 1f);
        FloatVector q0 = FloatVector.broadcast(F, VMath.Q0);
        FloatVector q1 = FloatVector.broadcast(F, VMath.Q1);
        FloatVector q2 = FloatVector.broadcast(F, VMath.Q2);
        FloatVector q3 = FloatVector.broadcast(F, VMath.Q3);
        FloatVector log2e = FloatVector.broadcast(F, VMath.LOG2E);
        FloatVector round = FloatVector.broadcast(F, VMath.ROUND);
        FloatVector ln2Hi = FloatVector.broadcast(F, -VMath.LN2_HI);
        FloatVector ln2Lo = FloatVector.broadcast(F, -VMath.LN2_LO);
        FloatVector low = FloatVector.broadcast(F, -VMath.FAST_RANGE);
        FloatVector minusInf = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
        int full = n / L * L;
        int last = n - L;   // the vector that ends at the row's end
        // its lanes past the last whole vector (all of them when n is a multiple of L: then it is not used)
        VectorMask<Float> fresh = F.indexInRange(0, L - (n - full)).not();
        VectorMask<Float> all = F.maskAll(true);
        FloatVector ma = minusInf;   // lane maxima of the pair's rows, taken while the pair before was done
        FloatVector mb = minusInf;
        long pya = 0;                // the pair before: its outputs and scales, applied in this pair's loop
        long pyb = 0;
        float pscaleA = 1f;          // (floats: a vector carried from one pass of this loop to the next was boxed)
        float pscaleB = 1f;
        for (long r = from; r < to; r += 2) {
            boolean alone = r + 1 == to;
            long ab = r * xs * 4;
            long bb = (alone ? r : r + 1) * xs * 4;
            long ya = r * ys * 4;
            long yb = (alone ? r : r + 1) * ys * 4;
            // the next pair's rows (this pair's when it is the last), whose maxima the exponential loop takes
            long nab = r + 2 < to ? ab + 2 * xs * 4 : ab;
            long nbb = r + 3 < to ? bb + 2 * xs * 4 : nab;
            // maxima by compare and blend (overlapping lanes do not matter): a NaN is skipped here and makes its
            // row NaN through exp below
            for (int i = 0; r == from && i < full; i += L) {
                FloatVector va = FloatVector.fromMemorySegment(F, x, ab + i * 4L, LE);
                FloatVector vb = FloatVector.fromMemorySegment(F, x, bb + i * 4L, LE);
                ma = ma.blend(va, va.compare(VectorOperators.GT, ma));
                mb = mb.blend(vb, vb.compare(VectorOperators.GT, mb));
            }
            if (r == from && full < n) {
                FloatVector va = FloatVector.fromMemorySegment(F, x, ab + last * 4L, LE);
                FloatVector vb = FloatVector.fromMemorySegment(F, x, bb + last * 4L, LE);
                ma = ma.blend(va, va.compare(VectorOperators.GT, ma));
                mb = mb.blend(vb, vb.compare(VectorOperators.GT, mb));
            }
            if (L > 8) {
                FloatVector fa = ma.rearrange(Lanes.FOLD8);
                FloatVector fb = mb.rearrange(Lanes.FOLD8);
                ma = ma.blend(fa, fa.compare(VectorOperators.GT, ma));
                mb = mb.blend(fb, fb.compare(VectorOperators.GT, mb));
            }
            if (L > 4) {
                FloatVector fa = ma.rearrange(Lanes.FOLD4);
                FloatVector fb = mb.rearrange(Lanes.FOLD4);
                ma = ma.blend(fa, fa.compare(VectorOperators.GT, ma));
                mb = mb.blend(fb, fb.compare(VectorOperators.GT, mb));
            }
            if (L > 2) {
                FloatVector fa = ma.rearrange(Lanes.FOLD2);
                FloatVector fb = mb.rearrange(Lanes.FOLD2);
                ma = ma.blend(fa, fa.compare(VectorOperators.GT, ma));
                mb = mb.blend(fb, fb.compare(VectorOperators.GT, mb));
            }
            if (L > 1) {
                FloatVector fa = ma.rearrange(Lanes.FOLD1);
                FloatVector fb = mb.rearrange(Lanes.FOLD1);
                ma = ma.blend(fa, fa.compare(VectorOperators.GT, ma));
                mb = mb.blend(fb, fb.compare(VectorOperators.GT, mb));
            }
            float maxA = ma.lane(0);
            float maxB = mb.lane(0);
            ma = FloatVector.broadcast(F, maxA);
            mb = FloatVector.broadcast(F, maxB);
            // exponentials (expSumF32's arithmetic, written out here too so that no vector crosses a call), stored,
            // and summed; the overlapping vector last
            FloatVector sa = FloatVector.zero(F);
            FloatVector sb = sa;
            float rareA = 0;
            float rareB = 0;
            FloatVector na = minusInf;
            FloatVector nb = minusInf;
            FloatVector pinvA = FloatVector.broadcast(F, pscaleA);
            FloatVector pinvB = FloatVector.broadcast(F, pscaleB);
            for (int i = 0; i < n; i += L) {
                boolean tail = i >= full;
                int at = tail ? last : i;
                VectorMask<Float> counted = tail ? fresh : all;
                VectorMask<Float> uncounted = counted.not();   // overlapping lanes (in place: already outputs)
                FloatVector a = FloatVector.fromMemorySegment(F, x, ab + at * 4L, LE).sub(ma);
                FloatVector b = FloatVector.fromMemorySegment(F, x, bb + at * 4L, LE).sub(mb);
                // the next pair's maxima: independent work for the slots the exponentials leave free, and its
                // rows' reads start early
                FloatVector pa = FloatVector.fromMemorySegment(F, x, nab + at * 4L, LE);
                FloatVector pb = FloatVector.fromMemorySegment(F, x, nbb + at * 4L, LE);
                na = na.blend(pa, pa.compare(VectorOperators.GT, na));
                nb = nb.blend(pb, pb.compare(VectorOperators.GT, nb));
                // and the pair before's scaling (its overlapping lanes once, by the whole vector)
                if (r > from) {
                    FloatVector va = FloatVector.fromMemorySegment(F, y, pya + at * 4L, LE);
                    va.blend(va.mul(pinvA), counted).intoMemorySegment(y, pya + at * 4L, LE);
                    FloatVector vb = FloatVector.fromMemorySegment(F, y, pyb + at * 4L, LE);
                    vb.blend(vb.mul(pinvB), counted).intoMemorySegment(y, pyb + at * 4L, LE);
                }
                FloatVector ta = a.fma(log2e, round);
                FloatVector tb = b.fma(log2e, round);
                FloatVector ka = ta.sub(round);
                FloatVector kb = tb.sub(round);
                FloatVector ra = ka.fma(ln2Lo, ka.fma(ln2Hi, a));
                FloatVector rb = kb.fma(ln2Lo, kb.fma(ln2Hi, b));
                FloatVector ra2 = ra.mul(ra);
                FloatVector rb2 = rb.mul(rb);
                FloatVector ea = ra2.fma(ra2.fma(ra.fma(q3, q2), ra.fma(q1, q0)), ra.add(one))
                        .reinterpretAsInts().add(ta.reinterpretAsInts().lanewise(VectorOperators.LSHL, 23))
                        .reinterpretAsFloats();
                FloatVector eb = rb2.fma(rb2.fma(rb.fma(q3, q2), rb.fma(q1, q0)), rb.add(one))
                        .reinterpretAsInts().add(tb.reinterpretAsInts().lanewise(VectorOperators.LSHL, 23))
                        .reinterpretAsFloats();
                if (tail) {   // the overlapping lanes keep what the vector before stored
                    ea = FloatVector.fromMemorySegment(F, y, ya + at * 4L, LE).blend(ea, fresh);
                    eb = FloatVector.fromMemorySegment(F, y, yb + at * 4L, LE).blend(eb, fresh);
                }
                // Each row decides on its own, from its new lanes only, whether a lane is below exp's fast range
                // (then those lanes go lane by lane in double): a row's bits depend neither on the row it is
                // paired with nor on whether the call is in place.
                int start = tail ? full : i;
                int end = tail ? n : i + L;
                // (the masked sums call lanewise here: add(v, m) dispatches from FloatVector's own profile, which
                // this method alone feeds and which could hold no type when the JIT compiled it; the call was then
                // not inlined and every vector of the loop boxed, 2.4 MB and 7 times the time per 1536x128 call)
                if (a.compare(VectorOperators.GE, low).or(uncounted).allTrue()) {
                    ea.intoMemorySegment(y, ya + at * 4L, LE);
                    sa = sa.lanewise(VectorOperators.ADD, ea, counted);
                } else {
                    rareA += expLanes(x, ab / 4, null, 0, maxA, y, ya / 4, start, end);
                }
                if (b.compare(VectorOperators.GE, low).or(uncounted).allTrue()) {
                    eb.intoMemorySegment(y, yb + at * 4L, LE);
                    sb = sb.lanewise(VectorOperators.ADD, eb, counted);
                } else if (!alone) {   // (alone and in place, A's lanes above are already outputs)
                    rareB += expLanes(x, bb / 4, null, 0, maxB, y, yb / 4, start, end);
                }
            }
            // (a fold at or past the lane count is null: see Lanes)
            if (L > 8) {
                sa = sa.add(sa.rearrange(Lanes.FOLD8));
                sb = sb.add(sb.rearrange(Lanes.FOLD8));
            }
            if (L > 4) {
                sa = sa.add(sa.rearrange(Lanes.FOLD4));
                sb = sb.add(sb.rearrange(Lanes.FOLD4));
            }
            if (L > 2) {
                sa = sa.add(sa.rearrange(Lanes.FOLD2));
                sb = sb.add(sb.rearrange(Lanes.FOLD2));
            }
            if (L > 1) {
                sa = sa.add(sa.rearrange(Lanes.FOLD1));
                sb = sb.add(sb.rearrange(Lanes.FOLD1));
            }
            float scaleA = 1f / (sa.lane(0) + rareA);
            // a row paired with itself is scaled once (then once more by 1, exactly)
            float scaleB = alone ? 1f : 1f / (sb.lane(0) + rareB);
            pya = ya;
            pyb = yb;
            pscaleA = scaleA;
            pscaleB = scaleB;
            ma = na;
            mb = nb;
        }
        // the last pair's scaling
        FloatVector pinvA = FloatVector.broadcast(F, pscaleA);
        FloatVector pinvB = FloatVector.broadcast(F, pscaleB);
        for (int i = 0; i < n; i += L) {
            boolean tail = i >= full;
            int at = tail ? last : i;
            VectorMask<Float> scaled = tail ? fresh : all;
            FloatVector va = FloatVector.fromMemorySegment(F, y, pya + at * 4L, LE);
            va.blend(va.mul(pinvA), scaled).intoMemorySegment(y, pya + at * 4L, LE);
            FloatVector vb = FloatVector.fromMemorySegment(F, y, pyb + at * 4L, LE);   // after A's store: B may be A
            vb.blend(vb.mul(pinvB), scaled).intoMemorySegment(y, pyb + at * 4L, LE);
        }
    }

    /** scaleInPlace of one row, and in the same loop {@link #maxF32} of the next row (x from element xi). */
    private static float scaleThenMax(MemorySegment y, long yb, int n, float s, MemorySegment x, long xi) {
        if (y.getClass() != NATIVE || x.getClass() != NATIVE) {
            throw Segments.notPlain();
        }
        FloatVector m0 = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
        int i = 0;
        for (int up = n - L; i <= up; i += L) {
            FloatVector.fromMemorySegment(F, y, yb + i * 4L, LE).mul(s).intoMemorySegment(y, yb + i * 4L, LE);
            FloatVector v = FloatVector.fromMemorySegment(F, x, (xi + i) * 4, LE);
            m0 = m0.blend(v, v.compare(VectorOperators.GT, m0));
        }
        float max = m0.reduceLanes(VectorOperators.MAX);
        for (; i < n; i++) {
            y.set(F32, yb + i * 4L, y.get(F32, yb + i * 4L) * s);
            max = Math.max(max, x.get(F32, (xi + i) * 4));
        }
        return max;
    }

    private static void scaleInPlace(MemorySegment y, long yb, int n, float s) {
        if (y.getClass() != NATIVE) {
            throw Segments.notPlain();
        }
        int i = 0;
        for (int up = n - L; i <= up; i += L) {
            FloatVector.fromMemorySegment(F, y, yb + i * 4L, LE).mul(s).intoMemorySegment(y, yb + i * 4L, LE);
        }
        for (; i < n; i++) {
            y.set(F32, yb + i * 4L, y.get(F32, yb + i * 4L) * s);
        }
    }
}
