package dev.jlm.simd.l1;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/** Scalar reference of {@link L1Kernels}: plain loops, one accumulator, the order of the definitions. */
final class ScalarL1Kernels implements L1Kernels {
    static final ScalarL1Kernels INSTANCE = new ScalarL1Kernels();
    static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private ScalarL1Kernels() {
    }

    @Override
    public double dot(MemorySegment a, long aOff, MemorySegment b, long bOff, int n) {
        double s = 0;
        for (int i = 0; i < n; i++) {
            s += a.getAtIndex(F64, aOff + i) * b.getAtIndex(F64, bOff + i);
        }
        return s;
    }

    @Override
    public void crossDots(MemorySegment a, long[] aOff, int na, MemorySegment b, long[] bOff, int nb, int n,
                          double[] out, int outOff, int outStride) {
        for (int s = 0; s < na; s++) {
            for (int t = 0; t < nb; t++) {
                out[outOff + s * outStride + t] = dot(a, aOff[s], b, bOff[t], n);
            }
        }
    }

    @Override
    public void axpy(double alpha, MemorySegment x, long xOff, MemorySegment y, long yOff, int n) {
        for (int i = 0; i < n; i++) {
            y.setAtIndex(F64, yOff + i, y.getAtIndex(F64, yOff + i) + alpha * x.getAtIndex(F64, xOff + i));
        }
    }

    @Override
    public double axpyDot(double alpha, MemorySegment x, long xOff, MemorySegment y, long yOff, MemorySegment z, long zOff,
                          int n) {
        double s = 0;
        for (int i = 0; i < n; i++) {
            double v = y.getAtIndex(F64, yOff + i) + alpha * x.getAtIndex(F64, xOff + i);
            y.setAtIndex(F64, yOff + i, v);
            s += z.getAtIndex(F64, zOff + i) * v;
        }
        return s;
    }

    @Override
    public double sumSquares(MemorySegment a, long off, int n) {
        return dot(a, off, a, off, n);
    }

    @Override
    public double maxAbs(MemorySegment a, long off, int n) {
        double m = 0;
        for (int i = 0; i < n; i++) {
            m = Math.max(m, Math.abs(a.getAtIndex(F64, off + i)));
        }
        return m;
    }

    /** The code of {@code v}: rint of {@code v * inv} (of {@code v / s} where inv overflowed), clamped to +-limit. */
    static double code(double v, double s, double inv, double limit) {
        double t = s == 0 ? 0 : (Double.isFinite(inv) ? v * inv : v / s);
        return Math.max(-limit, Math.min(limit, Math.rint(t)));
    }

    @Override
    public void quantizeColumn(MemorySegment x, long xOff, int n, double s16, MemorySegment q16, long q16Off, double s8,
                               MemorySegment q8, long q8Off, double[] stats) {
        double inv16 = 1 / s16;
        double inv8 = 1 / s8;
        double e16 = 0;
        double n16 = 0;
        double e8 = 0;
        double n8 = 0;
        for (int i = 0; i < n; i++) {
            double v = x.getAtIndex(F64, xOff + i);
            double a = code(v, s16, inv16, 32767);
            double b = code(v, s8, inv8, 127);
            q16.setAtIndex(I16, q16Off + i, (short) a);
            q8.set(ValueLayout.JAVA_BYTE, q8Off + i, (byte) b);
            double ea = Math.fma(-s16, a, v);
            double eb = Math.fma(-s8, b, v);
            e16 += ea * ea;
            n16 += a * a;
            e8 += eb * eb;
            n8 += b * b;
        }
        stats[0] = e16;
        stats[1] = n16;
        stats[2] = e8;
        stats[3] = n8;
    }

    @Override
    public void columnDots(MemorySegment x, long ld, int n, int from, int to, MemorySegment r, long rOff,
                           MemorySegment out, long outOff) {
        for (int j = from; j < to; j++) {
            out.setAtIndex(F64, outOff + j - from, dot(x, j * ld, r, rOff, n));
        }
    }

    static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    @Override
    public void forwardSolve(double[] l, int m, int ld, double[] b, int bOff) {
        for (int i = 0; i < m; i++) {
            double s = b[bOff + i];
            int row = i * ld;
            for (int t = 0; t < i; t++) {
                s -= l[row + t] * b[bOff + t];
            }
            b[bOff + i] = s / l[row + i];
        }
    }

