package dev.jlm.core.ort;

import dev.jlm.core.DType;
import dev.jlm.core.Tensor;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

class LeakTest {
    /** Resident memory outside the Java heap, in bytes (Linux only). */
    private static long nativeResident() throws IOException {
        System.gc();
        long rssKb = 0;
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("VmRSS:")) {
                rssKb = Long.parseLong(line.replaceAll("\\D", ""));
            }
        }
        long heap = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getCommitted();
        return rssKb * 1024 - heap;
    }

    @Test
    void openRunCloseLoopDoesNotGrowNativeMemory() throws IOException {
        assumeTrue(Files.isReadable(Path.of("/proc/self/status")), "needs Linux /proc");
        byte[] identity = TinyModels.identity(DType.F32);
        Random r = new Random(6);
        float[] w = new float[512 * 512];
        for (int i = 0; i < w.length; i++) {
            w[i] = (float) r.nextGaussian();
        }
        byte[] matMul = TinyModels.matMulAdd(w, 512, 512).toByteArray();
        // Per iteration: two 1 MiB outputs and a session holding a 1 MiB weight. A leaked output or session
        // would show as hundreds of MiB over the loop.
        try (Tensor a = Support.randomF32(r, 512, 512);
             Tensor x = Support.randomF32(r, 2, 512);
             Tensor x2 = Support.randomF32(r, 2, 512)) {
            long before = 0;
            int iterations = 330;
            int warmUp = 30;
            for (int i = 0; i < iterations; i++) {
                if (i == warmUp) {
                    before = nativeResident();
                }
                try (OrtModel m = OrtModel.open(identity, "identity", SessionConfig.defaults());
                     OrtModel mm = OrtModel.open(matMul, "matmul", SessionConfig.defaults());
                     Outputs pinned = m.run(Map.of("A", a), null, true);
                     Outputs copied = m.run(Map.of("A", a), null, false);
                     Outputs y = mm.run(Map.of("X", x, "X2", x2), null, i % 2 == 0)) {
                    if (pinned.get("B").getFloat(511, 511) != a.getFloat(511, 511)
                            || copied.get("B").getFloat(7, 3) != a.getFloat(7, 3)
                            || !Float.isFinite(y.get("Z").getFloat(1, 511))) {
                        throw new AssertionError("wrong output at iteration " + i);
                    }
                }
            }
            long growth = nativeResident() - before;
            System.out.println("LeakTest: native memory growth over " + (iterations - warmUp) + " iterations: " + (growth >> 10) + " KiB");
            // 300 iterations return 600 MiB of outputs and load 300 MiB of weights; 64 MiB leaves room for
            // allocator caches, not for leaks
            assertTrue(growth < 64L << 20, "native memory grew by " + (growth >> 20) + " MiB over " + (iterations - warmUp) + " iterations");
        }
    }
}
