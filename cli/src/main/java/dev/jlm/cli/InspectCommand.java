package dev.jlm.cli;

import dev.jlm.core.onnx.ModelSummary;
import dev.jlm.core.onnx.OnnxModel;
import dev.jlm.core.onnx.ValueInfo;
import dev.jlm.core.onnx.WeightUse;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

/** {@code jlm inspect [model.onnx]}: what a model is made of. */
@Command(name = "inspect", mixinStandardHelpOptions = true,
        description = {"Show a model's format versions, inputs and outputs, operators, parameters per data type, "
                + "and the weights that quantization and pruning can act on.",
                "Without a model, inspects the default model (all-MiniLM-L6-v2 from Maven Central)."})
final class InspectCommand implements Callable<Integer> {
    @Parameters(arity = "0..1", paramLabel = "MODEL", description = "The .onnx file (default: all-MiniLM-L6-v2).")
    Path model;

    @Mixin
    CommonOptions common;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        Path file = model != null ? model : BuildInfo.defaultModel().model();
        ModelSummary s;
        try (OnnxModel m = OnnxModel.load(file)) {
            s = ModelSummary.of(m);
        }
        PrintWriter out = spec.commandLine().getOut();
        out.println(common.json ? Json.write(toMap(s)) : text(s));
        return 0;
    }

    static String text(ModelSummary s) {
        StringBuilder sb = new StringBuilder();
        row(sb, "model", s.name());
        row(sb, "size", Format.bytes(s.totalBytes()) + (s.totalBytes() != s.fileBytes()
                ? " (model file " + Format.bytes(s.fileBytes()) + ", external data " + Format.bytes(s.totalBytes() - s.fileBytes())
                + " in " + s.externalTensors() + " tensors)" : ""));
        row(sb, "format", "IR version " + s.irVersion() + (s.producer().isEmpty() ? "" : ", produced by " + s.producer()));
        StringBuilder ops = new StringBuilder();
        s.opsets().forEach((d, v) -> ops.append(ops.isEmpty() ? "" : ", ").append(d.isEmpty() ? "ai.onnx" : d).append(' ').append(v));
        row(sb, "opsets", ops.toString());
        for (ValueInfo v : s.inputs()) {
            row(sb, "input", v.toString());
        }
        for (ValueInfo v : s.outputs()) {
            row(sb, "output", v.toString());
        }
        StringBuilder hist = new StringBuilder();
        s.operators().forEach((op, n) -> hist.append(hist.isEmpty() ? "" : ", ").append(op).append(' ').append(n));
        row(sb, "nodes", s.nodes() + ": " + hist);
        row(sb, "parameters", Format.count(s.parameters()) + " in " + Format.bytes(s.byType().values().stream()
                .mapToLong(ModelSummary.TypeStats::bytes).sum()));
        s.byType().forEach((type, t) -> sb.append(String.format(Locale.ROOT, "  %-8s %5d tensors %12s elements %10s%n",
                type, t.tensors(), Format.count(t.elements()), Format.bytes(t.bytes()))));
        List<WeightUse> w = s.weights();
        long wParams = w.stream().mapToLong(u -> u.rows() * u.cols()).sum();
        row(sb, "weights", w.size() + " constant 2-D weights (" + count(w, "MatMul") + " MatMul, " + count(w, "Gemm")
                + " Gemm, " + count(w, "Gather") + " Gather) hold " + Format.count(wParams) + " parameters"
                + (s.parameters() > 0 ? String.format(Locale.ROOT, " (%.1f%%)", 100.0 * wParams / s.parameters()) : ""));
        for (WeightUse u : w) {
            sb.append(String.format(Locale.ROOT, "  %-7s %-48s %-40s [%d, %d]%s%n", u.opType(), u.nodeName(), u.weight(),
                    u.rows(), u.cols(), u.transposed() ? " transB" : ""));
        }
        return sb.toString().stripTrailing();
    }

    private static long count(List<WeightUse> w, String op) {
        return w.stream().filter(u -> u.opType().equals(op)).count();
    }

    private static void row(StringBuilder sb, String key, String value) {
        sb.append(String.format(Locale.ROOT, "%-11s %s%n", key, value));
    }

    static Map<String, Object> toMap(ModelSummary s) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("model", s.name());
        m.put("fileBytes", s.fileBytes());
        m.put("totalBytes", s.totalBytes());
        m.put("irVersion", s.irVersion());
        m.put("producer", s.producer());
        m.put("opsets", s.opsets());
        m.put("inputs", s.inputs().stream().map(InspectCommand::value).toList());
        m.put("outputs", s.outputs().stream().map(InspectCommand::value).toList());
        m.put("nodes", s.nodes());
        m.put("operators", s.operators());
        m.put("parameters", s.parameters());
        Map<String, Object> types = new LinkedHashMap<>();
        s.byType().forEach((k, t) -> types.put(k, Map.of("tensors", t.tensors(), "elements", t.elements(), "bytes", t.bytes())));
        m.put("byType", types);
        m.put("externalTensors", s.externalTensors());
        m.put("weights", s.weights().stream().map(u -> {
            Map<String, Object> e = new LinkedHashMap<>();
            e.put("op", u.opType());
            e.put("node", u.nodeName());
            e.put("weight", u.weight());
            e.put("shape", new long[]{u.rows(), u.cols()});
            e.put("transposed", u.transposed());
            return e;
        }).toList());
        return m;
    }

    private static Map<String, Object> value(ValueInfo v) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("name", v.name());
        m.put("type", v.typeName());
        m.put("shape", v.shapeText());
        return m;
    }
}
