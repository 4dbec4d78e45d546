package dev.jlm.simd.norm;

import static dev.jlm.simd.internal.Lanes.F32;

import dev.jlm.core.DType;
import dev.jlm.simd.internal.Lanes;
import java.lang.foreign.MemorySegment;

/** Scalar reference rows: one element at a time, sums in double. Offsets are element indices. */
final class ScalarNorms {
    private ScalarNorms() {
    }

    static void rms(DType xt, MemorySegment x, long xi, MemorySegment g, MemorySegment y, long yi, int n, float eps) {
        double ss = 0;
        for (int i = 0; i < n; i++) {
            double v = Lanes.get(xt, x, xi + i);
            ss += v * v;
        }
        float inv = (float) (1.0 / Math.sqrt(ss / n + eps));
        for (int i = 0; i < n; i++) {
            float v = Lanes.get(xt, x, xi + i);
            y.set(F32, (yi + i) * 4, v * inv * g.get(F32, i * 4L));
        }
    }

    static void rmsResidual(DType xt, MemorySegment x, long xi, DType rt, MemorySegment r, long ri, MemorySegment g,
                            MemorySegment h, long hi, MemorySegment y, long yi, int n, float eps) {
        addRows(xt, x, xi, rt, r, ri, h, hi, n);
        rms(DType.F32, h, hi, g, y, yi, n, eps);
    }

    static void layer(DType xt, MemorySegment x, long xi, MemorySegment g, MemorySegment b, MemorySegment y, long yi,
                      int n, float eps) {
        double sum = 0;
        for (int i = 0; i < n; i++) {
            sum += Lanes.get(xt, x, xi + i);
        }
        double mean = sum / n;
        double var = 0;
        for (int i = 0; i < n; i++) {
            double d = Lanes.get(xt, x, xi + i) - mean;
            var += d * d;
        }
        float inv = (float) (1.0 / Math.sqrt(var / n + eps));
        for (int i = 0; i < n; i++) {
            float d = (float) (Lanes.get(xt, x, xi + i) - mean);
            float v = d * inv * g.get(F32, i * 4L);
            if (b != null) {
                v += b.get(F32, i * 4L);
            }
            y.set(F32, (yi + i) * 4, v);
        }
    }

    static void layerResidual(DType xt, MemorySegment x, long xi, DType rt, MemorySegment r, long ri, MemorySegment g,
                              MemorySegment b, MemorySegment h, long hi, MemorySegment y, long yi, int n, float eps) {
        addRows(xt, x, xi, rt, r, ri, h, hi, n);
        layer(DType.F32, h, hi, g, b, y, yi, n, eps);
    }

    static void addRows(DType xt, MemorySegment x, long xi, DType rt, MemorySegment r, long ri, MemorySegment h,
                        long hi, int n) {
        for (int i = 0; i < n; i++) {
            h.set(F32, (hi + i) * 4, Lanes.get(xt, x, xi + i) + Lanes.get(rt, r, ri + i));
        }
    }
}
