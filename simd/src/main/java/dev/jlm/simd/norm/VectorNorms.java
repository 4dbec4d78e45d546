package dev.jlm.simd.norm;

import static dev.jlm.simd.internal.Lanes.F;
import static dev.jlm.simd.internal.Lanes.F32;
import static dev.jlm.simd.internal.Lanes.LE;
import static dev.jlm.simd.internal.Segments.NATIVE;

import dev.jlm.core.DType;
import dev.jlm.simd.internal.Lanes;
import dev.jlm.simd.internal.Segments;
import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/**
 * Vector API rows. Reductions run four independent accumulators so that the adds do not wait on each other;
 * the row is then read again from cache for the output. F32 rows take loops with plain loads; F16/BF16 rows
 * take the same loops with converting loads. Offsets are element indices. The loops that store test their
 * segments against {@link Segments#NATIVE} first (the F32 ones before they start, the converting ones in their
 * condition); heap and mapped memory go through the converting loops' lane-by-lane tails.
 */
final class VectorNorms {
    private static final int L = F.length();

    private VectorNorms() {
    }

    static void rms(DType xt, MemorySegment x, long xi, MemorySegment g, MemorySegment y, long yi, int n, float eps) {
        float ss = xt == DType.F32 ? sumSquaresF32(x, xi, n) : sumSquares(xt, x, xi, n);
        float inv = (float) (1.0 / Math.sqrt((double) ss / n + eps));
        scale(xt, x, xi, g, y, yi, n, inv);
    }

    static void rmsResidual(DType xt, MemorySegment x, long xi, DType rt, MemorySegment r, long ri, MemorySegment g,
                            MemorySegment h, long hi, MemorySegment y, long yi, int n, float eps) {
        float ss = addRows(xt, x, xi, rt, r, ri, h, hi, n, true);
        float inv = (float) (1.0 / Math.sqrt((double) ss / n + eps));
        scale(DType.F32, h, hi, g, y, yi, n, inv);
    }

    static void layer(DType xt, MemorySegment x, long xi, MemorySegment g, MemorySegment b, MemorySegment y, long yi,
                      int n, float eps) {
        float sum = xt == DType.F32 ? sumF32(x, xi, n) : sum(xt, x, xi, n);
        finishLayer(xt, x, xi, g, b, y, yi, n, eps, sum);
    }

    static void layerResidual(DType xt, MemorySegment x, long xi, DType rt, MemorySegment r, long ri, MemorySegment g,
                              MemorySegment b, MemorySegment h, long hi, MemorySegment y, long yi, int n, float eps) {
        float sum = addRows(xt, x, xi, rt, r, ri, h, hi, n, false);
        finishLayer(DType.F32, h, hi, g, b, y, yi, n, eps, sum);
    }

    /**
     * Variance from the values centred on the first mean estimate, with the classic correction: the float sum
     * may miss the mean by a few ulps of the row's magnitude, so the centred values' own mean {@code c} is added
     * back and {@code c^2} taken off the variance (Chan, Golub and LeVeque's corrected two-pass algorithm).
     */
    private static void finishLayer(DType xt, MemorySegment x, long xi, MemorySegment g, MemorySegment b,
                                    MemorySegment y, long yi, int n, float eps, float sum) {
        float m = (float) ((double) sum / n);
        long stats = centredStats(xt, x, xi, n, m, eps);
        float c = Float.intBitsToFloat((int) (stats >>> 32));
        float inv = Float.intBitsToFloat((int) stats);
        // x - m is exact for x near m; subtracting the small correction after keeps the centred value exact to
        // a rounding, where x - (float) (m + c) would lose the low bits of a large mean.
        if (xt == DType.F32 && Segments.plain(x, y) && Segments.plain(g, b)) {
            normalizeF32(x, xi, g, b, y, yi, n, m, c, inv);
        } else {
            normalize(xt, x, xi, g, b, y, yi, n, m, c, inv);
        }
    }

    /** Elements per block of the two-pass statistics' partial sums (see {@link #centredStats}). */
    static final int STATS_BLOCK = 64 * L;

    /**
     * The centred values' mean c and the scale 1 / sqrt(var + eps) of the row at xi about the first mean estimate
     * m, packed as two floats (high: c).
     */
    private static long centredStats(DType xt, MemorySegment x, long xi, int n, float m, float eps) {
        FloatVector d0 = FloatVector.zero(F);
        FloatVector d1 = d0;
        FloatVector q0 = d0;
        FloatVector q1 = d0;
        int i = 0;
        // Sums per block of STATS_BLOCK elements, added to the totals after each block: a lane's chain of float
        // additions stays short whatever the lane count (with 4 lanes and one chain per lane, an outlier's square
        // absorbed every later term of its lane, each rounded up by most of an ulp: a biased variance).
        if (xt == DType.F32) {
            long xb = xi * 4;
            for (int up = n - 2 * L; i <= up; ) {
                FloatVector e0 = FloatVector.zero(F);
                FloatVector e1 = e0;
                FloatVector r0 = e0;
                FloatVector r1 = e0;
                for (int end = Math.min(up, i + STATS_BLOCK - 2 * L); i <= end; i += 2 * L) {
                    FloatVector v0 = FloatVector.fromMemorySegment(F, x, xb + i * 4L, LE).sub(m);
                    FloatVector v1 = FloatVector.fromMemorySegment(F, x, xb + (i + L) * 4L, LE).sub(m);
                    e0 = e0.add(v0);
                    e1 = e1.add(v1);
                    r0 = v0.fma(v0, r0);
                    r1 = v1.fma(v1, r1);
                }
                d0 = d0.add(e0);
                d1 = d1.add(e1);
                q0 = q0.add(r0);
                q1 = q1.add(r1);
            }
        }
        for (int up = n - L; i <= up; ) {
            FloatVector e = FloatVector.zero(F);
            FloatVector r = e;
            for (int end = Math.min(up, i + STATS_BLOCK - L); i <= end; i += L) {
                FloatVector v = Lanes.load(xt, x, xi + i).sub(m);
                e = e.add(v);
                r = v.fma(v, r);
            }
            d0 = d0.add(e);
            q0 = q0.add(r);
        }
        float sd = Lanes.sum(d0.add(d1));
        float sq = Lanes.sum(q0.add(q1));
        for (; i < n; i++) {
            float v = Lanes.get(xt, x, xi + i) - m;
            sd += v;
            sq += v * v;
        }
        double c = (double) sd / n;
        double var = Math.max(0.0, (double) sq / n - c * c);
        float inv = (float) (1.0 / Math.sqrt(var + eps));
        return ((long) Float.floatToRawIntBits((float) c) << 32) | (Float.floatToRawIntBits(inv) & 0xffffffffL);
    }

