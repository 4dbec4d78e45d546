package dev.jlm.core.convert;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * F16 <-> F32, checked bit for bit against the JDK's {@link Float#float16ToFloat} and
 * {@link Float#floatToFloat16} (an independent implementation) for both kernels: every F16 pattern,
 * every rounding midpoint and its neighbours, the edges of the range, and millions of random floats.
 * NaNs are compared as "both NaN" against the JDK (whose intrinsic and interpreter differ in NaN payloads)
 * and exactly against this package's documented NaN rule.
 */
class F16ConversionTest {
    static List<ConversionKernels> impls() {
        return List.of(ScalarConversions.INSTANCE, VectorConversions.INSTANCE);
    }

    /** All 65,536 patterns widen exactly as the JDK does; NaNs keep their payload. */
    @ParameterizedTest
    @MethodSource("impls")
    void everyF16PatternWidensExactly(ConversionKernels impl) {
        try (Arena arena = Arena.ofConfined()) {
            int n = 1 << 16;
            // One byte in, so both segments are unaligned for their element type.
            MemorySegment src = arena.allocate(2L * n + 1).asSlice(1);
            MemorySegment dst = arena.allocate(4L * n + 3).asSlice(3);
            for (int h = 0; h < n; h++) {
                src.set(ScalarConversions.I16, 2L * h, (short) h);
            }
            TestSupport.poisonF32(dst);
            impl.f16ToF32(src, 0, dst, 0, n);
            for (int i = 0; i < n; i++) {
                int h = i;
                int got = dst.get(ScalarConversions.I32, 4L * h);
                float jdk = Float.float16ToFloat((short) h);
                if (Float.isNaN(jdk)) {
                    assertTrue(Float.isNaN(Float.intBitsToFloat(got)), () -> hex(h) + " must stay NaN");
                    int expected = ((h & 0x8000) << 16) | 0x7f80_0000 | ((h & 0x3ff) << 13);
                    assertEquals(expected, got, () -> "NaN payload of " + hex(h));
                } else {
                    assertEquals(Float.floatToRawIntBits(jdk), got, () -> "F16 " + hex(h));
                }
                assertEquals(ScalarConversions.f16ToF32Bits(h), got, () -> "scalar vs " + impl + " at " + hex(h));
            }
        }
    }

    /** Every F16 value survives F16 -> F32 -> F16; every NaN comes back as the same NaN made quiet. */
    @ParameterizedTest
    @MethodSource("impls")
    void everyF16ValueRoundTrips(ConversionKernels impl) {
        int n = 1 << 16;
        float[] values = new float[n];
        for (int h = 0; h < n; h++) {
            values[h] = Float.float16ToFloat((short) h);
        }
        short[] got = TestSupport.f32ToF16(impl, values);
        for (int i = 0; i < n; i++) {
            int h = i;
            int g = got[h] & 0xffff;
            if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0) {
                // The JDK may or may not set the quiet bit while widening; the payload's top bits survive.
                int q = h | 0x200;
                assertEquals(q, g, () -> "NaN " + hex(h));
            } else {
                assertEquals(h, g, () -> "round trip of " + hex(h));
            }
        }
    }

    /** Each midpoint between neighbours goes to the even one; a float either side goes to the nearer. */
    @ParameterizedTest
    @MethodSource("impls")
    void midpointsRoundHalfToEven(ConversionKernels impl) {
        // Positive finite F16 h and its upper neighbour h + 1 (0x7c00 stands for 65536, which overflows to Inf).
        int pairs = 0x7c00;
        float[] in = new float[pairs * 6];
        int[] expected = new int[in.length];
        for (int p = 0; p < pairs; p++) {
            int h = p;
            float lo = Float.float16ToFloat((short) h);
            float hi = h + 1 == 0x7c00 ? 65536f : Float.float16ToFloat((short) (h + 1));
            float mid = (lo + hi) / 2; // exact: 12 significant bits at most
            assertTrue(lo < mid && mid < hi, () -> "midpoint of " + hex(h));
            int even = (h & 1) == 0 ? h : h + 1;
            for (int sign = 0; sign <= 1; sign++) {
                int s = sign << 15;
                float m = sign == 0 ? mid : -mid;
                int k = 6 * h + 3 * sign;
                in[k] = m;
                expected[k] = s | even;
                in[k + 1] = Math.nextDown(Math.abs(m)) * Math.signum(m);
                expected[k + 1] = s | h;
                in[k + 2] = Math.nextUp(Math.abs(m)) * Math.signum(m);
                expected[k + 2] = s | (h + 1);
            }
        }
        short[] got = TestSupport.f32ToF16(impl, in);
        for (int i = 0; i < in.length; i++) {
            int k = i;
            assertEquals(expected[k], got[k] & 0xffff, () -> "F32 " + in[k] + " (" + Float.toHexString(in[k]) + ")");
            assertEquals(Float.floatToFloat16(in[k]), got[k], () -> "JDK disagrees on " + Float.toHexString(in[k]));
        }
    }

    /** Overflow threshold, smallest subnormal and half of it, zeros, infinities, NaNs. */
    @ParameterizedTest
    @MethodSource("impls")
    void edgesOfTheRange(ConversionKernels impl) {
        float tiny = 0x1p-24f; // smallest F16 subnormal
        Object[][] cases = {
                {65504f, 0x7bff}, {65519.996f, 0x7bff}, {Math.nextDown(65520f), 0x7bff}, {65520f, 0x7c00},
                {65536f, 0x7c00}, {Float.MAX_VALUE, 0x7c00}, {-65520f, 0xfc00}, {-Math.nextDown(65520f), 0xfbff},
                {tiny, 0x0001}, {tiny / 2, 0x0000}, {Math.nextUp(tiny / 2), 0x0001}, {Math.nextDown(tiny / 2), 0x0000},
                {-tiny / 2, 0x8000}, {-Math.nextUp(tiny / 2), 0x8001}, {1.5f * tiny, 0x0002}, {2.5f * tiny, 0x0002},
                {Float.MIN_VALUE, 0x0000}, {-Float.MIN_VALUE, 0x8000}, {Float.MIN_NORMAL, 0x0000},
                {0x1p-14f, 0x0400}, {Math.nextDown(0x1p-14f), 0x0400}, {0x1p-14f - tiny, 0x03ff},
                {0x1p-14f - 1.5f * tiny, 0x03fe}, {0f, 0x0000}, {-0f, 0x8000},
                {Float.POSITIVE_INFINITY, 0x7c00}, {Float.NEGATIVE_INFINITY, 0xfc00},
                {1f, 0x3c00}, {-2f, 0xc000}, {1f + 0x1p-11f, 0x3c00}, {1f + 0x1p-11f + 0x1p-23f, 0x3c01},
                {1f + 3 * 0x1p-11f, 0x3c02},
                // NaNs: quiet, sign kept, top 10 payload bits kept, also when they are all zero
                {Float.NaN, 0x7e00}, {Float.intBitsToFloat(0x7f80_0001), 0x7e00},
                {Float.intBitsToFloat(0xff80_2000), 0xfe01}, {Float.intBitsToFloat(0x7fbf_e000), 0x7fff},
                {Float.intBitsToFloat(0xffc0_0000), 0xfe00},
        };
        float[] in = new float[cases.length];
        for (int i = 0; i < cases.length; i++) {
            in[i] = (Float) cases[i][0];
        }
        short[] got = TestSupport.f32ToF16(impl, in);
        for (int i = 0; i < cases.length; i++) {
            int k = i;
            assertEquals((int) (Integer) cases[k][1], got[k] & 0xffff, () -> "F32 " + Float.toHexString(in[k]));
            if (Float.isNaN(in[k])) {
                assertTrue(Float.isNaN(Float.float16ToFloat(got[k])));
            } else {
                assertEquals(Float.floatToFloat16(in[k]), got[k], () -> "JDK disagrees on " + Float.toHexString(in[k]));
            }
        }
    }

    /** Random bit patterns (every exponent) and random values dense in the F16 range, against the JDK. */
    @ParameterizedTest
    @MethodSource("impls")
    void randomFloatsMatchTheJdk(ConversionKernels impl) {
        SplittableRandom rnd = new SplittableRandom(20240611L);
        int n = 3_000_000;
        float[] in = new float[n];
        for (int i = 0; i < n; i++) {
            if ((i & 1) == 0) {
                in[i] = Float.intBitsToFloat(rnd.nextInt());
            } else {
                // Exponent in [-30, 17]: float subnormal-free but covering F16 zero, subnormal, normal and overflow.
                int bits = (rnd.nextInt(-30, 18) + 127) << 23 | rnd.nextInt(1 << 23) | (rnd.nextBoolean() ? 0x8000_0000 : 0);
                in[i] = Float.intBitsToFloat(bits);
            }
        }
        short[] got = TestSupport.f32ToF16(impl, in);
        int nans = 0;
        for (int i = 0; i < n; i++) {
            int k = i;
            short jdk = Float.floatToFloat16(in[k]);
            if (Float.isNaN(in[k])) {
                nans++;
                assertTrue(Float.isNaN(Float.float16ToFloat(got[k])), () -> "NaN " + Integer.toHexString(Float.floatToRawIntBits(in[k])));
            } else if (jdk != got[k]) {
                fail("F32 " + Float.toHexString(in[k]) + ": JDK " + hex(jdk & 0xffff) + ", " + impl + " " + hex(got[k] & 0xffff));
            }
            if (got[k] != (short) ScalarConversions.f32ToF16Bits(Float.floatToRawIntBits(in[k]))) {
                fail("scalar vs " + impl + " at F32 bits " + Integer.toHexString(Float.floatToRawIntBits(in[k])));
            }
        }
        assertTrue(nans > 1000, "the random patterns should include NaNs");
    }

    private static String hex(int h) {
        return String.format("0x%04x", h);
    }
}
