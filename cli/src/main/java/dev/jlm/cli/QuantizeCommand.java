package dev.jlm.cli;

import com.google.gson.JsonParser;
import dev.jlm.core.io.AtomicFiles;
import dev.jlm.core.eval.ModelComparison;
import dev.jlm.core.eval.ModelEvaluator;
import dev.jlm.core.eval.TextInputs;
import dev.jlm.core.onnx.OnnxModel;
import dev.jlm.quant.Calibration;
import dev.jlm.quant.Method;
import dev.jlm.quant.ModelQuantizer;
import dev.jlm.quant.OutputFormat;
import dev.jlm.quant.QuantConfig;
import dev.jlm.quant.QuantizeOptions;
import dev.jlm.quant.QuantizeReport;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/** {@code jlm quantize IN.onnx --w4}: block-quantize a model's weights to 4 or 8 bits. */
@Command(name = "quantize", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Quantize the weights of every MatMul/Gemm with a constant weight (and, with --embeddings, every "
                + "embedding table) block-wise to 4 or 8 bits; write a model that ONNX Runtime runs (MatMulNBits and "
                + "GatherBlockQuantized, or standard blocked DequantizeLinear with --format qdq).",
                "Without a model, quantizes the default model (all-MiniLM-L6-v2) into the current directory."})
final class QuantizeCommand implements Callable<Integer> {
    @Parameters(arity = "0..1", paramLabel = "IN", description = "The .onnx file (default: all-MiniLM-L6-v2).")
    Path input;

    @Option(names = "--w4", description = "4-bit weights (the default).")
    boolean w4;

    @Option(names = "--w8", description = "8-bit weights.")
    boolean w8;

    @Option(names = "--block", paramLabel = "16|32|64|128|auto",
            description = "Weights per scale along K (default: 16 for --w4, 32 for --w8); auto picks per matrix the largest "
                    + "block whose error stays within 25% of block 16's.")
    String block;

    @Option(names = "--embedding-block", paramLabel = "16|32|64|128",
            description = "Block of the quantized embedding tables (default: 128 for --w4, which pays for block 16 in the "
                    + "matrices; --block for --w8).")
    Integer embeddingBlock;

    @Option(names = "--sym", description = "Symmetric: no zero points (smaller, usually less accurate).")
    boolean sym;

    @Option(names = "--asym", description = "Asymmetric: a zero point per block (the default).")
    boolean asym;

    @Option(names = "--method", paramLabel = "rtn|mse|gptq",
            description = "rtn: round to nearest; mse: data-free clipping search (the default); gptq: calibration-based "
                    + "(the default when --calib is given; without --calib it calibrates on random token sequences "
                    + "drawn from the tokenizer's vocabulary).")
    String method;

    @Option(names = "--calib", paramLabel = "FILE", description = "Calibration sentences, one per line, for gptq.")
    Path calib;

    @Option(names = "--calib-samples", paramLabel = "N",
            description = "Calibration sentences to use at most (default: 128 from --calib, 256 random sequences without).")
    Integer calibSamples;

    @Option(names = "--tokenizer", paramLabel = "FILE",
            description = "tokenizer.json for --calib and --eval (default: found next to the model).")
    Path tokenizer;

    @Option(names = "--embeddings", description = "Quantize embedding tables too (the default for --w4).")
    boolean embeddings;

    @Option(names = "--keep-embeddings", description = "Leave embedding tables in float (the default for --w8).")
    boolean keepEmbeddings;

    @Option(names = "--exclude", paramLabel = "REGEX", description = "Leave in float the weights and nodes whose name this finds.")
    String exclude;

    @Option(names = "--format", paramLabel = "matmulnbits|qdq", defaultValue = "matmulnbits",
            description = "Operators of the output (default: ${DEFAULT-VALUE}); qdq needs a model of opset 21 or later.")
    String format;

