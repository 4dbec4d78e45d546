package dev.jlm.bench;

import dev.jlm.core.Tensor;
import dev.jlm.simd.norm.LayerNorm;
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
import org.openjdk.jmh.infra.BenchmarkParams;

/**
 * LayerNorm with bias over rows of {@code shape = rows x hidden}: {@link #layerNorm} (ONNX Runtime peer:
 * {@code LayerNormalization}, opset 17) and the fused residual form {@link #layerNormResidual} (peer:
 * {@code com.microsoft SkipLayerNormalization}, which also returns the sum).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsPrepend = {Bench.ADD_VECTOR, Bench.NATIVE})
public class LayerNormBench {
    static final float EPS = 1e-5f;

    @Param({"jlm", "scalar", "ort"})
    public String impl;

    @Param({"1", "2"})
    public int threads;

    @Param({"1x2048", "128x2048", "2048x2048", "1x4096", "128x4096", "2048x4096"})
    public String shape;

    private Tensor x;
    private Tensor r;
    private Tensor gamma;
    private Tensor beta;
    private Tensor sum;
    private Tensor out;
    private LayerNorm kernel;
    private OrtOp session;
    private OrtOp.Bound bound;

    @Setup(Level.Trial)
    public void setup(BenchmarkParams params) throws Exception {
        Bench.requireImpl(impl);
        long[] s = Bench.shape(shape);
        long rows = s[0];
        long n = s[1];
        x = Bench.random(1, 0, 1, rows, n);
        r = Bench.random(2, 0, 1, rows, n);
        gamma = Bench.random(3, 1, 0.2, n);
        beta = Bench.random(4, 0, 0.2, n);
        sum = Tensor.allocate(dev.jlm.core.DType.F32, rows, n);
        out = Tensor.allocate(dev.jlm.core.DType.F32, rows, n);
        kernel = (impl.equals("scalar") ? LayerNorm.scalar() : LayerNorm.get()).withThreads(threads);
        if (impl.equals("ort")) {
            boolean residual = params.getBenchmark().endsWith("Residual");
            byte[] model = residual
                    ? TinyModel.node("com.microsoft", "SkipLayerNormalization", 1)
                            .input("input", 1, rows, n).input("skip", 1, rows, n).input("gamma", n).input("beta", n)
                            .output("output", 1, rows, n).output("sum", 1, rows, n)
                            .wire(List.of("input", "skip", "gamma", "beta"), List.of("output", "", "", "sum"))
                            .attr("epsilon", EPS).build()
                    : TinyModel.node("LayerNormalization", 17)
                            .input("X", rows, n).input("Scale", n).input("B", n).output("Y", rows, n)
                            .attr("epsilon", EPS).attr("axis", -1L).build();
            session = OrtOp.create(model, threads);
            bound = residual
                    ? session.bind(Map.of("input", x.reshape(1, rows, n), "skip", r.reshape(1, rows, n), "gamma", gamma,
                            "beta", beta), Map.of("output", out.reshape(1, rows, n), "sum", sum.reshape(1, rows, n)))
                    : session.bind(Map.of("X", x, "Scale", gamma, "B", beta), Map.of("Y", out));
        }
    }

    @Benchmark
    public void layerNorm() throws Exception {
        if (bound != null) {
            bound.run();
        } else {
            kernel.apply(x, gamma, beta, EPS, out);
        }
    }

    @Benchmark
    public void layerNormResidual() throws Exception {
        if (bound != null) {
            bound.run();
        } else {
            kernel.applyResidual(x, r, gamma, beta, EPS, sum, out);
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() throws Exception {
        Bench.close(bound, session, x, r, gamma, beta, sum, out);
    }
}
