package dev.jlm.core.eval;

import dev.jlm.core.JlmException;

import java.util.Arrays;
import java.util.Collection;

/**
 * A summary of latency samples in nanoseconds. Percentiles use the nearest-rank method: the p-th
 * percentile of n sorted samples is the sample at rank {@code ceil(p/100 * n)} (1-based), so it is always a
 * measured value, never an interpolation; p50 of 1, 2, 3, 4 is 2.
 *
 * @param count      number of samples
 * @param meanNanos  arithmetic mean
 * @param minNanos   smallest sample
 * @param p50Nanos   median (nearest rank)
 * @param p90Nanos   90th percentile (nearest rank)
 * @param p99Nanos   99th percentile (nearest rank)
 * @param maxNanos   largest sample
 */
public record LatencySummary(int count, double meanNanos, long minNanos, long p50Nanos, long p90Nanos,
                             long p99Nanos, long maxNanos) {

    /**
     * Summarizes samples.
     *
     * @throws JlmException.InvalidArgument if there are none or one is negative
     */
    public static LatencySummary of(long... nanos) {
        if (nanos.length == 0) {
            throw new JlmException.InvalidArgument("latency: no samples");
        }
        long[] s = nanos.clone();
        Arrays.sort(s);
        if (s[0] < 0) {
            throw new JlmException.InvalidArgument("latency: negative sample " + s[0] + " ns");
        }
        double sum = 0;
        for (long v : s) {
            sum += v;
        }
        return new LatencySummary(s.length, sum / s.length, s[0], percentile(s, 50), percentile(s, 90),
                percentile(s, 99), s[s.length - 1]);
    }

    /** Summarizes samples given as a collection. */
    public static LatencySummary of(Collection<Long> nanos) {
        return of(nanos.stream().mapToLong(Long::longValue).toArray());
    }

    /** Nearest-rank percentile of sorted samples, {@code 0 < p <= 100}; integer arithmetic, so no rounding. */
    static long percentile(long[] sorted, int p) {
        long rank = ((long) p * sorted.length + 99) / 100;
        return sorted[(int) Math.max(1, Math.min(sorted.length, rank)) - 1];
    }

    /** The median in milliseconds. */
    public double p50Millis() {
        return p50Nanos / 1e6;
    }

    /** The 90th percentile in milliseconds. */
    public double p90Millis() {
        return p90Nanos / 1e6;
    }
}
