package dev.jlm.simd.quant;

import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ForkJoinTask;

/** Splits the N rows of a quantized matmul into parts, runs all but the first on the common pool. */
final class NParallel {
    /** A part of the rows, {@code [from, to)}. */
    interface Part {
        void run(long from, long to);
    }

    private NParallel() {
    }

    /** Runs {@code part} over [0, n) in {@code threads} parts whose bounds are multiples of {@code align}. */
    static void run(long n, int threads, int align, Part part) {
        int parts = (int) Math.max(1, Math.min(threads, (n + align - 1) / align));
        if (parts == 1) {
            part.run(0, n);
            return;
        }
        long per = ((n + parts - 1) / parts + align - 1) / align * align;
        ForkJoinTask<?>[] tasks = new ForkJoinTask<?>[parts - 1];
        for (int p = 1; p < parts; p++) {
            long from = Math.min(n, p * per);
            long to = Math.min(n, from + per);
            tasks[p - 1] = ForkJoinPool.commonPool().submit(() -> part.run(from, to));
        }
        Throwable failure = null;
        try {
            part.run(0, Math.min(n, per));
        } catch (RuntimeException | Error e) {
            failure = e;
        }
        for (ForkJoinTask<?> t : tasks) {
            try {
                t.join();
            } catch (RuntimeException | Error e) {
                if (failure == null) {
                    failure = e;
                }
            }
        }
        if (failure instanceof RuntimeException re) {
            throw re;
        }
        if (failure instanceof Error err) {
            throw err;
        }
    }
}
