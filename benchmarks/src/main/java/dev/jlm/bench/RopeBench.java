package dev.jlm.bench;

import dev.jlm.core.DType;
import dev.jlm.core.Tensor;
import dev.jlm.simd.rope.Rope;
import dev.jlm.simd.rope.RopeTable;
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
 * RoPE on {@code shape = seq x heads x headDim} (the layout a Q or K projection produces), both layouts
 * (ONNX Runtime peer: {@code RotaryEmbedding}, opset 23, with position ids and the same cos/sin tables). A single
 * token (decode) is placed at position 1000, longer sequences start at 0.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsPrepend = {Bench.ADD_VECTOR, Bench.NATIVE})
public class RopeBench {
    static final int MAX_POSITIONS = 4096;

    @Param({"jlm", "scalar", "ort"})
    public String impl;

    @Param({"1", "2"})
    public int threads;

    @Param({"1x32x128", "128x32x128", "2048x32x128", "128x12x64"})
    public String shape;

    @Param({"half", "interleaved"})
    public String layout;

    private Tensor x;
    private Tensor out;
    private Tensor ids;
    private RopeTable table;
    private Rope.Layout ropeLayout;
    private long position;
    private Rope kernel;
    private OrtOp session;
    private OrtOp.Bound bound;

    @Setup(Level.Trial)
    public void setup() throws Exception {
        Bench.requireImpl(impl);
        long[] s = Bench.shape(shape);
        long seq = s[0];
        long heads = s[1];
        long headDim = s[2];
        ropeLayout = layout.equals("interleaved") ? Rope.Layout.INTERLEAVED : Rope.Layout.HALF_SPLIT;
        position = seq == 1 ? 1000 : 0;
        x = Bench.random(1, 0, 1, seq, heads, headDim);
        out = Tensor.allocate(DType.F32, seq, heads, headDim);
        table = RopeTable.of((int) headDim, 10000.0, MAX_POSITIONS);
        kernel = (impl.equals("scalar") ? Rope.scalar() : Rope.get()).withThreads(threads);
        if (impl.equals("ort")) {
            ids = Tensor.allocate(DType.I64, 1, seq);
            for (long t = 0; t < seq; t++) {
                ids.setDouble(position + t, 0, t);
            }
            long hidden = heads * headDim;
            byte[] model = TinyModel.node("RotaryEmbedding", 23)
                    .input("X", 1, seq, hidden)
                    .input("cos_cache", MAX_POSITIONS, headDim / 2).input("sin_cache", MAX_POSITIONS, headDim / 2)
                    .typedInput("position_ids", TinyModel.INT64, 1, seq)
                    .output("Y", 1, seq, hidden)
                    .attr("interleaved", ropeLayout == Rope.Layout.INTERLEAVED ? 1L : 0L).attr("num_heads", heads)
                    .build();
            session = OrtOp.create(model, threads);
            bound = session.bind(Map.of("X", x.reshape(1, seq, hidden), "cos_cache", table.cos(),
                    "sin_cache", table.sin(), "position_ids", ids), Map.of("Y", out.reshape(1, seq, hidden)));
        }
    }

    @Benchmark
    public void rope() throws Exception {
        if (bound != null) {
            bound.run();
        } else {
            kernel.apply(x, table, ropeLayout, position, out);
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() throws Exception {
        Bench.close(bound, session, x, out, ids);
    }
}
