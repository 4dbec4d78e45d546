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
 * BF16 <-> F32 for both kernels. Widening must be the bit shift for all 65,536 patterns. Narrowing is
 * checked against {@link #reference(float)}, which rounds in double arithmetic with {@link Math#rint}
 * (ties to even) at the BF16 ulp, a different formulation from the kernels' integer add-and-shift.
 */
class Bf16ConversionTest {
    static List<ConversionKernels> impls() {
        return List.of(ScalarConversions.INSTANCE, VectorConversions.INSTANCE);
    }

    /** Round to BF16 (8 significant bits, F32's exponent range) by scaling to the ulp and rounding with rint. */
    static int reference(float f) {
        if (Float.isNaN(f)) {
            throw new IllegalArgumentException("NaN has no rounded value");
        }
        if (Float.isInfinite(f) || f == 0) {
            return Float.floatToRawIntBits(f) >>> 16;
        }
        int exp = Math.max(Math.getExponent(f), Float.MIN_EXPONENT); // subnormals share the minimum exponent
        double ulp = Math.scalb(1.0, exp - 7);
        double rounded = Math.rint(f / ulp) * ulp; // exact in double; may reach 2^128
        float r = (float) rounded; // exact, or infinity when past the largest finite value
        assertTrue(Float.isInfinite(r) || r == rounded, "reference lost precision");
        return Float.floatToRawIntBits(r) >>> 16 | (f < 0 ? 0x8000 : 0);
    }

    @ParameterizedTest
    @MethodSource("impls")
    void everyBf16PatternWidensToItsShift(ConversionKernels impl) {
        try (Arena arena = Arena.ofConfined()) {
            int n = 1 << 16;
            MemorySegment src = arena.allocate(2L * n + 1).asSlice(1);
            MemorySegment dst = arena.allocate(4L * n + 2).asSlice(2);
            for (int h = 0; h < n; h++) {
                src.set(ScalarConversions.I16, 2L * h, (short) h);
            }
            TestSupport.poisonF32(dst);
            impl.bf16ToF32(src, 0, dst, 0, n);
            for (int h = 0; h < n; h++) {
                int k = h;
                assertEquals(h << 16, dst.get(ScalarConversions.I32, 4L * h), () -> "BF16 " + Integer.toHexString(k));
            }
        }
    }

    /** For every BF16 pattern b: b exact, the midpoint to b + 1 goes to the even one, either side to the nearer. */
    @ParameterizedTest
    @MethodSource("impls")
    void everyMidpointRoundsHalfToEven(ConversionKernels impl) {
        int n = 1 << 16;
        float[] in = new float[4 * n];
        int[] expected = new int[in.length];
        int count = 0;
        for (int b = 0; b < n; b++) {
            if ((b & 0x7f80) == 0x7f80) {
                continue; // Inf and NaN have no upper neighbour
            }
            int lo = b << 16;
            int next = (b + 1) & 0xffff; // the next pattern away from zero; 0x7f80 / 0xff80 is Inf
            in[count] = Float.intBitsToFloat(lo);
            expected[count++] = b;
            in[count] = Float.intBitsToFloat(lo | 0x8000);
            expected[count++] = (b & 1) == 0 ? b : next;
            in[count] = Float.intBitsToFloat(lo | 0x7fff);
            expected[count++] = b;
            in[count] = Float.intBitsToFloat(lo | 0x8001);
            expected[count++] = next;
        }
        float[] values = java.util.Arrays.copyOf(in, count);
        short[] got = TestSupport.f32ToBf16(impl, values);
        for (int i = 0; i < count; i++) {
            int k = i;
            assertEquals(expected[k], got[k] & 0xffff, () -> "F32 bits " + Integer.toHexString(Float.floatToRawIntBits(values[k])));
            assertEquals(reference(values[k]), got[k] & 0xffff, () -> "reference disagrees on " + Float.toHexString(values[k]));
        }
    }

    @ParameterizedTest
    @MethodSource("impls")
    void edgesAndNaNs(ConversionKernels impl) {
        float[] in = {
                Float.MAX_VALUE, -Float.MAX_VALUE, Float.intBitsToFloat(0x7f7f_7fff), Float.intBitsToFloat(0x7f7f_8000),
                Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 0f, -0f, Float.MIN_VALUE, Float.MIN_NORMAL,
                Float.NaN, Float.intBitsToFloat(0x7f80_0001), Float.intBitsToFloat(0xff80_0001),
                Float.intBitsToFloat(0x7fa0_0000), Float.intBitsToFloat(0xffff_ffff),
        };
        int[] expected = {
                0x7f80, 0xff80, 0x7f7f, 0x7f80, 0x7f80, 0xff80, 0x0000, 0x8000, 0x0000, 0x0080,
                0x7fc0, 0x7fc0, 0xffc0, 0x7fe0, 0xffff,
        };
        short[] got = TestSupport.f32ToBf16(impl, in);
        for (int i = 0; i < in.length; i++) {
            int k = i;
            assertEquals(expected[k], got[k] & 0xffff, () -> "F32 bits " + Integer.toHexString(Float.floatToRawIntBits(in[k])));
            assertEquals(Float.isNaN(in[k]), Float.isNaN(Float.intBitsToFloat(got[k] << 16)));
        }
    }

    /** Random bit patterns over the whole F32 range against the reference; NaNs must stay NaN. */
    @ParameterizedTest
    @MethodSource("impls")
    void randomFloatsMatchTheReference(ConversionKernels impl) {
        SplittableRandom rnd = new SplittableRandom(7L);
        int n = 3_000_000;
        float[] in = new float[n];
        for (int i = 0; i < n; i++) {
            in[i] = Float.intBitsToFloat(rnd.nextInt());
        }
        short[] got = TestSupport.f32ToBf16(impl, in);
        for (int i = 0; i < n; i++) {
            int g = got[i] & 0xffff;
            if (Float.isNaN(in[i])) {
                if (!Float.isNaN(Float.intBitsToFloat(g << 16)) || (g & 0x8000) != (Float.floatToRawIntBits(in[i]) >>> 16 & 0x8000)) {
                    fail("NaN " + Integer.toHexString(Float.floatToRawIntBits(in[i])) + " became " + Integer.toHexString(g));
                }
            } else if (g != reference(in[i])) {
                fail("F32 " + Float.toHexString(in[i]) + ": reference " + Integer.toHexString(reference(in[i]))
                        + ", " + impl + " " + Integer.toHexString(g));
            }
            if (g != ScalarConversions.f32ToBf16Bits(Float.floatToRawIntBits(in[i]))) {
                fail("scalar vs " + impl + " at F32 bits " + Integer.toHexString(Float.floatToRawIntBits(in[i])));
            }
        }
    }
}
