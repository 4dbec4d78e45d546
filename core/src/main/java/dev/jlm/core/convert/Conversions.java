package dev.jlm.core.convert;

import dev.jlm.core.DType;
import dev.jlm.core.JlmException;
import dev.jlm.core.Simd;
import dev.jlm.core.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Conversions between F32 and the 16-bit float types F16 (IEEE 754 binary16) and BF16 (bfloat16), on
 * memory segments of little-endian elements and on {@link Tensor}s.
 *
 * <p>Semantics are IEEE 754: widening (F16 or BF16 to F32) is exact for every bit pattern, subnormals,
 * signed zeros and infinities included, and a NaN stays a NaN with its payload. Narrowing (F32 to F16 or
 * BF16) rounds to nearest, ties to even; values from the F16 overflow threshold 65520 upwards become
 * infinity; values below the smallest F16 normal round to subnormals or zero; a NaN becomes a quiet NaN
 * that keeps its sign and the top bits of its payload.
 *
 * <p>The work is done by a Vector API implementation or by its scalar reference, chosen once at start-up
 * by {@link Simd#useVector()}; both give the same bits. All methods are stateless and thread-safe.
 * Segments need no alignment (views into mapped files work as they are), native or heap. Overlapping
 * source and destination ranges are rejected rather than converted in place.
 */
public final class Conversions {
    private static final ConversionKernels KERNELS =
            Simd.useVector() && VectorConversions.supported() ? VectorConversions.INSTANCE : ScalarConversions.INSTANCE;

    /** Elements per pass when a conversion goes through F32 (F16 <-> BF16): 16 KiB of scratch. */
    private static final int CHUNK = 4096;

    private Conversions() {
    }

    /** The implementation in use, for tests. */
    static ConversionKernels kernels() {
        return KERNELS;
    }

    // ---- segments ------------------------------------------------------------------------------

    /**
     * Widens {@code count} F16 elements of {@code src}, starting at element {@code srcIndex}, into F32
     * elements of {@code dst} starting at element {@code dstIndex}. Exact.
     *
     * @throws JlmException.InvalidArgument if a segment is null or read-only, an index or the count is
     *         negative, a range lies outside its segment, or the two ranges overlap
     */
    public static void f16ToF32(MemorySegment src, long srcIndex, MemorySegment dst, long dstIndex, long count) {
        check("f16ToF32", src, DType.F16, srcIndex, dst, DType.F32, dstIndex, count);
        KERNELS.f16ToF32(src, srcIndex, dst, dstIndex, count);
    }

    /**
     * Narrows {@code count} F32 elements of {@code src} into F16 elements of {@code dst}, rounding to
     * nearest, ties to even. Indices are in elements.
     *
     * @throws JlmException.InvalidArgument as {@link #f16ToF32(MemorySegment, long, MemorySegment, long, long)}
     */
    public static void f32ToF16(MemorySegment src, long srcIndex, MemorySegment dst, long dstIndex, long count) {
        check("f32ToF16", src, DType.F32, srcIndex, dst, DType.F16, dstIndex, count);
        KERNELS.f32ToF16(src, srcIndex, dst, dstIndex, count);
    }

    /**
     * Widens {@code count} BF16 elements of {@code src} into F32 elements of {@code dst}. Exact. Indices
     * are in elements.
     *
     * @throws JlmException.InvalidArgument as {@link #f16ToF32(MemorySegment, long, MemorySegment, long, long)}
     */
    public static void bf16ToF32(MemorySegment src, long srcIndex, MemorySegment dst, long dstIndex, long count) {
        check("bf16ToF32", src, DType.BF16, srcIndex, dst, DType.F32, dstIndex, count);
        KERNELS.bf16ToF32(src, srcIndex, dst, dstIndex, count);
    }

    /**
     * Narrows {@code count} F32 elements of {@code src} into BF16 elements of {@code dst}, rounding to
     * nearest, ties to even. Indices are in elements.
     *
     * @throws JlmException.InvalidArgument as {@link #f16ToF32(MemorySegment, long, MemorySegment, long, long)}
     */
    public static void f32ToBf16(MemorySegment src, long srcIndex, MemorySegment dst, long dstIndex, long count) {
        check("f32ToBf16", src, DType.F32, srcIndex, dst, DType.BF16, dstIndex, count);
        KERNELS.f32ToBf16(src, srcIndex, dst, dstIndex, count);
    }

    // ---- single values -------------------------------------------------------------------------

    /** The F32 value of the F16 bits {@code h}; exact. */
    public static float f16ToF32(short h) {
        return Float.intBitsToFloat(ScalarConversions.f16ToF32Bits(h));
    }

    /** The F16 bits of {@code f}, rounded to nearest, ties to even. */
    public static short f32ToF16(float f) {
        return (short) ScalarConversions.f32ToF16Bits(Float.floatToRawIntBits(f));
    }

    /** The F32 value of the BF16 bits {@code h}; exact. */
    public static float bf16ToF32(short h) {
        return Float.intBitsToFloat(ScalarConversions.bf16ToF32Bits(h));
    }

    /** The BF16 bits of {@code f}, rounded to nearest, ties to even. */
    public static short f32ToBf16(float f) {
        return (short) ScalarConversions.f32ToBf16Bits(Float.floatToRawIntBits(f));
    }

    // ---- tensors -------------------------------------------------------------------------------

    /**
     * A new owned, contiguous F32 tensor of the same shape holding the values of {@code t} (F32, F16 or
     * BF16; contiguous or a strided view). An F32 input gives a copy. The caller closes the result.
     *
     * @throws JlmException.InvalidArgument if {@code t} is null or of another dtype
     */
    public static Tensor toF32(Tensor t) {
        return convert(t, DType.F32, "toF32");
    }

    /**
     * A new owned, contiguous F16 tensor of the same shape holding the values of {@code t} (F32, F16 or
     * BF16; contiguous or strided), rounded to nearest, ties to even. An F16 input gives a copy; BF16
     * is rounded once, through its exact F32 value.
     *
     * @throws JlmException.InvalidArgument if {@code t} is null or of another dtype
     */
    public static Tensor toF16(Tensor t) {
        return convert(t, DType.F16, "toF16");
    }

    /**
     * A new owned, contiguous BF16 tensor of the same shape holding the values of {@code t} (F32, F16 or
     * BF16; contiguous or strided), rounded to nearest, ties to even. A BF16 input gives a copy; F16 is
     * rounded once, through its exact F32 value.
     *
     * @throws JlmException.InvalidArgument if {@code t} is null or of another dtype
     */
    public static Tensor toBf16(Tensor t) {
        return convert(t, DType.BF16, "toBf16");
    }

    private static Tensor convert(Tensor t, DType to, String op) {
        if (t == null) {
            throw new JlmException.InvalidArgument(op + ": tensor is null");
        }
        DType from = t.dtype();
        if (from != DType.F32 && from != DType.F16 && from != DType.BF16) {
            throw new JlmException.InvalidArgument(op + ": cannot convert " + t + ", only F32, F16 and BF16 tensors");
        }
        long[] shape = t.shape();
        Tensor out = Tensor.allocate(to, shape);
        try (Arena scratchArena = Arena.ofConfined()) {
            long n = t.size();
            if (n == 0) {
                return out;
            }
            // F16 <-> BF16 goes through exact F32 values, so it rounds only once.
            MemorySegment scratch = from != DType.F32 && to != DType.F32 && from != to
                    ? scratchArena.allocate(4L * Math.min(n, CHUNK), Tensor.ALIGNMENT) : null;
            MemorySegment src = t.segment();
            MemorySegment dst = out.segment();
            if (t.isContiguous()) {
                convertRun(from, src, 0, to, dst, 0, n, scratch);
                return out;
            }
            // Strided view: walk the outer dimensions; the trailing dimensions that lie back to back in
            // memory form one run that the kernels convert at once.
            long[] strides = t.strides();
            int outer = shape.length;
            long run = 1;
            while (outer > 0 && (shape[outer - 1] == 1 || strides[outer - 1] == run)) {
                run *= shape[outer - 1];
                outer--;
            }
            long[] idx = new long[outer];
            for (long done = 0; done < n; done += run) {
                long srcIndex = 0;
                for (int d = 0; d < outer; d++) {
                    srcIndex += idx[d] * strides[d];
                }
                convertRun(from, src, srcIndex, to, dst, done, run, scratch);
                for (int d = outer - 1; d >= 0 && ++idx[d] == shape[d]; d--) {
                    idx[d] = 0;
                }
            }
            return out;
        } catch (RuntimeException | Error e) {
            out.close();
            throw e;
        }
    }

    /** Converts {@code count} elements between any two of F32, F16 and BF16; indices in elements. */
    private static void convertRun(DType from, MemorySegment src, long srcIndex, DType to, MemorySegment dst,
                                   long dstIndex, long count, MemorySegment scratch) {
        if (from == to) {
            long width = from.bits() / 8;
            MemorySegment.copy(src, srcIndex * width, dst, dstIndex * width, count * width);
        } else if (to == DType.F32) {
            widen(from, src, srcIndex, dst, dstIndex, count);
        } else if (from == DType.F32) {
            narrow(src, srcIndex, to, dst, dstIndex, count);
        } else {
            for (long done = 0; done < count; done += CHUNK) {
                long c = Math.min(CHUNK, count - done);
                widen(from, src, srcIndex + done, scratch, 0, c);
                narrow(scratch, 0, to, dst, dstIndex + done, c);
            }
        }
    }

    private static void widen(DType from, MemorySegment src, long srcIndex, MemorySegment dst, long dstIndex, long count) {
        if (from == DType.F16) {
            KERNELS.f16ToF32(src, srcIndex, dst, dstIndex, count);
        } else {
            KERNELS.bf16ToF32(src, srcIndex, dst, dstIndex, count);
        }
    }

    private static void narrow(MemorySegment src, long srcIndex, DType to, MemorySegment dst, long dstIndex, long count) {
        if (to == DType.F16) {
            KERNELS.f32ToF16(src, srcIndex, dst, dstIndex, count);
        } else {
            KERNELS.f32ToBf16(src, srcIndex, dst, dstIndex, count);
        }
    }

    // ---- argument checks -----------------------------------------------------------------------

    private static void check(String op, MemorySegment src, DType srcType, long srcIndex,
                              MemorySegment dst, DType dstType, long dstIndex, long count) {
        if (src == null || dst == null) {
            throw new JlmException.InvalidArgument(op + ": " + (src == null ? "source" : "destination") + " segment is null");
        }
        if (count < 0) {
            throw new JlmException.InvalidArgument(op + ": negative count " + count);
        }
        checkRange(op, "source", src, srcType, srcIndex, count);
        checkRange(op, "destination", dst, dstType, dstIndex, count);
        if (dst.isReadOnly()) {
            throw new JlmException.InvalidArgument(op + ": destination segment is read-only");
        }
        if (count > 0) {
            MemorySegment s = src.asSlice(srcType.byteSize(srcIndex), srcType.byteSize(count));
            MemorySegment d = dst.asSlice(dstType.byteSize(dstIndex), dstType.byteSize(count));
            if (s.asOverlappingSlice(d).isPresent()) {
                throw new JlmException.InvalidArgument(op + ": source and destination ranges overlap");
            }
        }
    }

    private static void checkRange(String op, String which, MemorySegment seg, DType type, long index, long count) {
        long elements = seg.byteSize() / (type.bits() / 8);
        if (index < 0 || index > elements - count) {
            throw new JlmException.InvalidArgument(op + ": " + which + " range of " + count + " elements from index "
                    + index + " is out of bounds for a segment of " + elements + " " + type + " elements");
        }
    }
}