    // ---- F32 rows with a residual, pipelined ---------------------------------------------------
    //
    // h = x + r and the norm of h. The loop that writes row i's output (reading h_i again from L1) also adds the
    // next row's x and r into h and takes its first statistic, so the two reads and the two writes stream
    // together instead of in two phases per row. Same operations, same order as rmsResidual and layerResidual.

    /** RMSNorm with a residual of F32 rows [from, to). */
    static void rmsResidualRowsF32(MemorySegment x, long xs, MemorySegment r, long rs, MemorySegment g,
                                   MemorySegment h, long hs, MemorySegment y, long ys, int n, float eps, long from,
                                   long to) {
        float ss = addRows(DType.F32, x, from * xs, DType.F32, r, from * rs, h, from * hs, n, true);
        for (long i = from; i < to; i++) {
            float inv = rmsScale(ss, n, eps);
            if (i + 1 < to) {
                ss = scaleAddNext(h, i * hs, g, y, i * ys, inv, x, (i + 1) * xs, r, (i + 1) * rs, (i + 1) * hs, n);
            } else {
                scale(DType.F32, h, i * hs, g, y, i * ys, n, inv);
            }
        }
    }

    /** LayerNorm with a residual and a beta of F32 rows [from, to). */
    static void layerResidualRowsF32(MemorySegment x, long xs, MemorySegment r, long rs, MemorySegment g,
                                     MemorySegment b, MemorySegment h, long hs, MemorySegment y, long ys, int n,
                                     float eps, long from, long to) {
        float sum = addRows(DType.F32, x, from * xs, DType.F32, r, from * rs, h, from * hs, n, false);
        for (long i = from; i < to; i++) {
            float m = (float) ((double) sum / n);
            long stats = centredStats(DType.F32, h, i * hs, n, m, eps);   // from L1: the row was just written
            float c = Float.intBitsToFloat((int) (stats >>> 32));
            float inv = Float.intBitsToFloat((int) stats);
            if (i + 1 < to) {
                sum = normalizeAddNext(h, i * hs, g, b, y, i * ys, m, c, inv, x, (i + 1) * xs, r, (i + 1) * rs,
                        (i + 1) * hs, n);
            } else {
                normalizeF32(h, i * hs, g, b, y, i * ys, n, m, c, inv);
            }
        }
    }

    /**
     * Row hi of h to y as scale does (y = h * inv * gamma), while h at hn = x at xn + r at rn and that row's sum of
     * squares is taken as addRows takes it.
     */
    private static float scaleAddNext(MemorySegment h, long hi, MemorySegment g, MemorySegment y, long yi, float inv,
                                      MemorySegment x, long xn, MemorySegment r, long rn, long hn, int n) {
        // row slices indexed from 0 by a long offset: the JIT proves the accesses in bounds before the loop; one
        // method per norm, without branches on the kind: vectors merged from two branches were boxed
        long bytes = 4L * n;
        MemorySegment cur = h.asSlice(hi * 4, bytes);
        MemorySegment gam = g.asSlice(0, bytes);
        MemorySegment out = y.asSlice(yi * 4, bytes);
        MemorySegment xr = x.asSlice(xn * 4, bytes);
        MemorySegment rr = r.asSlice(rn * 4, bytes);
        MemorySegment next = h.asSlice(hn * 4, bytes);
        if (cur.getClass() != NATIVE || gam.getClass() != NATIVE || out.getClass() != NATIVE
                || xr.getClass() != NATIVE || rr.getClass() != NATIVE || next.getClass() != NATIVE) {
            throw Segments.notPlain();
        }
        FloatVector a0 = FloatVector.zero(F);
        FloatVector a1 = a0;
        long vb = 4L * L;
        long o = 0;
        for (long up = bytes - 2 * vb; o <= up; o += 2 * vb) {
            // every read of the step before its writes: the tensors' rows often lie a multiple of 4 KB apart, and a
            // read after a write to the same address bits waits for that write
            FloatVector w0 = FloatVector.fromMemorySegment(F, cur, o, LE);
            FloatVector w1 = FloatVector.fromMemorySegment(F, cur, o + vb, LE);
            FloatVector g0 = FloatVector.fromMemorySegment(F, gam, o, LE);
            FloatVector g1 = FloatVector.fromMemorySegment(F, gam, o + vb, LE);
            FloatVector v0 = FloatVector.fromMemorySegment(F, xr, o, LE).add(FloatVector.fromMemorySegment(F, rr, o, LE));
            FloatVector v1 = FloatVector.fromMemorySegment(F, xr, o + vb, LE)
                    .add(FloatVector.fromMemorySegment(F, rr, o + vb, LE));
            w0.mul(inv).mul(g0).intoMemorySegment(out, o, LE);
            w1.mul(inv).mul(g1).intoMemorySegment(out, o + vb, LE);
            v0.intoMemorySegment(next, o, LE);
            v1.intoMemorySegment(next, o + vb, LE);
            a0 = v0.fma(v0, a0);
            a1 = v1.fma(v1, a1);
        }
        for (long up = bytes - vb; o <= up; o += vb) {
            FloatVector w = FloatVector.fromMemorySegment(F, cur, o, LE);
            FloatVector gv = FloatVector.fromMemorySegment(F, gam, o, LE);
            FloatVector v = FloatVector.fromMemorySegment(F, xr, o, LE).add(FloatVector.fromMemorySegment(F, rr, o, LE));
            w.mul(inv).mul(gv).intoMemorySegment(out, o, LE);
            v.intoMemorySegment(next, o, LE);
            a0 = v.fma(v, a0);
        }
        double s = Lanes.sum(a0.add(a1));
        for (; o < bytes; o += 4) {
            float v = xr.get(F32, o) + rr.get(F32, o);
            next.set(F32, o, v);
            s += (double) v * v;
            out.set(F32, o, cur.get(F32, o) * inv * gam.get(F32, o));
        }
        return (float) s;
    }

