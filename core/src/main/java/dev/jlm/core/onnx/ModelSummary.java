package dev.jlm.core.onnx;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import dev.jlm.core.DType;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * What {@code jlm inspect} reports about a model: format versions, signature, operators, parameters and
 * the weights that quantization and pruning can act on.
 *
 * @param name         the model's name as given
 * @param fileBytes    size of the model file
 * @param totalBytes   size of the model file plus its external data
 * @param irVersion    the ONNX IR version
 * @param producer     producer name and version, as recorded in the file
 * @param opsets       opset version per domain ("" for the default domain)
 * @param inputs       graph inputs (initializers excluded)
 * @param outputs      graph outputs
 * @param operators    node count per operator, subgraphs included, most frequent first; domain-qualified
 *                     outside the default domain ({@code com.microsoft.MatMulNBits})
 * @param nodes        total node count
 * @param parameters   total elements of all initializers
 * @param byType       initializer count, elements and bytes per data type
 * @param externalTensors initializers stored as external data
 * @param weights      nodes with a constant 2-D weight (MatMul, Gemm, Gather)
 */
public record ModelSummary(String name, long fileBytes, long totalBytes, long irVersion, String producer,
                           Map<String, Long> opsets, List<ValueInfo> inputs, List<ValueInfo> outputs,
                           Map<String, Integer> operators, int nodes, long parameters, Map<String, TypeStats> byType,
                           int externalTensors, List<WeightUse> weights) {

    /** Initializers of one data type. */
    public record TypeStats(int tensors, long elements, long bytes) {
    }

    /** Summarizes a loaded model. */
    public static ModelSummary of(OnnxModel model) {
        Map<String, Integer> ops = new LinkedHashMap<>();
        int nodes = countOps(model.graph(), ops);
        List<Map.Entry<String, Integer>> sorted = new ArrayList<>(ops.entrySet());
        sorted.sort(Map.Entry.<String, Integer>comparingByValue().reversed().thenComparing(Map.Entry.comparingByKey()));
        Map<String, Integer> histogram = new LinkedHashMap<>();
        sorted.forEach(e -> histogram.put(e.getKey(), e.getValue()));

        Map<String, long[]> acc = new TreeMap<>();
        long params = 0;
        int external = 0;
        for (TensorProto t : model.graph().getInitializerList()) {
            long n = Math.max(0, TensorData.elements(t));
            long b = Math.max(0, TensorData.expectedBytes(t));
            params += n;
            String type = DType.isSupportedOnnx(t.getDataType()) ? DType.fromOnnx(t.getDataType()).name() : DType.onnxName(t.getDataType());
            long[] a = acc.computeIfAbsent(type, k -> new long[3]);
            a[0]++;
            a[1] += n;
            a[2] += b;
            if (t.getDataLocation() == TensorProto.DataLocation.EXTERNAL) {
                external++;
            }
        }
        Map<String, TypeStats> byType = new LinkedHashMap<>();
        acc.entrySet().stream()
                .sorted(Comparator.comparingLong((Map.Entry<String, long[]> e) -> e.getValue()[2]).reversed())
                .forEach(e -> byType.put(e.getKey(), new TypeStats((int) e.getValue()[0], e.getValue()[1], e.getValue()[2])));

        var p = model.proto();
        String producer = (p.getProducerName() + " " + p.getProducerVersion()).trim();
        return new ModelSummary(model.name(), model.fileBytes(), model.totalFileBytes(), p.getIrVersion(), producer,
                model.opsets(), model.inputs(), model.outputs(), histogram, nodes, params, byType, external,
                model.constantWeights());
    }

    private static int countOps(GraphProto g, Map<String, Integer> ops) {
        int count = 0;
        for (NodeProto n : g.getNodeList()) {
            String d = n.getDomain();
            String key = d.isEmpty() || d.equals("ai.onnx") ? n.getOpType() : d + "." + n.getOpType();
            ops.merge(key, 1, Integer::sum);
            count++;
            for (AttributeProto a : n.getAttributeList()) {
                if (a.hasG()) {
                    count += countOps(a.getG(), ops);
                }
                for (GraphProto sub : a.getGraphsList()) {
                    count += countOps(sub, ops);
                }
            }
        }
        return count;
    }
}
