package dev.jlm.core.ort;

import dev.jlm.core.DType;
import dev.jlm.core.Tensor;
import dev.jlm.core.testing.TestModels;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ConcurrencyTest {
    @Test
    void manyThreadsRunningOneSessionGetTheSequentialResults() throws Exception {
        int sets = 3;
        List<Map<String, Tensor>> inputs = new ArrayList<>();
        List<float[]> expected = new ArrayList<>();
        // intra-op 1 so that each run's arithmetic does not depend on how busy the shared pool is
        try (OrtModel m = OrtModel.open(TestModels.miniLm(), SessionConfig.defaults().withIntraOpThreads(1))) {
            for (int s = 0; s < sets; s++) {
                inputs.add(Support.miniLmInputs(Support.miniLmArrays(new Random(100 + s), 1 + s, 5 + 4 * s)));
                try (Outputs o = m.run(inputs.get(s))) {
                    expected.add(o.get("last_hidden_state").toFloatArray());
                }
            }
            int threads = 4;
            int perThread = 6;
            ExecutorService pool = Executors.newFixedThreadPool(threads);
            CountDownLatch start = new CountDownLatch(1);
            List<Future<Integer>> done = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int id = t;
                done.add(pool.submit(() -> {
                    start.await();
                    int checked = 0;
                    for (int i = 0; i < perThread; i++) {
                        int s = (id + i) % sets;
                        // alternate the two output paths as well
                        try (Outputs o = m.run(inputs.get(s), null, i % 2 == 0)) {
                            assertArrayEquals(expected.get(s), o.get("last_hidden_state").toFloatArray(), "thread " + id + " run " + i);
                            checked++;
                        }
                    }
                    return checked;
                }));
            }
            start.countDown();
            int total = 0;
            for (Future<Integer> f : done) {
                total += f.get(5, TimeUnit.MINUTES);
            }
            pool.shutdown();
            assertEquals(threads * perThread, total);
        } finally {
            inputs.forEach(Support::closeAll);
        }
    }

    @Test
    void closeWaitsForRunsInProgressAndLaterRunsFailCleanly() throws Exception {
        OrtModel m = OrtModel.open(TinyModels.identity(DType.F32), "identity", SessionConfig.defaults());
        try (Tensor a = Support.randomF32(new Random(9), 64, 64)) {
            int threads = 3;
            ExecutorService pool = Executors.newFixedThreadPool(threads);
            AtomicInteger runs = new AtomicInteger();
            CountDownLatch running = new CountDownLatch(threads);
            List<Future<String>> done = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                done.add(pool.submit(() -> {
                    running.countDown();
                    while (true) {
                        try (Outputs o = m.run(Map.of("A", a))) {
                            if (o.get("B").getFloat(63, 63) != a.getFloat(63, 63)) {
                                return "wrong result";
                            }
                            runs.incrementAndGet();
                        } catch (IllegalStateException closed) {
                            return closed.getMessage();
                        }
                    }
                }));
            }
            running.await();
            while (runs.get() < 30) {
                Thread.onSpinWait();
            }
            m.close();
            for (Future<String> f : done) {
                String end = f.get(1, TimeUnit.MINUTES);
                assertTrue(end.contains("is closed"), end);
            }
            pool.shutdown();
        }
    }
}
