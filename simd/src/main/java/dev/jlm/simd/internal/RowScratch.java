package dev.jlm.simd.internal;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * One off-heap scratch buffer per thread for kernels that convert a piece of a 16-bit row to F32 before running
 * their F32 loop on it. Plain off-heap memory (see {@link Segments}), 64-byte aligned, grown on demand; an
 * automatic arena frees it once its thread no longer holds it. A kernel uses it within one call and calls no other
 * kernel meanwhile.
 */
public final class RowScratch {
    private static final ThreadLocal<MemorySegment> BUFFER = ThreadLocal.withInitial(() -> MemorySegment.NULL);

    private RowScratch() {
    }

    /** This thread's scratch, at least {@code bytes} long. */
    public static MemorySegment get(long bytes) {
        MemorySegment s = BUFFER.get();
        if (s.byteSize() < bytes) {
            s = Arena.ofAuto().allocate(Math.max(bytes, 2 * s.byteSize()), 64);
            BUFFER.set(s);
        }
        return s;
    }
}
