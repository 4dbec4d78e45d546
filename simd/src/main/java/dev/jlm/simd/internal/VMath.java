package dev.jlm.simd.internal;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;

/**
 * A vector exp written with fused multiply-adds only (no library call per lane), the constants of exp and of the
 * erfc-based GELU, and the scalar activations used by the scalar kernels. The constants are public so that the
 * hottest loops (softmax, activations) write the arithmetic out in their own body: a vector handed to a method
 * the JIT declines to inline is boxed, one allocation per vector, and that decision depends on compilation order.
 * NaN in gives NaN out; overflow gives infinity, underflow zero, like {@link Math#exp}.
 */
public final class VMath {
    public static final float LOG2E = 1.44269504088896341f;
    // ln 2 split in two so that n * LN2_HI is exact for the n that occur (Cody and Waite).
    public static final float LN2_HI = 0.693359375f;
    public static final float LN2_LO = -2.12194440e-4f;
    // 1.5 * 2^23: adding it rounds to the nearest integer and leaves that integer in the low mantissa bits.
    public static final float ROUND = 12582912f;
    private static final int ROUND_BITS = Float.floatToRawIntBits(ROUND);
    // Beyond these exp is infinity or zero in float; clamping keeps the exponent arithmetic in range.
    private static final float EXP_HI = 89f;
    private static final float EXP_LO = -104f;
    // |x| <= 86: n = round(x / ln 2) within [-125, 125], so y * 2^n is a normal float (y in [0.7, 1.42]).
    public static final float FAST_RANGE = 86f;
    // Cubic fit of (e^r - 1 - r) / r^2 on [-ln2/2, ln2/2] minimizing the relative error of e^r (Lawson's
    // iteration on Chebyshev points): below 1.1e-7 before rounding, one multiply-add fewer per degree than a
    // Taylor series of the same accuracy would need.
    public static final float Q0 = 0.499992311000824f;
    public static final float Q1 = 0.16667114198207855f;
    public static final float Q2 = 0.041890114545822144f;
    public static final float Q3 = 0.008312525227665901f;

    // erfc(z) ~ t * exp(-z^2 + R(t)), t = 1 / (1 + z/2), z >= 0, relative error below 1.2e-7 for every z
    // (Chebyshev fit, Press et al., Numerical Recipes, 6.2).
    public static final float E0 = -1.26551223f;
    public static final float E1 = 1.00002368f;
    public static final float E2 = 0.37409196f;
    public static final float E3 = 0.09678418f;
    public static final float E4 = -0.18628806f;
    public static final float E5 = 0.27886807f;
    public static final float E6 = -1.13520398f;
    public static final float E7 = 1.48851587f;
    public static final float E8 = -0.82215223f;
    public static final float E9 = 0.17087277f;
    private static final double[] ERFC = {E0, E1, E2, E3, E4, E5, E6, E7, E8, E9};
    public static final float INV_SQRT2 = 0.70710678118654752f;
    public static final float SQRT_2_OVER_PI = 0.79788456080286536f;
    public static final float GELU_C = 0.044715f;

    private VMath() {
    }

    /** e^x lane-wise, within 2 ulp of the exact value over the normal range. */
    public static FloatVector exp(FloatVector x) {
        // Inside [-86, 86] 2^n can be added straight into the exponent bits of the polynomial's result and stays
        // a normal float; NaN, infinities and the rest of the range go the long way (rare in practice: masked
        // scores in softmax, far tails of activations).
        if (!x.abs().compare(VectorOperators.LE, FAST_RANGE).allTrue()) {
            return expAnyRange(x);
        }
        return expFast(x);
    }

    /**
     * e^x for x <= 86 only, such as the x - max of a softmax: the range test is one operation fewer than
     * {@link #exp}'s. NaN, and lanes below -86, take the long way; a lane above 86 would come out wrong.
     */
    public static FloatVector expNonPositive(FloatVector x) {
        if (!x.compare(VectorOperators.GE, -FAST_RANGE).allTrue()) {
            return expAnyRange(x);
        }
        return expFast(x);
    }

    /** e^x for |x| <= 86: 2^n added straight into the exponent bits of the polynomial's result. */
    private static FloatVector expFast(FloatVector x) {
        FloatVector t = x.fma(LOG2E, ROUND);
        FloatVector n = t.sub(ROUND);
        FloatVector r = n.fma(FloatVector.broadcast(Lanes.F, -LN2_HI), x);
        r = n.fma(FloatVector.broadcast(Lanes.F, -LN2_LO), r);
        // 1 + r + r^2 (Q0 + Q1 r + Q2 r^2 + Q3 r^3) in Horner form: five multiply-adds.
        FloatVector one = FloatVector.broadcast(Lanes.F, 1f);
        FloatVector y = fma(fma(r.fma(Q3, Q2), r, Q1), r, Q0).fma(r, one).fma(r, one);
        // The low bits of t hold n (ROUND's own low bits are zero), so t << 23 is n in exponent position.
        IntVector scale = t.reinterpretAsInts().lanewise(VectorOperators.LSHL, 23);
        return y.reinterpretAsInts().add(scale).reinterpretAsFloats();
    }

    /** e^x for any input: clamped, and 2^n applied as two factors so that it never leaves the float range. */
    static FloatVector expAnyRange(FloatVector x) {
        // Comparisons with NaN are false, so NaN lanes pass the clamps and come out NaN.
        x = x.blend(EXP_HI, x.compare(VectorOperators.GT, EXP_HI));
        x = x.blend(EXP_LO, x.compare(VectorOperators.LT, EXP_LO));
        FloatVector t = x.fma(LOG2E, ROUND);
        FloatVector n = t.sub(ROUND);
        IntVector ni = t.reinterpretAsInts().sub(ROUND_BITS);
        FloatVector r = n.fma(FloatVector.broadcast(Lanes.F, -LN2_HI), x);
        r = n.fma(FloatVector.broadcast(Lanes.F, -LN2_LO), r);
        FloatVector one = FloatVector.broadcast(Lanes.F, 1f);
        FloatVector y = fma(fma(r.fma(Q3, Q2), r, Q1), r, Q0).fma(r, one).fma(r, one);
        IntVector h = ni.lanewise(VectorOperators.ASHR, 1);
        FloatVector s1 = h.add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
        FloatVector s2 = ni.sub(h).add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
        return y.mul(s1).mul(s2);
    }

    /** a * b + c with c broadcast. */
    private static FloatVector fma(FloatVector a, FloatVector b, float c) {
        return a.fma(b, FloatVector.broadcast(Lanes.F, c));
    }

    // ---- scalar twins (used by the scalar kernels, in double where that costs nothing) -----------------

    /** Scalar GELU, erf form, in double with the same erfc fit. */
    public static float geluErf(float xf) {
        double x = xf;
        double z = Math.abs(x) * 0.70710678118654752;
        double t = 1.0 / (1.0 + 0.5 * z);
        double r = ERFC[9];
        for (int i = 8; i >= 0; i--) {
            r = r * t + ERFC[i];
        }
        double e = t * Math.exp(-z * z + r);
        return (float) (0.5 * x * (x < 0 ? e : 2.0 - e));
    }

    /** Scalar GELU, tanh form, in double. */
    public static float geluTanh(float xf) {
        double x = xf;
        double u = 0.79788456080286536 * (x + 0.044715 * x * x * x);
        return (float) (x / (1.0 + Math.exp(-2.0 * u)));
    }

    /** Scalar SiLU in double. */
    public static float silu(float xf) {
        double x = xf;
        return (float) (x / (1.0 + Math.exp(-x)));
    }
}
