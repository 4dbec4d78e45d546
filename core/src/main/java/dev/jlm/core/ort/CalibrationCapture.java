package dev.jlm.core.ort;

import ai.onnx.proto.OnnxMl;
import com.google.protobuf.InvalidProtocolBufferException;
import dev.jlm.core.JlmException;
import dev.jlm.core.Tensor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * Captures intermediate activations of a model, for calibration-based quantization and pruning: an in-memory
 * copy of the model gets the chosen values as extra graph outputs, and each {@link #run} returns them
 * together with the model's own outputs.
 *
 * <p>The added outputs carry the type from the graph's {@code value_info} when it has one; otherwise only the
 * name, which ONNX Runtime accepts (it infers the type). Values chosen twice are captured once; a chosen value
 * that already is a graph output is not added again; graph inputs and initializers may be chosen too. A name
 * that is not a value of the main graph fails up front with a clear message.
 *
 * <p>Models whose initializers live in external data files: {@link #open(Path, ValueSelector, SessionConfig)}
 * reads only the graph file and has ONNX Runtime read the external data from the model's own folder (session
 * config {@value SessionConfig#EXTERNAL_DATA_FOLDER_KEY}); nothing is ever written next to the model.
 * (ONNX Runtime's other route, {@code SessionOptions.addExternalInitializers}, would first need every external
 * tensor read into Java-side buffers, doubling the memory a large model takes while it loads.)
 *
 * <p>Thread safety and device handling are those of the underlying {@link OrtModel}.
 */
public final class CalibrationCapture implements AutoCloseable {
    private final OrtModel model;
    private final List<String> captured;

    private CalibrationCapture(OrtModel model, List<String> captured) {
        this.model = model;
        this.captured = captured;
    }

    /**
     * Instruments the model file and opens it. External data is read by ONNX Runtime from the file's folder,
     * unless {@code config} already names another folder.
     *
     * @throws JlmException.Io              if the file cannot be read
     * @throws JlmException.InvalidModel    if it is not an ONNX ModelProto
     * @throws JlmException.InvalidArgument if a chosen name is not a value of the main graph, or none is chosen
     */
    public static CalibrationCapture open(Path model, ValueSelector values, SessionConfig config) {
        Objects.requireNonNull(model, "model");
        Objects.requireNonNull(config, "config");
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(model);
        } catch (IOException e) {
            throw new JlmException.Io("model " + model + ": cannot read it: " + e, e);
        }
        SessionConfig c = config;
        if (!c.configEntries().containsKey(SessionConfig.EXTERNAL_DATA_FOLDER_KEY)) {
            Path dir = model.toAbsolutePath().getParent();
            c = c.withExternalDataFolder(dir == null ? Path.of("").toAbsolutePath() : dir);
        }
        return open(bytes, model.toString(), values, c);
    }

    /** Instruments a serialized ModelProto and opens it; named {@code <in-memory model>} in messages. */
    public static CalibrationCapture open(byte[] modelBytes, ValueSelector values, SessionConfig config) {
        return open(modelBytes, "<in-memory model>", values, config);
    }

    /**
     * Instruments a serialized ModelProto and opens it. If its initializers live in external data, set the
     * folder with {@link SessionConfig#withExternalDataFolder(Path)} or use the {@link Path} overload.
     *
     * @param name what messages call the model
     */
    public static CalibrationCapture open(byte[] modelBytes, String name, ValueSelector values, SessionConfig config) {
        Objects.requireNonNull(modelBytes, "modelBytes");
        Objects.requireNonNull(values, "values");
        OnnxMl.ModelProto proto;
        try {
            proto = OnnxMl.ModelProto.parseFrom(modelBytes);
        } catch (InvalidProtocolBufferException e) {
            throw new JlmException.InvalidModel("model " + name + ": not an ONNX model: " + e.getMessage(), e);
        }
        List<String> chosen = distinct(values.select(proto.getGraph()));
        if (chosen.isEmpty()) {
            throw new JlmException.InvalidArgument("model " + name + ": the selector chose no values to capture");
        }
        byte[] instrumented = withOutputs(proto, chosen, name).toByteArray();
        OrtModel m = OrtModel.open(instrumented, name, config);
        return new CalibrationCapture(m, chosen);
    }

    /**
     * A copy of {@code model} whose main graph also outputs the named values.
     *
     * @throws JlmException.InvalidArgument if a name is not a value of the main graph
     */
    public static OnnxMl.ModelProto withOutputs(OnnxMl.ModelProto model, List<String> names) {
        return withOutputs(model, distinct(names), model.getGraph().getName().isEmpty() ? "<in-memory model>" : model.getGraph().getName());
    }

    private static OnnxMl.ModelProto withOutputs(OnnxMl.ModelProto model, List<String> names, String modelName) {
        OnnxMl.GraphProto g = model.getGraph();
        Set<String> known = new HashSet<>();
        g.getInputList().forEach(v -> known.add(v.getName()));
        g.getInitializerList().forEach(t -> known.add(t.getName()));
        g.getSparseInitializerList().forEach(t -> known.add(t.getValues().getName()));
        for (OnnxMl.NodeProto n : g.getNodeList()) {
            known.addAll(n.getOutputList());
        }
        Set<String> outputs = new HashSet<>();
        g.getOutputList().forEach(v -> outputs.add(v.getName()));
        Map<String, OnnxMl.ValueInfoProto> typed = new HashMap<>();
        g.getValueInfoList().forEach(v -> typed.putIfAbsent(v.getName(), v));
        g.getInputList().forEach(v -> typed.putIfAbsent(v.getName(), v));

        OnnxMl.GraphProto.Builder gb = g.toBuilder();
        for (String n : names) {
            if (n == null || n.isEmpty() || !known.contains(n)) {
                throw new JlmException.InvalidArgument("model " + modelName + ": no value named '" + n + "' in its main graph");
            }
            if (outputs.add(n)) {
                OnnxMl.ValueInfoProto vi = typed.get(n);
                gb.addOutput(vi != null ? vi : OnnxMl.ValueInfoProto.newBuilder().setName(n).build());
            }
        }
        return model.toBuilder().setGraph(gb).build();
    }

    private static List<String> distinct(List<String> names) {
        return Collections.unmodifiableList(new ArrayList<>(new LinkedHashSet<>(names)));
    }

    /** The captured value names, each once, in the order chosen. */
    public List<String> captured() {
        return captured;
    }

    /** The instrumented model (its outputs are the original ones followed by the captured values). */
    public OrtModel model() {
        return model;
    }

    /** Runs the model; the result holds every captured value and every original output, by name. */
    public Outputs run(Map<String, Tensor> inputs) {
        return model.run(inputs);
    }

    /** Runs the model and returns only the captured values. */
    public Outputs runCapturedOnly(Map<String, Tensor> inputs) {
        return model.run(inputs, new LinkedHashSet<>(captured));
    }

    @Override
    public void close() {
        model.close();
    }

    @Override
    public String toString() {
        return "CalibrationCapture[" + model.name() + ", " + captured.size() + " values]";
    }
}
