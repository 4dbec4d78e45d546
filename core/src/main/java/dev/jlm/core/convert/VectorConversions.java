package dev.jlm.core.convert;

import dev.jlm.core.Simd;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * The Vector API implementation: the same bit manipulation as {@link ScalarConversions}, branch-free, on
 * lanes of the preferred int species (16 lanes on AVX-512) with a short species of the same lane count for
 * the 16-bit side (half the vector width), so that widening and narrowing are single lane-wise casts.
 * Tails shorter than one vector go through the scalar reference, which gives identical bits.
 */
final class VectorConversions implements ConversionKernels {
    static final VectorConversions INSTANCE = new VectorConversions();

    private static final VectorSpecies<Integer> INT = Simd.FLOAT.withLanes(int.class);
    private static final VectorSpecies<Float> FLOAT = Simd.FLOAT;
    private static final VectorSpecies<Short> SHORT =
            VectorSpecies.of(short.class, VectorShape.forBitSize(Simd.FLOAT.vectorBitSize() / 2));
    private static final int LANES = INT.length();
    private static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    /** 2^-14, the smallest normal F16, as a float: subtracting it renormalizes an F16 subnormal. */
    private static final float MIN_NORMAL_F16 = 0x1p-14f;

    private VectorConversions() {
    }

    /** True where the preferred shape is wide enough for a short species of half its width (128 bits or more). */
    static boolean supported() {
        return Simd.FLOAT.vectorBitSize() >= 128;
    }

    @Override
    public void f16ToF32(MemorySegment src, long srcIndex, MemorySegment dst, long dstIndex, long count) {
        long bound = INT.loopBound(count);
        long i = 0;
        for (; i < bound; i += LANES) {
            IntVector h = (IntVector) ShortVector.fromMemorySegment(SHORT, src, (srcIndex + i) * 2, LE)
                    .convertShape(VectorOperators.ZERO_EXTEND_S2I, INT, 0);
            IntVector shifted = h.and(0x7fff).lanewise(VectorOperators.LSHL, 13);
            IntVector exp = shifted.and(0x0f80_0000);
            // Rebias the exponent from 15 to 127: right for normals.
            IntVector bits = shifted.add((127 - 15) << 23);
            // Inf and NaN: exponent all ones, payload unchanged.
            bits = bits.blend(shifted.or(0x7f80_0000), exp.compare(VectorOperators.EQ, 0x0f80_0000));
            // Subnormals (and zero): 2^-14 * (1 + m/1024) - 2^-14 = m * 2^-24, exact, with no subnormal operand.
            IntVector sub = bits.add(1 << 23).reinterpretAsFloats().sub(MIN_NORMAL_F16).reinterpretAsInts();
            bits = bits.blend(sub, exp.compare(VectorOperators.EQ, 0));
            bits = bits.or(h.and(0x8000).lanewise(VectorOperators.LSHL, 16));
            bits.intoMemorySegment(dst, (dstIndex + i) * 4, LE);
        }
        ScalarConversions.INSTANCE.f16ToF32(src, srcIndex + i, dst, dstIndex + i, count - i);
    }

    @Override
    public void f32ToF16(MemorySegment src, long srcIndex, MemorySegment dst, long dstIndex, long count) {
        long bound = INT.loopBound(count);
        long i = 0;
        for (; i < bound; i += LANES) {
            FloatVector f = FloatVector.fromMemorySegment(FLOAT, src, (srcIndex + i) * 4, LE);
            IntVector x = f.reinterpretAsInts();
            IntVector a = x.and(0x7fff_ffff);
            // Normal F16: rebias 127 -> 15, then drop 13 bits rounding half to even by adding 0xfff plus the kept lsb.
            IntVector r = a.sub((127 - 15) << 23);
            IntVector v = r.add(0xfff).add(r.lanewise(VectorOperators.LSHR, 13).and(1))
                    .lanewise(VectorOperators.LSHR, 13);
            // Below 2^-14: adding 0.5f makes the FPU round |x| to a multiple of 2^-24 (the ulp of [0.5, 1)),
            // half to even; the mantissa of the sum is then the F16 subnormal (0x400 if it rounds up to 2^-14).
            IntVector sub = f.abs().add(0.5f).reinterpretAsInts().sub(0x3f00_0000);
            v = v.blend(sub, a.compare(VectorOperators.LT, 0x3880_0000));
            v = v.blend(0x7c00, a.compare(VectorOperators.GE, 0x477f_f000));
            VectorMask<Integer> nan = a.compare(VectorOperators.GT, 0x7f80_0000);
            v = v.blend(a.lanewise(VectorOperators.LSHR, 13).and(0x3ff).or(0x7e00), nan);
            v = v.or(x.lanewise(VectorOperators.LSHR, 16).and(0x8000));
            v.convertShape(VectorOperators.I2S, SHORT, 0).intoMemorySegment(dst, (dstIndex + i) * 2, LE);
        }
        ScalarConversions.INSTANCE.f32ToF16(src, srcIndex + i, dst, dstIndex + i, count - i);
    }

    @Override
    public void bf16ToF32(MemorySegment src, long srcIndex, MemorySegment dst, long dstIndex, long count) {
        long bound = INT.loopBound(count);
        long i = 0;
        for (; i < bound; i += LANES) {
            // Sign extension is harmless: the upper 16 bits are shifted out.
            IntVector h = (IntVector) ShortVector.fromMemorySegment(SHORT, src, (srcIndex + i) * 2, LE)
                    .convertShape(VectorOperators.S2I, INT, 0);
            h.lanewise(VectorOperators.LSHL, 16).intoMemorySegment(dst, (dstIndex + i) * 4, LE);
        }
        ScalarConversions.INSTANCE.bf16ToF32(src, srcIndex + i, dst, dstIndex + i, count - i);
    }

    @Override
    public void f32ToBf16(MemorySegment src, long srcIndex, MemorySegment dst, long dstIndex, long count) {
        long bound = INT.loopBound(count);
        long i = 0;
        for (; i < bound; i += LANES) {
            IntVector x = IntVector.fromMemorySegment(INT, src, (srcIndex + i) * 4, LE);
            IntVector hi = x.lanewise(VectorOperators.LSHR, 16);
            // Round half to even: add 0x7fff plus the kept lsb; the sign bit is never disturbed for non-NaNs.
            IntVector v = x.add(hi.and(1)).add(0x7fff).lanewise(VectorOperators.LSHR, 16);
            VectorMask<Integer> nan = x.and(0x7fff_ffff).compare(VectorOperators.GT, 0x7f80_0000);
            v = v.blend(hi.or(0x40), nan);
            v.convertShape(VectorOperators.I2S, SHORT, 0).intoMemorySegment(dst, (dstIndex + i) * 2, LE);
        }
        ScalarConversions.INSTANCE.f32ToBf16(src, srcIndex + i, dst, dstIndex + i, count - i);
    }

    @Override
    public String toString() {
        return "vector(" + LANES + " lanes)";
    }
}