    /**
     * Row hi of h to y as normalizeF32 does with a beta (y = ((h - m) - c) * inv * gamma + beta), while h at hn = x
     * at xn + r at rn and that row's sum is taken as addRows takes it.
     */
    private static float normalizeAddNext(MemorySegment h, long hi, MemorySegment g, MemorySegment b,
                                          MemorySegment y, long yi, float m, float c, float inv, MemorySegment x,
                                          long xn, MemorySegment r, long rn, long hn, int n) {
        long bytes = 4L * n;
        MemorySegment cur = h.asSlice(hi * 4, bytes);
        MemorySegment gam = g.asSlice(0, bytes);
        MemorySegment bet = b.asSlice(0, bytes);
        MemorySegment out = y.asSlice(yi * 4, bytes);
        MemorySegment xr = x.asSlice(xn * 4, bytes);
        MemorySegment rr = r.asSlice(rn * 4, bytes);
        MemorySegment next = h.asSlice(hn * 4, bytes);
        if (cur.getClass() != NATIVE || gam.getClass() != NATIVE || bet.getClass() != NATIVE
                || out.getClass() != NATIVE || xr.getClass() != NATIVE || rr.getClass() != NATIVE
                || next.getClass() != NATIVE) {
            throw Segments.notPlain();
        }
        FloatVector a0 = FloatVector.zero(F);
        FloatVector a1 = a0;
        long vb = 4L * L;
        long o = 0;
        for (long up = bytes - 2 * vb; o <= up; o += 2 * vb) {
            // every read of the step before its writes (see scaleAddNext)
            FloatVector w0 = FloatVector.fromMemorySegment(F, cur, o, LE);
            FloatVector w1 = FloatVector.fromMemorySegment(F, cur, o + vb, LE);
            FloatVector g0 = FloatVector.fromMemorySegment(F, gam, o, LE);
            FloatVector g1 = FloatVector.fromMemorySegment(F, gam, o + vb, LE);
            FloatVector b0 = FloatVector.fromMemorySegment(F, bet, o, LE);
            FloatVector b1 = FloatVector.fromMemorySegment(F, bet, o + vb, LE);
            FloatVector v0 = FloatVector.fromMemorySegment(F, xr, o, LE).add(FloatVector.fromMemorySegment(F, rr, o, LE));
            FloatVector v1 = FloatVector.fromMemorySegment(F, xr, o + vb, LE)
                    .add(FloatVector.fromMemorySegment(F, rr, o + vb, LE));
            w0.sub(m).sub(c).mul(inv).fma(g0, b0).intoMemorySegment(out, o, LE);
            w1.sub(m).sub(c).mul(inv).fma(g1, b1).intoMemorySegment(out, o + vb, LE);
            v0.intoMemorySegment(next, o, LE);
            v1.intoMemorySegment(next, o + vb, LE);
            a0 = a0.add(v0);
            a1 = a1.add(v1);
        }
        for (long up = bytes - vb; o <= up; o += vb) {
            FloatVector w = FloatVector.fromMemorySegment(F, cur, o, LE);
            FloatVector gv = FloatVector.fromMemorySegment(F, gam, o, LE);
            FloatVector bv = FloatVector.fromMemorySegment(F, bet, o, LE);
            FloatVector v = FloatVector.fromMemorySegment(F, xr, o, LE).add(FloatVector.fromMemorySegment(F, rr, o, LE));
            w.sub(m).sub(c).mul(inv).fma(gv, bv).intoMemorySegment(out, o, LE);
            v.intoMemorySegment(next, o, LE);
            a0 = a0.add(v);
        }
        double s = Lanes.sum(a0.add(a1));
        for (; o < bytes; o += 4) {
            float v = xr.get(F32, o) + rr.get(F32, o);
            next.set(F32, o, v);
            s += v;
            out.set(F32, o, (cur.get(F32, o) - m - c) * inv * gam.get(F32, o) + bet.get(F32, o));
        }
        return (float) s;
    }

    // ---- F32 rows, pipelined ------------------------------------------------------------------
    //
    // Rows of a call are processed in order, and the pass that writes row r (reading it again from L1) also
    // reads row r + 1 for its first statistic. Memory then streams reads and writes together, as a copy does,
    // instead of alternating a read-only phase and a write phase per row. The rows are cut (RMSNorm from two rows
    // on, LayerNorm from four) into two halves processed side by side (row a of the first half with row a of the second): two read and
    // two write streams far apart keep more lines in flight than one, and one thread's norm of 2048 x 4096 took
    // 3.4-3.8 instead of 4.3-4.8 ms. Every accumulation below runs in the same order as the per-row methods, so
    // a row's output depends neither on where a chunk starts nor on the row it is paired with.

    /** RMSNorm of F32 rows [from, to), rows {@code xs} / {@code ys} elements apart. */
    static void rmsRowsF32(MemorySegment x, long xs, MemorySegment g, MemorySegment y, long ys, int n, float eps,
                           long from, long to) {
        if (to - from == 1) {
            scale(DType.F32, x, from * xs, g, y, from * ys, n, rmsScale(sumSquaresF32(x, from * xs, n), n, eps));
            return;
        }
        long a = from;
        long b = from + (to - from) / 2;
        long aEnd = b;
        boolean odd = (to - from) % 2 == 1;   // the second half has one more row
        float ssa = sumSquaresF32(x, a * xs, n);
        float ssb = sumSquaresF32(x, b * xs, n);
        for (; a < aEnd; a++, b++) {
            // The last pair goes through the same method, a row whose next one is not needed reading itself again:
            // no other loop is left for a row or two per call, which would stay in the JIT's first tiers (boxing
            // every vector) long after the pair loop is compiled.
            boolean last = a + 1 == aEnd;
            long na = last ? a : a + 1;
            long nb = last && !odd ? b : b + 1;
            long next = scaleTwoNextSquares(x, a * xs, b * xs, na * xs, nb * xs, g, y, a * ys, b * ys, n,
                    rmsScale(ssa, n, eps), rmsScale(ssb, n, eps));
            ssa = Float.intBitsToFloat((int) (next >>> 32));
            ssb = Float.intBitsToFloat((int) next);
        }
        if (odd) {
            scale(DType.F32, x, b * xs, g, y, b * ys, n, rmsScale(ssb, n, eps));   // the second half's last row
        }
    }

    private static float rmsScale(float sumSquares, int n, float eps) {
        return (float) (1.0 / Math.sqrt((double) sumSquares / n + eps));
    }

