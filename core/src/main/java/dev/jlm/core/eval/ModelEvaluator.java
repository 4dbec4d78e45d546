package dev.jlm.core.eval;

import dev.jlm.core.DType;
import dev.jlm.core.JlmException;
import dev.jlm.core.Tensor;
import dev.jlm.core.onnx.OnnxModel;
import dev.jlm.core.ort.Device;
import dev.jlm.core.ort.OrtModel;
import dev.jlm.core.ort.Outputs;
import dev.jlm.core.ort.SessionConfig;
import dev.jlm.core.ort.ValueSignature;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.Consumer;

/**
 * Runs a reference model and a candidate (typically its compressed copy) in ONNX Runtime on the same
 * inputs, and measures how far the candidate's outputs drift and how fast each model runs.
 *
 * <p>Inputs are either sentences, tokenized with the model's {@code tokenizer.json}, or random tensors drawn
 * from the reference's input signature with a seed. Both models see every batch; which one runs first
 * alternates from batch to batch so that neither always gets the warmer caches. The first batch of each model
 * is a warm-up and is not timed.
 */
public final class ModelEvaluator {
    private ModelEvaluator() {
    }

    /**
     * What to feed the models and where to run them.
     *
     * @param device    where ONNX Runtime runs both models
     * @param threads   intra-op threads per session (0: ONNX Runtime's default)
     * @param text      a file of sentences, one per line; null for random inputs
     * @param tokenizer the tokenizer.json for {@code text}; null to look for one next to the reference model
     * @param maxLength truncation length in tokens
     * @param samples   number of random batches when {@code text} is null
     * @param batchSize sentences per batch (text), or the batch dimension of random inputs
     * @param seed      seed of the random inputs
     * @param warnings  receives one-line warnings (device fallback); null to drop them
     */
    public record Options(Device device, int threads, Path text, Path tokenizer, int maxLength, int samples,
                          int batchSize, long seed, Consumer<String> warnings) {
        public Options {
            Objects.requireNonNull(device, "device");
            if (threads < 0 || samples < 1 || batchSize < 1 || maxLength < 2) {
                throw new JlmException.InvalidArgument("threads must be >= 0, samples and batch size >= 1, max length >= 2");
            }
        }

        /** CPU, ONNX Runtime's threads, 8 random batches of 1, seed 42. */
        public static Options defaults() {
            return new Options(Device.CPU, 0, null, null, TextInputs.DEFAULT_MAX_LENGTH, 8, 1, RandomInputs.DEFAULT_SEED, null);
        }

        public Options withText(Path sentences, Path tokenizerJson) {
            return new Options(device, threads, sentences, tokenizerJson, maxLength, samples, batchSize, seed, warnings);
        }

        public Options withDevice(Device d) {
            return new Options(d, threads, text, tokenizer, maxLength, samples, batchSize, seed, warnings);
        }

        public Options withThreads(int t) {
            return new Options(device, t, text, tokenizer, maxLength, samples, batchSize, seed, warnings);
        }

        public Options withSamples(int n) {
            return new Options(device, threads, text, tokenizer, maxLength, n, batchSize, seed, warnings);
        }

        public Options withBatchSize(int b) {
            return new Options(device, threads, text, tokenizer, maxLength, samples, b, seed, warnings);
        }

        public Options withSeed(long s) {
            return new Options(device, threads, text, tokenizer, maxLength, samples, batchSize, s, warnings);
        }

        public Options withMaxLength(int m) {
            return new Options(device, threads, text, tokenizer, m, samples, batchSize, seed, warnings);
        }

        public Options withWarnings(Consumer<String> w) {
            return new Options(device, threads, text, tokenizer, maxLength, samples, batchSize, seed, w);
        }
    }

    /** Told after each batch: batches done and batches in all. */
    @FunctionalInterface
    public interface Progress {
        void update(int done, int total);
    }

