package dev.jlm.simd.testing;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.jlm.core.DType;
import dev.jlm.core.JlmException;
import dev.jlm.core.Tensor;
import java.util.Random;
import java.util.SplittableRandom;

/** Random test data, poisoned outputs, and comparisons against double-precision references with stated bounds. */
public final class TestData {
    private TestData() {
    }

    /** Widths every row kernel is tested at: 1..67 (all tails of 4, 8 and 16 lanes) and model sizes. */
    public static int[] widths() {
        int[] w = new int[67 + 4];
        for (int i = 0; i < 67; i++) {
            w[i] = i + 1;
        }
        w[67] = 384;
        w[68] = 2048;
        w[69] = 4096;
        w[70] = 8192;
        return w;
    }

    /** Normal(mean, sd) values, seeded. */
    public static float[] normal(long seed, int n, double mean, double sd) {
        Random r = new Random(seed);
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) (mean + sd * r.nextGaussian());
        }
        return a;
    }

    /** Uniform values in [lo, hi), seeded. */
    public static float[] uniform(long seed, int n, double lo, double hi) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) r.nextDouble(lo, hi);
        }
        return a;
    }

    /** A new F32 tensor of the given shape filled with NaN, so that an element the kernel fails to write shows. */
    public static Tensor poisoned(long... shape) {
        Tensor t = Tensor.allocate(DType.F32, shape);
        long n = t.size();
        for (long i = 0; i < n; i++) {
            t.segment().setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, i, Float.NaN);
        }
        return t;
    }

    /** A tensor of {@code dtype} holding {@code values} rounded to it; {@code values} are replaced by the rounded values. */
    public static Tensor of(DType dtype, float[] values, long... shape) {
        Tensor t = Tensor.allocate(dtype, shape);
        long[] idx = new long[shape.length];
        for (int i = 0; i < values.length; i++) {
            t.setDouble(values[i], idx);
            values[i] = t.getFloat(idx);
            for (int d = shape.length - 1; d >= 0 && ++idx[d] == shape[d]; d--) {
                idx[d] = 0;
            }
        }
        return t;
    }

    /**
     * Fails unless {@code |actual[i] - expected[i]| <= rel * |expected[i]| + abs} for every i, NaN matching NaN
     * and infinities matching exactly; the message names the worst element.
     */
    public static void assertClose(String what, double[] expected, float[] actual, double rel, double abs) {
        if (expected.length != actual.length) {
            fail(what + ": " + actual.length + " values, expected " + expected.length);
        }
        int worst = -1;
        double worstExcess = 0;
        for (int i = 0; i < expected.length; i++) {
            double e = expected[i];
            float a = actual[i];
            if (Double.isNaN(e) || Double.isNaN(a)) {
                if (Double.isNaN(e) != Float.isNaN(a)) {
                    fail(what + ": element " + i + " is " + a + ", expected " + e);
                }
                continue;
            }
            if (Double.isInfinite(e) || Float.isInfinite(a)) {
                if (e != a) {
                    fail(what + ": element " + i + " is " + a + ", expected " + e);
                }
                continue;
            }
            double err = Math.abs(a - e);
            double bound = rel * Math.abs(e) + abs;
            if (err > bound && err - bound > worstExcess) {
                worstExcess = err - bound;
                worst = i;
            }
        }
        if (worst >= 0) {
            fail(what + ": element " + worst + " is " + actual[worst] + ", expected " + expected[worst]
                    + " (error " + Math.abs(actual[worst] - expected[worst]) + ", bound rel " + rel + " abs " + abs + ")");
        }
    }

    /** The largest relative error {@code |a - e| / max(|e|, floor)} over finite elements (for messages). */
    public static double maxRelError(double[] expected, float[] actual, double floor) {
        double m = 0;
        for (int i = 0; i < expected.length; i++) {
            if (Double.isFinite(expected[i]) && Float.isFinite(actual[i])) {
                m = Math.max(m, Math.abs(actual[i] - expected[i]) / Math.max(Math.abs(expected[i]), floor));
            }
        }
        return m;
    }

    /** Fails unless {@code call} throws {@link JlmException.InvalidArgument} with a one-line message containing {@code fragment}. */
    public static void assertMessage(Runnable call, String fragment) {
        JlmException e = assertThrows(JlmException.InvalidArgument.class, call::run);
        assertTrue(e.getMessage().contains(fragment), "message '" + e.getMessage() + "' should name " + fragment);
        assertFalse(e.getMessage().contains("\n"), "one line");
    }

    /** Fills a quantized matrix with random codes and zero points and scales in [0.01, 0.1), reproducibly. */
    public static void randomize(dev.jlm.simd.quant.QuantizedMatrix w, long seed) {
        java.util.Random random = new java.util.Random(seed);
        java.lang.foreign.MemorySegment d = w.data().segment();
        for (long i = 0; i < d.byteSize(); i++) {
            d.set(java.lang.foreign.ValueLayout.JAVA_BYTE, i, (byte) random.nextInt(256));
        }
        java.lang.foreign.MemorySegment zp = w.zeroPoints().segment();
        for (long i = 0; i < zp.byteSize(); i++) {
            zp.set(java.lang.foreign.ValueLayout.JAVA_BYTE, i, (byte) random.nextInt(256));
        }
        float[] scales = uniform(seed + 1, (int) w.scales().size(), 0.01, 0.1);
        java.lang.foreign.MemorySegment.copy(scales, 0, w.scales().segment(), java.lang.foreign.ValueLayout.JAVA_FLOAT, 0,
                scales.length);
    }
}