    /**
     * LayerNorm of F32 rows [from, to); {@code b} may be null. One streaming pass per row: the moments of a row
     * are taken about its first element K, sum(x - K) and sum((x - K)^2), while the previous row is normalized,
     * so the row is read from memory once and then once more from cache. About a shift that close to the mean
     * the variance E[(x - K)^2] - E[x - K]^2 keeps its digits; when K is far from the mean (more than about three
     * standard deviations: an outlier first element), the row goes through the exact two-pass path instead.
     */
    static void layerRowsF32(MemorySegment x, long xs, MemorySegment g, MemorySegment b, MemorySegment y, long ys,
                             int n, float eps, long from, long to) {
        if (to - from < 4) {
            layerRun(x, xs, g, b, y, ys, n, eps, from, to, shiftedMomentsF32(x, from * xs, n));
            return;
        }
        long ra = from;
        long rb = from + (to - from) / 2;
        long aEnd = rb;
        boolean odd = (to - from) % 2 == 1;   // the second half has one more row
        long ma = shiftedMomentsF32(x, ra * xs, n);
        long mb = shiftedMomentsF32(x, rb * xs, n);
        long[] next = new long[2];
        for (; ra < aEnd; ra++, rb++) {
            boolean last = ra + 1 == aEnd;   // the last pair through the same method, as for RMSNorm
            boolean nextA = !last;
            boolean nextB = !last || odd;
            if (b != null && goodShift(ma, n) && goodShift(mb, n)) {
                normalizeTwoNextMoments(x, ra * xs, rb * xs, (nextA ? ra + 1 : ra) * xs, (nextB ? rb + 1 : rb) * xs, g,
                        b, y, ra * ys, rb * ys, n, eps, ma, mb, next);
                ma = next[0];
                mb = next[1];
            } else {
                ma = layerRow(x, xs, g, b, y, ys, n, eps, ra, nextA, ma);
                mb = layerRow(x, xs, g, b, y, ys, n, eps, rb, nextB, mb);
            }
        }
        if (odd) {
            layerRow(x, xs, g, b, y, ys, n, eps, rb, false, mb);   // the second half's last row
        }
    }

    /** Rows [from, to) one after another, {@code moments} the shifted moments of the first. */
    private static void layerRun(MemorySegment x, long xs, MemorySegment g, MemorySegment b, MemorySegment y,
                                 long ys, int n, float eps, long from, long to, long moments) {
        for (long r = from; r < to; r++) {
            moments = layerRow(x, xs, g, b, y, ys, n, eps, r, r + 1 < to, moments);
        }
    }

    /** The mean offset of a row's shifted moments is small enough for the one-pass variance. */
    private static boolean goodShift(long moments, int n) {
        double d = (double) Float.intBitsToFloat((int) (moments >>> 32)) / n;
        double var = (double) Float.intBitsToFloat((int) moments) / n - d * d;
        return !(d * d > 8 * var);   // NaN compares false and stays on the fast path, as NaN
    }

    /** Normalizes row r from its shifted moments; returns the moments of row r + 1 when {@code next}. */
    private static long layerRow(MemorySegment x, long xs, MemorySegment g, MemorySegment b, MemorySegment y,
                                 long ys, int n, float eps, long r, boolean next, long moments) {
        long xi = r * xs;
        if (!goodShift(moments, n)) {
            finishLayer(DType.F32, x, xi, g, b, y, r * ys, n, eps, sumF32(x, xi, n));
            return next ? shiftedMomentsF32(x, (r + 1) * xs, n) : 0;
        }
        double d = (double) Float.intBitsToFloat((int) (moments >>> 32)) / n;
        double var = (double) Float.intBitsToFloat((int) moments) / n - d * d;
        float inv = (float) (1.0 / Math.sqrt(Math.max(0.0, var) + eps));
        return normalizeF32NextMoments(x, xi, next ? (r + 1) * xs : -1, g, b, y, r * ys, n, x.get(F32, xi * 4),
                (float) d, inv);
    }

    /** sum(x - K) and sum((x - K)^2) of the row at xi, K its first element, packed as two floats (high, low). */
    private static long shiftedMomentsF32(MemorySegment x, long xi, int n) {
        return normalizeF32NextMoments(x, -1, xi, null, null, null, 0, n, 0f, 0f, 0f);
    }

    /**
     * y = ((x - k) - d) * inv * gamma (+ beta) for the row at xi while taking the shifted moments of the row at ni,
     * packed as two floats (high: sum, low: sum of squares). xi < 0: moments only; ni < 0: normalization only. One
     * loop serves both, so a row's moments are the same bits whichever way they were taken.
     */
    private static long normalizeF32NextMoments(MemorySegment x, long xi, long ni, MemorySegment g, MemorySegment b,
                                                MemorySegment y, long yi, int n, float k, float d, float inv) {
        long xb = xi * 4;
        long yb = yi * 4;
        boolean write = xi >= 0;
        if (ni < 0) {
            normalizeF32(x, xi, g, b, y, yi, n, k, d, inv);
            return 0;
        }
        if (x.getClass() != NATIVE || write && (y.getClass() != NATIVE || g.getClass() != NATIVE
                || b != null && b.getClass() != NATIVE)) {
            throw Segments.notPlain();
        }
        long nb = ni * 4;
        float kn = x.get(F32, nb);
        FloatVector s0 = FloatVector.zero(F);
        FloatVector s1 = s0;
        FloatVector q0 = s0;
        FloatVector q1 = s0;
        int i = 0;
        for (int up = n - 2 * L; i <= up; i += 2 * L) {
            FloatVector v0 = FloatVector.fromMemorySegment(F, x, nb + i * 4L, LE).sub(kn);
            FloatVector v1 = FloatVector.fromMemorySegment(F, x, nb + (i + L) * 4L, LE).sub(kn);
            s0 = s0.add(v0);
            s1 = s1.add(v1);
            q0 = v0.fma(v0, q0);
            q1 = v1.fma(v1, q1);
            if (write) {
                normalizeVectorF32(x, xb, g, b, y, yb, i, k, d, inv);
                normalizeVectorF32(x, xb, g, b, y, yb, i + L, k, d, inv);
            }
        }
        for (int up = n - L; i <= up; i += L) {
            FloatVector v = FloatVector.fromMemorySegment(F, x, nb + i * 4L, LE).sub(kn);
            s0 = s0.add(v);
            q0 = v.fma(v, q0);
            if (write) {
                normalizeVectorF32(x, xb, g, b, y, yb, i, k, d, inv);
            }
        }
        float sd = Lanes.sum(s0.add(s1));
        float sq = Lanes.sum(q0.add(q1));
        for (; i < n; i++) {
            float v = x.get(F32, nb + i * 4L) - kn;
            sd += v;
            sq += v * v;
            if (write) {
                float o = (x.get(F32, xb + i * 4L) - k - d) * inv * g.get(F32, i * 4L);
                y.set(F32, yb + i * 4L, b == null ? o : o + b.get(F32, i * 4L));
            }
        }
        return ((long) Float.floatToRawIntBits(sd) << 32) | (Float.floatToRawIntBits(sq) & 0xffffffffL);
    }

