package dev.jlm.core.onnx;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TensorProto;

import java.util.ArrayList;
import java.util.List;

/**
 * A node that multiplies by, or looks up in, a constant weight: a MatMul or Gemm whose B input is a 2-D
 * initializer, or a Gather whose data input is a 2-D initializer (an embedding table). These are what
 * quantization and pruning act on.
 *
 * @param node        the node (its protobuf reads from the model's mapping: use it while the model is open)
 * @param nodeName    the node's name, or a stand-in built from its op type and outputs when it has none
 * @param opType      the node's op type
 * @param nodeIndex   its position in the main graph
 * @param inputIndex  which of its inputs is the weight
 * @param weight      the initializer's name
 * @param rows        the weight's first dimension (K for MatMul; vocabulary for Gather)
 * @param cols        the weight's second dimension (N for MatMul; hidden size for Gather)
 * @param transposed  true for a Gemm with transB=1 (weight stored as [N, K])
 */
public record WeightUse(NodeProto node, String nodeName, String opType, int nodeIndex, int inputIndex, String weight, long rows, long cols, boolean transposed) {

    static List<WeightUse> find(OnnxModel model) {
        List<WeightUse> out = new ArrayList<>();
        var nodes = model.graph().getNodeList();
        for (int i = 0; i < nodes.size(); i++) {
            NodeProto n = nodes.get(i);
            String domain = n.getDomain();
            if (!domain.isEmpty() && !domain.equals("ai.onnx")) {
                continue;
            }
            int idx = switch (n.getOpType()) {
                case "MatMul", "Gemm" -> 1;
                case "Gather" -> 0;
                default -> -1;
            };
            if (idx < 0 || n.getInputCount() <= idx) {
                continue;
            }
            String w = n.getInput(idx);
            TensorProto t = model.initializerProto(w);
            if (t == null || t.getDimsCount() != 2 || !isFloat(t.getDataType())) {
                continue;
            }
            if (n.getOpType().equals("Gather") && intAttr(n, "axis", 0) != 0) {
                continue;
            }
            boolean transB = n.getOpType().equals("Gemm") && intAttr(n, "transB", 0) != 0;
            if (n.getOpType().equals("Gemm") && intAttr(n, "transA", 0) != 0) {
                continue;
            }
            String nodeName = n.getName().isEmpty() ? n.getOpType() + ":" + String.join(",", n.getOutputList()) : n.getName();
            out.add(new WeightUse(n, nodeName, n.getOpType(), i, idx, w, t.getDims(0), t.getDims(1), transB));
        }
        return out;
    }

    private static boolean isFloat(int code) {
        return code == 1 || code == 10 || code == 16;
    }

    private static long intAttr(NodeProto n, String name, long dflt) {
        for (AttributeProto a : n.getAttributeList()) {
            if (a.getName().equals(name)) {
                return a.getI();
            }
        }
        return dflt;
    }
}
