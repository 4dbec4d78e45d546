package dev.jlm.core.convert;

import java.lang.foreign.MemorySegment;

/**
 * The four conversion loops over little-endian elements. Callers have already checked the arguments
 * (indices in elements, ranges inside the segments, no overlap, writable destination); implementations
 * are stateless and may be shared by any number of threads.
 */
interface ConversionKernels {
    void f16ToF32(MemorySegment src, long srcIndex, MemorySegment dst, long dstIndex, long count);

    void f32ToF16(MemorySegment src, long srcIndex, MemorySegment dst, long dstIndex, long count);

    void bf16ToF32(MemorySegment src, long srcIndex, MemorySegment dst, long dstIndex, long count);

    void f32ToBf16(MemorySegment src, long srcIndex, MemorySegment dst, long dstIndex, long count);
}