    /**
     * normalizeF32NextMoments for two rows side by side (at xa and xb, both with a good shift; beta not null),
     * taking the moments of the rows at na and nb (read before anything is written at the same offsets, so na may
     * be xa itself): the same operations in the same order per row. The moments go to {@code next[0]} and
     * {@code next[1]}.
     */
    private static void normalizeTwoNextMoments(MemorySegment x, long xa, long xb, long na, long nb, MemorySegment g,
                                                MemorySegment b, MemorySegment y, long ya, long yb, int n, float eps,
                                                long ma, long mb, long[] next) {
        // row slices indexed from 0 by a long offset: the JIT proves the accesses in bounds before the loop
        long bytes = 4L * n;
        MemorySegment curA = x.asSlice(xa * 4, bytes);
        MemorySegment curB = x.asSlice(xb * 4, bytes);
        MemorySegment nextA = x.asSlice(na * 4, bytes);
        MemorySegment nextB = x.asSlice(nb * 4, bytes);
        MemorySegment outA = y.asSlice(ya * 4, bytes);
        MemorySegment outB = y.asSlice(yb * 4, bytes);
        MemorySegment gam = g.asSlice(0, bytes);
        MemorySegment bet = b.asSlice(0, bytes);
        if (curA.getClass() != NATIVE || curB.getClass() != NATIVE || nextA.getClass() != NATIVE
                || nextB.getClass() != NATIVE || outA.getClass() != NATIVE || outB.getClass() != NATIVE
                || gam.getClass() != NATIVE || bet.getClass() != NATIVE) {
            throw Segments.notPlain();
        }
        double da = (double) Float.intBitsToFloat((int) (ma >>> 32)) / n;
        double db = (double) Float.intBitsToFloat((int) (mb >>> 32)) / n;
        float ka = curA.get(F32, 0);
        float kb = curB.get(F32, 0);
        float ca = (float) da;
        float cb = (float) db;
        float ia = (float) (1.0 / Math.sqrt(Math.max(0.0, (double) Float.intBitsToFloat((int) ma) / n - da * da) + eps));
        float ib = (float) (1.0 / Math.sqrt(Math.max(0.0, (double) Float.intBitsToFloat((int) mb) / n - db * db) + eps));
        float kna = nextA.get(F32, 0);
        float knb = nextB.get(F32, 0);
        FloatVector sa0 = FloatVector.zero(F);
        FloatVector sa1 = sa0;
        FloatVector qa0 = sa0;
        FloatVector qa1 = sa0;
        FloatVector sb0 = sa0;
        FloatVector sb1 = sa0;
        FloatVector qb0 = sa0;
        FloatVector qb1 = sa0;
        long vb = 4L * L;
        long o = 0;
        for (long up = bytes - 2 * vb; o <= up; o += 2 * vb) {
            FloatVector a0 = FloatVector.fromMemorySegment(F, nextA, o, LE).sub(kna);
            FloatVector a1 = FloatVector.fromMemorySegment(F, nextA, o + vb, LE).sub(kna);
            FloatVector b0 = FloatVector.fromMemorySegment(F, nextB, o, LE).sub(knb);
            FloatVector b1 = FloatVector.fromMemorySegment(F, nextB, o + vb, LE).sub(knb);
            sa0 = sa0.add(a0);
            sa1 = sa1.add(a1);
            qa0 = a0.fma(a0, qa0);
            qa1 = a1.fma(a1, qa1);
            sb0 = sb0.add(b0);
            sb1 = sb1.add(b1);
            qb0 = b0.fma(b0, qb0);
            qb1 = b1.fma(b1, qb1);
            // (written out: a helper method, once compiled on its own, was no longer inlined here)
            for (long c = o; c < o + 2 * vb; c += vb) {
                FloatVector gv = FloatVector.fromMemorySegment(F, gam, c, LE);
                FloatVector bv = FloatVector.fromMemorySegment(F, bet, c, LE);
                FloatVector.fromMemorySegment(F, curA, c, LE).sub(ka).sub(ca).mul(ia).fma(gv, bv)
                        .intoMemorySegment(outA, c, LE);
                FloatVector.fromMemorySegment(F, curB, c, LE).sub(kb).sub(cb).mul(ib).fma(gv, bv)
                        .intoMemorySegment(outB, c, LE);
            }
        }
        for (long up = bytes - vb; o <= up; o += vb) {
            FloatVector a = FloatVector.fromMemorySegment(F, nextA, o, LE).sub(kna);
            FloatVector c = FloatVector.fromMemorySegment(F, nextB, o, LE).sub(knb);
            sa0 = sa0.add(a);
            qa0 = a.fma(a, qa0);
            sb0 = sb0.add(c);
            qb0 = c.fma(c, qb0);
            FloatVector gv = FloatVector.fromMemorySegment(F, gam, o, LE);
            FloatVector bv = FloatVector.fromMemorySegment(F, bet, o, LE);
            FloatVector.fromMemorySegment(F, curA, o, LE).sub(ka).sub(ca).mul(ia).fma(gv, bv)
                    .intoMemorySegment(outA, o, LE);
            FloatVector.fromMemorySegment(F, curB, o, LE).sub(kb).sub(cb).mul(ib).fma(gv, bv)
                    .intoMemorySegment(outB, o, LE);
        }
        // Lanes.sum written out, the same folds: the JIT stops inlining into this method before its last calls (its
        // node budget), and a call that takes a vector boxes it
        FloatVector ts = sa0.add(sa1);
        FloatVector tq = qa0.add(qa1);
        FloatVector us = sb0.add(sb1);
        FloatVector uq = qb0.add(qb1);
        if (L > 8) {
            ts = ts.add(ts.rearrange(Lanes.FOLD8));
            tq = tq.add(tq.rearrange(Lanes.FOLD8));
            us = us.add(us.rearrange(Lanes.FOLD8));
            uq = uq.add(uq.rearrange(Lanes.FOLD8));
        }
        if (L > 4) {
            ts = ts.add(ts.rearrange(Lanes.FOLD4));
            tq = tq.add(tq.rearrange(Lanes.FOLD4));
            us = us.add(us.rearrange(Lanes.FOLD4));
            uq = uq.add(uq.rearrange(Lanes.FOLD4));
        }
        if (L > 2) {
            ts = ts.add(ts.rearrange(Lanes.FOLD2));
            tq = tq.add(tq.rearrange(Lanes.FOLD2));
            us = us.add(us.rearrange(Lanes.FOLD2));
            uq = uq.add(uq.rearrange(Lanes.FOLD2));
        }
        if (L > 1) {
            ts = ts.add(ts.rearrange(Lanes.FOLD1));
            tq = tq.add(tq.rearrange(Lanes.FOLD1));
            us = us.add(us.rearrange(Lanes.FOLD1));
            uq = uq.add(uq.rearrange(Lanes.FOLD1));
        }
        float sda = ts.lane(0);
        float sqa = tq.lane(0);
        float sdb = us.lane(0);
        float sqb = uq.lane(0);
        for (; o < bytes; o += 4) {
            float va = nextA.get(F32, o) - kna;
            sda += va;
            sqa += va * va;
            float vb2 = nextB.get(F32, o) - knb;
            sdb += vb2;
            sqb += vb2 * vb2;
            float gv = gam.get(F32, o);
            outA.set(F32, o, (curA.get(F32, o) - ka - ca) * ia * gv + bet.get(F32, o));
            outB.set(F32, o, (curB.get(F32, o) - kb - cb) * ib * gv + bet.get(F32, o));
        }
        next[0] = ((long) Float.floatToRawIntBits(sda) << 32) | (Float.floatToRawIntBits(sqa) & 0xffffffffL);
        next[1] = ((long) Float.floatToRawIntBits(sdb) << 32) | (Float.floatToRawIntBits(sqb) & 0xffffffffL);
    }