    @Override
    public void backwardSolve(double[] l, int m, int ld, double[] b) {
        for (int i = m - 1; i >= 0; i--) {
            int row = i * ld;
            double x = b[i] / l[row + i];
            b[i] = x;
            for (int t = 0; t < i; t++) {
                b[t] -= x * l[row + t];
            }
        }
    }

    @Override
    public double dotI16(MemorySegment q, long qOff, MemorySegment r, long rOff, int n) {
        double s = 0;
        for (int i = 0; i < n; i++) {
            s += (double) q.getAtIndex(I16, qOff + i) * r.getAtIndex(F64, rOff + i);
        }
        return s;
    }

    @Override
    public void axpyI16(double alpha, MemorySegment q, long qOff, MemorySegment y, long yOff, int n) {
        for (int i = 0; i < n; i++) {
            y.setAtIndex(F64, yOff + i, y.getAtIndex(F64, yOff + i) + alpha * q.getAtIndex(I16, qOff + i));
        }
    }

    @Override
    public double axpyDotI16(double alpha, MemorySegment q, long qOff, MemorySegment y, long yOff, MemorySegment z,
                             long zOff, int n) {
        double s = 0;
        for (int i = 0; i < n; i++) {
            double v = y.getAtIndex(F64, yOff + i) + alpha * q.getAtIndex(I16, qOff + i);
            y.setAtIndex(F64, yOff + i, v);
            s += (double) z.getAtIndex(I16, zOff + i) * v;
        }
        return s;
    }

    @Override
    public void columnDotsI16(MemorySegment x, long ld, int n, int from, int to, MemorySegment r, long rOff,
                              MemorySegment out, long outOff) {
        columnDotsOf(i -> x.getAtIndex(I16, i), n, from, to, ld, r, rOff, out, outOff);
    }

    @Override
    public void columnDotsI8(MemorySegment x, long ld, int n, int from, int to, MemorySegment r, long rOff,
                             MemorySegment out, long outOff) {
        columnDotsOf(i -> x.get(ValueLayout.JAVA_BYTE, i), n, from, to, ld, r, rOff, out, outOff);
    }

    /** Products in double: n roundings of 2^-53 at most, with room to spare. */
    @Override
    public double i8ProductError(int n) {
        return n * 0x1p-50;
    }

    static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    @Override
    public void columnDotsF32(MemorySegment x, long ld, int n, int from, int to, MemorySegment r, long rOff,
                              MemorySegment out, long outOff) {
        columnDotsOf(i -> x.getAtIndex(F32, i), n, from, to, ld, r, rOff, out, outOff);
    }

    @Override
    public void softThreshold(MemorySegment in, long inOff, MemorySegment out, long outOff, int n, double t,
                              MemorySegment w, long wOff, boolean positive) {
        for (int i = 0; i < n; i++) {
            double thr = w == null ? t : t * w.getAtIndex(F64, wOff + i);
            double v = L1Kernels.softThreshold(in.getAtIndex(F64, inOff + i), thr);
            out.setAtIndex(F64, outOff + i, positive && v < 0 ? 0.0 : v);
        }
    }

    @Override
    public double groupSoftThreshold(MemorySegment v, long off, int n, double t) {
        double norm = Math.sqrt(sumSquares(v, off, n));
        double scale = norm > t ? 1.0 - t / norm : 0.0;
        for (int i = 0; i < n; i++) {
            v.setAtIndex(F64, off + i, v.getAtIndex(F64, off + i) * scale);
        }
        return norm * scale;
    }

    /** One element of a column-major X, widened to double. */
    @FunctionalInterface
    private interface Element {
        double at(long index);
    }

    /** out[j - from] = x_j . r for columns [from, to) of leading dimension ld, the elements read by x. */
    private static void columnDotsOf(Element x, int n, int from, int to, long ld, MemorySegment r, long rOff,
                                     MemorySegment out, long outOff) {
        for (int j = from; j < to; j++) {
            double s = 0;
            long c = j * ld;
            for (int i = 0; i < n; i++) {
                s += x.at(c + i) * r.getAtIndex(F64, rOff + i);
            }
            out.setAtIndex(F64, outOff + j - from, s);
        }
    }
}
