package dev.jlm.core.ort;

import ai.onnx.proto.OnnxMl;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.function.Predicate;

/**
 * Chooses values of a model's main graph by name, for {@link CalibrationCapture}. The factories cover the
 * usual cases; {@code nodeInputs("MatMul", 0)} is "the first input of every MatMul", the activations that
 * meet the weights. Names may repeat; the capture keeps each once.
 */
@FunctionalInterface
public interface ValueSelector {
    /** The names of the chosen values, in graph order where that applies. */
    List<String> select(OnnxMl.GraphProto graph);

    /** Exactly these names. */
    static ValueSelector names(String... names) {
        return names(List.of(names));
    }

    /** Exactly these names. */
    static ValueSelector names(List<String> names) {
        List<String> copy = List.copyOf(names);
        return graph -> copy;
    }

    /** Input {@code index} of every node of type {@code opType} (in the default or any domain) that has one. */
    static ValueSelector nodeInputs(String opType, int index) {
        Objects.requireNonNull(opType, "opType");
        return nodeInputs(n -> n.getOpType().equals(opType), index);
    }

    /** Input {@code index} of every node the predicate accepts; empty (omitted optional) inputs are skipped. */
    static ValueSelector nodeInputs(Predicate<OnnxMl.NodeProto> nodes, int index) {
        Objects.requireNonNull(nodes, "nodes");
        return graph -> {
            List<String> out = new ArrayList<>();
            for (OnnxMl.NodeProto n : graph.getNodeList()) {
                if (nodes.test(n) && index < n.getInputCount() && !n.getInput(index).isEmpty()) {
                    out.add(n.getInput(index));
                }
            }
            return out;
        };
    }

    /** Output {@code index} of every node of type {@code opType}. */
    static ValueSelector nodeOutputs(String opType, int index) {
        Objects.requireNonNull(opType, "opType");
        return nodeOutputs(n -> n.getOpType().equals(opType), index);
    }

    /** Output {@code index} of every node the predicate accepts; empty (unused optional) outputs are skipped. */
    static ValueSelector nodeOutputs(Predicate<OnnxMl.NodeProto> nodes, int index) {
        Objects.requireNonNull(nodes, "nodes");
        return graph -> {
            List<String> out = new ArrayList<>();
            for (OnnxMl.NodeProto n : graph.getNodeList()) {
                if (nodes.test(n) && index < n.getOutputCount() && !n.getOutput(index).isEmpty()) {
                    out.add(n.getOutput(index));
                }
            }
            return out;
        };
    }
}
