package dev.jlm.bench.quant;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.TensorShapeProto;
import ai.onnx.proto.OnnxMl.TypeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtLoggingLevel;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import com.google.protobuf.UnsafeByteOperations;
import dev.jlm.core.DType;
import dev.jlm.core.Tensor;
import dev.jlm.simd.quant.QMatMul;
import dev.jlm.simd.quant.QuantizedMatrix;
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

import java.lang.foreign.ValueLayout;
import java.nio.FloatBuffer;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;

/**
 * 4-bit block-quantized matmul {@code Y[M, N] = A[M, K] x dequant(B)^T}, B in the MatMulNBits layout (blocks of
 * {@code block} k, 32 unless asked; asymmetric, F32 scales): jlm's Vector API kernel on those bytes ({@code jlm}) and on its interleaved copy
 * ({@code jlm-interleaved}: {@link QuantizedMatrix#interleaved()}, made in setup as ONNX Runtime packs its weights
 * when the session is created), its scalar reference, and ONNX Runtime's MatMulNBits on the same bytes with
 * accuracy_level 0 ({@code ort}, fp32 compute) and 4 ({@code ort4}, int8 activations). For M = 1 the figure to
 * compare with memory bandwidth is {@code bytes(B) / time}.
 *
 * <p>Run: {@code java -jar benchmarks/target/benchmarks.jar QMatMulBench -p shape=4096x4096 -p m=1}
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
// prepended, so that -jvmArgsAppend on the command line (e.g. -XX:UseAVX=2) adds to them instead of replacing them
@Fork(value = 1, jvmArgsPrepend = {"--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
public class QMatMulBench {
    @Param({"jlm", "jlm-interleaved", "scalar", "ort", "ort4"})
    public String impl;

    /** K x N. */
    @Param({"4096x4096", "4096x11008"})
    public String shape;

    @Param({"1", "128"})
    public int m;

    @Param({"1", "2"})
    public int threads;

    /** Block size along K; 32 unless asked (`-p block=16`: the default of `jlm quantize --w4`). */
    @Param({"32"})
    public int block;

    /**
     * Weight matrices of this shape, used in turn, one per call: with 1 the same weights every call (they stay in
     * the last-level cache when they fit it, 4096x11008 at 4 bits being 29 MB); with 8 (`-p layers=8`) every call
     * reads weights the seven calls before did not touch, from memory, as the successive layers of a decode step do.
     */
    @Param({"1"})
    public int layers;

    private QuantizedMatrix[] bs;
    private OrtSession[] sessions;
    private int next;
    private Tensor a;
    private Tensor y;
    private QMatMul kernel;
    private OnnxTensor input;
    private Map<String, OnnxTensor> inputs;

    @Setup(Level.Trial)
    public void setup() throws OrtException {
        String[] kn = shape.split("x");
        long k = Long.parseLong(kn[0]);
        long n = Long.parseLong(kn[1]);
        SplittableRandom rnd = new SplittableRandom(42);
        QuantizedMatrix b = QuantizedMatrix.allocate(4, block, n, k, DType.F32, true);
        var data = b.data().segment();
        for (long i = 0; i < data.byteSize(); i++) {
            data.set(ValueLayout.JAVA_BYTE, i, (byte) rnd.nextInt(256));
        }
        for (long r = 0; r < n; r++) {
            for (int blk = 0; blk < b.kBlocks(); blk++) {
                b.setScale(r, blk, (float) (rnd.nextDouble() * 0.02 - 0.01));
                b.setZeroPoint(r, blk, rnd.nextInt(16));
            }
        }
        bs = new QuantizedMatrix[layers];
        bs[0] = b;
        for (int l = 1; l < layers; l++) {   // the same values at other addresses: what is measured is where they lie
            bs[l] = QuantizedMatrix.allocate(4, block, n, k, DType.F32, true);
            bs[l].data().segment().copyFrom(b.data().segment());
            bs[l].scales().segment().copyFrom(b.scales().segment());
            bs[l].zeroPoints().segment().copyFrom(b.zeroPoints().segment());
        }
        a = Tensor.allocate(DType.F32, m, k);
        float[] av = new float[(int) (m * k)];
        for (int i = 0; i < av.length; i++) {
            av[i] = (float) rnd.nextDouble(-1, 1);
            a.segment().setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i, av[i]);
        }
        y = Tensor.allocate(DType.F32, m, n);
        switch (impl) {
            case "jlm" -> kernel = QMatMul.vector();
            case "jlm-interleaved" -> {
                kernel = QMatMul.vector();
                for (int l = 0; l < layers; l++) {
                    QuantizedMatrix rows = bs[l];
                    bs[l] = rows.interleaved();
                    rows.close();
                }
            }
            case "scalar" -> kernel = QMatMul.scalar();
            case "ort", "ort4" -> {
                OrtEnvironment env;
                OrtSession.SessionOptions o = new OrtSession.SessionOptions();
                if (layers == 1) {
                    env = OrtEnvironment.getEnvironment();
                    o.setIntraOpNumThreads(threads);
                    o.setInterOpNumThreads(1);
                } else {
                    // one thread pool for all the layers' sessions, as one model's session has: per-session pools
                    // (each spinning after its run) would compete for the cores (this fork's first environment)
                    try (OrtEnvironment.ThreadingOptions t = new OrtEnvironment.ThreadingOptions()) {
                        t.setGlobalIntraOpNumThreads(threads);
                        t.setGlobalInterOpNumThreads(1);
                        env = OrtEnvironment.getEnvironment(OrtLoggingLevel.ORT_LOGGING_LEVEL_WARNING, "qmm", t);
                    }
                    o.disablePerSessionThreads();
                }
                sessions = new OrtSession[layers];
                for (int l = 0; l < layers; l++) {
                    sessions[l] = env.createSession(model(bs[l], m, impl.equals("ort4") ? 4 : 0).toByteArray(), o);
                }
                input = OnnxTensor.createTensor(env, FloatBuffer.wrap(av), new long[]{m, k});
                inputs = Map.of("A", input);
            }
            default -> throw new IllegalArgumentException("impl " + impl);
        }
    }

    static ModelProto model(QuantizedMatrix q, long m, int accuracyLevel) {
        NodeProto node = NodeProto.newBuilder().setOpType("MatMulNBits").setDomain("com.microsoft")
                .addInput("A").addInput("B").addInput("scales").addInput("zp").addOutput("Y")
                .addAttribute(attr("K", q.k())).addAttribute(attr("N", q.n())).addAttribute(attr("bits", 4))
                .addAttribute(attr("block_size", q.blockSize())).addAttribute(attr("accuracy_level", accuracyLevel)).build();
        GraphProto g = GraphProto.newBuilder().setName("qmm").addNode(node)
                .addInput(value("A", m, q.k())).addOutput(value("Y", m, q.n()))
                .addInitializer(init("B", q.data(), q.n(), q.kBlocks(), q.blobBytes()))
                .addInitializer(init("scales", q.scales(), q.n(), q.kBlocks()))
                .addInitializer(init("zp", q.zeroPoints(), q.n(), q.zeroPointBytesPerRow())).build();
        return ModelProto.newBuilder().setIrVersion(9)
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(21))
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("com.microsoft").setVersion(1)).setGraph(g).build();
    }

    private static AttributeProto attr(String name, long v) {
        return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INT).setI(v).build();
    }

    private static TensorProto init(String name, Tensor t, long... dims) {
        TensorProto.Builder b = TensorProto.newBuilder().setName(name).setDataType(t.dtype().onnxCode())
                .setRawData(UnsafeByteOperations.unsafeWrap(t.segment().asByteBuffer()));
        for (long d : dims) {
            b.addDims(d);
        }
        return b.build();
    }

    private static ValueInfoProto value(String name, long... dims) {
        TensorShapeProto.Builder s = TensorShapeProto.newBuilder();
        for (long d : dims) {
            s.addDim(TensorShapeProto.Dimension.newBuilder().setDimValue(d));
        }
        return ValueInfoProto.newBuilder().setName(name)
                .setType(TypeProto.newBuilder().setTensorType(TypeProto.Tensor.newBuilder().setElemType(1).setShape(s))).build();
    }

    @Benchmark
    public Object multiply() throws OrtException {
        int l = next;
        next = l + 1 == layers ? 0 : l + 1;
        if (sessions != null) {
            try (OrtSession.Result r = sessions[l].run(inputs)) {
                return ((OnnxTensor) r.get(0)).getFloatBuffer().get(0);
            }
        }
        kernel.multiply(a, bs[l], null, y, threads);
        return y;
    }

    @TearDown(Level.Trial)
    public void tearDown() throws OrtException {
        if (sessions != null) {
            input.close();
            for (OrtSession s : sessions) {
                s.close();
            }
        }
        a.close();
        y.close();
        for (QuantizedMatrix q : bs) {
            q.close();
        }
    }
}
