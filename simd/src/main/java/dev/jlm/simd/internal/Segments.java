package dev.jlm.simd.internal;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Plain off-heap segments, as the JIT needs to see them. {@code MemorySegment} is an interface: the JIT compiles
 * each access for the segment classes it has seen anywhere in the process, and the JDK itself uses heap segments.
 * Once a heap class is among them, a store may write into a Java object, so after every vector store the loop
 * loads and checks the segments' bounds and liveness again (20-40 scalar instructions per vector store, the
 * vectors themselves fewer). Comparing each segment's class with {@link #NATIVE} in the kernel's own body gives
 * the JIT the exact class from there on: stores go to raw memory and the checks leave the loop.
 *
 * <p>Hot kernel methods start with that comparison and throw {@link #notPlain} when it fails (the JIT only narrows
 * a type after a test in the same method, not after a call that returns a boolean); their callers choose them only
 * for segments that pass {@link #plain}, and take a general path for the rest (heap memory, mapped files).
 */
public final class Segments {
    /** The class of the segments {@code Arena.allocate} returns (taken from one, not assumed). */
    public static final Class<? extends MemorySegment> NATIVE = Arena.ofAuto().allocate(1).getClass();

    private Segments() {
    }

    /** True when s is a plain off-heap segment (allocated, not mapped and not on the heap). */
    public static boolean plain(MemorySegment s) {
        return s.getClass() == NATIVE;
    }

    /** True when a and b are both plain; null counts as plain (an absent optional input). */
    public static boolean plain(MemorySegment a, MemorySegment b) {
        return (a == null || plain(a)) && (b == null || plain(b));
    }

    /** True when a, b and c are all plain; null counts as plain. */
    public static boolean plain(MemorySegment a, MemorySegment b, MemorySegment c) {
        return plain(a, b) && (c == null || plain(c));
    }

    /** The error of a hot method handed a segment its caller should have routed elsewhere. */
    public static IllegalStateException notPlain() {
        return new IllegalStateException("kernel path for plain off-heap segments reached with another kind");
    }
}
