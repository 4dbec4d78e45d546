package dev.jlm.simd.l1;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.math.BigDecimal;
import java.math.MathContext;
import java.nio.ByteOrder;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Both implementations against references computed exactly (BigDecimal) or element by element in double.
 * Bounds: a sum of n products may differ from the exact one by at most n * 2^-52 * sum |a_i b_i| (plus
 * a tiny absolute slack); element-wise results (axpy with FMA, thresholds) agree within 2 ulp.
 */
class L1KernelsTest {
    private static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final int[] SIZES = {1, 2, 3, 7, 8, 15, 16, 17, 31, 33, 64, 97, 257, 1000, 1031};

    static Stream<Arguments> cases() {
        Stream.Builder<Arguments> b = Stream.builder();
        for (String impl : new String[] {"scalar", "vector"}) {
            for (int n : SIZES) {
                b.add(Arguments.of(impl, n));
            }
        }
        return b.build();
    }

    private static L1Kernels impl(String name) {
        return name.equals("scalar") ? L1Kernels.scalar() : L1Kernels.vector();
    }

    private static MemorySegment random(Arena arena, Random rnd, int n, int pad) {
        MemorySegment m = arena.allocate(8L * (n + pad), 8);
        for (int i = 0; i < n + pad; i++) {
            m.setAtIndex(F64, i, rnd.nextGaussian() * Math.exp(rnd.nextGaussian()));
        }
        return m;
    }

    private static MemorySegment poisoned(Arena arena, int n) {
        MemorySegment m = arena.allocate(8L * n, 8);
        for (int i = 0; i < n; i++) {
            m.setAtIndex(F64, i, Double.NaN);
        }
        return m;
    }

    private static double exactDot(MemorySegment a, long ao, MemorySegment b, long bo, int n) {
        BigDecimal s = BigDecimal.ZERO;
        for (int i = 0; i < n; i++) {
            s = s.add(new BigDecimal(a.getAtIndex(F64, ao + i)).multiply(new BigDecimal(b.getAtIndex(F64, bo + i))));
        }
        return s.round(MathContext.DECIMAL128).doubleValue();
    }

    private static double absDot(MemorySegment a, long ao, MemorySegment b, long bo, int n) {
        double s = 0;
        for (int i = 0; i < n; i++) {
            s += Math.abs(a.getAtIndex(F64, ao + i) * b.getAtIndex(F64, bo + i));
        }
        return s;
    }

    private static void assertSum(double expected, double actual, double absSum, int n, String what) {
        double bound = (n + 2) * 0x1p-52 * absSum + 1e-300;
        assertTrue(Math.abs(expected - actual) <= bound,
                what + ": expected " + expected + " got " + actual + " (bound " + bound + ")");
    }

    private static void assertUlp(double expected, double actual, String what) {
        assertTrue(!Double.isNaN(actual), what + " is NaN");
        double bound = 2 * Math.ulp(Math.abs(expected)) + 1e-300;
        assertTrue(Math.abs(expected - actual) <= bound, what + ": expected " + expected + " got " + actual);
    }

