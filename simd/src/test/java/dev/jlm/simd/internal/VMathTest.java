package dev.jlm.simd.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.api.Test;

/**
 * The vector exp against {@link Math#exp} in double. Bound: relative error 3e-7 (about 2.5 ulp) wherever the
 * result is a normal float; below that, within one subnormal step or 3e-7 relative; overflow to infinity exactly
 * where float overflows, NaN kept.
 */
class VMathTest {
    @Test
    void expOverTheWholeFloatRange() {
        SplittableRandom r = new SplittableRandom(1);
        float[] x = new float[200_000];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) r.nextDouble(-110, 92);
        }
        for (int i = 0; i < 2000; i++) {   // dense near zero, where exp is about 1 + x
            x[i] = (float) r.nextDouble(-1e-3, 1e-3);
        }
        for (int i = 100_000; i < 200_000; i++) {   // whole vectors inside the fast range [-86, 86]
            x[i] = (float) r.nextDouble(-86, 86);
        }
        float[] special = {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 0f, -0f, 88.72283f, 88.7229f,
            -87.33654f, -103.9f, -104f, -150f, 1e-30f, Float.MAX_VALUE, -Float.MAX_VALUE,
            Float.intBitsToFloat(0x7fc00001), Float.intBitsToFloat(0xffc12345), 86f, -86f};
        System.arraycopy(special, 0, x, 4000, special.length);
        for (int i = 0; i < 16; i++) {   // one NaN with a payload among in-range lanes, at each lane position
            x[150_000 + 17 * i + i] = Float.intBitsToFloat(0x7fc00001 + i);
        }
        check(VMath::exp, x);
        // The softmax form: the same inputs folded to x <= 0 (NaN stays NaN, +inf becomes -inf).
        float[] neg = new float[x.length];
        for (int k = 0; k < x.length; k++) {
            neg[k] = -Math.abs(x[k]);
        }
        check(VMath::expNonPositive, neg);
    }

    private static void check(java.util.function.UnaryOperator<FloatVector> exp, float[] x) {
        int l = Lanes.F.length();
        float[] y = new float[x.length];
        int i = 0;
        for (; i + l <= x.length; i += l) {
            exp.apply(FloatVector.fromArray(Lanes.F, x, i)).intoArray(y, i);
        }
        for (; i < x.length; i++) {
            y[i] = exp.apply(FloatVector.broadcast(Lanes.F, x[i])).lane(0);
        }
        double worst = 0;
        for (int k = 0; k < x.length; k++) {
            double want = Math.exp(x[k]);
            if (Float.isNaN(x[k])) {
                assertTrue(Float.isNaN(y[k]), "exp(NaN) is NaN");
                continue;
            }
            if (want > Float.MAX_VALUE) {
                assertEquals(Float.POSITIVE_INFINITY, y[k], "exp(" + x[k] + ") overflows");
                continue;
            }
            double err = Math.abs(y[k] - want);
            if (want >= Float.MIN_NORMAL) {
                worst = Math.max(worst, err / want);
                assertTrue(err <= 3e-7 * want, "exp(" + x[k] + ") = " + y[k] + ", expected " + want);
            } else {
                assertTrue(err <= Math.max(Float.MIN_VALUE, 3e-7 * want),
                        "exp(" + x[k] + ") = " + y[k] + ", expected " + want);
            }
        }
        assertTrue(worst > 0, "the comparison saw rounding at all");
    }
}