    @Option(names = "--accuracy-level", paramLabel = "N", defaultValue = "4",
            description = "MatMulNBits accuracy_level: 0 unset, 1 fp32, 4 int8 activations (faster; ONNX Runtime falls back "
                    + "to fp32 where it has no int8 kernel). Default: ${DEFAULT-VALUE}.")
    int accuracyLevel;

    @Option(names = {"-o", "--output"}, paramLabel = "OUT", description = "Output file (default: IN-w4.onnx next to IN).")
    Path output;

    @Option(names = "--eval", arity = "0..1", paramLabel = "FILE", fallbackValue = "",
            description = "Afterwards compare the output with the input on these sentences (without FILE: seeded random inputs).")
    String eval;

    @Mixin
    CommonOptions common;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        QuantizeOptions opts = options();
        Path in = input;
        Path defaultTokenizer = null;
        if (in == null) {
            var extracted = BuildInfo.defaultModel();
            in = extracted.model();
            defaultTokenizer = extracted.tokenizer();
        }
        Path tok = tokenizer != null ? tokenizer : defaultTokenizer;
        if (chosen == Method.GPTQ) {
            Calibration cal;
            if (calib != null) {
                TextInputs.readSentences(calib); // a missing or empty file fails here, before any work
                cal = Calibration.of(calib, tok);
            } else {
                cal = Calibration.random(tok);
            }
            if (calibSamples != null) {
                cal = cal.withMaxSentences(calibSamples);
            }
            opts = opts.withMethod(Method.GPTQ, cal);
        }
        Path target = output != null ? output : defaultOutput(in, input == null, opts.weights().bits());
        AtomicFiles.refuseInputs(target, List.of(in)); // fail before any work; the save checks external data files too
        QuantizeReport report;
        try (OnnxModel model = OnnxModel.load(in); ProgressBar bar = new ProgressBar(err, "quantize")) {
            report = ModelQuantizer.quantize(model, target, opts, (i, total, w, r, c) -> bar.update(i, total));
        }
        ModelComparison comparison = null;
        if (eval != null && report.written()) {
            ModelEvaluator.Options eo = ModelEvaluator.Options.defaults().withWarnings(w -> err.println("jlm: warning: " + w));
            if (!eval.isEmpty()) {
                eo = eo.withText(Path.of(eval), tok).withBatchSize(16);
            }
            try (ProgressBar bar = new ProgressBar(err, "eval")) {
                comparison = ModelEvaluator.compare(in, target, eo, bar::update);
            }
        }
        if (common.json) {
            Map<String, Object> m = toMap(in, opts, report);
            if (comparison != null) {
                m.put("eval", JsonParser.parseString(comparison.toJson()));
            }
            out.println(Json.write(m));
        } else {
            out.println(text(in, opts, report));
            if (comparison != null) {
                out.println();
                out.println(comparison.toTable());
            }
        }
        return 0;
    }

    private QuantizeOptions options() {
        CommandLine cl = spec.commandLine();
        if (w4 && w8) {
            throw new CommandLine.ParameterException(cl, "--w4 and --w8 exclude each other");
        }
        if (sym && asym) {
            throw new CommandLine.ParameterException(cl, "--sym and --asym exclude each other");
        }
        if (embeddings && keepEmbeddings) {
            throw new CommandLine.ParameterException(cl, "--embeddings and --keep-embeddings exclude each other");
        }
        int bits = w8 ? 8 : 4;
        int blockSize;
        if (block == null) {
            blockSize = bits == 4 ? QuantizeOptions.w4().weights().blockSize() : QuantizeOptions.w8().weights().blockSize();
        } else if (block.equalsIgnoreCase("auto")) {
            blockSize = QuantConfig.AUTO_BLOCK;
        } else {
            try {
                blockSize = Integer.parseInt(block);
            } catch (NumberFormatException e) {
                blockSize = -1;
            }
            if (blockSize != 16 && blockSize != 32 && blockSize != 64 && blockSize != 128) {
                throw new CommandLine.ParameterException(cl, "--block must be 16, 32, 64, 128 or auto, not '" + block + "'");
            }
        }
        Method m;
        if (method == null) {
            m = calib != null ? Method.GPTQ : Method.MSE;
        } else {
            m = switch (method.toLowerCase(Locale.ROOT)) {
                case "rtn" -> Method.RTN;
                case "mse" -> Method.MSE;
                case "gptq" -> Method.GPTQ;
                default -> throw new CommandLine.ParameterException(cl, "--method must be rtn, mse or gptq, not '" + method + "'");
            };
        }
        if (m != Method.GPTQ && calib != null) {
            throw new CommandLine.ParameterException(cl, "--calib is only used by --method gptq");
        }
        OutputFormat f = switch (format.toLowerCase(Locale.ROOT)) {
            case "matmulnbits" -> OutputFormat.MATMULNBITS;
            case "qdq" -> OutputFormat.QDQ;
            default -> throw new CommandLine.ParameterException(cl, "--format must be matmulnbits or qdq, not '" + format + "'");
        };
        Pattern ex = null;
        if (exclude != null) {
            try {
                ex = Pattern.compile(exclude);
            } catch (PatternSyntaxException e) {
                throw new CommandLine.ParameterException(cl, "--exclude: not a regular expression: " + e.getDescription());
            }
        }
        if (calibSamples != null && calibSamples < 1) {
            throw new CommandLine.ParameterException(cl, "--calib-samples must be at least 1");
        }
        boolean emb = embeddings || (!keepEmbeddings && bits == 4);
        QuantConfig cfg = new QuantConfig(bits, blockSize, sym, m == Method.GPTQ ? Method.MSE : m, QuantConfig.DEFAULT_AUTO_SLACK);
        chosen = m;
        int tableBlock = embeddingBlock != null ? embeddingBlock
                : (bits == 4 ? QuantizeOptions.w4() : QuantizeOptions.w8()).embeddingBlock();
        if (embeddingBlock != null && tableBlock != 16 && tableBlock != 32 && tableBlock != 64 && tableBlock != 128) {
            throw new CommandLine.ParameterException(cl, "--embedding-block must be 16, 32, 64 or 128, not " + tableBlock);
        }
        return QuantizeOptions.w4().withWeights(cfg).withEmbeddings(emb).withEmbeddingBlock(tableBlock).withExclude(ex)
                .withFormat(f).withAccuracyLevel(accuracyLevel);
    }

    /** The method asked for; GPTQ is set on the options once its calibration data is known. */
    private Method chosen;

    /** {@code IN-w4.onnx} next to the input; in the current directory for the default model. */
    static Path defaultOutput(Path in, boolean defaultModel, int bits) {
        String name = in.getFileName().toString();
        String stem = name.endsWith(".onnx") ? name.substring(0, name.length() - 5) : name;
        String file = stem + "-w" + bits + ".onnx";
        if (defaultModel) {
            return Path.of(file);
        }
        Path dir = in.toAbsolutePath().getParent();
        return dir == null ? Path.of(file) : dir.resolve(file);
    }

    static String text(Path in, QuantizeOptions o, QuantizeReport r) {
        StringBuilder sb = new StringBuilder();
        row(sb, "model", in + " (" + Format.bytes(r.bytesBefore()) + ")");
        for (String n : r.notes()) {
            row(sb, "note", n);
        }
        if (!r.written()) {
            row(sb, "result", "no quantizable weight: nothing written");
            for (QuantizeReport.Skipped s : r.skipped()) {
                row(sb, "kept", s.weight() + ": " + s.reason());
            }
            return sb.toString().stripTrailing();
        }
        QuantConfig c = o.weights();
        row(sb, "method", o.weights().method().name().toLowerCase(Locale.ROOT) + ", " + c.bits() + "-bit, block "
                + (c.blockSize() == QuantConfig.AUTO_BLOCK ? "auto" : c.blockSize()) + ", " + (c.symmetric() ? "symmetric" : "asymmetric")
                + ", " + o.format().name().toLowerCase(Locale.ROOT) + (o.embeddings() ? ", embeddings quantized (block " + o.tableBlock() + ")" : ", embeddings in float"));
        int width = Math.max(5, r.layers().stream().mapToInt(l -> l.nodes().getFirst().length()).max().orElse(5));
        width = Math.min(width, 60);
        sb.append(String.format(Locale.ROOT, "%n%-" + width + "s %-13s %4s %5s %9s %9s %9s%n", "layer", "shape", "bits", "block", "rel.error", "before", "after"));
        for (QuantizeReport.Layer l : r.layers()) {
            String name = l.nodes().getFirst() + (l.nodes().size() > 1 ? " (+" + (l.nodes().size() - 1) + ")" : "");
            if (name.length() > width) {
                name = "..." + name.substring(name.length() - width + 3);
            }
            sb.append(String.format(Locale.ROOT, "%-" + width + "s %-13s %4d %5d %9.4f %9s %9s%n", name, l.rows() + " x " + l.cols(),
                    l.bits(), l.blockSize(), l.relativeError(), Format.bytes(l.bytesBefore()), Format.bytes(l.bytesAfter())));
        }
        sb.append('\n');
        for (QuantizeReport.Skipped s : r.skipped()) {
            row(sb, "kept", s.weight() + " (" + s.node() + "): " + s.reason());
        }
        row(sb, "output", r.output() + " (" + Format.bytes(r.bytesAfter()) + ")");
        row(sb, "size", String.format(Locale.ROOT, "%s -> %s (%.1fx smaller); quantized weights %s -> %s",
                Format.bytes(r.bytesBefore()), Format.bytes(r.bytesAfter()), (double) r.bytesBefore() / Math.max(1, r.bytesAfter()),
                Format.bytes(r.weightBytesBefore()), Format.bytes(r.weightBytesAfter())));
        row(sb, "time", String.format(Locale.ROOT, "%.1f s", r.elapsedNanos() / 1e9));
        return sb.toString().stripTrailing();
    }

    private static void row(StringBuilder sb, String key, String value) {
        sb.append(String.format(Locale.ROOT, "%-8s %s%n", key, value));
    }

    static Map<String, Object> toMap(Path in, QuantizeOptions o, QuantizeReport r) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("model", in.toString());
        m.put("output", r.output() == null ? null : r.output().toString());
        m.put("written", r.written());
        QuantConfig c = o.weights();
        m.put("bits", c.bits());
        m.put("block", c.blockSize() == QuantConfig.AUTO_BLOCK ? "auto" : c.blockSize());
        m.put("symmetric", c.symmetric());
        m.put("method", c.method().name().toLowerCase(Locale.ROOT));
        m.put("format", o.format().name().toLowerCase(Locale.ROOT));
        m.put("embeddings", o.embeddings());
        m.put("embedding_block", o.tableBlock());
        m.put("bytes_before", r.bytesBefore());
        m.put("bytes_after", r.bytesAfter());
        m.put("seconds", r.elapsedNanos() / 1e9);
        m.put("layers", r.layers().stream().map(l -> {
            Map<String, Object> e = new LinkedHashMap<>();
            e.put("weight", l.weight());
            e.put("nodes", l.nodes());
            e.put("op", l.op());
            e.put("shape", new long[]{l.rows(), l.cols()});
            e.put("bits", l.bits());
            e.put("block", l.blockSize());
            e.put("symmetric", l.symmetric());
            e.put("relative_error", l.relativeError());
            e.put("bytes_before", l.bytesBefore());
            e.put("bytes_after", l.bytesAfter());
            return e;
        }).toList());
        m.put("kept", r.skipped().stream().map(s -> Map.of("weight", s.weight(), "node", s.node(), "reason", s.reason())).toList());
        m.put("notes", List.copyOf(r.notes()));
        return m;
    }
}
