package dev.jlm.simd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import dev.jlm.core.Tensor;
import dev.jlm.simd.norm.RmsNorm;
import dev.jlm.simd.softmax.Softmax;
import dev.jlm.simd.testing.TestData;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;

/** Many threads calling the same kernel instances at once (each call large enough to be split) get the single-threaded bits. */
class ConcurrentCallsTest {
    @Test
    void sharedKernelsFromManyThreads() throws Exception {
        int rows = 64;
        int n = 4096;
        float[] x = TestData.normal(1, rows * n, 0, 2);
        float[] g = TestData.normal(2, n, 1, 0.2);
        try (Tensor xt = Tensor.of(x, rows, n); Tensor gt = Tensor.of(g, n); Tensor rmsRef = Tensor.allocate(
                dev.jlm.core.DType.F32, rows, n); Tensor smRef = Tensor.allocate(dev.jlm.core.DType.F32, rows, n)) {
            RmsNorm.get().withThreads(1).apply(xt, gt, 1e-6f, rmsRef);
            Softmax.get().withThreads(1).apply(xt, smRef);
            float[] rmsWant = rmsRef.toFloatArray();
            float[] smWant = smRef.toFloatArray();
            ExecutorService pool = Executors.newFixedThreadPool(6);
            try {
                List<Future<?>> done = new ArrayList<>();
                for (int t = 0; t < 6; t++) {
                    done.add(pool.submit(() -> {
                        try (Tensor a = TestData.poisoned(rows, n); Tensor b = TestData.poisoned(rows, n)) {
                            for (int i = 0; i < 10; i++) {
                                RmsNorm.get().apply(xt, gt, 1e-6f, a);
                                Softmax.get().apply(xt, b);
                                assertArrayEquals(rmsWant, a.toFloatArray());
                                assertArrayEquals(smWant, b.toFloatArray());
                            }
                        }
                        return null;
                    }));
                }
                for (Future<?> f : done) {
                    f.get();
                }
            } finally {
                pool.shutdown();
            }
        }
    }
}
