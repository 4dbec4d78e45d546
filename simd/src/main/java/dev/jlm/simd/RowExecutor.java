package dev.jlm.simd;

import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ForkJoinTask;
import java.util.concurrent.ForkJoinWorkerThread;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Splits the rows of a kernel call across a shared pool of threads sized to the cores.
 *
 * <p>Every kernel asks {@link #chunks} how many pieces its input is worth: one (run on the calling thread,
 * nothing allocated) when the work is below {@link #threshold()} elements per extra thread, otherwise up to
 * the kernel's thread limit. The calling thread always runs the first piece itself and then waits for the
 * others, and a piece no pool thread has picked up yet is run by the caller, so many server threads calling
 * kernels at once never deadlock and never wait on a busy pool for work they could do themselves.
 *
 * <p>The threshold is {@code -Djlm.simd.parallelThreshold} elements per extra thread (default 65536, about
 * 256 KiB of F32); below it the cost of waking a pool thread exceeds what a second core saves. The pool has
 * {@code cores - 1} daemon threads (the caller is the other one), at least one.
 */
public final class RowExecutor {
    private static final int CORES = Runtime.getRuntime().availableProcessors();
    private static final long THRESHOLD = Math.max(1, Long.getLong("jlm.simd.parallelThreshold", 1L << 16));
    private static final ForkJoinPool POOL = new ForkJoinPool(Math.max(1, CORES - 1), new Factory(), null, false);

    private RowExecutor() {
    }

    /** A range of rows [from, to) of one kernel call. */
    @FunctionalInterface
    public interface RowRange {
        void run(long from, long to);
    }

    /** Cores the JVM may use; the default thread limit of every kernel. */
    public static int cores() {
        return CORES;
    }

    /** Elements of work per extra thread below which a call stays on the calling thread. */
    public static long threshold() {
        return THRESHOLD;
    }

    /**
     * How many pieces to cut {@code rows} rows of {@code elementsPerRow} elements into, for a kernel allowed
     * {@code maxThreads} threads: 1 for small inputs, never more than the rows.
     */
    public static int chunks(long rows, long elementsPerRow, int maxThreads) {
        if (maxThreads <= 1 || rows <= 1) {
            return 1;
        }
        long work = rows * Math.max(1, elementsPerRow);
        long byWork = work / THRESHOLD;
        return (int) Math.max(1, Math.min(Math.min(maxThreads, rows), byWork));
    }

    /**
     * Runs {@code body} over rows [0, rows) cut into {@code chunks} contiguous pieces: the first on the calling
     * thread, the rest on the pool. Returns when every piece has finished, also when one of them threw; the first
     * exception is rethrown.
     */
    public static void run(int chunks, long rows, RowRange body) {
        if (chunks <= 1 || rows <= 1) {
            body.run(0, rows);
            return;
        }
        int n = (int) Math.min(chunks, rows);
        ForkJoinTask<?>[] tasks = new ForkJoinTask<?>[n - 1];
        // Each piece records its own failure, so the caller rethrows the original exception, not a copy.
        Throwable[] failures = new Throwable[n];
        boolean inPool = ForkJoinTask.inForkJoinPool() && ForkJoinTask.getPool() == POOL;
        for (int c = 1; c < n; c++) {
            long from = rows * c / n;
            long to = rows * (c + 1) / n;
            int slot = c;
            ForkJoinTask<?> t = ForkJoinTask.adapt(() -> {
                try {
                    body.run(from, to);
                } catch (Throwable e) {
                    failures[slot] = e;
                }
            });
            tasks[c - 1] = t;
            if (inPool) {
                t.fork();
            } else {
                POOL.execute(t);
            }
        }
        try {
            body.run(0, rows / n);
        } catch (Throwable e) {
            failures[0] = e;
        }
        // Join the last submitted first: a piece still queued is then taken back and run here.
        for (int i = tasks.length - 1; i >= 0; i--) {
            tasks[i].quietlyJoin();
        }
        for (Throwable e : failures) {
            if (e instanceof RuntimeException re) {
                throw re;
            }
            if (e instanceof Error err) {
                throw err;
            }
            if (e != null) {
                throw new IllegalStateException(e);
            }
        }
    }

    private static final class Factory implements ForkJoinPool.ForkJoinWorkerThreadFactory {
        private final AtomicInteger next = new AtomicInteger();

        @Override
        public ForkJoinWorkerThread newThread(ForkJoinPool pool) {
            ForkJoinWorkerThread t = ForkJoinPool.defaultForkJoinWorkerThreadFactory.newThread(pool);
            t.setName("jlm-rows-" + next.incrementAndGet());
            t.setDaemon(true);
            return t;
        }
    }
}
