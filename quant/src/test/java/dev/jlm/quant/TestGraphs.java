package dev.jlm.quant;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import ai.onnx.proto.OnnxMl.StringStringEntryProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.TensorShapeProto;
import ai.onnx.proto.OnnxMl.TypeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import com.google.protobuf.ByteString;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;

/** Small hand-built ONNX graphs for the rewrite tests, and a way to run them in ONNX Runtime. */
final class TestGraphs {
    private TestGraphs() {
    }

    static TensorProto floats(String name, Random rnd, double scale, long... dims) {
        long n = 1;
        for (long d : dims) {
            n *= d;
        }
        ByteBuffer b = ByteBuffer.allocate((int) n * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (long i = 0; i < n; i++) {
            b.putFloat((float) (rnd.nextGaussian() * scale));
        }
        b.flip();
        TensorProto.Builder t = TensorProto.newBuilder().setName(name).setDataType(1).setRawData(ByteString.copyFrom(b));
        for (long d : dims) {
            t.addDims(d);
        }
        return t.build();
    }

    static TensorProto longs(String name, long... values) {
        TensorProto.Builder t = TensorProto.newBuilder().setName(name).setDataType(7).addDims(values.length);
        for (long v : values) {
            t.addInt64Data(v);
        }
        return t.build();
    }

    static ValueInfoProto value(String name, int type, long... dims) {
        TensorShapeProto.Builder s = TensorShapeProto.newBuilder();
        for (long d : dims) {
            s.addDim(TensorShapeProto.Dimension.newBuilder().setDimValue(d));
        }
        return ValueInfoProto.newBuilder().setName(name)
                .setType(TypeProto.newBuilder().setTensorType(TypeProto.Tensor.newBuilder().setElemType(type).setShape(s))).build();
    }

    static NodeProto node(String op, String name, String[] in, String[] out, AttributeProto... attrs) {
        NodeProto.Builder n = NodeProto.newBuilder().setOpType(op).setName(name);
        for (String s : in) {
            n.addInput(s);
        }
        for (String s : out) {
            n.addOutput(s);
        }
        for (AttributeProto a : attrs) {
            n.addAttribute(a);
        }
        return n.build();
    }

    static AttributeProto i(String name, long v) {
        return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INT).setI(v).build();
    }

