package dev.jlm.simd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import org.junit.jupiter.api.Test;

class RowExecutorTest {
    @Test
    void smallWorkStaysOnOneThread() {
        assertEquals(1, RowExecutor.chunks(1, 1 << 24, 8), "one row is never split");
        assertEquals(1, RowExecutor.chunks(100, 10, 8), "tiny work is never split");
        assertEquals(1, RowExecutor.chunks(1000, 4096, 1), "a limit of one thread is kept");
        long t = RowExecutor.threshold();
        assertEquals(2, RowExecutor.chunks(2, 2 * t, 2));
        int k = RowExecutor.PIECES_PER_THREAD;
        assertEquals(2 * k, RowExecutor.chunks(1000, 1000 * t, 2), "at most PIECES_PER_THREAD pieces per thread");
        assertEquals(3, RowExecutor.chunks(3, 1000 * t, 16), "never more than the rows");
        assertEquals(3, RowExecutor.chunks(100, 3 * t / 100 + 1, 2), "every piece gets at least the threshold");
    }

    @Test
    void everyRowRunsExactlyOnce() {
        for (int chunks : new int[] {1, 2, 3, 7, 64}) {
            for (int rows : new int[] {1, 2, 5, 64, 1000}) {
                AtomicIntegerArray seen = new AtomicIntegerArray(rows);
                RowExecutor.run(chunks, rows, (from, to) -> {
                    for (long r = from; r < to; r++) {
                        seen.incrementAndGet((int) r);
                    }
                });
                for (int r = 0; r < rows; r++) {
                    assertEquals(1, seen.get(r), "row " + r + " of " + rows + " in " + chunks + " pieces");
                }
            }
        }
    }

    @Test
    void aFailureIsRethrownAfterEveryPieceFinished() {
        AtomicInteger finished = new AtomicInteger();
        IllegalStateException boom = new IllegalStateException("boom");
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> RowExecutor.run(4, 4, (from, to) -> {
            if (from == 2) {
                throw boom;
            }
            finished.incrementAndGet();
        }));
        assertEquals("boom", e.getMessage());
        assertEquals(3, finished.get(), "the other pieces ran to completion before the call returned");
        IllegalArgumentException own = new IllegalArgumentException("mine");
        assertSame(own, assertThrows(IllegalArgumentException.class, () -> RowExecutor.run(2, 2, (from, to) -> {
            if (from == 0) {
                throw own;
            }
        })), "the caller's own exception comes back as it is");
    }

    @Test
    void nestedCallsFromInsideAPieceComplete() {
        AtomicInteger inner = new AtomicInteger();
        RowExecutor.run(2, 2, (from, to) -> RowExecutor.run(2, 10, (a, b) -> inner.addAndGet((int) (b - a))));
        assertEquals(20, inner.get());
    }

    /** Many callers at once, pieces of every size, some nested: every row of every call runs exactly once. */
    @Test
    void concurrentCallersEachGetEveryRowOnce() throws Exception {
        int callers = 6;
        java.util.List<Thread> threads = new java.util.ArrayList<>();
        java.util.concurrent.ConcurrentLinkedQueue<Throwable> errors = new java.util.concurrent.ConcurrentLinkedQueue<>();
        for (int t = 0; t < callers; t++) {
            int seed = t;
            Thread th = new Thread(() -> {
                java.util.SplittableRandom rnd = new java.util.SplittableRandom(seed);
                try {
                    for (int call = 0; call < 400; call++) {
                        int rows = 1 + rnd.nextInt(300);
                        int chunks = 1 + rnd.nextInt(5);
                        boolean nested = rnd.nextInt(8) == 0;
                        AtomicIntegerArray seen = new AtomicIntegerArray(rows);
                        RowExecutor.run(chunks, rows, (from, to) -> {
                            if (nested) {
                                RowExecutor.run(2, 4, (a, b) -> { });
                            }
                            for (long r = from; r < to; r++) {
                                seen.incrementAndGet((int) r);
                            }
                        });
                        for (int r = 0; r < rows; r++) {
                            if (seen.get(r) != 1) {
                                throw new AssertionError("row " + r + " ran " + seen.get(r) + " times");
                            }
                        }
                    }
                } catch (Throwable e) {
                    errors.add(e);
                }
            });
            threads.add(th);
            th.start();
        }
        for (Thread th : threads) {
            th.join(60_000);
        }
        for (Thread th : threads) {
            assertEquals(false, th.isAlive(), "a caller is stuck");
        }
        assertEquals(0, errors.size(), () -> "first failure: " + errors.peek());
    }

    /** After the workers have gone idle (parked), a call still wakes them or runs alone, and completes. */
    @Test
    void callsAfterIdlePeriodsComplete() throws Exception {
        for (int i = 0; i < 5; i++) {
            Thread.sleep(20);   // well past the spin time: the workers park
            AtomicInteger sum = new AtomicInteger();
            RowExecutor.run(2, 100, (from, to) -> sum.addAndGet((int) (to - from)));
            assertEquals(100, sum.get());
        }
    }
}
