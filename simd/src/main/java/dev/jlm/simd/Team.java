package dev.jlm.simd;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Threads that run one loop in lockstep and add up a number at every step: what a row-split sweep of coordinate
 * descent needs, where each coordinate's gradient is a sum over all rows and the next step cannot start before
 * it is known. A {@link RowExecutor} call is too coarse for that (one hand-off per step); a team hands off once
 * and then exchanges one cache line per thread and step.
 *
 * <p>The work of a step is cut into a fixed number of {@code parts} (row ranges, say); each member computes the
 * partial values of the parts it owns, {@link Member#put puts} them, and {@link Member#sum} returns the sum of all
 * parts of that step, always added in part order. So the result does not depend on how many threads formed the
 * team: with one thread (no worker free in time, or {@code parts} = 1) the caller owns every part and gets the same
 * bits.
 *
 * <p>The caller is member 0. Members are recruited from the {@link RowExecutor} workers: the caller waits at most
 * {@link #JOIN_NANOS} for them (the workers spin between kernel calls, so they usually join within microseconds),
 * then closes the team with whoever has joined; a worker that comes later finds it closed and leaves. It waits only
 * for as many workers as are free when it starts (none free: it runs alone at once). Nobody waits
 * for a thread that has not joined, so teams started from many threads at once cannot deadlock. If a member throws,
 * the others stop at their next wait and the first failure is rethrown to the caller.
 */
public final class Team {
    /** How long the caller waits for workers to join before it goes on with those it has. */
    static final long JOIN_NANOS = 50_000;
    /** A member that has waited this long for another at one step yields its core between looks. */
    private static final long YIELD_NANOS = 20_000;
    /** A member that waits this long for another has lost it (a bug, not a slow core): it fails instead of hanging. */
    private static final long STALL_NANOS = 60_000_000_000L;
    /** Longs per part in {@link #slots}: two cache lines, so that parts never share one. */
    private static final int STRIDE = 16;
    private static final VarHandle SLOTS = MethodHandles.arrayElementVarHandle(long[].class);

    /** The loop every member runs. */
    @FunctionalInterface
    public interface Body {
        void run(Member member);
    }

    private final int parts;
    /** Per part: [0] the step whose value is published, [1 + step % 2] the value's bits. */
    private final long[] slots;
    /** While open: the number of workers that joined; once closed: minus the team's size. */
    private final AtomicInteger joined = new AtomicInteger();
    private volatile boolean failed;
    /** The first failure of a member: what the caller gets, rather than the others' reports of it. */
    private volatile Throwable cause;

    private Team(int parts) {
        this.parts = parts;
        this.slots = new long[parts * STRIDE];
        for (int p = 0; p < parts; p++) {
            slots[p * STRIDE] = -1;
        }
    }

    /**
     * Runs {@code body} on the calling thread and on up to {@code threads - 1} workers, over {@code parts} parts
     * (1 to 64). Returns when every member has returned.
     */
    public static void run(int threads, int parts, Body body) {
        if (parts < 1 || parts > 64) {
            throw new IllegalArgumentException("parts must be 1 to 64: " + parts);
        }
        Team team = new Team(parts);
        // Only as many workers as are free now are waited for: with every worker busy (other callers' teams and
        // kernels) the caller goes on alone at once instead of waiting out the join window.
        int asked = Math.min(Math.max(1, threads), parts);
        int wanted = asked > 1 ? Math.min(asked, 1 + RowExecutor.freeWorkers()) : 1;
        if (wanted == 1) {
            team.joined.set(-1);
            body.run(team.new Member(0, 1));
            return;
        }
        try {
            RowExecutor.run(wanted, wanted, (from, to) -> {
                for (long c = from; c < to; c++) {
                    if (c == 0) {
                        team.lead(wanted, body);
                    } else {
                        team.join(body);
                    }
                }
            });
        } catch (Abandoned e) {
            Throwable c = team.cause;
            if (c instanceof RuntimeException re) {
                throw re;
            }
            if (c instanceof Error err) {
                throw err;
            }
            throw e;
        }
    }

    private void lead(int wanted, Body body) {
        long start = System.nanoTime();
        while (joined.get() < wanted - 1 && System.nanoTime() - start < JOIN_NANOS) {
            Thread.onSpinWait();
        }
        int size;
        while (true) {
            int j = joined.get();
            if (joined.compareAndSet(j, -(j + 1))) {
                size = j + 1;
                break;
            }
        }
        runMember(new Member(0, size), body);
    }

    private void join(Body body) {
        int rank;
        while (true) {
            int j = joined.get();
            if (j < 0) {
                return; // closed without this thread
            }
            if (joined.compareAndSet(j, j + 1)) {
                rank = j + 1;
                break;
            }
        }
        int size;
        long start = System.nanoTime();
        while ((size = -joined.get()) <= 0) {
            checkWait(start);
            Thread.onSpinWait();
        }
        runMember(new Member(rank, size), body);
    }

    private void runMember(Member m, Body body) {
        try {
            body.run(m);
        } catch (Abandoned e) {
            throw e;
        } catch (Throwable e) {
            synchronized (this) {
                if (cause == null) {
                    cause = e;
                }
            }
            failed = true;
            throw e;
        }
    }

    private void checkWait(long start) {
        if (failed) {
            throw new Abandoned("another member of the team failed");
        }
        if (System.nanoTime() - start > STALL_NANOS) {
            failed = true;
            throw new IllegalStateException("a team member stopped answering for " + STALL_NANOS / 1_000_000_000 + " s");
        }
    }

    /** A member stopping because another failed; the caller gets that other failure instead. */
    private static final class Abandoned extends IllegalStateException {
        Abandoned(String message) {
            super(message);
        }
    }

    /** One thread's view of the team. Confined to that thread. */
    public final class Member {
        private final int rank;
        private final int size;
        private long step;
        private long waited;

        private Member(int rank, int size) {
            this.rank = rank;
            this.size = size;
        }

        /** 0 for the caller, then 1, 2, ... in the order the workers joined. */
        public int rank() {
            return rank;
        }

        /** Threads in the team (1 when the caller runs alone). */
        public int size() {
            return size;
        }

        /** The parts of each step. */
        public int parts() {
            return parts;
        }

        /**
         * Nanoseconds this member has spent in {@link #sum} waiting for the others so far: a team whose members keep
         * waiting (a core taken by another process, the JIT compiler) is slower than one thread.
         */
        public long waitedNanos() {
            return waited;
        }

        /** The first part this member owns; the next are {@code size()} apart. */
        public int firstPart() {
            return rank;
        }

        /** Publishes the value of one of this member's parts for the current step. */
        public void put(int part, double value) {
            int base = part * STRIDE;
            slots[base + 1 + (int) (step & 1)] = Double.doubleToRawLongBits(value);
            SLOTS.setRelease(slots, base, step);
        }

        /**
         * The sum of every part's value of the current step, in part order; waits for the other members' values,
         * then moves to the next step. Values of a step are kept until every member has moved past it (two
         * alternating slots per part: a member can be at most one step ahead of the slowest).
         */
        public double sum() {
            double s = 0;
            int slot = 1 + (int) (step & 1);
            for (int p = 0; p < parts; p++) {
                int base = p * STRIDE;
                if ((long) SLOTS.getAcquire(slots, base) < step) {
                    long start = System.nanoTime();
                    int spins = 0;
                    while ((long) SLOTS.getAcquire(slots, base) < step) {
                        if ((++spins & 255) == 0) {
                            checkWait(start);
                            if (System.nanoTime() - start > YIELD_NANOS) {
                                // The other member is not running (more threads than free cores: the JIT compiler,
                                // another process): give it this core rather than spin through its time slice.
                                Thread.yield();
                            }
                        }
                        Thread.onSpinWait();
                    }
                    waited += System.nanoTime() - start;
                }
                s += Double.longBitsToDouble(slots[base + slot]);
            }
            step++;
            return s;
        }
    }
}
