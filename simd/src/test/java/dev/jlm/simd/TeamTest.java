package dev.jlm.simd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import org.junit.jupiter.api.Test;

class TeamTest {
    /** The value part p contributes at a step: a random double of any magnitude and sign, reproducible. */
    private static double value(long seed, long step, int part) {
        SplittableRandom r = new SplittableRandom(seed * 1_000_003L + step * 131 + part);
        return (r.nextDouble() - 0.5) * Math.scalb(1.0, r.nextInt(-30, 30));
    }

    /** The sum every member must see: the parts added in part order, from 0. */
    private static double expected(long seed, long step, int parts) {
        double s = 0;
        for (int p = 0; p < parts; p++) {
            s += value(seed, step, p);
        }
        return s;
    }

    /**
     * Runs {@code steps} lockstep steps and checks every member's sum bit for bit against the sequential one;
     * returns the team's size.
     */
    private static int runChecked(int threads, int parts, int steps, long seed) {
        AtomicInteger size = new AtomicInteger();
        AtomicIntegerArray owners = new AtomicIntegerArray(parts);
        Team.run(threads, parts, m -> {
            if (m.rank() == 0) {
                size.set(m.size());
            }
            assertEquals(parts, m.parts());
            for (int p = m.firstPart(); p < parts; p += m.size()) {
                owners.incrementAndGet(p);
            }
            for (int step = 0; step < steps; step++) {
                for (int p = m.firstPart(); p < parts; p += m.size()) {
                    m.put(p, value(seed, step, p));
                }
                double got = m.sum();
                double want = expected(seed, step, parts);
                if (Double.doubleToRawLongBits(got) != Double.doubleToRawLongBits(want)) {
                    throw new AssertionError("member " + m.rank() + " of " + m.size() + ", step " + step + ": " + got
                            + " != " + want);
                }
            }
        });
        for (int p = 0; p < parts; p++) {
            assertEquals(1, owners.get(p), "part " + p + " must have exactly one owner");
        }
        int s = size.get();
        assertTrue(s >= 1 && s <= Math.min(Math.max(threads, 1), parts), "team size " + s);
        return s;
    }

    @Test
    void everyMemberSeesThePartsAddedInOrderWhateverTheTeam() {
        long seed = 1;
        for (int parts : new int[] {1, 2, 3, 5, 8, 64}) {
            for (int threads : new int[] {1, 2, 3, 4, 8}) {
                runChecked(threads, parts, 3000, seed++);
            }
        }
    }

    @Test
    void oneThreadRunsEveryPartItself() {
        assertEquals(1, runChecked(1, 7, 100, 42));
        assertThrows(IllegalArgumentException.class, () -> Team.run(2, 0, m -> { }));
        assertThrows(IllegalArgumentException.class, () -> Team.run(2, 65, m -> { }));
    }

    @Test
    void aBusyPoolLeavesTheCallerAloneInsteadOfWaiting() throws Exception {
        // Keep every worker busy in a long piece, then form a team: the caller must go on alone, with the same sums.
        int workers = Math.max(1, RowExecutor.cores() - 1);
        CountDownLatch started = new CountDownLatch(workers);
        CountDownLatch release = new CountDownLatch(1);
        AtomicInteger onWorkers = new AtomicInteger();
        Thread holder = new Thread(() -> RowExecutor.run(workers + 1, workers + 1, (from, to) -> {
            if (from == 0) {
                return; // the holder's own piece
            }
            if (Thread.currentThread().getName().startsWith("jlm-rows-")) {
                onWorkers.incrementAndGet();
            }
            started.countDown();
            try {
                release.await(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }));
        holder.start();
        try {
            assertTrue(started.await(10, TimeUnit.SECONDS));
            long t0 = System.nanoTime();
            int size = runChecked(2, 4, 2000, 7);
            if (onWorkers.get() == workers) {
                assertEquals(1, size, "no worker was free, so the caller ran alone");
            }
            assertTrue(System.nanoTime() - t0 < 5_000_000_000L, "the caller did not wait for the busy workers");
        } finally {
            release.countDown();
            holder.join();
        }
    }

    @Test
    void aMemberFailureStopsTheOthersAndReachesTheCaller() {
        for (int failing : new int[] {0, 1}) {
            IllegalArgumentException boom = new IllegalArgumentException("boom " + failing);
            RuntimeException e = assertThrows(RuntimeException.class, () -> Team.run(2, 2, m -> {
                for (int step = 0; step < 100; step++) {
                    if (step == 50 && m.rank() == Math.min(failing, m.size() - 1)) {
                        throw boom;
                    }
                    for (int p = m.firstPart(); p < m.parts(); p += m.size()) {
                        m.put(p, step);
                    }
                    m.sum();
                }
            }));
            assertSame(boom, e, "the original failure, not another member's report of it");
        }
        // The pool still works afterwards.
        runChecked(2, 2, 100, 3);
    }

    @Test
    void teamsFromManyThreadsAtOnceNeitherDeadlockNorMix() throws Exception {
        ExecutorService ex = Executors.newFixedThreadPool(6);
        try {
            List<Future<?>> fs = new ArrayList<>();
            for (int t = 0; t < 6; t++) {
                long seed = 100 + t;
                fs.add(ex.submit(() -> {
                    for (int i = 0; i < 40; i++) {
                        runChecked(2 + (int) (seed % 3), 3 + i % 4, 300, seed * 1000 + i);
                    }
                }));
            }
            for (Future<?> f : fs) {
                f.get(120, TimeUnit.SECONDS);
            }
        } finally {
            ex.shutdownNow();
        }
    }

    @Test
    void waitsAreCountedForTheMemberThatWaited() {
        long[] waited = new long[2];
        int[] size = new int[1];
        Team.run(2, 2, m -> {
            if (m.rank() == 0) {
                size[0] = m.size();
            }
            for (int step = 0; step < 3; step++) {
                if (step == 1 && m.rank() == 1) {
                    try {
                        Thread.sleep(20);
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
                for (int p = m.firstPart(); p < m.parts(); p += m.size()) {
                    m.put(p, step);
                }
                m.sum();
            }
            waited[m.rank()] = m.waitedNanos();
        });
        if (size[0] == 2) {
            assertTrue(waited[0] >= 15_000_000L, "the caller waited for the sleeping member: " + waited[0]);
        } else {
            assertEquals(0, waited[0], "alone, nobody is waited for");
        }
    }

    @Test
    void holdKeepsWorkersAwakeAndClosesIdempotently() {
        try (RowExecutor.Hold h = RowExecutor.hold()) {
            runChecked(2, 2, 100, 9);
            h.close();
            h.close(); // harmless
        }
        runChecked(2, 2, 100, 10);
    }
}