    /**
     * y = x * inv * gamma for two rows side by side (at xa and xb; scale's operations) while taking the sums of
     * squares of the rows at na and nb (sumSquaresF32's order; read before anything is written at the same offsets,
     * so na may be xa itself). Returns the sums packed as two floats (high: the first's).
     */
    private static long scaleTwoNextSquares(MemorySegment x, long xa, long xb, long na, long nb, MemorySegment g,
                                            MemorySegment y, long ya, long yb, int n, float ia, float ib) {
        long bytes = 4L * n;
        MemorySegment curA = x.asSlice(xa * 4, bytes);
        MemorySegment curB = x.asSlice(xb * 4, bytes);
        MemorySegment nextA = x.asSlice(na * 4, bytes);
        MemorySegment nextB = x.asSlice(nb * 4, bytes);
        MemorySegment outA = y.asSlice(ya * 4, bytes);
        MemorySegment outB = y.asSlice(yb * 4, bytes);
        MemorySegment gam = g.asSlice(0, bytes);
        if (curA.getClass() != NATIVE || curB.getClass() != NATIVE || nextA.getClass() != NATIVE
                || nextB.getClass() != NATIVE || outA.getClass() != NATIVE || outB.getClass() != NATIVE
                || gam.getClass() != NATIVE) {
            throw Segments.notPlain();
        }
        FloatVector a0 = FloatVector.zero(F);
        FloatVector a1 = a0;
        FloatVector a2 = a0;
        FloatVector a3 = a0;
        FloatVector b0 = a0;
        FloatVector b1 = a0;
        FloatVector b2 = a0;
        FloatVector b3 = a0;
        long vb = 4L * L;
        long o = 0;
        for (long up = bytes - 4 * vb; o <= up; o += 4 * vb) {
            FloatVector w0 = FloatVector.fromMemorySegment(F, nextA, o, LE);
            FloatVector w1 = FloatVector.fromMemorySegment(F, nextA, o + vb, LE);
            FloatVector w2 = FloatVector.fromMemorySegment(F, nextA, o + 2 * vb, LE);
            FloatVector w3 = FloatVector.fromMemorySegment(F, nextA, o + 3 * vb, LE);
            a0 = w0.fma(w0, a0);
            a1 = w1.fma(w1, a1);
            a2 = w2.fma(w2, a2);
            a3 = w3.fma(w3, a3);
            FloatVector u0 = FloatVector.fromMemorySegment(F, nextB, o, LE);
            FloatVector u1 = FloatVector.fromMemorySegment(F, nextB, o + vb, LE);
            FloatVector u2 = FloatVector.fromMemorySegment(F, nextB, o + 2 * vb, LE);
            FloatVector u3 = FloatVector.fromMemorySegment(F, nextB, o + 3 * vb, LE);
            b0 = u0.fma(u0, b0);
            b1 = u1.fma(u1, b1);
            b2 = u2.fma(u2, b2);
            b3 = u3.fma(u3, b3);
            for (long c = 0; c < 4 * vb; c += vb) {
                FloatVector gv = FloatVector.fromMemorySegment(F, gam, o + c, LE);
                FloatVector.fromMemorySegment(F, curA, o + c, LE).mul(ia).mul(gv).intoMemorySegment(outA, o + c, LE);
                FloatVector.fromMemorySegment(F, curB, o + c, LE).mul(ib).mul(gv).intoMemorySegment(outB, o + c, LE);
            }
        }
        for (long up = bytes - vb; o <= up; o += vb) {
            FloatVector w = FloatVector.fromMemorySegment(F, nextA, o, LE);
            a0 = w.fma(w, a0);
            FloatVector u = FloatVector.fromMemorySegment(F, nextB, o, LE);
            b0 = u.fma(u, b0);
            FloatVector gv = FloatVector.fromMemorySegment(F, gam, o, LE);
            FloatVector.fromMemorySegment(F, curA, o, LE).mul(ia).mul(gv).intoMemorySegment(outA, o, LE);
            FloatVector.fromMemorySegment(F, curB, o, LE).mul(ib).mul(gv).intoMemorySegment(outB, o, LE);
        }
        // Lanes.sum written out, the same folds (see normalizeTwoNextMoments)
        FloatVector ta = a0.add(a1).add(a2.add(a3));
        FloatVector tb = b0.add(b1).add(b2.add(b3));
        if (L > 8) {
            ta = ta.add(ta.rearrange(Lanes.FOLD8));
            tb = tb.add(tb.rearrange(Lanes.FOLD8));
        }
        if (L > 4) {
            ta = ta.add(ta.rearrange(Lanes.FOLD4));
            tb = tb.add(tb.rearrange(Lanes.FOLD4));
        }
        if (L > 2) {
            ta = ta.add(ta.rearrange(Lanes.FOLD2));
            tb = tb.add(tb.rearrange(Lanes.FOLD2));
        }
        if (L > 1) {
            ta = ta.add(ta.rearrange(Lanes.FOLD1));
            tb = tb.add(tb.rearrange(Lanes.FOLD1));
        }
        float sa = ta.lane(0);
        float sb = tb.lane(0);
        for (; o < bytes; o += 4) {
            float w = nextA.get(F32, o);
            sa += w * w;
            float u = nextB.get(F32, o);
            sb += u * u;
            float gv = gam.get(F32, o);
            outA.set(F32, o, curA.get(F32, o) * ia * gv);
            outB.set(F32, o, curB.get(F32, o) * ib * gv);
        }
        return ((long) Float.floatToRawIntBits(sa) << 32) | (Float.floatToRawIntBits(sb) & 0xffffffffL);
    }

