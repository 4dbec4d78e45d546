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
        FloatVector d0 = FloatVector.zero(F);
        FloatVector d1 = d0;
        FloatVector q0 = d0;
        FloatVector q1 = d0;
        int i = 0;
        if (xt == DType.F32) {
            long xb = xi * 4;
            for (int up = n - 2 * L; i <= up; i += 2 * L) {
                FloatVector v0 = FloatVector.fromMemorySegment(F, x, xb + i * 4L, LE).sub(m);
                FloatVector v1 = FloatVector.fromMemorySegment(F, x, xb + (i + L) * 4L, LE).sub(m);
                d0 = d0.add(v0);
                d1 = d1.add(v1);
                q0 = v0.fma(v0, q0);
                q1 = v1.fma(v1, q1);
            }
        }
        for (int up = n - L; i <= up; i += L) {
            FloatVector v = Lanes.load(xt, x, xi + i).sub(m);
            d0 = d0.add(v);
            q0 = v.fma(v, q0);
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
        // x - m is exact for x near m; subtracting the small correction after keeps the centred value exact to
        // a rounding, where x - (float) (m + c) would lose the low bits of a large mean.
        if (xt == DType.F32 && Segments.plain(x, y) && Segments.plain(g, b)) {
            normalizeF32(x, xi, g, b, y, yi, n, m, (float) c, inv);
        } else {
            normalize(xt, x, xi, g, b, y, yi, n, m, (float) c, inv);
        }
    }

    // ---- F32 rows, pipelined ------------------------------------------------------------------
    //
    // Rows of a call are processed in order, and the pass that writes row r (reading it again from L1) also
    // reads row r + 1 for its first statistic. Memory then streams reads and writes together, as a copy does,
    // instead of alternating a read-only phase and a write phase per row. Every accumulation below runs in the
    // same order as the per-row methods, so a row's output does not depend on where a chunk starts.

    /** RMSNorm of F32 rows [from, to), rows {@code xs} / {@code ys} elements apart. */
    static void rmsRowsF32(MemorySegment x, long xs, MemorySegment g, MemorySegment y, long ys, int n, float eps,
                           long from, long to) {
        float ss = sumSquaresF32(x, from * xs, n);
        for (long r = from; r < to; r++) {
            float inv = (float) (1.0 / Math.sqrt((double) ss / n + eps));
            if (r + 1 < to) {
                ss = scaleF32NextSquares(x, r * xs, (r + 1) * xs, g, y, r * ys, n, inv);
            } else {
                scale(DType.F32, x, r * xs, g, y, r * ys, n, inv);
            }
        }
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
        long moments = shiftedMomentsF32(x, from * xs, n);
        for (long r = from; r < to; r++) {
            long xi = r * xs;
            float k = x.get(F32, xi * 4);
            double d = (double) Float.intBitsToFloat((int) (moments >>> 32)) / n;
            double var = (double) Float.intBitsToFloat((int) moments) / n - d * d;
            boolean next = r + 1 < to;
            if (d * d > 8 * var) {   // a poor shift (NaN compares false and stays on the fast path, as NaN)
                finishLayer(DType.F32, x, xi, g, b, y, r * ys, n, eps, sumF32(x, xi, n));
                if (next) {
                    moments = shiftedMomentsF32(x, (r + 1) * xs, n);
                }
                continue;
            }
            float inv = (float) (1.0 / Math.sqrt(Math.max(0.0, var) + eps));
            moments = normalizeF32NextMoments(x, xi, next ? (r + 1) * xs : -1, g, b, y, r * ys, n, k, (float) d, inv);
        }
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

    /** y = x * inv * gamma for the row at xi; returns the sum of squares of the row at ni (as sumSquaresF32). */
    private static float scaleF32NextSquares(MemorySegment x, long xi, long ni, MemorySegment g, MemorySegment y,
                                             long yi, int n, float inv) {
        if (x.getClass() != NATIVE || g.getClass() != NATIVE || y.getClass() != NATIVE) {
            throw Segments.notPlain();
        }
        FloatVector a0 = FloatVector.zero(F);
        FloatVector a1 = a0;
        FloatVector a2 = a0;
        FloatVector a3 = a0;
        long xb = xi * 4;
        long nb = ni * 4;
        long yb = yi * 4;
        int i = 0;
        for (int up = n - 4 * L; i <= up; i += 4 * L) {
            FloatVector w0 = FloatVector.fromMemorySegment(F, x, nb + i * 4L, LE);
            FloatVector w1 = FloatVector.fromMemorySegment(F, x, nb + (i + L) * 4L, LE);
            FloatVector w2 = FloatVector.fromMemorySegment(F, x, nb + (i + 2 * L) * 4L, LE);
            FloatVector w3 = FloatVector.fromMemorySegment(F, x, nb + (i + 3 * L) * 4L, LE);
            a0 = w0.fma(w0, a0);
            a1 = w1.fma(w1, a1);
            a2 = w2.fma(w2, a2);
            a3 = w3.fma(w3, a3);
            for (int k = 0; k < 4 * L; k += L) {
                FloatVector v = FloatVector.fromMemorySegment(F, x, xb + (i + k) * 4L, LE).mul(inv);
                v.mul(FloatVector.fromMemorySegment(F, g, (i + k) * 4L, LE)).intoMemorySegment(y, yb + (i + k) * 4L, LE);
            }
        }
        for (int up = n - L; i <= up; i += L) {
            FloatVector w = FloatVector.fromMemorySegment(F, x, nb + i * 4L, LE);
            a0 = w.fma(w, a0);
            FloatVector v = FloatVector.fromMemorySegment(F, x, xb + i * 4L, LE).mul(inv);
            v.mul(FloatVector.fromMemorySegment(F, g, i * 4L, LE)).intoMemorySegment(y, yb + i * 4L, LE);
        }
        float s = Lanes.sum(a0.add(a1).add(a2.add(a3)));
        for (; i < n; i++) {
            float w = x.get(F32, nb + i * 4L);
            s += w * w;
            y.set(F32, yb + i * 4L, x.get(F32, xb + i * 4L) * inv * g.get(F32, i * 4L));
        }
        return s;
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
