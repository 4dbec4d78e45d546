package dev.jlm.simd.internal;

import dev.jlm.core.DType;
import dev.jlm.core.Simd;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * Loads of F32, F16 and BF16 elements as floats, one element or one vector of {@link Simd#FLOAT} lanes at a time,
 * so kernels read 16-bit inputs where they lie, without a staging copy. Offsets are in elements.
 */
public final class Lanes {
    /** The float species of every kernel. */
    public static final VectorSpecies<Float> F = Simd.FLOAT;
    /** Ints with as many lanes as {@link #F}. */
    public static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED.withShape(F.vectorShape());
    /**
     * Shorts with as many lanes as {@link #F} (half the bits). Where the preferred vector is only 64 bits (no
     * vector kernels then: {@link Simd#useVector}), the narrowest shape instead, so that this class still loads
     * for the scalar paths.
     */
    public static final VectorSpecies<Short> S =
            VectorSpecies.of(short.class, VectorShape.forBitSize(Math.max(64, F.vectorBitSize() / 2)));

    /** Little-endian F32, any alignment: what {@code Tensor} memory holds. */
    public static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    /** Little-endian 16-bit, any alignment. */
    public static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    public static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    // For sum(): lane i pairs with lane i ^ k. Constants (not an array) so that the JIT sees each shuffle. Public
    // for kernels whose hot method is too large for the JIT to inline sum() into (it would then box the vector):
    // they write the same four folds out, each under "if (L > k)". A fold at or past the lane count is null, not
    // the identity: an unguarded use then fails at once instead of adding a vector to itself.
    public static final VectorShuffle<Float> FOLD8 = fold(8);
    public static final VectorShuffle<Float> FOLD4 = fold(4);
    public static final VectorShuffle<Float> FOLD2 = fold(2);
    public static final VectorShuffle<Float> FOLD1 = fold(1);

    private Lanes() {
    }

    private static VectorShuffle<Float> fold(int k) {
        return k < F.length() ? VectorShuffle.fromOp(F, i -> i ^ k) : null;
    }

    /**
     * The sum of the lanes, always added in the same tree order. {@code reduceLanes(ADD)} may add in any order and
     * does differ between interpreted and compiled code, which would make the same call give different bits
     * before and after the JIT; this keeps every kernel's output a function of its input alone.
     */
    public static float sum(FloatVector v) {
        int l = F.length();   // a constant: the untaken steps fold away
        if (l > 8) {
            v = v.add(v.rearrange(FOLD8));
        }
        if (l > 4) {
            v = v.add(v.rearrange(FOLD4));
        }
        if (l > 2) {
            v = v.add(v.rearrange(FOLD2));
        }
        if (l > 1) {
            v = v.add(v.rearrange(FOLD1));
        }
        return v.lane(0);
    }

    /** One element as a float. */
    public static float get(DType t, MemorySegment seg, long index) {
        return switch (t) {
            case F32 -> seg.get(F32, index * 4);
            case BF16 -> Float.intBitsToFloat((seg.get(I16, index * 2) & 0xffff) << 16);
            case F16 -> Float.float16ToFloat(seg.get(I16, index * 2));
            default -> throw new IllegalArgumentException("not a float input type: " + t);
        };
    }

    /** {@code F.length()} elements from {@code index} on, as floats. */
    public static FloatVector load(DType t, MemorySegment seg, long index) {
        if (t == DType.F32) {
            return FloatVector.fromMemorySegment(F, seg, index * 4, LE);
        }
        ShortVector s = ShortVector.fromMemorySegment(S, seg, index * 2, LE);
        IntVector h = (IntVector) s.convertShape(VectorOperators.S2I, I, 0);
        if (t == DType.BF16) {
            return h.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
        }
        return halfToFloat(h);
    }

    /**
     * {@code count} elements of type t (F32, F16 or BF16) from element {@code from} of {@code src}, as F32 from byte
     * {@code to} of {@code dst}. The vector loops run on plain off-heap memory only (the class test in their
     * condition keeps the segments' checks out of them, see {@link Segments}); other memory goes lane by lane.
     */
    public static void toF32(DType t, MemorySegment src, long from, int count, MemorySegment dst, long to) {
        if (t == DType.F32) {
            MemorySegment.copy(src, from * 4, dst, to, 4L * count);
            return;
        }
        if (t != DType.F16 && t != DType.BF16) {
            throw new IllegalArgumentException("not a float input type: " + t);
        }
        int i = 0;
        // One loop per type (a vector chosen between two expressions inside one loop was boxed in a process that
        // had run many other kernels), after one class test for both (the method stays small enough for the JIT
        // to inline into its callers: attention converts a row of keys per call).
        if (src.getClass() == Segments.NATIVE && dst.getClass() == Segments.NATIVE) {
            int l = F.length();
            if (t == DType.BF16) {
                for (int up = count - l; i <= up; i += l) {
                    ((IntVector) ShortVector.fromMemorySegment(S, src, (from + i) * 2, LE)
                            .convertShape(VectorOperators.S2I, I, 0)).lanewise(VectorOperators.LSHL, 16)
                            .reinterpretAsFloats().intoMemorySegment(dst, to + i * 4L, LE);
                }
            } else {
                for (int up = count - l; i <= up; i += l) {
                    halfToFloat((IntVector) ShortVector.fromMemorySegment(S, src, (from + i) * 2, LE)
                            .convertShape(VectorOperators.S2I, I, 0)).intoMemorySegment(dst, to + i * 4L, LE);
                }
            }
        }
        for (; i < count; i++) {
            dst.set(F32, to + i * 4L, get(t, src, from + i));
        }
    }

    /**
     * IEEE half bits (in the low 16 bits of each lane, any high bits) to floats: the magnitude bits shifted into
     * float position and scaled by 2^112 give every normal and subnormal half exactly; infinities and NaNs keep
     * their payload with the exponent set to all ones.
     */
    public static FloatVector halfToFloat(IntVector h) {
        IntVector em = h.and(0x7fff);
        IntVector shifted = em.lanewise(VectorOperators.LSHL, 13);
        IntVector bits = shifted.reinterpretAsFloats().mul(0x1p112f).reinterpretAsInts();
        bits = bits.blend(shifted.or(0x7f800000), em.compare(VectorOperators.GE, 0x7c00));
        IntVector sign = h.and(0x8000).lanewise(VectorOperators.LSHL, 16);
        return bits.or(sign).reinterpretAsFloats();
    }
}