    /** One vector of normalizeF32, the same operations in the same order. */
    private static void normalizeVectorF32(MemorySegment x, long xb, MemorySegment g, MemorySegment b, MemorySegment y,
                                           long yb, int i, float m, float c, float inv) {
        FloatVector v = FloatVector.fromMemorySegment(F, x, xb + i * 4L, LE).sub(m).sub(c).mul(inv);
        FloatVector gv = FloatVector.fromMemorySegment(F, g, i * 4L, LE);
        if (b != null) {
            v.fma(gv, FloatVector.fromMemorySegment(F, b, i * 4L, LE)).intoMemorySegment(y, yb + i * 4L, LE);
        } else {
            v.mul(gv).intoMemorySegment(y, yb + i * 4L, LE);
        }
    }

    // ---- F32 loops ----------------------------------------------------------------------------

    private static float sumSquaresF32(MemorySegment x, long xi, int n) {
        FloatVector a0 = FloatVector.zero(F);
        FloatVector a1 = a0;
        FloatVector a2 = a0;
        FloatVector a3 = a0;
        long base = xi * 4;
        int i = 0;
        for (int up = n - 4 * L; i <= up; i += 4 * L) {
            FloatVector v0 = FloatVector.fromMemorySegment(F, x, base + i * 4L, LE);
            FloatVector v1 = FloatVector.fromMemorySegment(F, x, base + (i + L) * 4L, LE);
            FloatVector v2 = FloatVector.fromMemorySegment(F, x, base + (i + 2 * L) * 4L, LE);
            FloatVector v3 = FloatVector.fromMemorySegment(F, x, base + (i + 3 * L) * 4L, LE);
            a0 = v0.fma(v0, a0);
            a1 = v1.fma(v1, a1);
            a2 = v2.fma(v2, a2);
            a3 = v3.fma(v3, a3);
        }
        for (int up = n - L; i <= up; i += L) {
            FloatVector v = FloatVector.fromMemorySegment(F, x, base + i * 4L, LE);
            a0 = v.fma(v, a0);
        }
        float s = Lanes.sum(a0.add(a1).add(a2.add(a3)));
        for (; i < n; i++) {
            float v = x.get(F32, base + i * 4L);
            s += v * v;
        }
        return s;
    }

    private static float sumF32(MemorySegment x, long xi, int n) {
        FloatVector a0 = FloatVector.zero(F);
        FloatVector a1 = a0;
        FloatVector a2 = a0;
        FloatVector a3 = a0;
        long base = xi * 4;
        int i = 0;
        for (int up = n - 4 * L; i <= up; i += 4 * L) {
            a0 = a0.add(FloatVector.fromMemorySegment(F, x, base + i * 4L, LE));
            a1 = a1.add(FloatVector.fromMemorySegment(F, x, base + (i + L) * 4L, LE));
            a2 = a2.add(FloatVector.fromMemorySegment(F, x, base + (i + 2 * L) * 4L, LE));
            a3 = a3.add(FloatVector.fromMemorySegment(F, x, base + (i + 3 * L) * 4L, LE));
        }
        for (int up = n - L; i <= up; i += L) {
            a0 = a0.add(FloatVector.fromMemorySegment(F, x, base + i * 4L, LE));
        }
        float s = Lanes.sum(a0.add(a1).add(a2.add(a3)));
        for (; i < n; i++) {
            s += x.get(F32, base + i * 4L);
        }
        return s;
    }

    private static void normalizeF32(MemorySegment x, long xi, MemorySegment g, MemorySegment b, MemorySegment y,
                                     long yi, int n, float m, float c, float inv) {
        if (x.getClass() != NATIVE || g.getClass() != NATIVE || y.getClass() != NATIVE
                || b != null && b.getClass() != NATIVE) {
            throw Segments.notPlain();
        }
        long xb = xi * 4;
        long yb = yi * 4;
        int i = 0;
        if (b != null) {
            for (int up = n - L; i <= up; i += L) {
                FloatVector v = FloatVector.fromMemorySegment(F, x, xb + i * 4L, LE).sub(m).sub(c).mul(inv);
                FloatVector gv = FloatVector.fromMemorySegment(F, g, i * 4L, LE);
                FloatVector bv = FloatVector.fromMemorySegment(F, b, i * 4L, LE);
                v.fma(gv, bv).intoMemorySegment(y, yb + i * 4L, LE);
            }
        } else {
            for (int up = n - L; i <= up; i += L) {
                FloatVector v = FloatVector.fromMemorySegment(F, x, xb + i * 4L, LE).sub(m).sub(c).mul(inv);
                v.mul(FloatVector.fromMemorySegment(F, g, i * 4L, LE)).intoMemorySegment(y, yb + i * 4L, LE);
            }
        }
        for (; i < n; i++) {
            float v = (x.get(F32, xb + i * 4L) - m - c) * inv * g.get(F32, i * 4L);
            y.set(F32, yb + i * 4L, b == null ? v : v + b.get(F32, i * 4L));
        }
    }

