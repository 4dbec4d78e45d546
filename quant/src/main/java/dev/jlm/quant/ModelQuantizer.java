package dev.jlm.quant;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import com.google.protobuf.UnsafeByteOperations;
import dev.jlm.core.DType;
import dev.jlm.core.JlmException;
import dev.jlm.core.Tensor;
import dev.jlm.core.onnx.OnnxModel;
import dev.jlm.core.onnx.WeightUse;
import dev.jlm.simd.quant.QuantizedMatrix;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Rewrites an ONNX model with quantized weights: every MatMul or Gemm whose weight is a constant 2-D float
 * initializer becomes a {@code com.microsoft::MatMulNBits} (or, with {@link OutputFormat#QDQ}, a blocked
 * {@code DequantizeLinear} feeding the original node), and, when asked, every Gather on a constant table a
 * {@code com.microsoft::GatherBlockQuantized}.
 *
 * <p>A weight read by several such nodes is quantized once and shared. A weight that anything else reads
 * (another op, a subgraph, a graph output) stays in float, as does one used in two layouts. Nodes keep their
 * names and outputs; the rest of the graph, the metadata and the opsets are untouched, apart from the
 * {@code com.microsoft} import that the new nodes need. Float weights no longer read are dropped.
 * Already-quantized nodes and unknown domains are left as they are.
 *
 * <p>Memory: one float weight at a time is read (through the model's mapping) and quantized; the quantized
 * weights, about bits/32 of the float size, are held until the output is written.
 */
public final class ModelQuantizer {
    /** Domain of ONNX Runtime's contrib operators. */
    public static final String MS_DOMAIN = "com.microsoft";
    /** Ops that mark a model (or part of it) as already quantized. */
    static final Set<String> QUANTIZED_OPS = Set.of("MatMulNBits", "GatherBlockQuantized", "DequantizeLinear", "QuantizeLinear",
            "DynamicQuantizeLinear", "MatMulInteger", "QLinearMatMul", "MatMulIntegerToFloat", "DynamicQuantizeMatMul",
            "QGemm", "QAttention", "MatMulFpQ4", "QLinearConv", "ConvInteger");

    /**
     * Embedding tables below this size stay in float: position and token-type tables cost almost nothing and are
     * added to every token, so their error reaches every output (on all-MiniLM-L6-v2 keeping them gains more
     * cosine than any other 0.7 MB spent).
     */
    public static final long SMALL_TABLE_BYTES = 1L << 20;

    /** Progress of a run: called before each weight is quantized. */
    public interface Progress {
        /** Quantizing weight {@code index} (0-based) of {@code total}. */
        void weight(int index, int total, String weight, long rows, long cols);

        /** A progress that says nothing. */
        Progress NONE = (i, t, w, r, c) -> {
        };
    }

    private final OnnxModel model;
    private final QuantizeOptions opts;
    private final Progress progress;
    private final Set<String> names = new HashSet<>();
    private final List<AutoCloseable> keepAlive = new ArrayList<>();
    /** Initializers the rewrite stopped reading; dropped unless something still reads them. */
    private final Set<String> dropped = new HashSet<>();

    private ModelQuantizer(OnnxModel model, QuantizeOptions opts, Progress progress) {
        this.model = model;
        this.opts = opts;
        this.progress = progress == null ? Progress.NONE : progress;
    }

    /**
     * Quantizes {@code model} and writes the result to {@code target} (atomically; never over one of the model's
     * own files). When the model has no quantizable weight, nothing is written and the report says so.
     *
     * @throws JlmException.InvalidArgument for a non-finite weight (naming it) or a target that is an input
     * @throws JlmException.Unsupported     for {@link OutputFormat#QDQ} on a model below opset 21
     */
    public static QuantizeReport quantize(OnnxModel model, Path target, QuantizeOptions opts, Progress progress) {
        long t0 = System.nanoTime();
        dev.jlm.core.io.AtomicFiles.refuseInputs(target.toAbsolutePath().normalize(), model.files());
        ModelQuantizer q = new ModelQuantizer(model, opts, progress);
        try {
            return q.run(target, t0);
        } finally {
            q.release();
        }
    }

    private void release() {
        for (AutoCloseable c : keepAlive) {
            try {
                c.close();
            } catch (Exception ignored) {
                // off-heap memory only; nothing to report
            }
        }
        keepAlive.clear();
    }

    /** A weight with the nodes that use it, and the layout they share. */
    private record Candidate(String weight, List<WeightUse> uses, Kind kind) {
    }

    private enum Kind {
        /** MatMul, or Gemm with transB=0: the weight is [K, N]. */
        KN,
        /** Gemm with transB=1: the weight is [N, K]. */
        NK,
        /** Gather on an embedding table [V, H]: blocks along H. */
        GATHER
    }

    private QuantizeReport run(Path target, long t0) {
        GraphProto g = model.graph();
        collectNames(g);
        List<String> notes = new ArrayList<>();
        List<QuantizeReport.Skipped> skipped = new ArrayList<>();

        Map<String, Integer> already = new LinkedHashMap<>();
        for (NodeProto n : g.getNodeList()) {
            if (QUANTIZED_OPS.contains(n.getOpType())) {
                already.merge(n.getOpType(), 1, Integer::sum);
            }
        }
        if (!already.isEmpty()) {
            StringBuilder sb = new StringBuilder();
            already.forEach((op, c) -> sb.append(sb.isEmpty() ? "" : ", ").append(c).append(' ').append(op));
            notes.add("already quantized, left as they are: " + sb);
        }

        List<Candidate> candidates = select(g, skipped);
        if (candidates.isEmpty()) {
            notes.add("no quantizable weight: nothing written");
            return new QuantizeReport(null, List.of(), skipped, notes, model.totalFileBytes(), 0, System.nanoTime() - t0);
        }
        if (opts.format() == OutputFormat.QDQ) {
            long opset = model.opsets().getOrDefault("", 1L);
            if (opset < 21) {
                throw new JlmException.Unsupported(model.name() + ": --format qdq needs ai.onnx opset 21 or later (blocked "
                        + "DequantizeLinear), but the model imports opset " + opset + "; use --format matmulnbits");
            }
        }

        boolean gptq = opts.weights().method() == Method.GPTQ;
        Map<String, Hessians> hessians = gptq ? capture(candidates, notes) : Map.of();

        // node index -> replacement nodes; weight name -> name of the dequantized value (QDQ)
        Map<Integer, List<NodeProto>> replace = new HashMap<>();
        Map<Integer, List<NodeProto>> insertBefore = new HashMap<>();
        List<TensorProto> newInits = new ArrayList<>();
        List<QuantizeReport.Layer> layers = new ArrayList<>();
        boolean usesMs = false;

        for (int ci = 0; ci < candidates.size(); ci++) {
            Candidate c = candidates.get(ci);
            TensorProto wp = model.initializerProto(c.weight());
            progress.weight(ci, candidates.size(), c.weight(), wp.getDims(0), wp.getDims(1));
            Tensor w = model.initializer(c.weight());
            DType scaleType = w.dtype();
            BlockQuantizer.Result r;
            if (gptq && c.kind() != Kind.GATHER) {
                Hessians h = null;
                for (String in : c.uses().stream().map(u -> u.node().getInput(0)).distinct().toList()) {
                    Hessians one = hessians.get(in);
                    if (h == null) {
                        h = new Hessians(one.width());
                    }
                    h.addAll(one);
                }
                r = Gptq.quantize(w, c.kind() != Kind.KN, h.matrix(), opts.weights(), scaleType, opts.calibration().damp(),
                        opts.calibration().actOrder(), c.weight());
            } else {
                QuantConfig cfg = gptq ? opts.weights().withMethod(Method.MSE) : opts.weights();
                if (c.kind() == Kind.GATHER) {
                    cfg = cfg.withBlockSize(opts.tableBlock());
                }
                r = BlockQuantizer.quantize(w, c.kind() != Kind.KN, cfg, scaleType, c.weight());
            }
            keepAlive.add(r);
            QuantizedMatrix q = r.matrix();
            String base = sanitize(c.weight());
            long bytesAfter;
            if (opts.format() == OutputFormat.QDQ) {
                bytesAfter = emitQdq(c, q, base, newInits, insertBefore, replace);
            } else {
                bytesAfter = c.kind() == Kind.GATHER ? emitGather(c, q, base, newInits, replace) : emitMatMulNBits(c, q, base, newInits, replace);
                usesMs = true;
            }
            dropped.add(c.weight());
            layers.add(new QuantizeReport.Layer(c.weight(), c.uses().stream().map(WeightUse::nodeName).toList(),
                    c.uses().getFirst().opType(), wp.getDims(0), wp.getDims(1), q.bits(), q.blockSize(), !q.hasZeroPoints(),
                    r.relativeError(), w.byteSize(), bytesAfter));
        }

        GraphProto.Builder gb = g.toBuilder().clearNode();
        for (int i = 0; i < g.getNodeCount(); i++) {
            List<NodeProto> before = insertBefore.get(i);
            if (before != null) {
                gb.addAllNode(before);
            }
            List<NodeProto> rep = replace.get(i);
            if (rep != null) {
                gb.addAllNode(rep);
            } else {
                gb.addNode(g.getNode(i));
            }
        }
        gb.addAllInitializer(newInits);
        GraphProto rewritten = gb.build();
        Set<String> read = new HashSet<>();
        collectReads(rewritten, read);
        for (ValueInfoProto o : rewritten.getOutputList()) {
            read.add(o.getName());
        }
        dropped.removeIf(read::contains);
        // Drop the float weights no longer read; earlier IR versions also list initializers among the inputs.
        gb = rewritten.toBuilder().clearInitializer().clearInput().clearValueInfo();
        for (TensorProto t : rewritten.getInitializerList()) {
            if (!dropped.contains(t.getName())) {
                gb.addInitializer(t);
            }
        }
        for (ValueInfoProto v : rewritten.getInputList()) {
            if (!dropped.contains(v.getName())) {
                gb.addInput(v);
            }
        }
        for (ValueInfoProto v : rewritten.getValueInfoList()) {
            if (!dropped.contains(v.getName())) {
                gb.addValueInfo(v);
            }
        }
        ModelProto.Builder mb = model.proto().toBuilder().setGraph(gb);
        if (usesMs && !model.opsets().containsKey(MS_DOMAIN)) {
            mb.addOpsetImport(OperatorSetIdProto.newBuilder().setDomain(MS_DOMAIN).setVersion(1));
            notes.add("added the opset import " + MS_DOMAIN + " 1");
        }
        ModelProto out = mb.build();
        model.save(out, target, opts.save());
        return new QuantizeReport(target, layers, skipped, notes, model.totalFileBytes(), writtenBytes(target),
                System.nanoTime() - t0);
    }

    private static long writtenBytes(Path target) {
        try {
            long total = Files.size(target);
            try (OnnxModel m = OnnxModel.load(target)) {
                total = m.totalFileBytes();
            }
            return total;
        } catch (IOException e) {
            throw new JlmException.Io(target + ": cannot read the written model's size", e);
        }
    }

    // ---- calibration ------------------------------------------------------------------------------

    /**
     * Runs the calibration sentences through the float model and accumulates H = X^T X for every input of a
     * quantized MatMul/Gemm. Inputs are captured in groups whose Hessians fit the memory budget, one pass over
     * the data per group, so memory never holds more than the budget plus one batch's captured values.
     */
    private Map<String, Hessians> capture(List<Candidate> candidates, List<String> notes) {
        Calibration cal = opts.calibration();
        if (model.path() == null) {
            throw new JlmException.InvalidArgument(model.name() + ": GPTQ calibration needs the model as a file");
        }
        Map<String, Integer> widths = new LinkedHashMap<>();
        for (Candidate c : candidates) {
            if (c.kind() == Kind.GATHER) {
                continue;
            }
            TensorProto t = model.initializerProto(c.weight());
            int k = (int) (c.kind() == Kind.KN ? t.getDims(0) : t.getDims(1));
            for (WeightUse u : c.uses()) {
                widths.put(u.node().getInput(0), k);
            }
        }
        Map<String, Hessians> out = new HashMap<>();
        if (widths.isEmpty()) {
            return out;
        }
        Path tok = cal.tokenizer() != null ? cal.tokenizer() : findTokenizer(model.path());
        List<String> sentences;
        if (cal.isRandom()) {
            sentences = randomSentences(tok, cal.maxSentences());
        } else {
            sentences = dev.jlm.core.eval.TextInputs.readSentences(cal.sentences());
            sentences = sentences.subList(0, Math.min(sentences.size(), cal.maxSentences()));
        }
        List<List<String>> groups = new ArrayList<>();
        List<String> group = new ArrayList<>();
        long used = 0;
        for (Map.Entry<String, Integer> e : widths.entrySet()) {
            long b = Hessians.bytes(e.getValue());
            if (!group.isEmpty() && used + b > cal.memoryBytes()) {
                groups.add(group);
                group = new ArrayList<>();
                used = 0;
            }
            group.add(e.getKey());
            used += b;
        }
        groups.add(group);
        try (dev.jlm.core.eval.TextInputs text = dev.jlm.core.eval.TextInputs.open(tok)) {
            for (List<String> values : groups) {
                try (dev.jlm.core.ort.CalibrationCapture cap = dev.jlm.core.ort.CalibrationCapture.open(model.path(),
                        dev.jlm.core.ort.ValueSelector.names(values), dev.jlm.core.ort.SessionConfig.defaults())) {
                    List<String> inputNames = cap.model().inputs().stream().map(dev.jlm.core.ort.ValueSignature::name).toList();
                    for (String v : values) {
                        out.put(v, new Hessians(widths.get(v)));
                    }
                    for (dev.jlm.core.eval.InputBatch batch : text.batches(sentences, cal.batchSize(), inputNames)) {
                        try (batch; dev.jlm.core.ort.Outputs o = cap.runCapturedOnly(batch.inputs())) {
                            for (String v : values) {
                                out.get(v).add(o.get(v), batch.attentionMask());
                            }
                        }
                    }
                }
            }
        }
        long rows = out.values().iterator().next().rows();
        notes.add("GPTQ calibration: " + sentences.size() + " sentences (" + rows + " tokens) from "
                + (cal.isRandom() ? "random tokens of " + tok : cal.sentences())
                + ", " + widths.size() + " layer inputs in " + groups.size() + " pass" + (groups.size() == 1 ? "" : "es"));
        return out;
    }

    /** Seed of the random calibration sequences: the same model and tokenizer always give the same model. */
    private static final long RANDOM_SEED = 7;

    /**
     * {@code count} token sequences of 8 to 40 ids drawn uniformly from the vocabulary of {@code tokenizerJson},
     * decoded to text without special tokens (see {@link Calibration#random}).
     */
    static List<String> randomSentences(Path tokenizerJson, int count) {
        int vocab = vocabularySize(tokenizerJson);
        java.util.Random rnd = new java.util.Random(RANDOM_SEED);
        List<String> out = new ArrayList<>(count);
        try (ai.djl.huggingface.tokenizers.HuggingFaceTokenizer t = ai.djl.huggingface.tokenizers.HuggingFaceTokenizer.newInstance(tokenizerJson)) {
            for (int i = 0; i < count; i++) {
                long[] ids = new long[8 + rnd.nextInt(33)];
                for (int j = 0; j < ids.length; j++) {
                    ids[j] = rnd.nextInt(vocab);
                }
                String text = t.decode(ids, true).replace('\n', ' ').replace('\r', ' ').strip();
                out.add(text.isEmpty() ? "." : text);
            }
        } catch (IOException e) {
            throw new JlmException.Io(tokenizerJson + ": cannot load the tokenizer", e);
        }
        return out;
    }

    /** Entries of {@code model.vocab} in a tokenizer.json (an object for WordPiece/BPE, an array for Unigram). */
    private static int vocabularySize(Path tokenizerJson) {
        try (java.io.Reader r = Files.newBufferedReader(tokenizerJson)) {
            com.google.gson.JsonElement root = com.google.gson.JsonParser.parseReader(r);
            com.google.gson.JsonElement v = root.isJsonObject() && root.getAsJsonObject().has("model")
                    ? root.getAsJsonObject().getAsJsonObject("model").get("vocab") : null;
            int size = v == null ? 0 : v.isJsonObject() ? v.getAsJsonObject().size() : v.isJsonArray() ? v.getAsJsonArray().size() : 0;
            if (size < 1) {
                throw new JlmException.InvalidArgument(tokenizerJson + ": no model.vocab to draw random calibration tokens from");
            }
            return size;
        } catch (IOException | RuntimeException e) {
            if (e instanceof JlmException je) {
                throw je;
            }
            throw new JlmException.InvalidArgument(tokenizerJson + ": not a tokenizer.json (" + e.getMessage() + ")");
        }
    }

    private static Path findTokenizer(Path model) {
        Path dir = model.toAbsolutePath().getParent();
        String file = model.getFileName().toString();
        String stem = file.endsWith(".onnx") ? file.substring(0, file.length() - 5) : file;
        for (Path p : List.of(dir.resolve("tokenizer.json"), dir.resolve(stem + "-tokenizer.json"))) {
            if (Files.isRegularFile(p)) {
                return p;
            }
        }
        throw new JlmException.InvalidArgument(model + ": no tokenizer.json next to the model for the calibration sentences; "
                + "name one with --tokenizer");
    }

    // ---- selection --------------------------------------------------------------------------------

    private List<Candidate> select(GraphProto g, List<QuantizeReport.Skipped> skipped) {
        Map<String, List<WeightUse>> byWeight = new LinkedHashMap<>();
        for (WeightUse u : model.constantWeights()) {
            byWeight.computeIfAbsent(u.weight(), k -> new ArrayList<>()).add(u);
        }
        Set<String> outputs = new HashSet<>();
        for (ValueInfoProto o : g.getOutputList()) {
            outputs.add(o.getName());
        }
        Set<String> subgraphReads = new HashSet<>();
        for (NodeProto n : g.getNodeList()) {
            for (AttributeProto a : n.getAttributeList()) {
                if (a.hasG()) {
                    collectReads(a.getG(), subgraphReads);
                }
                for (GraphProto sub : a.getGraphsList()) {
                    collectReads(sub, subgraphReads);
                }
            }
        }
        List<Candidate> out = new ArrayList<>();
        for (Map.Entry<String, List<WeightUse>> e : byWeight.entrySet()) {
            String w = e.getKey();
            List<WeightUse> uses = e.getValue();
            String first = uses.getFirst().nodeName();
            String reason = null;
            Set<Kind> kinds = new HashSet<>();
            for (WeightUse u : uses) {
                kinds.add(kindOf(u));
            }
            long readers = 0;
            for (NodeProto n : g.getNodeList()) {
                for (String in : n.getInputList()) {
                    if (in.equals(w)) {
                        readers++;
                    }
                }
            }
            Kind kind = kinds.iterator().next();
            TensorProto t = model.initializerProto(w);
            if (opts.exclude() != null && (opts.exclude().matcher(w).find()
                    || uses.stream().anyMatch(u -> opts.exclude().matcher(u.nodeName()).find()))) {
                reason = "excluded by --exclude";
            } else if (kind == Kind.GATHER && kinds.size() == 1 && !opts.embeddings()) {
                reason = "embedding table kept in float (--keep-embeddings)";
            } else if (kind == Kind.GATHER && kinds.size() == 1 && tableBytes(t) < SMALL_TABLE_BYTES) {
                reason = "small embedding table (under 1 MiB) kept in float: every token reads it";
            } else if (outputs.contains(w)) {
                reason = "is also a graph output";
            } else if (subgraphReads.contains(w)) {
                reason = "is also read inside a subgraph";
            } else if (readers != uses.size()) {
                reason = "is also read by a node that is not a MatMul, Gemm or Gather on it";
            } else if (kinds.size() > 1) {
                reason = "is used in two layouts (" + kinds + ")";
            } else if (t.getDataType() == DType.F64.onnxCode()) {
                reason = "is DOUBLE";
            } else if (kind == Kind.GATHER && t.getDataType() == DType.BF16.onnxCode()) {
                reason = "a BFLOAT16 table: GatherBlockQuantized has no BFLOAT16 output";
            } else if (kind == Kind.GATHER && opts.format() == OutputFormat.MATMULNBITS && t.getDims(1) * opts.weights().bits() % 8 != 0) {
                reason = "an odd hidden size cannot be packed two 4-bit codes per byte";
            } else {
                for (WeightUse u : uses) {
                    String why = gemmProblem(u);
                    if (why != null) {
                        reason = why;
                        break;
                    }
                }
            }
            if (reason != null) {
                skipped.add(new QuantizeReport.Skipped(w, first, reason));
            } else {
                out.add(new Candidate(w, uses, kind));
            }
        }
        return out;
    }

    private static long tableBytes(TensorProto t) {
        long e = 1;
        for (long d : t.getDimsList()) {
            e *= d;
        }
        return e * (t.getDataType() == DType.F32.onnxCode() ? 4 : 2);
    }

    private static Kind kindOf(WeightUse u) {
        if (u.opType().equals("Gather")) {
            return Kind.GATHER;
        }
        return u.transposed() ? Kind.NK : Kind.KN;
    }

    /** Why a Gemm cannot become a MatMulNBits, or null. */
    private String gemmProblem(WeightUse u) {
        if (!u.opType().equals("Gemm")) {
            return null;
        }
        NodeProto n = u.node();
        if (floatAttr(n, "alpha", 1f) != 1f) {
            return "Gemm with alpha != 1";
        }
        boolean hasC = n.getInputCount() > 2 && !n.getInput(2).isEmpty();
        if (hasC && floatAttr(n, "beta", 1f) != 1f) {
            return "Gemm with beta != 1";
        }
        return null;
    }

    private static float floatAttr(NodeProto n, String name, float dflt) {
        for (AttributeProto a : n.getAttributeList()) {
            if (a.getName().equals(name)) {
                return a.getF();
            }
        }
        return dflt;
    }

    private static void collectReads(GraphProto g, Set<String> out) {
        for (NodeProto n : g.getNodeList()) {
            out.addAll(n.getInputList());
            for (AttributeProto a : n.getAttributeList()) {
                if (a.hasG()) {
                    collectReads(a.getG(), out);
                }
                for (GraphProto sub : a.getGraphsList()) {
                    collectReads(sub, out);
                }
            }
        }
    }

    private void collectNames(GraphProto g) {
        for (TensorProto t : g.getInitializerList()) {
            names.add(t.getName());
        }
        for (ValueInfoProto v : g.getInputList()) {
            names.add(v.getName());
        }
        for (ValueInfoProto v : g.getOutputList()) {
            names.add(v.getName());
        }
        for (NodeProto n : g.getNodeList()) {
            names.addAll(n.getOutputList());
            names.add(n.getName());
        }
    }

    /** A name not yet used in the graph, from {@code base}. */
    private String fresh(String base) {
        String name = base;
        for (int i = 1; names.contains(name); i++) {
            name = base + "_" + i;
        }
        names.add(name);
        return name;
    }

    private static String sanitize(String s) {
        return s.isEmpty() ? "weight" : s;
    }

    // ---- emission ---------------------------------------------------------------------------------

    /** An initializer over off-heap bytes that stay alive until the model is written. */
    private static TensorProto initializer(String name, DType type, MemorySegment bytes, long... dims) {
        TensorProto.Builder b = TensorProto.newBuilder().setName(name).setDataType(type.onnxCode())
                .setRawData(UnsafeByteOperations.unsafeWrap(bytes.asByteBuffer()));
        for (long d : dims) {
            b.addDims(d);
        }
        return b.build();
    }

    private static AttributeProto intAttr(String name, long v) {
        return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INT).setI(v).build();
    }

    private long emitMatMulNBits(Candidate c, QuantizedMatrix q, String base, List<TensorProto> inits, Map<Integer, List<NodeProto>> replace) {
        requireRowLayout(q);
        String bName = fresh(base + "_Q" + q.bits());
        String sName = fresh(base + "_scales");
        inits.add(initializer(bName, DType.U8, q.data().segment(), q.n(), q.kBlocks(), q.blobBytes()));
        inits.add(initializer(sName, q.scaleType(), q.scales().segment(), q.n(), q.kBlocks()));
        String zName = null;
        if (q.hasZeroPoints()) {
            zName = fresh(base + "_zero_points");
            inits.add(initializer(zName, DType.U8, q.zeroPoints().segment(), q.n(), q.zeroPointBytesPerRow()));
        }
        for (WeightUse u : c.uses()) {
            NodeProto n = u.node();
            String bias = null;
            String addC = null;
            if (u.opType().equals("Gemm") && n.getInputCount() > 2 && !n.getInput(2).isEmpty()) {
                String cName = n.getInput(2);
                TensorProto ct = model.initializerProto(cName);
                if (ct != null && ct.getDataType() == model.initializerProto(c.weight()).getDataType()
                        && elements(ct) == q.n() && (ct.getDimsCount() == 1 || ct.getDimsCount() == 2 && ct.getDims(0) == 1)) {
                    if (ct.getDimsCount() == 1) {
                        bias = cName;
                    } else {
                        bias = fresh(cName + "_bias");
                        dropped.add(cName);
                        inits.add(initializer(bias, DType.fromOnnx(ct.getDataType()), model.bytes(ct), q.n()));
                    }
                } else {
                    addC = cName;
                }
            }
            NodeProto.Builder nb = NodeProto.newBuilder().setOpType("MatMulNBits").setDomain(MS_DOMAIN)
                    .setName(n.getName()).setDocString(n.getDocString())
                    .addInput(n.getInput(0)).addInput(bName).addInput(sName)
                    .addAttribute(intAttr("K", q.k())).addAttribute(intAttr("N", q.n()))
                    .addAttribute(intAttr("bits", q.bits())).addAttribute(intAttr("block_size", q.blockSize()))
                    .addAttribute(intAttr("accuracy_level", opts.accuracyLevel()));
            if (zName != null || bias != null) {
                nb.addInput(zName == null ? "" : zName);
            }
            if (bias != null) {
                nb.addInput("").addInput(bias);
            }
            List<NodeProto> rep = new ArrayList<>();
            if (addC == null) {
                nb.addAllOutput(n.getOutputList());
                rep.add(nb.build());
            } else {
                String tmp = fresh(n.getOutput(0) + "_matmul");
                nb.addOutput(tmp);
                rep.add(nb.build());
                rep.add(NodeProto.newBuilder().setOpType("Add").setName(fresh(n.getName() + "_bias_add"))
                        .addInput(tmp).addInput(addC).addOutput(n.getOutput(0)).build());
            }
            replace.put(u.nodeIndex(), rep);
        }
        return q.byteSize();
    }

    /** The operators' byte layout is the row layout; an interleaved copy is a kernel's working form only. */
    private static void requireRowLayout(QuantizedMatrix q) {
        if (q.layout() != QuantizedMatrix.Layout.ROWS) {
            throw new IllegalStateException("quantized weights in the " + q.layout() + " layout cannot be written as "
                    + "MatMulNBits or GatherBlockQuantized bytes");
        }
    }

    private static long elements(TensorProto t) {
        long e = 1;
        for (long d : t.getDimsList()) {
            e *= d;
        }
        return e;
    }

    private long emitGather(Candidate c, QuantizedMatrix q, String base, List<TensorProto> inits, Map<Integer, List<NodeProto>> replace) {
        requireRowLayout(q);
        long rowBytes = q.k() * q.bits() / 8;
        MemorySegment data = q.data().segment();
        if (rowBytes != (long) q.kBlocks() * q.blobBytes()) {
            // GatherBlockQuantized has no per-block padding: keep the first K codes of each row.
            Tensor packed = Tensor.allocate(DType.U8, q.n(), rowBytes);
            keepAlive.add(packed);
            long stride = (long) q.kBlocks() * q.blobBytes();
            for (long r = 0; r < q.n(); r++) {
                MemorySegment.copy(data, r * stride, packed.segment(), r * rowBytes, rowBytes);
            }
            data = packed.segment();
        }
        String dName = fresh(base + "_Q" + q.bits());
        String sName = fresh(base + "_scales");
        inits.add(initializer(dName, DType.U8, data, q.n(), rowBytes));
        inits.add(initializer(sName, q.scaleType(), q.scales().segment(), q.n(), q.kBlocks()));
        String zName = null;
        if (q.hasZeroPoints()) {
            zName = fresh(base + "_zero_points");
            inits.add(initializer(zName, DType.U8, q.zeroPoints().segment(), q.n(), q.zeroPointBytesPerRow()));
        }
        for (WeightUse u : c.uses()) {
            NodeProto n = u.node();
            NodeProto.Builder nb = NodeProto.newBuilder().setOpType("GatherBlockQuantized").setDomain(MS_DOMAIN)
                    .setName(n.getName()).setDocString(n.getDocString())
                    .addInput(dName).addInput(n.getInput(1)).addInput(sName)
                    .addAttribute(intAttr("gather_axis", 0)).addAttribute(intAttr("quantize_axis", 1))
                    .addAttribute(intAttr("block_size", q.blockSize())).addAttribute(intAttr("bits", q.bits()))
                    .addAllOutput(n.getOutputList());
            if (zName != null) {
                nb.addInput(zName);
            }
            replace.put(u.nodeIndex(), List.of(nb.build()));
        }
        return (long) q.n() * rowBytes + q.scales().byteSize() + (q.hasZeroPoints() ? q.zeroPoints().byteSize() : 0);
    }

    /**
     * A DequantizeLinear (blocked, opset 21) of the weight in its original shape, feeding the original nodes.
     * Symmetric: INT4/INT8 codes without zero point; asymmetric: UINT4/UINT8 codes and zero points.
     */
    private long emitQdq(Candidate c, QuantizedMatrix q, String base, List<TensorProto> inits,
                         Map<Integer, List<NodeProto>> insertBefore, Map<Integer, List<NodeProto>> replace) {
        boolean kn = c.kind() == Kind.KN;
        long n = q.n();
        long k = q.k();
        int kb = q.kBlocks();
        boolean sym = !q.hasZeroPoints();
        int half = q.defaultZeroPoint();
        DType codeType = q.bits() == 4 ? (sym ? DType.I4 : DType.U4) : (sym ? DType.I8 : DType.U8);
        long[] shape = kn ? new long[]{k, n} : new long[]{n, k};
        long[] sShape = kn ? new long[]{kb, n} : new long[]{n, kb};
        Tensor codes = Tensor.allocate(codeType, shape);
        keepAlive.add(codes);
        MemorySegment cs = codes.segment();
        long cols = shape[1];
        for (long i = 0; i < shape[0]; i++) {
            for (long j = 0; j < cols; j++) {
                long row = kn ? j : i;
                long col = kn ? i : j;
                int v = q.code(row, col) - (sym ? half : 0);
                long e = i * cols + j;
                if (q.bits() == 8) {
                    cs.set(ValueLayout.JAVA_BYTE, e, (byte) v);
                } else {
                    long at = e >>> 1;
                    int b = cs.get(ValueLayout.JAVA_BYTE, at) & 0xff;
                    b = (e & 1) == 0 ? (b & 0xf0) | (v & 0xf) : (b & 0x0f) | ((v & 0xf) << 4);
                    cs.set(ValueLayout.JAVA_BYTE, at, (byte) b);
                }
            }
        }
        Tensor scales = Tensor.allocate(q.scaleType(), sShape);
        keepAlive.add(scales);
        Tensor zps = sym ? null : Tensor.allocate(codeType, sShape);
        if (zps != null) {
            keepAlive.add(zps);
        }
        for (long r = 0; r < n; r++) {
            for (int blk = 0; blk < kb; blk++) {
                long[] idx = kn ? new long[]{blk, r} : new long[]{r, blk};
                scales.setDouble(q.scale(r, blk), idx);
                if (zps != null) {
                    zps.setDouble(q.zeroPoint(r, blk), idx);
                }
            }
        }
        String qName = fresh(base + "_quantized");
        String sName = fresh(base + "_scale");
        inits.add(initializer(qName, codeType, cs, shape));
        inits.add(initializer(sName, q.scaleType(), scales.segment(), sShape));
        NodeProto.Builder dq = NodeProto.newBuilder().setOpType("DequantizeLinear").setName(fresh(base + "_DequantizeLinear"))
                .addInput(qName).addInput(sName)
                .addAttribute(intAttr("axis", kn ? 0 : 1)).addAttribute(intAttr("block_size", q.blockSize()));
        if (zps != null) {
            String zName = fresh(base + "_zero_point");
            inits.add(initializer(zName, codeType, zps.segment(), sShape));
            dq.addInput(zName);
        }
        String out = fresh(base + "_dequantized");
        dq.addOutput(out);
        int first = c.uses().stream().mapToInt(WeightUse::nodeIndex).min().orElseThrow();
        insertBefore.computeIfAbsent(first, i -> new ArrayList<>()).add(dq.build());
        for (WeightUse u : c.uses()) {
            NodeProto.Builder nb = u.node().toBuilder();
            nb.setInput(u.inputIndex(), out);
            replace.put(u.nodeIndex(), List.of(nb.build()));
        }
        return codes.byteSize() + scales.byteSize() + (zps == null ? 0 : zps.byteSize());
    }
}
