package dev.jlm.core.onnx;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import dev.jlm.core.DType;
import dev.jlm.core.JlmException;

import java.lang.foreign.MemorySegment;
import java.util.HashSet;
import java.util.Set;

/**
 * The checks a loaded model must pass before anything trusts it. Each failure is one line naming the file
 * and the fault. These are structural checks (what jlm relies on), not a full ONNX checker: operator
 * semantics are left to the backend.
 */
final class ModelValidator {
    private final String name;
    private final OnnxModel model;

    ModelValidator(String name, OnnxModel model) {
        this.name = name;
        this.model = model;
    }

    void validate() {
        ModelProto proto = model.proto();
        if (!proto.hasGraph()) {
            throw fault("has no graph (not an ONNX model, or a truncated one)");
        }
        if (proto.getIrVersion() <= 0) {
            throw fault("has no IR version (not an ONNX model, or a truncated one)");
        }
        if (proto.getOpsetImportCount() == 0) {
            throw fault("imports no opset");
        }
        checkGraph(proto.getGraph(), Set.of(), "graph");
    }

    private void checkGraph(GraphProto g, Set<String> outer, String where) {
        Set<String> defined = new HashSet<>(outer);
        Set<String> initNames = new HashSet<>();
        for (TensorProto t : g.getInitializerList()) {
            if (t.getName().isEmpty()) {
                throw fault(where + " has an initializer without a name");
            }
            if (!initNames.add(t.getName())) {
                throw fault(where + " has two initializers named '" + t.getName() + "'");
            }
            checkTensor(t);
            defined.add(t.getName());
        }
        for (var s : g.getSparseInitializerList()) {
            defined.add(s.getValues().getName());
        }
        for (ValueInfoProto v : g.getInputList()) {
            defined.add(v.getName());
        }
        Set<String> produced = new HashSet<>();
        for (NodeProto n : g.getNodeList()) {
            for (String out : n.getOutputList()) {
                if (!out.isEmpty() && !produced.add(out)) {
                    throw fault(where + ": value '" + out + "' is produced by more than one node (second: " + label(n) + ")");
                }
            }
        }
        defined.addAll(produced);
        for (NodeProto n : g.getNodeList()) {
            if (n.getOpType().isEmpty()) {
                throw fault(where + ": node " + label(n) + " has no op_type");
            }
            for (String in : n.getInputList()) {
                if (!in.isEmpty() && !defined.contains(in)) {
                    throw fault(where + ": node " + label(n) + " reads '" + in + "', which no input, initializer or node defines");
                }
            }
            for (AttributeProto a : n.getAttributeList()) {
                if (a.hasT()) {
                    checkTensor(a.getT());
                }
                if (a.hasG()) {
                    checkGraph(a.getG(), defined, where + "/" + label(n) + "." + a.getName());
                }
                for (GraphProto sub : a.getGraphsList()) {
                    checkGraph(sub, defined, where + "/" + label(n) + "." + a.getName());
                }
            }
        }
        for (ValueInfoProto v : g.getOutputList()) {
            if (!defined.contains(v.getName())) {
                throw fault(where + ": output '" + v.getName() + "' is not produced by any node");
            }
        }
    }

    private void checkTensor(TensorProto t) {
        String tn = "tensor '" + t.getName() + "'";
        int code = t.getDataType();
        if (code == 0) {
            throw fault(tn + " has no data type");
        }
        int bits = TensorData.bitsOf(code);
        if (bits < 0 && code != 8) {
            throw fault(tn + " has unknown data type " + code);
        }
        for (long d : t.getDimsList()) {
            if (d < 0) {
                throw fault(tn + " has a negative dimension " + t.getDimsList());
            }
        }
        long n = TensorData.elements(t);
        if (n < 0) {
            throw fault(tn + " has dims " + t.getDimsList() + " whose product overflows");
        }
        if (t.getDataLocation() == TensorProto.DataLocation.EXTERNAL) {
            checkExternal(t, tn);
            return;
        }
        if (t.hasRawData()) {
            if (code == 8) {
                throw fault(tn + " is a STRING tensor with raw_data, which ONNX does not allow");
            }
            long want = TensorData.expectedBytes(t);
            if (t.getRawData().size() != want) {
                throw fault(tn + " of type " + DType.onnxName(code) + " " + t.getDimsList() + " needs " + want
                        + " bytes but raw_data has " + t.getRawData().size());
            }
            return;
        }
        long have = TensorData.typedCount(t);
        long want = switch (code) {
            case 21, 22, 23 -> ((n + 1) / 2) * 2;
            default -> n;
        };
        if (have != want) {
            throw fault(tn + " of type " + DType.onnxName(code) + " " + t.getDimsList() + " needs " + n
                    + " values but holds " + have);
        }
    }

    private void checkExternal(TensorProto t, String tn) {
        ExternalData ed = ExternalData.of(t);
        if (ed.malformed()) {
            throw fault(tn + " has a malformed external data reference " + t.getExternalDataList().stream()
                    .map(e -> e.getKey() + "=" + e.getValue()).toList());
        }
        long want = TensorData.expectedBytes(t);
        if (want < 0) {
            throw fault(tn + " of type " + DType.onnxName(t.getDataType()) + " cannot be stored as external data");
        }
        if (ed.length() >= 0 && ed.length() != want) {
            throw fault(tn + " needs " + want + " bytes but its external data length is " + ed.length());
        }
        MemorySegment file = model.externalFile(ed.location());
        if (ed.offset() + want > file.byteSize()) {
            throw fault(tn + ": external data file " + ed.location() + " is too short (" + file.byteSize()
                    + " bytes, the tensor ends at " + (ed.offset() + want) + ")");
        }
    }

    private static String label(NodeProto n) {
        return n.getName().isEmpty() ? n.getOpType() + "(" + String.join(",", n.getOutputList()) + ")" : "'" + n.getName() + "'";
    }

    private JlmException.InvalidModel fault(String what) {
        return new JlmException.InvalidModel(name + ": " + what);
    }
}