    /**
     * Every case the rewrite handles: an embedding Gather (hidden 40, not a multiple of the block; 1 MB, so it is
     * not one of the small tables kept in float), a weight shared
     * by two MatMuls, Gemm with transB=1 and a [N] bias, Gemm with a [1, N] bias, Gemm with a [M, N] C (needs an
     * Add), and a weight that a Transpose also reads (must stay float).
     */
    static ModelProto mixed(long seed, int opset) {
        Random rnd = new Random(seed);
        GraphProto.Builder g = GraphProto.newBuilder().setName("mixed")
                .addInput(value("x", 1, 2, 3, 40)).addInput(value("ids", 7, 2, 3))
                .addOutput(value("y", 1, 6, 19)).addOutput(value("t", 1, 19, 20))
                .addInitializer(floats("table", rnd, 0.5, 6600, 40))
                .addInitializer(floats("W1", rnd, 0.2, 40, 24))
                .addInitializer(longs("shape", 6, 24))
                .addInitializer(floats("W2", rnd, 0.2, 17, 24))
                .addInitializer(floats("C2", rnd, 0.1, 17))
                .addInitializer(floats("W3", rnd, 0.2, 17, 33))
                .addInitializer(floats("C3", rnd, 0.1, 1, 33))
                .addInitializer(floats("W4", rnd, 0.2, 33, 20))
                .addInitializer(floats("C4", rnd, 0.1, 6, 20))
                .addInitializer(floats("W5", rnd, 0.2, 20, 19))
                .addNode(node("Gather", "embed", new String[]{"table", "ids"}, new String[]{"e"}))
                .addNode(node("Add", "add0", new String[]{"x", "e"}, new String[]{"h"}))
                .addNode(node("MatMul", "mm1", new String[]{"h", "W1"}, new String[]{"a"}))
                .addNode(node("MatMul", "mm1b", new String[]{"e", "W1"}, new String[]{"a2"}))
                .addNode(node("Add", "add1", new String[]{"a", "a2"}, new String[]{"s"}))
                .addNode(node("Reshape", "reshape", new String[]{"s", "shape"}, new String[]{"s2"}))
                .addNode(node("Gemm", "gemm2", new String[]{"s2", "W2", "C2"}, new String[]{"g1"}, i("transB", 1)))
                .addNode(node("Gemm", "gemm3", new String[]{"g1", "W3", "C3"}, new String[]{"g2"}))
                .addNode(node("Gemm", "gemm4", new String[]{"g2", "W4", "C4"}, new String[]{"g3"}))
                .addNode(node("MatMul", "mm5", new String[]{"g3", "W5"}, new String[]{"y"}))
                .addNode(node("Transpose", "tr5", new String[]{"W5"}, new String[]{"t"}));
        return ModelProto.newBuilder().setIrVersion(8).setProducerName("jlm-test").setDocString("a test graph")
                .addMetadataProps(StringStringEntryProto.newBuilder().setKey("origin").setValue("unit test"))
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(opset))
                .setGraph(g).build();
    }

    /** Random inputs for {@link #mixed}. */
    static Map<String, Object> mixedInputs(long seed) {
        Random rnd = new Random(seed);
        float[] x = new float[2 * 3 * 40];
        for (int k = 0; k < x.length; k++) {
            x[k] = (float) rnd.nextGaussian();
        }
        long[] ids = new long[6];
        for (int k = 0; k < ids.length; k++) {
            ids[k] = rnd.nextInt(50);
        }
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("x", new Object[]{x, new long[]{2, 3, 40}});
        m.put("ids", new Object[]{ids, new long[]{2, 3}});
        return m;
    }

    /** Runs a model file (or bytes) in ONNX Runtime; returns every output flattened. */
    static Map<String, float[]> run(Object model, Map<String, Object> inputs) throws OrtException {
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (OrtSession.SessionOptions o = new OrtSession.SessionOptions()) {
            o.setIntraOpNumThreads(1);
            try (OrtSession s = model instanceof byte[] b ? env.createSession(b, o) : env.createSession(model.toString(), o)) {
                Map<String, OnnxTensor> in = new HashMap<>();
                try {
                    for (Map.Entry<String, Object> e : inputs.entrySet()) {
                        Object[] v = (Object[]) e.getValue();
                        in.put(e.getKey(), v[0] instanceof float[] f ? OnnxTensor.createTensor(env, FloatBuffer.wrap(f), (long[]) v[1])
                                : OnnxTensor.createTensor(env, LongBuffer.wrap((long[]) v[0]), (long[]) v[1]));
                    }
                    Map<String, float[]> out = new LinkedHashMap<>();
                    try (OrtSession.Result r = s.run(in)) {
                        for (Map.Entry<String, ai.onnxruntime.OnnxValue> e : r) {
                            FloatBuffer fb = ((OnnxTensor) e.getValue()).getFloatBuffer();
                            float[] a = new float[fb.remaining()];
                            fb.get(a);
                            out.put(e.getKey(), a);
                        }
                    }
                    return out;
                } finally {
                    in.values().forEach(OnnxTensor::close);
                }
            }
        }
    }

    /** ||a - b|| / ||b||. */
    static double relError(float[] a, float[] b) {
        double d = 0;
        double n = 0;
        for (int k = 0; k < a.length; k++) {
            d += Math.pow(a[k] - b[k], 2);
            n += (double) b[k] * b[k];
        }
        return Math.sqrt(d / n);
    }
}
