package dev.jlm.simd;

import java.lang.foreign.MemorySegment;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * Splits the rows of a kernel call across a shared set of threads sized to the cores.
 *
 * <p>Every kernel asks {@link #chunks} how many pieces its input is worth: one (run on the calling thread,
 * nothing allocated) when the work is below {@link #threshold()} elements per extra thread, otherwise up to
 * the kernel's thread limit. The calling thread runs the first piece itself, then claims any piece no worker
 * has taken yet, and only then waits for the pieces in progress; so many server threads calling kernels at once
 * never deadlock and never wait on busy workers for work they could do themselves.
 *
 * <p>Kernel calls are short (tens of microseconds) and come in bursts, so the workers do not go to sleep as
 * soon as the queue is empty: they spin for {@code -Djlm.simd.spinMicros} (default 200) after their last piece
 * before parking, as ONNX Runtime's pool does. Waking a parked thread costs about as much as a small call
 * itself; a spinning one picks up the next piece at once. {@code -Djlm.simd.spinMicros=0} parks immediately.
 *
 * <p>The threshold is {@code -Djlm.simd.parallelThreshold} elements per extra thread (default 16384, 64 KiB of
 * F32). Measured with the spinning workers: RMSNorm rows of 2048 split over two threads already ran faster from 4
 * rows (8192 elements: 1.33 -> 0.99 µs) and 16 rows (5.3 -> 3.4 µs); the default keeps a margin above that. There
 * are {@code cores - 1} daemon workers (the caller is the other one), at least one, started on the first parallel
 * call.
 */
public final class RowExecutor {
    private static final int CORES = Runtime.getRuntime().availableProcessors();
    private static final long THRESHOLD = Math.max(1, Long.getLong("jlm.simd.parallelThreshold", 1L << 14));
    private static final long SPIN_NANOS = Math.max(0, Long.getLong("jlm.simd.spinMicros", 200)) * 1000;
    /** Pieces per thread a large call is cut into (see {@link #chunks}); {@code -Djlm.simd.piecesPerThread}. */
    public static final int PIECES_PER_THREAD = Math.max(1, Integer.getInteger("jlm.simd.piecesPerThread", 4));
    /** How long a caller spins for pieces still running before it parks. */
    private static final long CALLER_SPIN_NANOS = Math.max(SPIN_NANOS, 50_000);
    /** A thread that owns nothing (never started): what any thread but a confined segment's owner is to it. */
    private static final Thread OTHER_THREAD = new Thread(() -> { });
    /** Open {@link #hold()} handles: while any is open, idle workers spin instead of parking. */
    private static final AtomicInteger HOLDS = new AtomicInteger();

    private RowExecutor() {
    }

    /** A range of rows [from, to) of one kernel call. */
    @FunctionalInterface
    public interface RowRange {
        void run(long from, long to);
    }

    /**
     * Keeps the workers awake (spinning, not parked) until the handle is closed, and wakes those that sleep now. For
     * a caller that makes many parallel calls with serial stretches longer than the workers' spin between them (a
     * solver's products between its coordinate sweeps): a parked worker takes tens of microseconds to wake, as long
     * as a small call itself. Costs the workers' cores while held; close it in a finally block.
     */
    public static Hold hold() {
        HOLDS.incrementAndGet();
        for (Worker w : Pool.WORKERS) {
            if (w.parked) {
                LockSupport.unpark(w);
            }
        }
        return new Hold();
    }

    /** An open {@link #hold()}; closing it twice is harmless. */
    public static final class Hold implements AutoCloseable {
        private final AtomicBoolean open = new AtomicBoolean(true);

        private Hold() {
        }

        @Override
        public void close() {
            if (open.compareAndSet(true, false)) {
                HOLDS.decrementAndGet();
            }
        }
    }

    /**
     * Workers not running a piece at this moment (spinning or parked): how many could join a call now. A hint, out
     * of date as soon as it is read.
     */
    public static int freeWorkers() {
        int free = 0;
        for (Worker w : Pool.WORKERS) {
            free += w.busy ? 0 : 1;
        }
        return free;
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
     * {@code maxThreads} threads: 1 for small inputs (below {@link #threshold()} elements per extra thread),
     * otherwise up to {@link #PIECES_PER_THREAD} (default 4) per thread, each of at least the threshold, never more than the
     * rows. More pieces than threads, claimed as threads come free: a thread held up (another process on its
     * core) leaves its remaining pieces to the others instead of stalling the whole call.
     */
    public static int chunks(long rows, long elementsPerRow, int maxThreads) {
        if (maxThreads <= 1 || rows <= 1) {
            return 1;
        }
        long work = rows * Math.max(1, elementsPerRow);
        long byWork = work / THRESHOLD;
        if (Math.min(Math.min(maxThreads, rows), byWork) <= 1) {
            return 1;
        }
        return (int) Math.min(Math.min((long) maxThreads * PIECES_PER_THREAD, rows), byWork);
    }

    /**
     * {@link #chunks(long, long, int)} for a call on the given memory, but 1 when a worker could not touch one of the
     * segments (memory of a confined arena, usable by its owner thread only): such a call runs whole on the calling
     * thread instead of failing in a worker. Null entries are skipped.
     */
    public static int chunks(long rows, long elementsPerRow, int maxThreads, MemorySegment... memory) {
        int c = chunks(rows, elementsPerRow, maxThreads);
        return c > 1 && !shareable(memory) ? 1 : c;
    }

    /**
     * Whether the workers may access every given segment (null entries are skipped): false for memory of a
     * {@link java.lang.foreign.Arena#ofConfined() confined} arena.
     */
    public static boolean shareable(MemorySegment... memory) {
        for (MemorySegment m : memory) {
            if (m != null && !m.isAccessibleBy(OTHER_THREAD)) {
                return false;
            }
        }
        return true;
    }

    /**
     * Runs {@code body} over rows [0, rows) cut into {@code chunks} contiguous pieces: the first on the calling
     * thread, the rest by the workers or, when none has taken them yet, by the caller too. Returns when every
     * piece has finished, also when one of them threw; the first exception is rethrown.
     */
    public static void run(int chunks, long rows, RowRange body) {
        if (chunks <= 1 || rows <= 1) {
            body.run(0, rows);
            return;
        }
        Job job = new Job(body, rows, (int) Math.min(chunks, rows));
        Pool.submit(job);
        job.runPiece(0);
        while (job.runNext()) {
            // claim what no worker has started
        }
        Pool.JOBS.remove(job);
        job.await();
        for (Throwable e : job.failures) {
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

    /** One call's pieces: claimed in order through {@code next}, counted down in {@code pending}. */
    private static final class Job {
        final RowRange body;
        final long rows;
        final int pieces;
        final AtomicInteger next = new AtomicInteger(1);   // piece 0 is the caller's
        final AtomicInteger pending;
        // Each piece records its own failure, so the caller rethrows the original exception, not a copy. Written
        // before the piece's decrement of pending and read after the caller sees zero: ordered by that atomic.
        final Throwable[] failures;
        volatile Thread waiter;

        Job(RowRange body, long rows, int pieces) {
            this.body = body;
            this.rows = rows;
            this.pieces = pieces;
            this.pending = new AtomicInteger(pieces);
            this.failures = new Throwable[pieces];
        }

        /** Claims and runs one piece; false when all have been claimed. */
        boolean runNext() {
            int c = next.getAndIncrement();
            if (c >= pieces) {
                return false;
            }
            runPiece(c);
            return true;
        }

        void runPiece(int c) {
            try {
                body.run(rows * c / pieces, rows * (c + 1) / pieces);
            } catch (Throwable e) {
                failures[c] = e;
            } finally {
                // Free before the caller can see this piece done: a call that follows at once counts this worker.
                if (Thread.currentThread() instanceof Worker w) {
                    w.busy = false;
                }
                if (pending.decrementAndGet() == 0) {
                    Thread w = waiter;
                    if (w != null) {
                        LockSupport.unpark(w);
                    }
                }
            }
        }

        /** Waits for the pieces other threads are running: spinning first (they are short), then parked. */
        void await() {
            if (pending.get() == 0) {
                return;
            }
            long start = System.nanoTime();
            while (pending.get() != 0) {
                if (System.nanoTime() - start > CALLER_SPIN_NANOS) {
                    waiter = Thread.currentThread();
                    while (pending.get() != 0) {
                        LockSupport.park(this);
                    }
                    return;
                }
                Thread.onSpinWait();
            }
        }
    }

    /** The workers and the queue of calls with pieces left to claim. */
    private static final class Pool {
        static final ConcurrentLinkedQueue<Job> JOBS = new ConcurrentLinkedQueue<>();
        static final Worker[] WORKERS = new Worker[Math.max(1, CORES - 1)];

        static {
            for (int i = 0; i < WORKERS.length; i++) {
                WORKERS[i] = new Worker("jlm-rows-" + (i + 1));
                WORKERS[i].start();
            }
        }

        static void submit(Job job) {
            JOBS.add(job);
            int wake = job.pieces - 1;
            // A worker sets parked before its last look at the queue, and the job is queued before this reads
            // parked: either the worker sees the job or this sees the flag (both volatile), so no wake-up is lost.
            for (Worker w : WORKERS) {
                if (wake == 0) {
                    break;
                }
                if (w.parked) {
                    w.parked = false;
                    LockSupport.unpark(w);
                    wake--;
                }
            }
        }
    }

    private static final class Worker extends Thread {
        volatile boolean parked;
        /** Running a piece (not free to take another now). */
        volatile boolean busy;

        Worker(String name) {
            super(name);
            setDaemon(true);
        }

        @Override
        public void run() {
            long idleSince = System.nanoTime();
            while (true) {
                Job job = Pool.JOBS.peek();
                if (job != null) {
                    busy = true;
                    try {
                        if (!job.runNext()) {
                            Pool.JOBS.remove(job);
                        }
                    } finally {
                        busy = false;
                    }
                    idleSince = System.nanoTime();
                } else if (System.nanoTime() - idleSince < SPIN_NANOS || HOLDS.get() > 0) {
                    Thread.onSpinWait();
                } else {
                    parked = true;
                    if (Pool.JOBS.peek() == null && HOLDS.get() == 0) {
                        LockSupport.park(this);
                    }
                    parked = false;
                    idleSince = System.nanoTime();
                }
            }
        }
    }
}
