package dev.jlm.bench.io;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import dev.jlm.core.Tensor;
import dev.jlm.core.onnx.OnnxModel;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * Load time and resident memory of a model, loaded two ways in a fresh JVM each: {@code mapped}
 * ({@link OnnxModel#load}: mapping plus aliasing, weights stay in the page cache) and {@code copied}
 * (the whole file read onto the heap and parsed, as a plain protobuf load does). Prints one line per phase:
 * after the load, and after reading every weight once.
 *
 * <p>Run: {@code java -cp benchmarks/target/benchmarks.jar dev.jlm.bench.io.ModelLoadProbe mapped|copied MODEL.onnx}
 * (benchmarks/run-load-probe.sh runs both, several times).
 */
public final class ModelLoadProbe {
    private ModelLoadProbe() {
    }

    public static void main(String[] args) throws IOException {
        if (args.length != 2 || !(args[0].equals("mapped") || args[0].equals("copied"))) {
            System.err.println("usage: ModelLoadProbe mapped|copied MODEL.onnx");
            System.exit(2);
        }
        Path file = Path.of(args[1]);
        long[] rss0 = rssKiB();
        long t0 = System.nanoTime();
        double sum = 0;
        if (args[0].equals("mapped")) {
            try (OnnxModel m = OnnxModel.load(file)) {
                long t1 = System.nanoTime();
                report("mapped", "load", t1 - t0, rssKiB(), rss0);
                for (String name : m.initializerNames()) {
                    sum += touch(m.initializer(name).segment());
                }
                report("mapped", "load+read weights", System.nanoTime() - t0, rssKiB(), rss0);
            }
        } else {
            ModelProto proto = ModelProto.parseFrom(Files.readAllBytes(file));
            long t1 = System.nanoTime();
            report("copied", "load", t1 - t0, rssKiB(), rss0);
            for (TensorProto t : proto.getGraph().getInitializerList()) {
                sum += touch(MemorySegment.ofBuffer(t.getRawData().asReadOnlyByteBuffer()));
            }
            report("copied", "load+read weights", System.nanoTime() - t0, rssKiB(), rss0);
        }
        if (sum == 42.4242) {
            System.out.println(); // keeps the reads alive
        }
    }

    private static double touch(MemorySegment s) {
        double sum = 0;
        for (long i = 0; i + 4 <= s.byteSize(); i += 4096) {
            sum += s.get(ValueLayout.JAVA_BYTE, i);
        }
        return sum;
    }

    private static void report(String mode, String phase, long nanos, long[] rss, long[] rss0) {
        System.out.printf(Locale.ROOT, "%-7s %-18s %8.1f ms  resident: private +%6.1f MiB, file-backed +%6.1f MiB%n",
                mode, phase, nanos / 1e6, (rss[0] - rss0[0]) / 1024.0, (rss[1] - rss0[1]) / 1024.0);
    }

    /**
     * Resident memory of this process from /proc (Linux), in KiB: private (heap and other anonymous memory)
     * and file-backed (mapped files, shared with the page cache and reclaimable).
     */
    private static long[] rssKiB() throws IOException {
        long[] r = new long[2];
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("RssAnon:")) {
                r[0] = Long.parseLong(line.replaceAll("\\D", ""));
            } else if (line.startsWith("RssFile:")) {
                r[1] = Long.parseLong(line.replaceAll("\\D", ""));
            }
        }
        return r;
    }

    static {
        Tensor.class.getName(); // load core before the first measurement
    }
}