    @ParameterizedTest(name = "{0} n={1}")
    @MethodSource("cases")
    void dotAndSumSquares(String name, int n) {
        L1Kernels k = impl(name);
        Random rnd = new Random(31L * n + name.hashCode());
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment a = random(arena, rnd, n, 5);
            MemorySegment b = random(arena, rnd, n, 5);
            for (int off : new int[] {0, 3}) { // 3: an unaligned start, as for a column of odd length
                assertSum(exactDot(a, off, b, 2, n), k.dot(a, off, b, 2, n), absDot(a, off, b, 2, n), n, "dot");
                assertSum(exactDot(a, off, a, off, n), k.sumSquares(a, off, n), absDot(a, off, a, off, n), n, "sumSquares");
            }
        }
    }

    /**
     * maxAbs exactly, and quantizeColumn's codes exactly as its definition gives them (rint of x * (1 / s), clamped),
     * with the codes' memory poisoned before and checked for writes outside the range; the statistics against
     * exact sums of the once-rounded residuals. Columns at several magnitudes, a zero column, and a subnormal one
     * whose scale's inverse overflows (the division path).
     */
    @ParameterizedTest(name = "{0} n={1}")
    @MethodSource("cases")
    void maxAbsAndQuantizeColumn(String name, int n) {
        L1Kernels k = impl(name);
        Random rnd = new Random(53L * n + name.hashCode());
        try (Arena arena = Arena.ofConfined()) {
            for (double magnitude : new double[] {1, 3e-5, 7e4, 0, 1e-310}) {
                MemorySegment x = random(arena, rnd, n, 4);
                for (int i = 0; i < n + 4; i++) {
                    x.setAtIndex(F64, i, x.getAtIndex(F64, i) * magnitude);
                }
                if (n > 2 && magnitude != 0) {
                    x.setAtIndex(F64, 3 + n / 2, -magnitude * 40);   // the largest magnitude, negative
                }
                double max = 0;
                for (int i = 0; i < n; i++) {
                    max = Math.max(max, Math.abs(x.getAtIndex(F64, 3 + i)));
                }
                String what = "magnitude " + magnitude;
                assertEquals(max, k.maxAbs(x, 3, n), what + ": maxAbs");
                double s16 = max / 32767;
                double s8 = max / 127;
                MemorySegment q16 = arena.allocate(2L * (n + 2), 2);
                MemorySegment q8 = arena.allocate(n + 6L, 1);
                q16.fill((byte) 0x5a);
                q8.fill((byte) 0x5a);
                double[] stats = {Double.NaN, Double.NaN, Double.NaN, Double.NaN};
                k.quantizeColumn(x, 3, n, s16, q16, 1, s8, q8, 5, stats);
                BigDecimal[] exact = {BigDecimal.ZERO, BigDecimal.ZERO, BigDecimal.ZERO, BigDecimal.ZERO};
                for (int i = 0; i < n; i++) {
                    double v = x.getAtIndex(F64, 3 + i);
                    double a = expectedCode(v, s16, 32767);
                    double b = expectedCode(v, s8, 127);
                    assertEquals((short) a, q16.getAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, 1 + i), what + ": q16[" + i + "]");
                    assertEquals((byte) b, q8.get(ValueLayout.JAVA_BYTE, 5 + i), what + ": q8[" + i + "]");
                    BigDecimal ra = new BigDecimal(Math.fma(-s16, a, v));
                    BigDecimal rb = new BigDecimal(Math.fma(-s8, b, v));
                    exact[0] = exact[0].add(ra.multiply(ra));
                    exact[1] = exact[1].add(new BigDecimal(a * a));
                    exact[2] = exact[2].add(rb.multiply(rb));
                    exact[3] = exact[3].add(new BigDecimal(b * b));
                }
                assertEquals((short) 0x5a5a, q16.getAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, 0), what + ": wrote before q16");
                assertEquals((short) 0x5a5a, q16.getAtIndex(ValueLayout.JAVA_SHORT_UNALIGNED, n + 1), what + ": wrote after q16");
                assertEquals((byte) 0x5a, q8.get(ValueLayout.JAVA_BYTE, 4), what + ": wrote before q8");
                assertEquals((byte) 0x5a, q8.get(ValueLayout.JAVA_BYTE, n + 5), what + ": wrote after q8");
                String[] names = {"sum e16^2", "sum q16^2", "sum e8^2", "sum q8^2"};
                for (int t = 0; t < 4; t++) {
                    double e = exact[t].round(MathContext.DECIMAL128).doubleValue();
                    assertSum(e, stats[t], e, n, what + ": " + names[t]);   // all terms >= 0: sum |terms| = sum
                }
            }
        }
    }

    /** The code of quantizeColumn's definition, written out independently of the kernels. */
    private static double expectedCode(double v, double s, double limit) {
        if (s == 0) {
            return 0;
        }
        double inv = 1 / s;
        double t = Double.isInfinite(inv) ? v / s : v * inv;
        return Math.max(-limit, Math.min(limit, Math.rint(t)));
    }

    @ParameterizedTest(name = "{0} n={1}")
    @MethodSource("cases")
    void axpy(String name, int n) {
        L1Kernels k = impl(name);
        Random rnd = new Random(7L * n + name.hashCode());
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment x = random(arena, rnd, n, 1);
            MemorySegment y = random(arena, rnd, n, 2);
            double alpha = rnd.nextGaussian();
            double[] expected = new double[n];
            for (int i = 0; i < n; i++) {
                expected[i] = Math.fma(alpha, x.getAtIndex(F64, i + 1), y.getAtIndex(F64, i + 2));
            }
            double guard = y.getAtIndex(F64, 1);
            k.axpy(alpha, x, 1, y, 2, n);
            for (int i = 0; i < n; i++) {
                // FMA or multiply-then-add: both within 1 ulp of the exact value, so within 2 ulp of each other.
                double exact = expected[i];
                double got = y.getAtIndex(F64, i + 2);
                double slack = 2 * Math.ulp(Math.abs(alpha * x.getAtIndex(F64, i + 1))) + 2 * Math.ulp(exact);
                assertTrue(Math.abs(exact - got) <= slack, "axpy[" + i + "] expected " + exact + " got " + got);
            }
            assertEquals(guard, y.getAtIndex(F64, 1), "axpy wrote before its range");
        }
    }

    /**
     * Forward and back substitution against the same substitutions carried out in BigDecimal (34 digits) on a
     * well-conditioned lower-triangular matrix (diagonal in [1, 3], off-diagonal entries of size 1/m), stored by
     * rows with padding: the strict upper triangle and the padding hold NaN, so any read outside the triangle
     * shows. Bound: 8 m 2^-52 times the largest solution entry. The forward solve also runs with its right-hand
     * side in the matrix's own array, past the rows it reads (how a factor's new row is computed).
     */
    @ParameterizedTest(name = "{0} n={1}")
    @MethodSource("cases")
    void triangularSolves(String name, int n) {
        L1Kernels k = impl(name);
        int m = Math.min(n, 300); // the BigDecimal reference costs m^2 operations
        int ld = m + 3;
        Random rnd = new Random(13L * n + name.hashCode());
        double[] l = new double[(m + 1) * ld];
        java.util.Arrays.fill(l, Double.NaN);
        for (int i = 0; i < m; i++) {
            for (int t = 0; t < i; t++) {
                l[i * ld + t] = rnd.nextGaussian() / m;
            }
            l[i * ld + i] = 1 + 2 * rnd.nextDouble();
        }
        double[] b = new double[m + 2];
        for (int i = 0; i < m; i++) {
            b[i] = rnd.nextGaussian() * Math.exp(rnd.nextGaussian());
        }
        b[m] = Double.NaN;
        b[m + 1] = 12.5;
        MathContext mc = MathContext.DECIMAL128;
        BigDecimal[] y = new BigDecimal[m];
        for (int i = 0; i < m; i++) {
            BigDecimal s = new BigDecimal(b[i]);
            for (int t = 0; t < i; t++) {
                s = s.subtract(new BigDecimal(l[i * ld + t]).multiply(y[t], mc), mc);
            }
            y[i] = s.divide(new BigDecimal(l[i * ld + i]), mc);
        }
        BigDecimal[] x = new BigDecimal[m];
        for (int i = m - 1; i >= 0; i--) {
            BigDecimal s = new BigDecimal(b[i]);
            for (int t = i + 1; t < m; t++) {
                s = s.subtract(new BigDecimal(l[t * ld + i]).multiply(x[t], mc), mc);
            }
            x[i] = s.divide(new BigDecimal(l[i * ld + i]), mc);
        }

        double[] fwd = b.clone();
        k.forwardSolve(l, m, ld, fwd, 0);
        assertClose(y, fwd, m, "forwardSolve");
        assertTrue(Double.isNaN(fwd[m]) && fwd[m + 1] == 12.5, "forwardSolve wrote past its range");

        double[] bwd = b.clone();
        k.backwardSolve(l, m, ld, bwd);
        assertClose(x, bwd, m, "backwardSolve");
        assertTrue(Double.isNaN(bwd[m]) && bwd[m + 1] == 12.5, "backwardSolve wrote past its range");

        System.arraycopy(b, 0, l, m * ld, m); // row m of the matrix's array, which the solve does not read
        k.forwardSolve(l, m, ld, l, m * ld);
        assertClose(y, java.util.Arrays.copyOfRange(l, m * ld, m * ld + m), m, "forwardSolve in place");
    }

    private static void assertClose(BigDecimal[] expected, double[] actual, int m, String what) {
        double max = 0;
        for (int i = 0; i < m; i++) {
            max = Math.max(max, Math.abs(expected[i].doubleValue()));
        }
        double bound = 8.0 * m * 0x1p-52 * max + 1e-300;
        for (int i = 0; i < m; i++) {
            double e = expected[i].doubleValue();
            assertTrue(Math.abs(e - actual[i]) <= bound, what + "[" + i + "]: expected " + e + " got " + actual[i]);
        }
    }

    @ParameterizedTest(name = "{0} n={1}")
    @MethodSource("cases")
    void axpyDot(String name, int n) {
        L1Kernels k = impl(name);
        Random rnd = new Random(5L * n + name.hashCode());
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment x = random(arena, rnd, n, 1);
            MemorySegment y = random(arena, rnd, n, 2);
            MemorySegment z = random(arena, rnd, n, 3);
            double alpha = rnd.nextGaussian();
            // Reference: the axpy element by element (checked like axpy), then the exact dot with the result.
            MemorySegment yRef = arena.allocate(8L * (n + 2), 8);
            MemorySegment.copy(y, 0, yRef, 0, 8L * (n + 2));
            double got = k.axpyDot(alpha, x, 1, y, 2, z, 3, n);
            for (int i = 0; i < n; i++) {
                double exact = Math.fma(alpha, x.getAtIndex(F64, i + 1), yRef.getAtIndex(F64, i + 2));
                double slack = 2 * Math.ulp(Math.abs(alpha * x.getAtIndex(F64, i + 1))) + 2 * Math.ulp(exact);
                assertTrue(Math.abs(exact - y.getAtIndex(F64, i + 2)) <= slack, "axpyDot y[" + i + "]");
            }
            assertEquals(yRef.getAtIndex(F64, 1), y.getAtIndex(F64, 1), "wrote before its range");
            assertSum(exactDot(z, 3, y, 2, n), got, absDot(z, 3, y, 2, n), n, "axpyDot dot");
        }
    }

    @ParameterizedTest(name = "{0} n={1}")
    @MethodSource("cases")
    void columnDots(String name, int n) {
        L1Kernels k = impl(name);
        Random rnd = new Random(11L * n + name.hashCode());
        int ld = n + 3; // columns with a gap between them
        int p = 11;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment x = random(arena, rnd, ld * p, 0);
            MemorySegment r = random(arena, rnd, n, 1);
            for (int[] range : new int[][] {{0, p}, {2, 9}, {5, 6}, {3, 3}}) {
                int from = range[0], to = range[1];
                MemorySegment out = poisoned(arena, to - from + 2);
                k.columnDots(x, ld, n, from, to, r, 1, out, 1);
                assertTrue(Double.isNaN(out.getAtIndex(F64, 0)), "wrote before the output range");
                assertTrue(Double.isNaN(out.getAtIndex(F64, to - from + 1)), "wrote after the output range");
                for (int j = from; j < to; j++) {
                    long c = (long) j * ld;
                    assertSum(exactDot(x, c, r, 1, n), out.getAtIndex(F64, 1 + j - from), absDot(x, c, r, 1, n), n,
                            "column " + j);
                }
            }
        }
    }

    @ParameterizedTest(name = "{0} n={1}")
    @MethodSource("cases")
    void crossDots(String name, int n) {
        L1Kernels k = impl(name);
        Random rnd = new Random(13L * n + name.hashCode());
        int ld = n + 3; // columns with a gap between them
        int p = 13;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment x = random(arena, rnd, ld * p, 0);
            MemorySegment y = random(arena, rnd, 2 * ld, 0);
            // blocks of four and the columns left over on both sides, columns in any order and repeated
            int[][] shapes = {{1, 1}, {4, 4}, {7, 9}, {9, 3}, {5, 13}};
            for (int[] shape : shapes) {
                int na = shape[0], nb = shape[1];
                long[] aOff = new long[na];
                for (int s = 0; s < na; s++) {
                    aOff[s] = (long) ((5 * s + 2) % p) * ld;
                }
                for (MemorySegment b : new MemorySegment[] {x, y}) {
                    int cols = b == x ? p : 2;
                    long[] bOff = new long[nb];
                    for (int t = 0; t < nb; t++) {
                        bOff[t] = (long) ((3 * t + 1) % cols) * ld + (b == y ? t % 3 : 0); // unaligned starts in y
                    }
                    int stride = nb + 3;
                    int outOff = 2;
                    double[] out = new double[outOff + na * stride + 1];
                    java.util.Arrays.fill(out, Double.NaN);
                    k.crossDots(x, aOff, na, b, bOff, nb, n, out, outOff, stride);
                    for (int e = 0; e < out.length; e++) {
                        int rel = e - outOff;
                        boolean inside = rel >= 0 && rel < na * stride && rel % stride < nb;
                        if (!inside) {
                            assertTrue(Double.isNaN(out[e]), "wrote outside the output at " + e);
                            continue;
                        }
                        int s = rel / stride, t = rel % stride;
                        assertSum(exactDot(x, aOff[s], b, bOff[t], n), out[e], absDot(x, aOff[s], b, bOff[t], n), n,
                                na + "x" + nb + " product (" + s + ", " + t + ")");
                    }
                }
            }
        }
    }

    @ParameterizedTest(name = "{0} n={1}")
    @MethodSource("cases")
    void columnDotsF32(String name, int n) {
        L1Kernels k = impl(name);
        Random rnd = new Random(19L * n + name.hashCode());
        int ld = n + 1;
        int p = 7;
        ValueLayout.OfFloat f32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment x = arena.allocate(4L * ld * p, 8);
            MemorySegment xd = arena.allocate(8L * ld * p, 8);
            for (int i = 0; i < ld * p; i++) {
                float v = (float) rnd.nextGaussian();
                x.setAtIndex(f32, i, v);
                xd.setAtIndex(F64, i, v); // the exact float values, widened
            }
            MemorySegment r = random(arena, rnd, n, 2);
            MemorySegment out = poisoned(arena, p + 1);
            k.columnDotsF32(x, ld, n, 1, p, r, 2, out, 1);
            assertColumnDots(xd, ld, n, p, r, out, "f32");
        }
    }

    @ParameterizedTest(name = "{0} n={1}")
    @MethodSource("cases")
    void columnDotsI16(String name, int n) {
        L1Kernels k = impl(name);
        Random rnd = new Random(23L * n + name.hashCode());
        int ld = n + 3;
        int p = 8;
        ValueLayout.OfShort i16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment x = arena.allocate(2L * ld * p, 8);
            MemorySegment xd = arena.allocate(8L * ld * p, 8);
            for (int i = 0; i < ld * p; i++) {
                // The whole range, extremes included.
                short v = (short) (i % 11 == 0 ? (i % 2 == 0 ? 32767 : -32768) : rnd.nextInt(65536) - 32768);
                x.setAtIndex(i16, i, v);
                xd.setAtIndex(F64, i, v);
            }
            MemorySegment r = random(arena, rnd, n, 2);
            MemorySegment out = poisoned(arena, p + 1);
            k.columnDotsI16(x, ld, n, 1, p, r, 2, out, 1);
            assertColumnDots(xd, ld, n, p, r, out, "i16");
        }
    }

    @ParameterizedTest(name = "{0} n={1}")
    @MethodSource("cases")
    void columnDotsI8(String name, int n) {
        L1Kernels k = impl(name);
        Random rnd = new Random(29L * n + name.hashCode());
        int ld = n + 5;
        int p = 11; // columns 1..10: two blocks of four and a tail of two
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment x = arena.allocate((long) ld * p, 8);
            MemorySegment xd = arena.allocate(8L * ld * p, 8);
            for (int i = 0; i < ld * p; i++) {
                // The whole range, extremes included.
                byte v = (byte) (i % 13 == 0 ? (i % 2 == 0 ? 127 : -128) : rnd.nextInt(256) - 128);
                x.set(ValueLayout.JAVA_BYTE, i, v);
                xd.setAtIndex(F64, i, v);
            }
            MemorySegment r = random(arena, rnd, n, 2);
            MemorySegment out = poisoned(arena, p + 1);
            k.columnDotsI8(x, ld, n, 1, p, r, 2, out, 1);
            // The kernel's own bound (float32 arithmetic in the vector kernels), which must also stay small.
            double rel = k.i8ProductError(n);
            assertTrue(rel > 0 && rel < 1e-3 + n * 1e-6, "i8ProductError(" + n + ") = " + rel);
            assertTrue(Double.isNaN(out.getAtIndex(F64, 0)), "wrote before the output range");
            for (int j = 1; j < p; j++) {
                long c = (long) j * ld;
                double exact = exactDot(xd, c, r, 2, n);
                double got = out.getAtIndex(F64, j);
                double bound = rel * absDot(xd, c, r, 2, n) + n * 0x1p-142;
                assertTrue(Math.abs(exact - got) <= bound,
                        "i8 column " + j + ": expected " + exact + " got " + got + " (bound " + bound + ")");
            }
        }
    }

    /**
     * Columns 1..p-1 of a converted-column product (r from element 2, out from element 1, out[0] poisoned) against
     * the exact products of the same values widened to float64 in xd, within the summation bound.
     */
    private static void assertColumnDots(MemorySegment xd, int ld, int n, int p, MemorySegment r, MemorySegment out,
                                         String what) {
        assertTrue(Double.isNaN(out.getAtIndex(F64, 0)), "wrote before the output range");
        for (int j = 1; j < p; j++) {
            long c = (long) j * ld;
            assertSum(exactDot(xd, c, r, 2, n), out.getAtIndex(F64, j), absDot(xd, c, r, 2, n), n, what + " column " + j);
        }
    }

    /**
     * dotI16, axpyI16 and axpyDotI16 against the same operations on the int16 values widened to float64 (exact:
     * every int16 is a double), over the whole int16 range, at unaligned offsets: dots within the summation
     * bound, element-wise updates within 2 ulp of the FMA result, nothing written outside the range.
     */
    @ParameterizedTest(name = "{0} n={1}")
    @MethodSource("cases")
    void int16Columns(String name, int n) {
        L1Kernels k = impl(name);
        Random rnd = new Random(41L * n + name.hashCode());
        ValueLayout.OfShort i16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        try (Arena arena = Arena.ofConfined()) {
            int len = n + 5;
            MemorySegment q = arena.allocate(2L * len, 8);
            MemorySegment z = arena.allocate(2L * len, 8);
            MemorySegment qd = arena.allocate(8L * len, 8);
            MemorySegment zd = arena.allocate(8L * len, 8);
            for (int i = 0; i < len; i++) {
                short a = (short) (i % 7 == 0 ? (i % 2 == 0 ? 32767 : -32768) : rnd.nextInt(65536) - 32768);
                short b = (short) (rnd.nextInt(65536) - 32768);
                q.setAtIndex(i16, i, a);
                z.setAtIndex(i16, i, b);
                qd.setAtIndex(F64, i, a);
                zd.setAtIndex(F64, i, b);
            }
            MemorySegment r = random(arena, rnd, n, 2);
            assertSum(exactDot(qd, 3, r, 2, n), k.dotI16(q, 3, r, 2, n), absDot(qd, 3, r, 2, n), n, "dotI16");

            double alpha = rnd.nextGaussian() * 1e-4;
            for (boolean fused : new boolean[] {false, true}) {
                MemorySegment y = random(arena, rnd, n, 2);
                MemorySegment yRef = arena.allocate(8L * (n + 2), 8);
                MemorySegment.copy(y, 0, yRef, 0, 8L * (n + 2));
                double got = fused ? k.axpyDotI16(alpha, q, 1, y, 2, z, 4, n) : Double.NaN;
                if (!fused) {
                    k.axpyI16(alpha, q, 1, y, 2, n);
                }
                for (int i = 0; i < n; i++) {
                    double xi = qd.getAtIndex(F64, i + 1);
                    double exact = Math.fma(alpha, xi, yRef.getAtIndex(F64, i + 2));
                    double slack = 2 * Math.ulp(Math.abs(alpha * xi)) + 2 * Math.ulp(exact);
                    assertTrue(Math.abs(exact - y.getAtIndex(F64, i + 2)) <= slack,
                            (fused ? "axpyDotI16" : "axpyI16") + " y[" + i + "]");
                }
                assertEquals(yRef.getAtIndex(F64, 1), y.getAtIndex(F64, 1), "wrote before its range");
                if (fused) {
                    assertSum(exactDot(zd, 4, y, 2, n), got, absDot(zd, 4, y, 2, n), n, "axpyDotI16 dot");
                }
            }
        }
    }

    @ParameterizedTest(name = "{0} n={1}")
    @MethodSource("cases")
    void softThreshold(String name, int n) {
        L1Kernels k = impl(name);
        Random rnd = new Random(13L * n + name.hashCode());
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment in = random(arena, rnd, n, 0);
            MemorySegment w = arena.allocate(8L * n, 8);
            for (int i = 0; i < n; i++) {
                w.setAtIndex(F64, i, rnd.nextInt(4) == 0 ? 0.0 : rnd.nextDouble() * 2);
            }
            double t = 0.7;
            for (boolean weighted : new boolean[] {false, true}) {
                for (boolean positive : new boolean[] {false, true}) {
                    MemorySegment out = poisoned(arena, n);
                    k.softThreshold(in, 0, out, 0, n, t, weighted ? w : null, 0, positive);
                    int zeros = 0;
                    for (int i = 0; i < n; i++) {
                        double v = in.getAtIndex(F64, i);
                        double thr = weighted ? t * w.getAtIndex(F64, i) : t;
                        double e = Math.signum(v) * Math.max(Math.abs(v) - thr, 0);
                        if (positive) {
                            e = Math.max(e, 0);
                        }
                        zeros += e == 0 ? 1 : 0;
                        assertUlp(e, out.getAtIndex(F64, i), "softThreshold[" + i + "]");
                    }
                    if (n > 100) {
                        assertTrue(zeros > 0 && zeros < n, "test data should produce both zeros and non-zeros");
                    }
                }
            }
            // In place.
            double[] before = new double[n];
            for (int i = 0; i < n; i++) {
                before[i] = in.getAtIndex(F64, i);
            }
            k.softThreshold(in, 0, in, 0, n, t, null, 0, false);
            for (int i = 0; i < n; i++) {
                assertUlp(L1Kernels.softThreshold(before[i], t), in.getAtIndex(F64, i), "in place [" + i + "]");
            }
        }
    }

    @ParameterizedTest(name = "{0} n={1}")
    @MethodSource("cases")
    void groupSoftThreshold(String name, int n) {
        L1Kernels k = impl(name);
        Random rnd = new Random(17L * n + name.hashCode());
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment v = random(arena, rnd, n, 1);
            double norm = Math.sqrt(exactDot(v, 1, v, 1, n));
            for (double t : new double[] {0.25 * norm, 2 * norm}) {
                MemorySegment u = arena.allocate(8L * (n + 1), 8);
                MemorySegment.copy(v, 0, u, 0, 8L * (n + 1));
                double got = k.groupSoftThreshold(u, 1, n, t);
                double scale = Math.max(0, 1 - t / norm);
                assertEquals(norm * scale, got, 1e-13 * norm, "returned norm");
                for (int i = 0; i < n; i++) {
                    double e = v.getAtIndex(F64, i + 1) * scale;
                    assertEquals(e, u.getAtIndex(F64, i + 1), 1e-14 * Math.abs(v.getAtIndex(F64, i + 1)) + 1e-300,
                            "group[" + i + "]");
                }
                assertEquals(v.getAtIndex(F64, 0), u.getAtIndex(F64, 0), "wrote before the group");
            }
        }
    }

    @org.junit.jupiter.api.Test
    void scalarSoftThreshold() {
        assertEquals(1.5, L1Kernels.softThreshold(2.0, 0.5));
        assertEquals(-1.5, L1Kernels.softThreshold(-2.0, 0.5));
        assertEquals(0.0, L1Kernels.softThreshold(0.4, 0.5));
        assertEquals(0.0, L1Kernels.softThreshold(-0.5, 0.5));
    }
}