    /** Compares {@code candidate} with {@code reference}; see the class description. */
    public static ModelComparison compare(Path reference, Path candidate, Options options, Progress progress) {
        long refBytes = fileBytes(reference);
        long candBytes = fileBytes(candidate);
        SessionConfig config = SessionConfig.defaults().withDevice(options.device()).withIntraOpThreads(options.threads());
        if (options.warnings() != null) {
            config = config.withWarnings(options.warnings());
        }
        try (OrtModel ref = OrtModel.open(reference, config); OrtModel cand = OrtModel.open(candidate, config)) {
            List<String> inputNames = ref.inputs().stream().map(ValueSignature::name).toList();
            List<String> candInputs = cand.inputs().stream().map(ValueSignature::name).toList();
            if (!candInputs.containsAll(inputNames) || !inputNames.containsAll(candInputs)) {
                throw new JlmException.InvalidArgument(candidate + ": takes inputs " + candInputs + " but "
                        + reference + " takes " + inputNames + "; only models with the same inputs can be compared");
            }
            List<String> outputs = new ArrayList<>();
            for (ValueSignature o : ref.outputs()) {
                if (cand.outputs().stream().anyMatch(c -> c.name().equals(o.name())) && isFloat(o.dtype())) {
                    outputs.add(o.name());
                }
            }
            if (outputs.isEmpty()) {
                throw new JlmException.InvalidArgument(candidate + ": has no float output in common with " + reference);
            }
            Map<String, String> notes = new LinkedHashMap<>();
            Accumulators acc = new Accumulators(ref, outputs);
            List<Long> refTimes = new ArrayList<>();
            List<Long> candTimes = new ArrayList<>();
            if (options.text() != null) {
                Path tokenizer = options.tokenizer() != null ? options.tokenizer() : findTokenizer(reference);
                List<String> sentences = TextInputs.readSentences(options.text());
                int total = (sentences.size() + options.batchSize() - 1) / options.batchSize();
                notes.put("inputs", sentences.size() + " sentences from " + options.text() + ", tokenized with " + tokenizer);
                notes.put("batches", total + " of up to " + options.batchSize());
                try (TextInputs text = TextInputs.open(tokenizer, options.maxLength())) {
                    int i = 0;
                    for (InputBatch batch : text.batches(sentences, options.batchSize(), inputNames)) {
                        try (batch) {
                            step(ref, cand, batch, i, acc, refTimes, candTimes);
                        }
                        i++;
                        if (progress != null) {
                            progress.update(i, total);
                        }
                    }
                }
            } else {
                RandomInputs random = RandomInputs.defaults().withSeed(options.seed()).withBatch(options.batchSize());
                List<ValueSignature> specs = ref.inputs();
                notes.put("inputs", options.samples() + " random batches of " + options.batchSize() + ", seed " + options.seed());
                for (int i = 0; i < options.samples(); i++) {
                    try (InputBatch batch = random.generate(specs, i)) {
                        step(ref, cand, batch, i, acc, refTimes, candTimes);
                    }
                    if (progress != null) {
                        progress.update(i + 1, options.samples());
                    }
                }
            }
            notes.put("device", ref.device().toString());
            notes.put("threads", options.threads() == 0 ? "onnxruntime default" : Integer.toString(options.threads()));
            notes.put("onnxruntime", OrtModel.runtimeVersion());
            return new ModelComparison(
                    new ModelComparison.ModelInfo(reference.getFileName().toString(), refBytes, latency(refTimes)),
                    new ModelComparison.ModelInfo(candidate.getFileName().toString(), candBytes, latency(candTimes)),
                    acc.results(), notes);
        }
    }

