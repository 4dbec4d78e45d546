package dev.jlm.core.convert;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * The scalar reference: one element at a time, with the IEEE 754 bit manipulation spelled out, so that it
 * can be checked against the JDK's {@link Float#floatToFloat16} and {@link Float#float16ToFloat} as an
 * independent oracle. The Vector API implementation must agree with it bit for bit, NaNs included; it also
 * converts the tails the vector loops leave over.
 *
 * <p>NaN rules (the same in both implementations): F16 and BF16 NaNs widen with their payload unchanged;
 * F32 NaNs narrow to quiet NaNs that keep the sign and the top payload bits.
 */
final class ScalarConversions implements ConversionKernels {
    static final ScalarConversions INSTANCE = new ScalarConversions();

    static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private ScalarConversions() {
    }

    // ---- single elements -----------------------------------------------------------------------

    /** F16 bits (low 16 bits of {@code h}) to the F32 bits of the same value; exact. */
    static int f16ToF32Bits(int h) {
        int sign = (h & 0x8000) << 16;
        int exp = (h >>> 10) & 0x1f;
        int mant = h & 0x3ff;
        if (exp == 0x1f) {
            // Inf (mant == 0) or NaN with its 10 payload bits on top of F32's 23
            return sign | 0x7f80_0000 | (mant << 13);
        }
        if (exp == 0) {
            if (mant == 0) {
                return sign;
            }
            // Subnormal mant * 2^-24: shift the leading one up to the implicit-bit position (bit 10)
            // and lower the exponent by the same amount; F32 holds every such value as a normal.
            int shift = Integer.numberOfLeadingZeros(mant) - 21;
            mant = (mant << shift) & 0x3ff;
            exp = 1 - shift;
        }
        return sign | ((exp + (127 - 15)) << 23) | (mant << 13);
    }

    /** F32 bits to F16 bits (in the low 16 bits), rounding to nearest, ties to even. */
    static int f32ToF16Bits(int x) {
        int sign = (x >>> 16) & 0x8000;
        int a = x & 0x7fff_ffff;
        if (a > 0x7f80_0000) {
            // NaN: quiet bit set so that a payload whose top 10 bits are zero stays a NaN
            return sign | 0x7e00 | ((a >>> 13) & 0x3ff);
        }
        if (a >= 0x477f_f000) {
            // 65520 = max F16 (65504) + half an ulp: ties go to the even neighbour 65536, i.e. Inf
            return sign | 0x7c00;
        }
        int e = a >>> 23;
        int mant = a & 0x7f_ffff;
        int exp = e - 127 + 15;
        if (exp >= 1) {
            // Normal F16: keep 10 of 23 mantissa bits; a carry out of the mantissa bumps the exponent,
            // which is exactly the right result (and stays below Inf thanks to the check above).
            int v = (exp << 10) | (mant >>> 13);
            return sign | roundHalfEven(v, mant & 0x1fff, 0x1000);
        }
        // F16 subnormal or zero: the result counts units of 2^-24. The F32 value is sig * 2^(e' - 150)
        // with e' = max(e, 1), i.e. sig * 2^(e' - 126) units, so shift sig right by 126 - e' >= 14.
        int sig = e == 0 ? mant : mant | 0x80_0000;
        int shift = 126 - Math.max(e, 1);
        if (shift > 24) {
            // sig < 2^24 <= half a unit: rounds to zero
            return sign;
        }
        int v = sig >>> shift;
        return sign | roundHalfEven(v, sig & ((1 << shift) - 1), 1 << (shift - 1));
    }

    /** BF16 bits (low 16 bits of {@code h}) to F32 bits; exact, BF16 being the top half of F32. */
    static int bf16ToF32Bits(int h) {
        return (h & 0xffff) << 16;
    }

    /** F32 bits to BF16 bits (in the low 16 bits), rounding to nearest, ties to even. */
    static int f32ToBf16Bits(int x) {
        if ((x & 0x7fff_ffff) > 0x7f80_0000) {
            // NaN: quiet bit set so that a payload in the dropped half only stays a NaN
            return (x >>> 16) | 0x40;
        }
        // The sign rides along in the upper half; a carry from the largest finite value gives Inf.
        return roundHalfEven(x >>> 16, x & 0xffff, 0x8000) & 0xffff;
    }

    /** {@code kept} plus one if the dropped bits {@code rest} are above {@code half}, or equal to it and {@code kept} is odd. */
    private static int roundHalfEven(int kept, int rest, int half) {
        return rest > half || (rest == half && (kept & 1) != 0) ? kept + 1 : kept;
    }

    // ---- loops ---------------------------------------------------------------------------------

    @Override
    public void f16ToF32(MemorySegment src, long srcIndex, MemorySegment dst, long dstIndex, long count) {
        for (long i = 0; i < count; i++) {
            dst.set(I32, (dstIndex + i) * 4, f16ToF32Bits(src.get(I16, (srcIndex + i) * 2)));
        }
    }

    @Override
    public void f32ToF16(MemorySegment src, long srcIndex, MemorySegment dst, long dstIndex, long count) {
        for (long i = 0; i < count; i++) {
            dst.set(I16, (dstIndex + i) * 2, (short) f32ToF16Bits(src.get(I32, (srcIndex + i) * 4)));
        }
    }

    @Override
    public void bf16ToF32(MemorySegment src, long srcIndex, MemorySegment dst, long dstIndex, long count) {
        for (long i = 0; i < count; i++) {
            dst.set(I32, (dstIndex + i) * 4, bf16ToF32Bits(src.get(I16, (srcIndex + i) * 2)));
        }
    }

    @Override
    public void f32ToBf16(MemorySegment src, long srcIndex, MemorySegment dst, long dstIndex, long count) {
        for (long i = 0; i < count; i++) {
            dst.set(I16, (dstIndex + i) * 2, (short) f32ToBf16Bits(src.get(I32, (srcIndex + i) * 4)));
        }
    }

    @Override
    public String toString() {
        return "scalar";
    }
}
