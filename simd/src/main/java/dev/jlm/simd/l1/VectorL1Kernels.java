package dev.jlm.simd.l1;

import static dev.jlm.simd.internal.Segments.NATIVE;

import dev.jlm.simd.internal.Segments;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.Arrays;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vector API implementation of {@link L1Kernels}: the widest double species of the CPU, several
 * independent accumulators so that the FMA latency is hidden, scalar tails. Each method first tests its segments
 * against {@link Segments#NATIVE}, which lets the JIT keep the segments' checks out of the loops; heap and mapped
 * memory go to the scalar kernels.
 */
final class VectorL1Kernels implements L1Kernels {
    static final VectorL1Kernels INSTANCE = new VectorL1Kernels();
    private static final VectorSpecies<Double> S = DoubleVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    private VectorL1Kernels() {
    }

    /**
     * Sum of the lanes in lane order. reduceLanes(ADD) leaves the order open, and the JIT-compiled and the
     * interpreted forms may differ in the last bit; a fixed order keeps results reproducible run to run.
     */
    private static double sum(DoubleVector v) {
        double s = 0;
        for (int l = 0; l < L; l++) {
            s += v.lane(l);
        }
        return s;
    }

    private static DoubleVector load(MemorySegment m, long elem) {
        return DoubleVector.fromMemorySegment(S, m, elem * 8, LE);
    }

    @Override
    public double dot(MemorySegment a, long aOff, MemorySegment b, long bOff, int n) {
        if (a.getClass() != NATIVE || b.getClass() != NATIVE) {
            return ScalarL1Kernels.INSTANCE.dot(a, aOff, b, bOff, n);
        }
        DoubleVector s0 = DoubleVector.zero(S), s1 = s0, s2 = s0, s3 = s0;
        int i = 0;
        for (int bound = n - 4 * L; i <= bound; i += 4 * L) {
            s0 = load(a, aOff + i).fma(load(b, bOff + i), s0);
            s1 = load(a, aOff + i + L).fma(load(b, bOff + i + L), s1);
            s2 = load(a, aOff + i + 2 * L).fma(load(b, bOff + i + 2 * L), s2);
            s3 = load(a, aOff + i + 3 * L).fma(load(b, bOff + i + 3 * L), s3);
        }
        for (int bound = n - L; i <= bound; i += L) {
            s0 = load(a, aOff + i).fma(load(b, bOff + i), s0);
        }
        double s = sum(s0.add(s1).add(s2.add(s3)));
        for (; i < n; i++) {
            s += a.getAtIndex(ScalarL1Kernels.F64, aOff + i) * b.getAtIndex(ScalarL1Kernels.F64, bOff + i);
        }
        return s;
    }

    /** Elements of a chunk in {@link #crossDots}: a block's eight column chunks take 32 KB, the size of L1. */
    private static final int CROSS_CHUNK = 512;

    /**
     * Four columns of a against four of b per step: each chunk of eight loads feeds sixteen FMAs (one column pair at
     * a time needs two loads per FMA). The rows go in chunks, every block of the chunk before the next, so that the
     * chunks of the a block are read from L1 and those of b from L2 instead of whole columns from L3. The columns
     * that do not fill a block of four take {@link #dot}.
     */
    @Override
    public void crossDots(MemorySegment a, long[] aOff, int na, MemorySegment b, long[] bOff, int nb, int n,
                          double[] out, int outOff, int outStride) {
        if (a.getClass() != NATIVE || b.getClass() != NATIVE) {
            ScalarL1Kernels.INSTANCE.crossDots(a, aOff, na, b, bOff, nb, n, out, outOff, outStride);
            return;
        }
        int na4 = na - na % 4;
        int nb4 = nb - nb % 4;
        for (int s = 0; s < na4; s++) {
            Arrays.fill(out, outOff + s * outStride, outOff + s * outStride + nb4, 0);
        }
        for (int c = 0; c < n; c += CROSS_CHUNK) {
            int len = Math.min(CROSS_CHUNK, n - c);
            for (int s = 0; s < na4; s += 4) {
                for (int t = 0; t < nb4; t += 4) {
                    block4x4(a, aOff[s] + c, aOff[s + 1] + c, aOff[s + 2] + c, aOff[s + 3] + c, b, bOff[t] + c,
                            bOff[t + 1] + c, bOff[t + 2] + c, bOff[t + 3] + c, len, out, outOff + s * outStride + t,
                            outStride);
                }
            }
        }
        for (int s = 0; s < na; s++) {
            for (int t = s < na4 ? nb4 : 0; t < nb; t++) {
                out[outOff + s * outStride + t] = dot(a, aOff[s], b, bOff[t], n);
            }
        }
    }

    /** Adds the 4 x 4 products of n elements from the given offsets to out[o + u * stride + t]. */
    private static void block4x4(MemorySegment a, long a0, long a1, long a2, long a3, MemorySegment b, long b0,
                                 long b1, long b2, long b3, int n, double[] out, int o, int stride) {
        if (a.getClass() != NATIVE || b.getClass() != NATIVE) {
            throw Segments.notPlain();
        }
        DoubleVector c00 = DoubleVector.zero(S), c01 = c00, c02 = c00, c03 = c00;
        DoubleVector c10 = c00, c11 = c00, c12 = c00, c13 = c00;
        DoubleVector c20 = c00, c21 = c00, c22 = c00, c23 = c00;
        DoubleVector c30 = c00, c31 = c00, c32 = c00, c33 = c00;
        int i = 0;
        for (int bound = n - L; i <= bound; i += L) {
            DoubleVector x0 = load(a, a0 + i);
            DoubleVector x1 = load(a, a1 + i);
            DoubleVector x2 = load(a, a2 + i);
            DoubleVector x3 = load(a, a3 + i);
            DoubleVector y = load(b, b0 + i);
            c00 = x0.fma(y, c00);
            c10 = x1.fma(y, c10);
            c20 = x2.fma(y, c20);
            c30 = x3.fma(y, c30);
            y = load(b, b1 + i);
            c01 = x0.fma(y, c01);
            c11 = x1.fma(y, c11);
            c21 = x2.fma(y, c21);
            c31 = x3.fma(y, c31);
            y = load(b, b2 + i);
            c02 = x0.fma(y, c02);
            c12 = x1.fma(y, c12);
            c22 = x2.fma(y, c22);
            c32 = x3.fma(y, c32);
            y = load(b, b3 + i);
            c03 = x0.fma(y, c03);
            c13 = x1.fma(y, c13);
            c23 = x2.fma(y, c23);
            c33 = x3.fma(y, c33);
        }
        // the lane sums written out here (a vector handed to a method the JIT does not inline is boxed)
        double[] lanes = CROSS_LANES.get();
        c00.intoArray(lanes, 0);
        c01.intoArray(lanes, L);
        c02.intoArray(lanes, 2 * L);
        c03.intoArray(lanes, 3 * L);
        c10.intoArray(lanes, 4 * L);
        c11.intoArray(lanes, 5 * L);
        c12.intoArray(lanes, 6 * L);
        c13.intoArray(lanes, 7 * L);
        c20.intoArray(lanes, 8 * L);
        c21.intoArray(lanes, 9 * L);
        c22.intoArray(lanes, 10 * L);
        c23.intoArray(lanes, 11 * L);
        c30.intoArray(lanes, 12 * L);
        c31.intoArray(lanes, 13 * L);
        c32.intoArray(lanes, 14 * L);
        c33.intoArray(lanes, 15 * L);
        for (int u = 0; u < 4; u++) {
            long au = u == 0 ? a0 : u == 1 ? a1 : u == 2 ? a2 : a3;
            for (int t = 0; t < 4; t++) {
                long bt = t == 0 ? b0 : t == 1 ? b1 : t == 2 ? b2 : b3;
                double d = 0;
                for (int l = 0; l < L; l++) {
                    d += lanes[(4 * u + t) * L + l];
                }
                for (int e = i; e < n; e++) {
                    d += a.getAtIndex(ScalarL1Kernels.F64, au + e) * b.getAtIndex(ScalarL1Kernels.F64, bt + e);
                }
                out[o + u * stride + t] += d;
            }
        }
    }

    /** Scratch for {@link #block4x4}'s lane sums, per calling thread. */
    private static final ThreadLocal<double[]> CROSS_LANES = ThreadLocal.withInitial(() -> new double[16 * L]);

    @Override
    public void axpy(double alpha, MemorySegment x, long xOff, MemorySegment y, long yOff, int n) {
        if (x.getClass() != NATIVE || y.getClass() != NATIVE) {
            ScalarL1Kernels.INSTANCE.axpy(alpha, x, xOff, y, yOff, n);
            return;
        }
        DoubleVector va = DoubleVector.broadcast(S, alpha);
        int i = 0;
        for (int bound = n - 2 * L; i <= bound; i += 2 * L) {
            load(x, xOff + i).fma(va, load(y, yOff + i)).intoMemorySegment(y, (yOff + i) * 8, LE);
            load(x, xOff + i + L).fma(va, load(y, yOff + i + L)).intoMemorySegment(y, (yOff + i + L) * 8, LE);
        }
        for (int bound = n - L; i <= bound; i += L) {
            load(x, xOff + i).fma(va, load(y, yOff + i)).intoMemorySegment(y, (yOff + i) * 8, LE);
        }
        for (; i < n; i++) {
            y.setAtIndex(ScalarL1Kernels.F64, yOff + i,
                    y.getAtIndex(ScalarL1Kernels.F64, yOff + i) + alpha * x.getAtIndex(ScalarL1Kernels.F64, xOff + i));
        }
    }

    @Override
    public double axpyDot(double alpha, MemorySegment x, long xOff, MemorySegment y, long yOff, MemorySegment z, long zOff,
                          int n) {
        if (x.getClass() != NATIVE || y.getClass() != NATIVE || z.getClass() != NATIVE) {
            return ScalarL1Kernels.INSTANCE.axpyDot(alpha, x, xOff, y, yOff, z, zOff, n);
        }
        DoubleVector va = DoubleVector.broadcast(S, alpha);
        DoubleVector s0 = DoubleVector.zero(S), s1 = s0;
        int i = 0;
        for (int bound = n - 2 * L; i <= bound; i += 2 * L) {
            DoubleVector y0 = load(x, xOff + i).fma(va, load(y, yOff + i));
            DoubleVector y1 = load(x, xOff + i + L).fma(va, load(y, yOff + i + L));
            y0.intoMemorySegment(y, (yOff + i) * 8, LE);
            y1.intoMemorySegment(y, (yOff + i + L) * 8, LE);
            s0 = load(z, zOff + i).fma(y0, s0);
            s1 = load(z, zOff + i + L).fma(y1, s1);
        }
        for (int bound = n - L; i <= bound; i += L) {
            DoubleVector y0 = load(x, xOff + i).fma(va, load(y, yOff + i));
            y0.intoMemorySegment(y, (yOff + i) * 8, LE);
            s0 = load(z, zOff + i).fma(y0, s0);
        }
        double s = sum(s0.add(s1));
        for (; i < n; i++) {
            double v = y.getAtIndex(ScalarL1Kernels.F64, yOff + i) + alpha * x.getAtIndex(ScalarL1Kernels.F64, xOff + i);
            y.setAtIndex(ScalarL1Kernels.F64, yOff + i, v);
            s += z.getAtIndex(ScalarL1Kernels.F64, zOff + i) * v;
        }
        return s;
    }

    /** {@code sum_t a[ao + t] * b[bo + t]} for {@code t < n}, on heap arrays (the factor of the Newton step). */
    private static double dot(double[] a, int ao, double[] b, int bo, int n) {
        DoubleVector s0 = DoubleVector.zero(S), s1 = s0;
        int t = 0;
        for (int bound = n - 2 * L; t <= bound; t += 2 * L) {
            s0 = DoubleVector.fromArray(S, a, ao + t).fma(DoubleVector.fromArray(S, b, bo + t), s0);
            s1 = DoubleVector.fromArray(S, a, ao + t + L).fma(DoubleVector.fromArray(S, b, bo + t + L), s1);
        }
        if (t <= n - L) {
            s0 = DoubleVector.fromArray(S, a, ao + t).fma(DoubleVector.fromArray(S, b, bo + t), s0);
            t += L;
        }
        double s = sum(s0.add(s1));
        for (; t < n; t++) {
            s += a[ao + t] * b[bo + t];
        }
        return s;
    }

    @Override
    public void forwardSolve(double[] l, int m, int ld, double[] b, int bOff) {
        for (int i = 0; i < m; i++) {
            int row = i * ld;
            b[bOff + i] = (b[bOff + i] - dot(l, row, b, bOff, i)) / l[row + i];
        }
    }

    @Override
    public void backwardSolve(double[] l, int m, int ld, double[] b) {
        for (int i = m - 1; i >= 0; i--) {
            int row = i * ld;
            double x = b[i] / l[row + i];
            b[i] = x;
            DoubleVector vx = DoubleVector.broadcast(S, -x);
            int t = 0;
            for (int bound = i - L; t <= bound; t += L) {
                DoubleVector.fromArray(S, l, row + t).fma(vx, DoubleVector.fromArray(S, b, t)).intoArray(b, t);
            }
            for (; t < i; t++) {
                b[t] -= x * l[row + t];
            }
        }
    }

    @Override
    public double sumSquares(MemorySegment a, long off, int n) {
        return dot(a, off, a, off, n);
    }

    @Override
    public double maxAbs(MemorySegment a, long off, int n) {
        if (a.getClass() != NATIVE) {
            return ScalarL1Kernels.INSTANCE.maxAbs(a, off, n);
        }
        DoubleVector m0 = DoubleVector.zero(S), m1 = m0;
        int i = 0;
        for (int bound = n - 2 * L; i <= bound; i += 2 * L) {
            m0 = m0.max(load(a, off + i).abs());
            m1 = m1.max(load(a, off + i + L).abs());
        }
        double m = m0.max(m1).reduceLanes(VectorOperators.MAX);   // max: any order gives the same result
        for (; i < n; i++) {
            m = Math.max(m, Math.abs(a.getAtIndex(ScalarL1Kernels.F64, off + i)));
        }
        return m;
    }

    /** Elements per step of quantizeColumn: at least 8, so that the step's 8-bit codes fill a 64-bit vector. */
    private static final int Q_STEP = Math.max(L, 8);
    /** Double vectors per step of quantizeColumn. */
    private static final int Q_PARTS = Q_STEP / L;
    private static final VectorSpecies<Short> QS = VectorSpecies.of(short.class, VectorShape.forBitSize(16 * Q_STEP));
    private static final VectorSpecies<Byte> QB = VectorSpecies.of(byte.class, VectorShape.forBitSize(8 * Q_STEP));
    /** 1.5 * 2^52: {@code (t + RINT) - RINT} is {@code Math.rint(t)} for {@code |t| < 2^51}. */
    private static final double RINT = 0x1.8p52;

    @Override
    public void quantizeColumn(MemorySegment x, long xOff, int n, double s16, MemorySegment q16, long q16Off, double s8,
                               MemorySegment q8, long q8Off, double[] stats) {
        double inv16 = 1 / s16;
        double inv8 = 1 / s8;
        // a nonzero scale whose inverse overflows divides instead: the reference's rare path
        if (x.getClass() != NATIVE || q16.getClass() != NATIVE || q8.getClass() != NATIVE
                || s16 != 0 && !Double.isFinite(inv16) || s8 != 0 && !Double.isFinite(inv8)) {
            ScalarL1Kernels.INSTANCE.quantizeColumn(x, xOff, n, s16, q16, q16Off, s8, q8, q8Off, stats);
            return;
        }
        // the scaled values stay within +-(limit + 1) < 2^51 (the scales are at least max |x_i| / limit), where
        // the RINT addition rounds like Math.rint
        DoubleVector i16 = DoubleVector.broadcast(S, s16 == 0 ? 0 : inv16);
        DoubleVector i8 = DoubleVector.broadcast(S, s8 == 0 ? 0 : inv8);
        DoubleVector m16 = DoubleVector.broadcast(S, -s16);
        DoubleVector m8 = DoubleVector.broadcast(S, -s8);
        DoubleVector rint = DoubleVector.broadcast(S, RINT);
        DoubleVector e16 = DoubleVector.zero(S), n16 = e16, e8 = e16, n8 = e16;
        int i = 0;
        for (int bound = n - Q_STEP; i <= bound; i += Q_STEP) {
            ShortVector c16 = ShortVector.zero(QS);
            ByteVector c8 = ByteVector.zero(QB);
            for (int k = 0; k < Q_PARTS; k++) {
                DoubleVector v = load(x, xOff + i + k * L);
                DoubleVector a = v.mul(i16).add(rint).sub(rint).max(-32767).min(32767);
                DoubleVector b = v.mul(i8).add(rint).sub(rint).max(-127).min(127);
                DoubleVector ea = a.fma(m16, v);
                DoubleVector eb = b.fma(m8, v);
                e16 = ea.fma(ea, e16);
                n16 = a.fma(a, n16);
                e8 = eb.fma(eb, e8);
                n8 = b.fma(b, n8);
                // part -k: this vector's codes go to block k of the step's code vectors (the other lanes are 0)
                c16 = c16.add((ShortVector) a.convertShape(VectorOperators.D2S, QS, -k));
                c8 = c8.add((ByteVector) b.convertShape(VectorOperators.D2B, QB, -k));
            }
            c16.intoMemorySegment(q16, (q16Off + i) * 2, LE);
            c8.intoMemorySegment(q8, q8Off + i, LE);
        }
        // the last elements (fewer than a step) by the reference, their sums added after the vectors'
        ScalarL1Kernels.INSTANCE.quantizeColumn(x, xOff + i, n - i, s16, q16, q16Off + i, s8, q8, q8Off + i, stats);
        double se16 = sum(e16) + stats[0], sn16 = sum(n16) + stats[1], se8 = sum(e8) + stats[2], sn8 = sum(n8) + stats[3];
        stats[0] = se16;
        stats[1] = sn16;
        stats[2] = se8;
        stats[3] = sn8;
    }

    @Override
    public void columnDots(MemorySegment x, long ld, int n, int from, int to, MemorySegment r, long rOff,
                           MemorySegment out, long outOff) {
        if (x.getClass() != NATIVE || r.getClass() != NATIVE || out.getClass() != NATIVE) {
            ScalarL1Kernels.INSTANCE.columnDots(x, ld, n, from, to, r, rOff, out, outOff);
            return;
        }
        int j = from;
        // Four columns at a time: each chunk of r is loaded once for four products.
        for (; j + 4 <= to; j += 4) {
            long c0 = j * ld, c1 = c0 + ld, c2 = c1 + ld, c3 = c2 + ld;
            DoubleVector s0 = DoubleVector.zero(S), s1 = s0, s2 = s0, s3 = s0;
            int i = 0;
            for (int bound = n - L; i <= bound; i += L) {
                DoubleVector rv = load(r, rOff + i);
                s0 = load(x, c0 + i).fma(rv, s0);
                s1 = load(x, c1 + i).fma(rv, s1);
                s2 = load(x, c2 + i).fma(rv, s2);
                s3 = load(x, c3 + i).fma(rv, s3);
            }
            double d0 = sum(s0), d1 = sum(s1);
            double d2 = sum(s2), d3 = sum(s3);
            for (; i < n; i++) {
                double rv = r.getAtIndex(ScalarL1Kernels.F64, rOff + i);
                d0 += x.getAtIndex(ScalarL1Kernels.F64, c0 + i) * rv;
                d1 += x.getAtIndex(ScalarL1Kernels.F64, c1 + i) * rv;
                d2 += x.getAtIndex(ScalarL1Kernels.F64, c2 + i) * rv;
                d3 += x.getAtIndex(ScalarL1Kernels.F64, c3 + i) * rv;
            }
            long o = outOff + j - from;
            out.setAtIndex(ScalarL1Kernels.F64, o, d0);
            out.setAtIndex(ScalarL1Kernels.F64, o + 1, d1);
            out.setAtIndex(ScalarL1Kernels.F64, o + 2, d2);
            out.setAtIndex(ScalarL1Kernels.F64, o + 3, d3);
        }
        for (; j < to; j++) {
            out.setAtIndex(ScalarL1Kernels.F64, outOff + j - from, dot(x, j * ld, r, rOff, n));
        }
    }

    /** Floats in one full-width vector: twice the double lanes; each half widens to one double vector. */
    private static final VectorSpecies<Float> FS = FloatVector.SPECIES_PREFERRED;

    @Override
    public void columnDotsF32(MemorySegment x, long ld, int n, int from, int to, MemorySegment r, long rOff,
                              MemorySegment out, long outOff) {
        if (x.getClass() != NATIVE || r.getClass() != NATIVE || out.getClass() != NATIVE) {
            ScalarL1Kernels.INSTANCE.columnDotsF32(x, ld, n, from, to, r, rOff, out, outOff);
            return;
        }
        int j = from;
        boolean wide = FS.length() == 2 * L;
        // Two columns at a time; one float vector load gives two double vectors (parts 0 and 1).
        for (; wide && j + 2 <= to; j += 2) {
            long c0 = j * ld, c1 = c0 + ld;
            DoubleVector s0 = DoubleVector.zero(S), s1 = s0, t0 = s0, t1 = s0;
            int i = 0;
            for (int bound = n - 2 * L; i <= bound; i += 2 * L) {
                DoubleVector ra = load(r, rOff + i);
                DoubleVector rb = load(r, rOff + i + L);
                FloatVector f0 = FloatVector.fromMemorySegment(FS, x, (c0 + i) * 4, LE);
                FloatVector f1 = FloatVector.fromMemorySegment(FS, x, (c1 + i) * 4, LE);
                s0 = ((DoubleVector) f0.convertShape(VectorOperators.F2D, S, 0)).fma(ra, s0);
                t0 = ((DoubleVector) f0.convertShape(VectorOperators.F2D, S, 1)).fma(rb, t0);
                s1 = ((DoubleVector) f1.convertShape(VectorOperators.F2D, S, 0)).fma(ra, s1);
                t1 = ((DoubleVector) f1.convertShape(VectorOperators.F2D, S, 1)).fma(rb, t1);
            }
            double d0 = sum(s0.add(t0)), d1 = sum(s1.add(t1));
            for (; i < n; i++) {
                double rv = r.getAtIndex(ScalarL1Kernels.F64, rOff + i);
                d0 += (double) x.getAtIndex(ScalarL1Kernels.F32, c0 + i) * rv;
                d1 += (double) x.getAtIndex(ScalarL1Kernels.F32, c1 + i) * rv;
            }
            out.setAtIndex(ScalarL1Kernels.F64, outOff + j - from, d0);
            out.setAtIndex(ScalarL1Kernels.F64, outOff + j + 1 - from, d1);
        }
        for (; j < to; j++) {
            long c0 = j * ld;
            double d0 = 0;
            for (int i = 0; i < n; i++) {
                d0 += (double) x.getAtIndex(ScalarL1Kernels.F32, c0 + i) * r.getAtIndex(ScalarL1Kernels.F64, rOff + i);
            }
            out.setAtIndex(ScalarL1Kernels.F64, outOff + j - from, d0);
        }
    }

    /** Shorts that widen to exactly two double vectors. */
    private static final VectorSpecies<Short> SS = VectorSpecies.of(short.class, VectorShape.forBitSize(Math.max(64, 32 * L)));

    @Override
    public void columnDotsI16(MemorySegment x, long ld, int n, int from, int to, MemorySegment r, long rOff,
                              MemorySegment out, long outOff) {
        if (x.getClass() != NATIVE || r.getClass() != NATIVE || out.getClass() != NATIVE) {
            ScalarL1Kernels.INSTANCE.columnDotsI16(x, ld, n, from, to, r, rOff, out, outOff);
            return;
        }
        int j = from;
        // Two columns at a time; one short vector load gives two double vectors (parts 0 and 1).
        for (; j + 2 <= to; j += 2) {
            long c0 = j * ld, c1 = c0 + ld;
            DoubleVector s0 = DoubleVector.zero(S), s1 = s0, t0 = s0, t1 = s0;
            int i = 0;
            for (int bound = n - 2 * L; i <= bound; i += 2 * L) {
                DoubleVector ra = load(r, rOff + i);
                DoubleVector rb = load(r, rOff + i + L);
                ShortVector f0 = ShortVector.fromMemorySegment(SS, x, (c0 + i) * 2, LE);
                ShortVector f1 = ShortVector.fromMemorySegment(SS, x, (c1 + i) * 2, LE);
                s0 = ((DoubleVector) f0.convertShape(VectorOperators.S2D, S, 0)).fma(ra, s0);
                t0 = ((DoubleVector) f0.convertShape(VectorOperators.S2D, S, 1)).fma(rb, t0);
                s1 = ((DoubleVector) f1.convertShape(VectorOperators.S2D, S, 0)).fma(ra, s1);
                t1 = ((DoubleVector) f1.convertShape(VectorOperators.S2D, S, 1)).fma(rb, t1);
            }
            double d0 = sum(s0.add(t0)), d1 = sum(s1.add(t1));
            for (; i < n; i++) {
                double rv = r.getAtIndex(ScalarL1Kernels.F64, rOff + i);
                d0 += (double) x.getAtIndex(ScalarL1Kernels.I16, c0 + i) * rv;
                d1 += (double) x.getAtIndex(ScalarL1Kernels.I16, c1 + i) * rv;
            }
            out.setAtIndex(ScalarL1Kernels.F64, outOff + j - from, d0);
            out.setAtIndex(ScalarL1Kernels.F64, outOff + j + 1 - from, d1);
        }
        for (; j < to; j++) {
            long c0 = j * ld;
            double d0 = 0;
            for (int i = 0; i < n; i++) {
                d0 += (double) x.getAtIndex(ScalarL1Kernels.I16, c0 + i) * r.getAtIndex(ScalarL1Kernels.F64, rOff + i);
            }
            out.setAtIndex(ScalarL1Kernels.F64, outOff + j - from, d0);
        }
    }

    /**
     * Bytes that widen to one float vector: 8 bits per float lane, at least the narrowest shape (64 bits; with 4
     * float lanes a load then reads 8 bytes, of which the conversion uses the first 4).
     */
    private static final VectorSpecies<Byte> BF = VectorSpecies.of(byte.class, VectorShape.forBitSize(Math.max(64, 8 * FS.length())));
    private static final int FL = FS.length();
    /**
     * Columns at least this long take the float32 path: it halved the 8-bit pass at n = 10000 (1000 columns) but made
     * a whole n = 200 Lasso path slower, where converting r per call and the scalar tail weigh more.
     */
    private static final int FLOAT_I8_MIN = 1024;
    /** r rounded to float, per calling thread: the 8-bit products run in float arithmetic. */
    private static final ThreadLocal<float[]> R_FLOAT = ThreadLocal.withInitial(() -> new float[0]);

    /**
     * Long columns in float: r is rounded to float once per call, and each column's products of 16 codes (widened to
     * float, exactly) accumulate in a float vector; half the conversions and twice the lanes of the float64 loop. The
     * error this adds is what {@link #i8ProductError} bounds. Short columns in float64.
     */
    @Override
    public void columnDotsI8(MemorySegment x, long ld, int n, int from, int to, MemorySegment r, long rOff,
                             MemorySegment out, long outOff) {
        if (x.getClass() != NATIVE || r.getClass() != NATIVE || out.getClass() != NATIVE) {
            ScalarL1Kernels.INSTANCE.columnDotsI8(x, ld, n, from, to, r, rOff, out, outOff);
            return;
        }
        if (n < FLOAT_I8_MIN) {
            columnDotsI8Double(x, ld, n, from, to, r, rOff, out, outOff);
        } else {
            columnDotsI8Float(x, ld, n, from, to, r, rOff, out, outOff);
        }
    }

    /** The products in float64, for short columns (where the float path's per-call work does not pay). */
    private static void columnDotsI8Double(MemorySegment x, long ld, int n, int from, int to, MemorySegment r, long rOff,
                                           MemorySegment out, long outOff) {
        if (x.getClass() != NATIVE || r.getClass() != NATIVE || out.getClass() != NATIVE) {
            throw Segments.notPlain();
        }
        int j = from;
        // Four columns at a time: each chunk of r is loaded once for four products.
        for (; j + 4 <= to; j += 4) {
            long c0 = j * ld, c1 = c0 + ld, c2 = c1 + ld, c3 = c2 + ld;
            DoubleVector s0 = DoubleVector.zero(S), s1 = s0, s2 = s0, s3 = s0;
            int i = 0;
            for (int bound = n - BD.length(); i <= bound; i += L) {   // a load reads BD.length() >= L bytes
                DoubleVector rv = load(r, rOff + i);
                s0 = i8d(x, c0 + i).fma(rv, s0);
                s1 = i8d(x, c1 + i).fma(rv, s1);
                s2 = i8d(x, c2 + i).fma(rv, s2);
                s3 = i8d(x, c3 + i).fma(rv, s3);
            }
            long o = outOff + j - from;
            out.setAtIndex(ScalarL1Kernels.F64, o, sum(s0) + i8Tail(x, c0, r, rOff, i, n));
            out.setAtIndex(ScalarL1Kernels.F64, o + 1, sum(s1) + i8Tail(x, c1, r, rOff, i, n));
            out.setAtIndex(ScalarL1Kernels.F64, o + 2, sum(s2) + i8Tail(x, c2, r, rOff, i, n));
            out.setAtIndex(ScalarL1Kernels.F64, o + 3, sum(s3) + i8Tail(x, c3, r, rOff, i, n));
        }
        for (; j < to; j++) {
            out.setAtIndex(ScalarL1Kernels.F64, outOff + j - from, i8Tail(x, j * ld, r, rOff, 0, n));
        }
    }

    /** {@code sum_{from <= i < n} q[c + i] r[rOff + i]} in double, lane by lane: the ends of the 8-bit products. */
    private static double i8Tail(MemorySegment x, long c, MemorySegment r, long rOff, int from, int n) {
        double d = 0;
        for (int i = from; i < n; i++) {
            d += (double) x.get(java.lang.foreign.ValueLayout.JAVA_BYTE, c + i) * r.getAtIndex(ScalarL1Kernels.F64, rOff + i);
        }
        return d;
    }

    private static void columnDotsI8Float(MemorySegment x, long ld, int n, int from, int to, MemorySegment r, long rOff,
                                          MemorySegment out, long outOff) {
        if (x.getClass() != NATIVE || r.getClass() != NATIVE || out.getClass() != NATIVE) {
            throw Segments.notPlain();
        }
        float[] rf = R_FLOAT.get();
        if (rf.length < n) {
            rf = new float[n];
            R_FLOAT.set(rf);
        }
        for (int i = 0; i < n; i++) {
            rf[i] = (float) r.getAtIndex(ScalarL1Kernels.F64, rOff + i);
        }
        int j = from;
        // Four columns at a time: each chunk of r is loaded once for four products.
        for (; j + 4 <= to; j += 4) {
            long c0 = j * ld, c1 = c0 + ld, c2 = c1 + ld, c3 = c2 + ld;
            FloatVector s0 = FloatVector.zero(FS), s1 = s0, s2 = s0, s3 = s0;
            int i = 0;
            for (int bound = n - BF.length(); i <= bound; i += FL) {   // a load reads BF.length() >= FL bytes
                FloatVector rv = FloatVector.fromArray(FS, rf, i);
                s0 = i8f(x, c0 + i).fma(rv, s0);
                s1 = i8f(x, c1 + i).fma(rv, s1);
                s2 = i8f(x, c2 + i).fma(rv, s2);
                s3 = i8f(x, c3 + i).fma(rv, s3);
            }
            long o = outOff + j - from;
            out.setAtIndex(ScalarL1Kernels.F64, o, sumF(s0) + i8Tail(x, c0, r, rOff, i, n));
            out.setAtIndex(ScalarL1Kernels.F64, o + 1, sumF(s1) + i8Tail(x, c1, r, rOff, i, n));
            out.setAtIndex(ScalarL1Kernels.F64, o + 2, sumF(s2) + i8Tail(x, c2, r, rOff, i, n));
            out.setAtIndex(ScalarL1Kernels.F64, o + 3, sumF(s3) + i8Tail(x, c3, r, rOff, i, n));
        }
        // The last columns (fewer than four) in float64.
        columnDotsI8Double(x, ld, n, j, to, r, rOff, out, outOff + j - from);
    }

    /**
     * Rounding r to float moves each product by at most 2^-24 |q_i r_i|; each lane then sums ceil(n / FL) products
     * in float, and the lanes and the tail are summed in double (counted as FL + 1 more float additions): with u = 2^-24
     * and m = ceil(n / FL) + FL + 1 terms in any chain, the float sums are off by at most gamma_m = m u / (1 - m u)
     * of the sum of their terms' magnitudes (Higham, Accuracy and Stability, 3.1). Doubled for the final
     * conversions and as margin.
     */
    @Override
    public double i8ProductError(int n) {
        if (n < FLOAT_I8_MIN) {
            return n * 0x1p-50;
        }
        double u = 0x1p-24;
        double m = Math.ceil((double) n / FL) + FL + 1;
        double gamma = m * u / (1 - m * u);
        return 2 * (u + gamma * (1 + u));
    }

    /** Lane sum of a float vector, in double, in lane order. */
    private static double sumF(FloatVector v) {
        double s = 0;
        for (int l = 0; l < FL; l++) {
            s += v.lane(l);
        }
        return s;
    }

    /**
     * Bytes that widen to one double vector: 8 bits per double lane, at least the narrowest shape (64 bits; with 4
     * or 2 double lanes a load then reads 8 bytes, of which the conversion uses the first L).
     */
    private static final VectorSpecies<Byte> BD = VectorSpecies.of(byte.class, VectorShape.forBitSize(Math.max(64, 8 * L)));

    private static DoubleVector i8d(MemorySegment m, long elem) {
        return (DoubleVector) ByteVector.fromMemorySegment(BD, m, elem, LE)
                .convertShape(VectorOperators.B2D, S, 0);
    }

    private static FloatVector i8f(MemorySegment m, long elem) {
        return (FloatVector) ByteVector.fromMemorySegment(BF, m, elem, LE).convertShape(VectorOperators.B2F, FS, 0);
    }

    private static DoubleVector i16(ShortVector v, int part) {
        return (DoubleVector) v.convertShape(VectorOperators.S2D, S, part);
    }

    private static ShortVector loadI16(MemorySegment m, long elem) {
        return ShortVector.fromMemorySegment(SS, m, elem * 2, LE);
    }

    @Override
    public double dotI16(MemorySegment q, long qOff, MemorySegment r, long rOff, int n) {
        if (q.getClass() != NATIVE || r.getClass() != NATIVE) {
            return ScalarL1Kernels.INSTANCE.dotI16(q, qOff, r, rOff, n);
        }
        DoubleVector s0 = DoubleVector.zero(S), s1 = s0, s2 = s0, s3 = s0;
        int i = 0;
        for (int bound = n - 4 * L; i <= bound; i += 4 * L) {
            ShortVector a = loadI16(q, qOff + i);
            ShortVector b = loadI16(q, qOff + i + 2 * L);
            s0 = i16(a, 0).fma(load(r, rOff + i), s0);
            s1 = i16(a, 1).fma(load(r, rOff + i + L), s1);
            s2 = i16(b, 0).fma(load(r, rOff + i + 2 * L), s2);
            s3 = i16(b, 1).fma(load(r, rOff + i + 3 * L), s3);
        }
        double s = sum(s0.add(s1).add(s2.add(s3)));
        for (; i < n; i++) {
            s += (double) q.getAtIndex(ScalarL1Kernels.I16, qOff + i) * r.getAtIndex(ScalarL1Kernels.F64, rOff + i);
        }
        return s;
    }

    @Override
    public void axpyI16(double alpha, MemorySegment q, long qOff, MemorySegment y, long yOff, int n) {
        if (q.getClass() != NATIVE || y.getClass() != NATIVE) {
            ScalarL1Kernels.INSTANCE.axpyI16(alpha, q, qOff, y, yOff, n);
            return;
        }
        DoubleVector va = DoubleVector.broadcast(S, alpha);
        int i = 0;
        for (int bound = n - 2 * L; i <= bound; i += 2 * L) {
            ShortVector a = loadI16(q, qOff + i);
            i16(a, 0).fma(va, load(y, yOff + i)).intoMemorySegment(y, (yOff + i) * 8, LE);
            i16(a, 1).fma(va, load(y, yOff + i + L)).intoMemorySegment(y, (yOff + i + L) * 8, LE);
        }
        for (; i < n; i++) {
            y.setAtIndex(ScalarL1Kernels.F64, yOff + i,
                    y.getAtIndex(ScalarL1Kernels.F64, yOff + i) + alpha * q.getAtIndex(ScalarL1Kernels.I16, qOff + i));
        }
    }

    @Override
    public double axpyDotI16(double alpha, MemorySegment q, long qOff, MemorySegment y, long yOff, MemorySegment z,
                             long zOff, int n) {
        if (q.getClass() != NATIVE || y.getClass() != NATIVE || z.getClass() != NATIVE) {
            return ScalarL1Kernels.INSTANCE.axpyDotI16(alpha, q, qOff, y, yOff, z, zOff, n);
        }
        DoubleVector va = DoubleVector.broadcast(S, alpha);
        DoubleVector s0 = DoubleVector.zero(S), s1 = s0;
        int i = 0;
        for (int bound = n - 2 * L; i <= bound; i += 2 * L) {
            ShortVector a = loadI16(q, qOff + i);
            ShortVector b = loadI16(z, zOff + i);
            DoubleVector y0 = i16(a, 0).fma(va, load(y, yOff + i));
            DoubleVector y1 = i16(a, 1).fma(va, load(y, yOff + i + L));
            y0.intoMemorySegment(y, (yOff + i) * 8, LE);
            y1.intoMemorySegment(y, (yOff + i + L) * 8, LE);
            s0 = i16(b, 0).fma(y0, s0);
            s1 = i16(b, 1).fma(y1, s1);
        }
        double s = sum(s0.add(s1));
        for (; i < n; i++) {
            double v = y.getAtIndex(ScalarL1Kernels.F64, yOff + i) + alpha * q.getAtIndex(ScalarL1Kernels.I16, qOff + i);
            y.setAtIndex(ScalarL1Kernels.F64, yOff + i, v);
            s += (double) z.getAtIndex(ScalarL1Kernels.I16, zOff + i) * v;
        }
        return s;
    }

    @Override
    public void softThreshold(MemorySegment in, long inOff, MemorySegment out, long outOff, int n, double t,
                              MemorySegment w, long wOff, boolean positive) {
        if (in.getClass() != NATIVE || out.getClass() != NATIVE || w != null && w.getClass() != NATIVE) {
            ScalarL1Kernels.INSTANCE.softThreshold(in, inOff, out, outOff, n, t, w, wOff, positive);
            return;
        }
        DoubleVector vt = DoubleVector.broadcast(S, t);
        DoubleVector zero = DoubleVector.zero(S);
        int i = 0;
        for (int bound = n - L; i <= bound; i += L) {
            DoubleVector v = load(in, inOff + i);
            DoubleVector thr = w == null ? vt : load(w, wOff + i).mul(vt);
            // S(v, thr) = v - clamp(v, -thr, thr); the non-negative prox is max(v - thr, 0).
            DoubleVector res = positive ? v.sub(thr).max(zero) : v.sub(v.min(thr).max(thr.neg()));
            res.intoMemorySegment(out, (outOff + i) * 8, LE);
        }
        for (; i < n; i++) {
            double thr = w == null ? t : t * w.getAtIndex(ScalarL1Kernels.F64, wOff + i);
            double v = L1Kernels.softThreshold(in.getAtIndex(ScalarL1Kernels.F64, inOff + i), thr);
            out.setAtIndex(ScalarL1Kernels.F64, outOff + i, positive && v < 0 ? 0.0 : v);
        }
    }

    @Override
    public double groupSoftThreshold(MemorySegment v, long off, int n, double t) {
        if (v.getClass() != NATIVE) {
            return ScalarL1Kernels.INSTANCE.groupSoftThreshold(v, off, n, t);
        }
        double norm = Math.sqrt(sumSquares(v, off, n));
        double scale = norm > t ? 1.0 - t / norm : 0.0;
        DoubleVector vs = DoubleVector.broadcast(S, scale);
        int i = 0;
        for (int bound = n - L; i <= bound; i += L) {
            load(v, off + i).mul(vs).intoMemorySegment(v, (off + i) * 8, LE);
        }
        for (; i < n; i++) {
            v.setAtIndex(ScalarL1Kernels.F64, off + i, v.getAtIndex(ScalarL1Kernels.F64, off + i) * scale);
        }
        return norm * scale;
    }
}