    private static void step(OrtModel ref, OrtModel cand, InputBatch batch, int index, Accumulators acc,
                             List<Long> refTimes, List<Long> candTimes) {
        boolean refFirst = index % 2 == 0;
        Outputs a = null;
        Outputs b = null;
        try {
            if (refFirst) {
                a = timed(ref, batch, refTimes, index);
                b = timed(cand, batch, candTimes, index);
            } else {
                b = timed(cand, batch, candTimes, index);
                a = timed(ref, batch, refTimes, index);
            }
            acc.add(a, b, batch.attentionMask());
        } finally {
            if (a != null) {
                a.close();
            }
            if (b != null) {
                b.close();
            }
        }
    }

    private static Outputs timed(OrtModel model, InputBatch batch, List<Long> times, int index) {
        long t0 = System.nanoTime();
        Outputs out = model.run(batch.inputs());
        long t = System.nanoTime() - t0;
        if (index > 0) {
            times.add(t); // the first batch warms up the session and is not timed
        }
        return out;
    }

    private static LatencySummary latency(List<Long> times) {
        return times.isEmpty() ? null : LatencySummary.of(times);
    }

    private static boolean isFloat(DType t) {
        return t != null && t.isFloat();
    }

    /** The tokenizer next to a model: {@code tokenizer.json}, or {@code <stem>-tokenizer.json} as model jars name it. */
    static Path findTokenizer(Path model) {
        Path dir = model.toAbsolutePath().getParent();
        String file = model.getFileName().toString();
        String stem = file.endsWith(".onnx") ? file.substring(0, file.length() - 5) : file;
        List<Path> candidates = List.of(dir.resolve("tokenizer.json"), dir.resolve(stem + "-tokenizer.json"));
        for (Path p : candidates) {
            if (Files.isRegularFile(p)) {
                return p;
            }
        }
        throw new JlmException.InvalidArgument(model + ": no tokenizer found (looked for " + candidates.stream()
                .map(p -> p.getFileName().toString()).toList() + " beside it); name one with --tokenizer");
    }

    private static long fileBytes(Path model) {
        try (OnnxModel m = OnnxModel.load(model)) {
            return m.totalFileBytes();
        }
    }

    /** The metric accumulators of every compared output. */
    private static final class Accumulators {
        private final List<String> names;
        private final Map<String, TensorMetrics> tensor = new LinkedHashMap<>();
        private final Map<String, EmbeddingMetrics> embedding = new LinkedHashMap<>();
        private final Map<String, DistributionMetrics> distribution = new LinkedHashMap<>();

        Accumulators(OrtModel ref, List<String> names) {
            this.names = names;
            for (String n : names) {
                tensor.put(n, new TensorMetrics(n));
                ValueSignature sig = ref.output(n);
                if (DistributionMetrics.looksLikeLogits(n, sig.shape())) {
                    distribution.put(n, new DistributionMetrics(n, DistributionMetrics.looksLikeProbabilities(n)));
                }
            }
        }

        void add(Outputs ref, Outputs cand, Tensor mask) {
            for (String n : names) {
                Tensor a = ref.get(n);
                Tensor b = cand.get(n);
                boolean tokenStates = mask != null && a.rank() == 3 && a.dim(0) == mask.dim(0) && a.dim(1) == mask.dim(1);
                if (tokenStates) {
                    tensor.get(n).add(a, b, mask);
                    embedding.computeIfAbsent(n, EmbeddingMetrics::new).add(a, b, mask);
                } else {
                    tensor.get(n).add(a, b);
                }
                DistributionMetrics d = distribution.get(n);
                if (d != null) {
                    if (tokenStates) {
                        d.add(a, b, mask);
                    } else {
                        d.add(a, b);
                    }
                }
            }
        }

        List<ModelComparison.OutputComparison> results() {
            List<ModelComparison.OutputComparison> out = new ArrayList<>();
            for (String n : names) {
                EmbeddingMetrics e = embedding.get(n);
                DistributionMetrics d = distribution.get(n);
                out.add(new ModelComparison.OutputComparison(n, tensor.get(n).result(),
                        e == null ? null : e.result(), d == null ? null : d.result()));
            }
            return out;
        }
    }
}
