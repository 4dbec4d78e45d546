package dev.jlm.bench;

import dev.jlm.core.DType;
import dev.jlm.core.Tensor;
import dev.jlm.simd.activation.Activations;
import dev.jlm.simd.testing.OrtOp;
import dev.jlm.simd.testing.TinyModel;
import java.util.List;
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
 * Element-wise activations on {@code shape = rows x ff}. ONNX Runtime peers: {@code Gelu} (opset 20,
 * {@code approximate} none / tanh), {@code com.microsoft QuickGelu} with alpha 1 (which is SiLU), and for SwiGLU
 * the two-node graph QuickGelu(gate) * up (ONNX has no single SwiGLU operator).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsPrepend = {Bench.ADD_VECTOR, Bench.NATIVE})
public class ActivationBench {
    @Param({"jlm", "scalar", "ort"})
    public String impl;

    @Param({"1", "2"})
    public int threads;

    @Param({"silu", "geluTanh", "geluErf", "swiglu"})
    public String op;

    @Param({"1x11008", "128x1536", "128x11008"})
    public String shape;

    /** Input type (x and up); F16 and BF16 with impl jlm or scalar only. */
    @Param({"F32"})
    public String dtype;

    private Tensor x;
    private Tensor up;
    private Tensor out;
    private Activations kernel;
    private OrtOp session;
    private OrtOp.Bound bound;

    @Setup(Level.Trial)
    public void setup() throws Exception {
        Bench.requireImpl(impl);
        long[] s = Bench.shape(shape);
        x = Bench.random(dtype, impl, 1, 0, 2, s);
        up = Bench.random(dtype, impl, 2, 0, 1, s);
        out = Tensor.allocate(DType.F32, s);
        kernel = (impl.equals("scalar") ? Activations.scalar() : Activations.get()).withThreads(threads);
        if (impl.equals("ort")) {
            TinyModel m = switch (op) {
                case "silu" -> TinyModel.node("com.microsoft", "QuickGelu", 1).attr("alpha", 1.0f)
                        .input("X", s).output("Y", s);
                case "geluTanh" -> TinyModel.node("Gelu", 20).attr("approximate", "tanh").input("X", s).output("Y", s);
                case "geluErf" -> TinyModel.node("Gelu", 20).attr("approximate", "none").input("X", s).output("Y", s);
                case "swiglu" -> TinyModel.node("com.microsoft", "QuickGelu", 1).attr("alpha", 1.0f)
                        .wire(List.of("X"), List.of("silu")).then("Mul").wire(List.of("silu", "U"), List.of("Y"))
                        .input("X", s).input("U", s).output("Y", s);
                default -> throw new IllegalArgumentException("unknown op " + op);
            };
            session = OrtOp.create(m.build(), threads);
            bound = op.equals("swiglu")
                    ? session.bind(Map.of("X", x, "U", up), Map.of("Y", out))
                    : session.bind(Map.of("X", x), Map.of("Y", out));
        }
    }

    @Benchmark
    public void activation() throws Exception {
        if (bound != null) {
            bound.run();
            return;
        }
        switch (op) {
            case "silu" -> kernel.silu(x, out);
            case "geluTanh" -> kernel.geluTanh(x, out);
            case "geluErf" -> kernel.geluErf(x, out);
            default -> kernel.swiglu(x, up, out);
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() throws Exception {
        Bench.close(bound, session, x, up, out);
    }
}