    // ---- any input dtype (F16/BF16 through converting loads; also the fused sum) -----------------

    private static float sumSquares(DType xt, MemorySegment x, long xi, int n) {
        FloatVector a0 = FloatVector.zero(F);
        FloatVector a1 = a0;
        int i = 0;
        for (int up = n - 2 * L; i <= up; i += 2 * L) {
            FloatVector v0 = Lanes.load(xt, x, xi + i);
            FloatVector v1 = Lanes.load(xt, x, xi + i + L);
            a0 = v0.fma(v0, a0);
            a1 = v1.fma(v1, a1);
        }
        for (int up = n - L; i <= up; i += L) {
            FloatVector v = Lanes.load(xt, x, xi + i);
            a0 = v.fma(v, a0);
        }
        float s = Lanes.sum(a0.add(a1));
        for (; i < n; i++) {
            float v = Lanes.get(xt, x, xi + i);
            s += v * v;
        }
        return s;
    }

    private static float sum(DType xt, MemorySegment x, long xi, int n) {
        FloatVector a0 = FloatVector.zero(F);
        FloatVector a1 = a0;
        int i = 0;
        for (int up = n - 2 * L; i <= up; i += 2 * L) {
            a0 = a0.add(Lanes.load(xt, x, xi + i));
            a1 = a1.add(Lanes.load(xt, x, xi + i + L));
        }
        for (int up = n - L; i <= up; i += L) {
            a0 = a0.add(Lanes.load(xt, x, xi + i));
        }
        float s = Lanes.sum(a0.add(a1));
        for (; i < n; i++) {
            s += Lanes.get(xt, x, xi + i);
        }
        return s;
    }

    private static void normalize(DType xt, MemorySegment x, long xi, MemorySegment g, MemorySegment b,
                                  MemorySegment y, long yi, int n, float m, float c, float inv) {
        long yb = yi * 4;
        int i = 0;
        // (plain off-heap memory only, by the class test in the condition; heap or mapped memory lane by lane)
        for (int up = n - L; x.getClass() == NATIVE && y.getClass() == NATIVE && g.getClass() == NATIVE
                && (b == null || b.getClass() == NATIVE) && i <= up; i += L) {
            FloatVector v = Lanes.load(xt, x, xi + i).sub(m).sub(c).mul(inv)
                    .mul(FloatVector.fromMemorySegment(F, g, i * 4L, LE));
            if (b != null) {
                v = v.add(FloatVector.fromMemorySegment(F, b, i * 4L, LE));
            }
            v.intoMemorySegment(y, yb + i * 4L, LE);
        }
        for (; i < n; i++) {
            float v = (Lanes.get(xt, x, xi + i) - m - c) * inv * g.get(F32, i * 4L);
            y.set(F32, yb + i * 4L, b == null ? v : v + b.get(F32, i * 4L));
        }
    }

    /** y = x * inv * gamma. */
    private static void scale(DType xt, MemorySegment x, long xi, MemorySegment g, MemorySegment y, long yi, int n,
                              float inv) {
        long yb = yi * 4;
        int i = 0;
        if (xt == DType.F32 && x.getClass() == NATIVE && g.getClass() == NATIVE && y.getClass() == NATIVE) {
            long xb = xi * 4;
            for (int up = n - L; i <= up; i += L) {
                FloatVector v = FloatVector.fromMemorySegment(F, x, xb + i * 4L, LE).mul(inv);
                v.mul(FloatVector.fromMemorySegment(F, g, i * 4L, LE)).intoMemorySegment(y, yb + i * 4L, LE);
            }
        } else {
            for (int up = n - L; x.getClass() == NATIVE && g.getClass() == NATIVE && y.getClass() == NATIVE && i <= up;
                 i += L) {
                FloatVector v = Lanes.load(xt, x, xi + i).mul(inv);
                v.mul(FloatVector.fromMemorySegment(F, g, i * 4L, LE)).intoMemorySegment(y, yb + i * 4L, LE);
            }
        }
        for (; i < n; i++) {
            y.set(F32, yb + i * 4L, Lanes.get(xt, x, xi + i) * inv * g.get(F32, i * 4L));
        }
    }

    /** h = x + r, stored as F32; returns the sum of h^2 ({@code squares}) or of h. */
    private static float addRows(DType xt, MemorySegment x, long xi, DType rt, MemorySegment r, long ri,
                                 MemorySegment h, long hi, int n, boolean squares) {
        FloatVector a0 = FloatVector.zero(F);
        FloatVector a1 = a0;
        long hb = hi * 4;
        int i = 0;
        if (xt == DType.F32 && rt == DType.F32 && x.getClass() == NATIVE && r.getClass() == NATIVE
                && h.getClass() == NATIVE) {
            long xb = xi * 4;
            long rb = ri * 4;
            for (int up = n - 2 * L; i <= up; i += 2 * L) {
                FloatVector v0 = FloatVector.fromMemorySegment(F, x, xb + i * 4L, LE)
                        .add(FloatVector.fromMemorySegment(F, r, rb + i * 4L, LE));
                FloatVector v1 = FloatVector.fromMemorySegment(F, x, xb + (i + L) * 4L, LE)
                        .add(FloatVector.fromMemorySegment(F, r, rb + (i + L) * 4L, LE));
                v0.intoMemorySegment(h, hb + i * 4L, LE);
                v1.intoMemorySegment(h, hb + (i + L) * 4L, LE);
                a0 = squares ? v0.fma(v0, a0) : a0.add(v0);
                a1 = squares ? v1.fma(v1, a1) : a1.add(v1);
            }
        }
        for (int up = n - L; x.getClass() == NATIVE && r.getClass() == NATIVE && h.getClass() == NATIVE && i <= up;
             i += L) {
            FloatVector v = Lanes.load(xt, x, xi + i).add(Lanes.load(rt, r, ri + i));
            v.intoMemorySegment(h, hb + i * 4L, LE);
            a0 = squares ? v.fma(v, a0) : a0.add(v);
        }
        double s = Lanes.sum(a0.add(a1));   // in double: on heap memory this loop may do the whole row
        for (; i < n; i++) {
            float v = Lanes.get(xt, x, xi + i) + Lanes.get(rt, r, ri + i);
            h.set(F32, hb + i * 4L, v);
            s += squares ? (double) v * v : v;
        }
        return (float) s;
    }
}
