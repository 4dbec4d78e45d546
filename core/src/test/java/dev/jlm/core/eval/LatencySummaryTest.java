package dev.jlm.core.eval;

import dev.jlm.core.JlmException;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class LatencySummaryTest {
    /** Nearest rank by its definition: the smallest sample v with at least p% of the samples <= v. */
    static long byDefinition(long[] samples, int p) {
        long best = Long.MAX_VALUE;
        for (long v : samples) {
            int atMost = 0;
            for (long w : samples) {
                if (w <= v) {
                    atMost++;
                }
            }
            if (100L * atMost >= (long) p * samples.length) {
                best = Math.min(best, v);
            }
        }
        return best;
    }

    @Test
    void knownCases() {
        long[] hundred = new long[100];
        for (int i = 0; i < 100; i++) {
            hundred[i] = 100 - i; // unsorted on purpose
        }
        LatencySummary s = LatencySummary.of(hundred);
        assertEquals(50, s.p50Nanos());
        assertEquals(90, s.p90Nanos());
        assertEquals(99, s.p99Nanos());
        assertEquals(1, s.minNanos());
        assertEquals(100, s.maxNanos());
        assertEquals(50.5, s.meanNanos(), 1e-12);
        assertEquals(100, s.count());
        assertEquals(2, LatencySummary.of(4, 3, 2, 1).p50Nanos());
        LatencySummary one = LatencySummary.of(List.of(7_000_000L));
        assertEquals(7_000_000, one.p99Nanos());
        assertEquals(7.0, one.p50Millis(), 1e-12);
    }

    @Test
    void randomSamplesMatchTheDefinition() {
        Random rnd = new Random(31);
        for (int n : new int[] {1, 2, 3, 7, 10, 99, 101, 1000}) {
            long[] v = new long[n];
            double sum = 0;
            for (int i = 0; i < n; i++) {
                v[i] = 1_000_000 + rnd.nextInt(5_000_000);
                sum += v[i];
            }
            LatencySummary s = LatencySummary.of(v);
            assertEquals(byDefinition(v, 50), s.p50Nanos(), "n=" + n);
            assertEquals(byDefinition(v, 90), s.p90Nanos(), "n=" + n);
            assertEquals(byDefinition(v, 99), s.p99Nanos(), "n=" + n);
            assertEquals(sum / n, s.meanNanos(), 1e-9 * sum / n);
        }
    }

    @Test
    void badSamples() {
        assertThrows(JlmException.InvalidArgument.class, LatencySummary::of);
        assertThrows(JlmException.InvalidArgument.class, () -> LatencySummary.of(5, -1, 3));
    }
}
