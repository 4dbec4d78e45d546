package dev.jlm.simd.quant;

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
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import com.google.protobuf.ByteString;
import dev.jlm.core.DType;
import dev.jlm.core.Tensor;
import org.junit.jupiter.api.Test;

import java.nio.FloatBuffer;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The second oracle: ONNX Runtime's own MatMulNBits on the very same bytes. Agreement here means the
 * layout jlm writes is the layout ONNX Runtime reads. Bound as in {@link QMatMulTest}, relative 2e-5.
 */
class OrtMatMulNBitsTest {
    static TensorProto init(String name, Tensor t, long... dims) {
        TensorProto.Builder b = TensorProto.newBuilder().setName(name).setDataType(t.dtype().onnxCode())
                .setRawData(ByteString.copyFrom(t.segment().asByteBuffer()));
        for (long d : dims) {
            b.addDims(d);
        }
        return b.build();
    }

    static ValueInfoProto value(String name, int type, long... dims) {
        TensorShapeProto.Builder s = TensorShapeProto.newBuilder();
        for (long d : dims) {
            s.addDim(TensorShapeProto.Dimension.newBuilder().setDimValue(d));
        }
        return ValueInfoProto.newBuilder().setName(name)
                .setType(TypeProto.newBuilder().setTensorType(TypeProto.Tensor.newBuilder().setElemType(type).setShape(s))).build();
    }

    static AttributeProto intAttr(String name, long v) {
        return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INT).setI(v).build();
    }

    /** A one-node model Y = MatMulNBits(A, B, scales[, zero_points][, bias]). */
    static byte[] model(QuantizedMatrix q, long m, Tensor bias, int accuracyLevel) {
        NodeProto.Builder node = NodeProto.newBuilder().setOpType("MatMulNBits").setDomain("com.microsoft").setName("qmm")
                .addInput("A").addInput("B").addInput("scales").addOutput("Y")
                .addAttribute(intAttr("K", q.k())).addAttribute(intAttr("N", q.n()))
                .addAttribute(intAttr("bits", q.bits())).addAttribute(intAttr("block_size", q.blockSize()))
                .addAttribute(intAttr("accuracy_level", accuracyLevel));
        GraphProto.Builder g = GraphProto.newBuilder().setName("g")
                .addInput(value("A", 1, m, q.k())).addOutput(value("Y", 1, m, q.n()))
                .addInitializer(init("B", q.data(), q.n(), q.kBlocks(), q.blobBytes()))
                .addInitializer(init("scales", q.scales(), q.n(), q.kBlocks()));
        if (q.hasZeroPoints() || bias != null) {
            node.addInput(q.hasZeroPoints() ? "zp" : "");
        }
        if (q.hasZeroPoints()) {
            g.addInitializer(init("zp", q.zeroPoints(), q.n(), q.zeroPointBytesPerRow()));
        }
        if (bias != null) {
            node.addInput("").addInput("bias");
            g.addInitializer(init("bias", bias, q.n()));
        }
        g.addNode(node);
        return ModelProto.newBuilder().setIrVersion(9)
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(21))
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("com.microsoft").setVersion(1))
                .setGraph(g).build().toByteArray();
    }

    static float[] runOrt(byte[] model, Tensor a, long m, long k) throws OrtException {
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (OrtSession.SessionOptions opts = new OrtSession.SessionOptions()) {
            opts.setIntraOpNumThreads(1);
            try (OrtSession s = env.createSession(model, opts);
                 OnnxTensor in = OnnxTensor.createTensor(env, FloatBuffer.wrap(a.toFloatArray()), new long[]{m, k});
                 OrtSession.Result r = s.run(Map.of("A", in))) {
                FloatBuffer fb = ((OnnxTensor) r.get(0)).getFloatBuffer();
                float[] out = new float[fb.remaining()];
                fb.get(out);
                return out;
            }
        }
    }

    @Test
    void jlmAndOnnxRuntimeAgreeOnTheSameBytes() throws OrtException {
        Random rnd = new Random(2024);
        int[][] cases = {
                // bits, block, m, n, k, asym, bias
                {4, 32, 1, 17, 64, 0, 0},
                {4, 32, 3, 17, 70, 1, 1},
                {4, 16, 2, 5, 33, 1, 0},
                {4, 128, 1, 9, 300, 0, 1},
                {4, 64, 5, 33, 256, 1, 1},
                {8, 32, 1, 17, 64, 0, 0},
                {8, 16, 3, 11, 50, 1, 1},
                {8, 128, 2, 7, 260, 0, 1},
                // decode over several groups of 16 blocks; prefill tiles (M >= 32)
                {4, 32, 1, 21, 1000, 1, 1},
                {8, 64, 1, 10, 1100, 1, 0},
                {4, 64, 40, 13, 600, 1, 1},
                {8, 32, 33, 9, 700, 0, 0},
        };
        for (int[] c : cases) {
            int bits = c[0];
            int block = c[1];
            long m = c[2];
            long n = c[3];
            long k = c[4];
            try (QuantizedMatrix q = QTesting.random(rnd, bits, block, n, k, DType.F32, c[5] == 1);
                 Tensor a = QTesting.randomF32(rnd, m, k);
                 Tensor bias = c[6] == 1 ? QTesting.randomF32(rnd, n) : null;
                 Tensor y = QTesting.nan(m, n)) {
                float[] ort = runOrt(model(q, m, bias, 0), a, m, k);
                QMatMul.get().multiply(a, q, bias, y, 2);
                float[] got = y.toFloatArray();
                double[][] ref = QTesting.reference(a, q, bias);
                assertEquals(got.length, ort.length);
                for (int i = 0; i < got.length; i++) {
                    double tol = 2e-5 * ref[1][i] + 1e-30;
                    if (!(Math.abs(got[i] - ort[i]) <= tol) || !(Math.abs(ort[i] - ref[0][i]) <= tol)) {
                        fail(java.util.Arrays.toString(c) + ": y[" + i + "] jlm " + got[i] + ", ONNX Runtime " + ort[i]
                                + ", double reference " + ref[0][i] + " (tolerance " + tol + ")");
                    }
                }
            }
        }
    }
}
