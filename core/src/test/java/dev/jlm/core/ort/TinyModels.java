package dev.jlm.core.ort;

import ai.onnx.proto.OnnxMl;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.TensorShapeProto;
import ai.onnx.proto.OnnxMl.TypeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import com.google.protobuf.ByteString;
import dev.jlm.core.DType;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/** Small ONNX models built in memory with the protobuf builders. */
final class TinyModels {
    private TinyModels() {
    }

    /** A tensor value info; each dim is a number or a symbolic name (String), {@code null} for an anonymous one. */
    static ValueInfoProto value(String name, DType dtype, Object... dims) {
        TensorShapeProto.Builder sh = TensorShapeProto.newBuilder();
        for (Object d : dims) {
            TensorShapeProto.Dimension.Builder db = TensorShapeProto.Dimension.newBuilder();
            if (d instanceof Number n) {
                db.setDimValue(n.longValue());
            } else if (d instanceof String s) {
                db.setDimParam(s);
            }
            sh.addDim(db);
        }
        return ValueInfoProto.newBuilder().setName(name)
                .setType(TypeProto.newBuilder().setTensorType(TypeProto.Tensor.newBuilder()
                        .setElemType(dtype.onnxCode()).setShape(sh)))
                .build();
    }

    static NodeProto node(String op, String[] in, String... out) {
        NodeProto.Builder b = NodeProto.newBuilder().setOpType(op).setName(op + "_" + out[0]);
        for (String i : in) {
            b.addInput(i);
        }
        for (String o : out) {
            b.addOutput(o);
        }
        return b.build();
    }

    static String[] in(String... names) {
        return names;
    }

    /** A float initializer stored inline as raw little-endian bytes. */
    static TensorProto floatInit(String name, float[] values, long... dims) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) {
            b.putFloat(v);
        }
        TensorProto.Builder t = TensorProto.newBuilder().setName(name).setDataType(DType.F32.onnxCode())
                .setRawData(ByteString.copyFrom(b.array()));
        for (long d : dims) {
            t.addDims(d);
        }
        return t.build();
    }

    static ModelProto model(GraphProto.Builder graph) {
        return ModelProto.newBuilder().setIrVersion(8).setProducerName("jlm-test")
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(17))
                .setGraph(graph.setName("test"))
                .build();
    }

    /** B = Identity(A), A and B of {@code dtype} and shape [n, m] with n symbolic. */
    static byte[] identity(DType dtype) {
        return model(GraphProto.newBuilder()
                .addInput(value("A", dtype, "n", "m"))
                .addNode(node("Identity", in("A"), "B"))
                .addOutput(value("B", dtype, "n", "m")))
                .toByteArray();
    }

    /** Y = X @ W with X F32[batch, k] and the initializer W F32[k, n]; also Z = Y + X2 where X2 F32[batch, n]. */
    static OnnxMl.ModelProto matMulAdd(float[] w, int k, int n) {
        return model(GraphProto.newBuilder()
                .addInput(value("X", DType.F32, "batch", k))
                .addInput(value("X2", DType.F32, "batch", n))
                .addInitializer(floatInit("W", w, k, n))
                .addNode(node("MatMul", in("X", "W"), "Y"))
                .addNode(node("Add", in("Y", "X2"), "Z"))
                .addOutput(value("Y", DType.F32, "batch", n))
                .addOutput(value("Z", DType.F32, "batch", n)));
    }
}
