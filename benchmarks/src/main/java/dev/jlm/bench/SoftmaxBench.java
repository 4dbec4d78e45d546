package dev.jlm.bench;

import dev.jlm.core.DType;
import dev.jlm.core.Tensor;
import dev.jlm.simd.softmax.Softmax;
import dev.jlm.simd.testing.OrtOp;
import dev.jlm.simd.testing.TinyModel;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Softmax over the last axis of {@code shape = rows x cols} (ONNX Runtime peer: {@code Softmax}, opset 13).
 * Shapes: a decode step's scores (32 heads x 2048 keys), MiniLM's (12 heads x 128 queries, 128 keys), a prefill
 * block (32 heads x 128 queries, 512 keys) and sampling over a 32000-token vocabulary.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsPrepend = {Bench.ADD_VECTOR, Bench.NATIVE})
public class SoftmaxBench {
    @Param({"jlm", "scalar", "ort"})
    public String impl;

    @Param({"1", "2"})
    public int threads;

    @Param({"32x2048", "1536x128", "4096x512", "1x32000", "65536x128"})
    public String shape;

    /** Input type; F16 and BF16 with impl jlm or scalar only. */
    @Param({"F32"})
    public String dtype;

    private Tensor x;
    private Tensor out;
    private Softmax kernel;
    private OrtOp session;
    private OrtOp.Bound bound;

    @Setup(Level.Trial)
    public void setup() throws Exception {
        Bench.requireImpl(impl);
        long[] s = Bench.shape(shape);
        x = Bench.random(dtype, impl, 1, 0, 3, s);
        out = Tensor.allocate(DType.F32, s);
        kernel = (impl.equals("scalar") ? Softmax.scalar() : Softmax.get()).withThreads(threads);
        if (impl.equals("ort")) {
            session = OrtOp.create(TinyModel.node("Softmax", 13).input("X", s).output("Y", s).attr("axis", -1L).build(),
                    threads);
            bound = session.bind(Map.of("X", x), Map.of("Y", out));
        }
    }

    @Benchmark
    public void softmax() throws Exception {
        if (bound != null) {
            bound.run();
        } else {
            kernel.apply(x, out);
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() throws Exception {
        Bench.close(bound, session, x, out);
    }
}
