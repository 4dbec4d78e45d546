package dev.jlm.simd.quant;

import dev.jlm.simd.RowExecutor;

/**
 * Splits the N rows of a quantized matmul into parts on the kernels' shared {@link RowExecutor} (the caller takes
 * one part; spinning workers take the others), each part a whole number of {@code align}-row groups.
 */
final class NParallel {
    /** A part of the rows, {@code [from, to)}. */
    interface Part {
        void run(long from, long to);
    }

    private NParallel() {
    }

    /** Runs {@code part} over [0, n) in up to {@code threads} parts whose bounds are multiples of {@code align}. */
    static void run(long n, int threads, int align, Part part) {
        long groups = (n + align - 1) / align;
        int parts = (int) Math.max(1, Math.min(threads, groups));
        if (parts == 1) {
            part.run(0, n);
            return;
        }
        RowExecutor.run(parts, groups, (from, to) -> part.run(from * align, Math.min(n, to * align)));
    }
}
