package dev.jlm.simd.testing;

import ai.onnx.proto.OnnxMl;
import com.google.protobuf.ByteString;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Builds small ONNX models, usually a single node, in memory: the peers ONNX Runtime runs in kernel tests and
 * benchmarks ({@code impl=ort}). Graph inputs and outputs are F32 unless given another ONNX data type; a negative
 * dimension becomes a symbolic one.
 *
 * <pre>{@code
 * byte[] model = TinyModel.node("RMSNormalization", 23)
 *         .input("X", rows, cols).input("scale", cols).output("Y", rows, cols)
 *         .attr("epsilon", 1e-5f).build();
 * }</pre>
 */
public final class TinyModel {
    /** ONNX data type codes used here. */
    public static final int FLOAT = OnnxMl.TensorProto.DataType.FLOAT_VALUE;
    public static final int INT64 = OnnxMl.TensorProto.DataType.INT64_VALUE;

    private final Map<String, Integer> opsets = new LinkedHashMap<>();
    private final List<OnnxMl.ValueInfoProto> inputs = new ArrayList<>();
    private final List<OnnxMl.ValueInfoProto> outputs = new ArrayList<>();
    private final List<OnnxMl.NodeProto.Builder> nodes = new ArrayList<>();

    private TinyModel() {
    }

    /**
     * A model whose first node is {@code opType} of the default ONNX domain at {@code opset}; the node's inputs and
     * outputs are the graph's, in the order declared, unless {@link #wire} says otherwise.
     */
    public static TinyModel node(String opType, int opset) {
        return node("", opType, opset);
    }

    /** As {@link #node(String, int)} for an operator of another domain (e.g. {@code com.microsoft}). */
    public static TinyModel node(String domain, String opType, int opset) {
        TinyModel m = new TinyModel();
        m.opsets.put(domain, opset);
        if (!domain.isEmpty()) {
            m.opsets.putIfAbsent("", 17);
        }
        m.nodes.add(OnnxMl.NodeProto.newBuilder().setOpType(opType).setDomain(domain).setName(opType + "_0"));
        return m;
    }

    /** Declares a graph input of F32. */
    public TinyModel input(String name, long... shape) {
        return typedInput(name, FLOAT, shape);
    }

    /** Declares a graph input of the given ONNX data type. */
    public TinyModel typedInput(String name, int dataType, long... shape) {
        inputs.add(valueInfo(name, dataType, shape));
        return this;
    }

    /** Declares a graph output of F32. */
    public TinyModel output(String name, long... shape) {
        return typedOutput(name, FLOAT, shape);
    }

    /** Declares a graph output of the given ONNX data type. */
    public TinyModel typedOutput(String name, int dataType, long... shape) {
        outputs.add(valueInfo(name, dataType, shape));
        return this;
    }

    public TinyModel attr(String name, long value) {
        last().addAttribute(OnnxMl.AttributeProto.newBuilder().setName(name)
                .setType(OnnxMl.AttributeProto.AttributeType.INT).setI(value));
        return this;
    }

    public TinyModel attr(String name, float value) {
        last().addAttribute(OnnxMl.AttributeProto.newBuilder().setName(name)
                .setType(OnnxMl.AttributeProto.AttributeType.FLOAT).setF(value));
        return this;
    }

    public TinyModel attr(String name, String value) {
        last().addAttribute(OnnxMl.AttributeProto.newBuilder().setName(name)
                .setType(OnnxMl.AttributeProto.AttributeType.STRING).setS(ByteString.copyFromUtf8(value)));
        return this;
    }

    /**
     * Sets the inputs and outputs of the last node explicitly (an empty name skips an optional input); needed
     * when a graph has more than one node.
     */
    public TinyModel wire(List<String> nodeInputs, List<String> nodeOutputs) {
        OnnxMl.NodeProto.Builder n = last();
        n.clearInput().addAllInput(nodeInputs);
        n.clearOutput().addAllOutput(nodeOutputs);
        return this;
    }

    /** Appends another node of the default domain (at the model's opset); wire it with {@link #wire}. */
    public TinyModel then(String opType) {
        nodes.add(OnnxMl.NodeProto.newBuilder().setOpType(opType).setName(opType + "_" + nodes.size()));
        return this;
    }

    /** The serialized model. */
    public byte[] build() {
        OnnxMl.GraphProto.Builder g = OnnxMl.GraphProto.newBuilder().setName("tiny");
        g.addAllInput(inputs).addAllOutput(outputs);
        for (int i = 0; i < nodes.size(); i++) {
            OnnxMl.NodeProto.Builder n = nodes.get(i);
            if (i == 0 && n.getInputCount() == 0 && n.getOutputCount() == 0) {
                inputs.forEach(v -> n.addInput(v.getName()));
                outputs.forEach(v -> n.addOutput(v.getName()));
            }
            g.addNode(n);
        }
        OnnxMl.ModelProto.Builder m = OnnxMl.ModelProto.newBuilder()
                .setIrVersion(10)
                .setProducerName("jlm-tests")
                .setGraph(g);
        opsets.forEach((domain, version) -> m.addOpsetImport(
                OnnxMl.OperatorSetIdProto.newBuilder().setDomain(domain).setVersion(version)));
        return m.build().toByteArray();
    }

    private OnnxMl.NodeProto.Builder last() {
        return nodes.get(nodes.size() - 1);
    }

    private static OnnxMl.ValueInfoProto valueInfo(String name, int dataType, long[] shape) {
        OnnxMl.TensorShapeProto.Builder s = OnnxMl.TensorShapeProto.newBuilder();
        for (int i = 0; i < shape.length; i++) {
            OnnxMl.TensorShapeProto.Dimension.Builder d = OnnxMl.TensorShapeProto.Dimension.newBuilder();
            if (shape[i] < 0) {
                d.setDimParam(name + "_d" + i);
            } else {
                d.setDimValue(shape[i]);
            }
            s.addDim(d);
        }
        return OnnxMl.ValueInfoProto.newBuilder().setName(name)
                .setType(OnnxMl.TypeProto.newBuilder().setTensorType(
                        OnnxMl.TypeProto.Tensor.newBuilder().setElemType(dataType).setShape(s)))
                .build();
    }
}
