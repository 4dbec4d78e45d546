package dev.jlm.cli;

import dev.jlm.core.eval.ModelComparison;
import dev.jlm.core.eval.ModelEvaluator;
import dev.jlm.core.ort.Device;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/** {@code jlm eval A.onnx B.onnx}: how close B's outputs stay to A's, and how fast each runs. */
@Command(name = "eval", mixinStandardHelpOptions = true,
        description = {"Run two models in ONNX Runtime on the same inputs and compare their outputs: cosine similarity, "
                + "absolute and relative error, sentence-embedding cosine for token states, KL/JS divergence and top-1 "
                + "agreement for logits; latency (p50/p90) and file size of each.",
                "A is the reference (e.g. the original model), B the candidate (e.g. its compressed copy)."})
final class EvalCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "A", description = "The reference model (.onnx).")
    Path reference;

    @Parameters(index = "1", paramLabel = "B", description = "The candidate model (.onnx).")
    Path candidate;

    @Option(names = "--text", paramLabel = "FILE", description = "Sentences, one per line, tokenized with the model's tokenizer.json.")
    Path text;

    @Option(names = "--tokenizer", paramLabel = "FILE", description = "The tokenizer.json for --text (default: found next to A).")
    Path tokenizer;

    @Option(names = "--samples", paramLabel = "N", defaultValue = "8",
            description = "Random input batches when no --text is given (default: ${DEFAULT-VALUE}).")
    int samples;

    @Option(names = "--batch", paramLabel = "N", description = "Sentences per batch (default 16), or batch size of random inputs (default 1).")
    Integer batch;

    @Option(names = "--max-length", paramLabel = "N", defaultValue = "512", description = "Truncate sentences to N tokens (default: ${DEFAULT-VALUE}).")
    int maxLength;

    @Option(names = "--seed", defaultValue = "42", description = "Seed of the random inputs (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--device", paramLabel = "cpu|cuda[:N]|auto", defaultValue = "cpu",
            description = "Where ONNX Runtime runs (default: ${DEFAULT-VALUE}); auto falls back to the CPU with a warning.")
    String device;

    @Option(names = "--threads", paramLabel = "N", defaultValue = "0", description = "Intra-op threads per model (default: ONNX Runtime's).")
    int threads;

    @Mixin
    CommonOptions common;

    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        int batchSize = batch != null ? batch : text != null ? 16 : 1;
        ModelEvaluator.Options options = ModelEvaluator.Options.defaults()
                .withDevice(Device.parse(device))
                .withThreads(threads)
                .withText(text, tokenizer)
                .withSamples(samples)
                .withBatchSize(batchSize)
                .withMaxLength(maxLength)
                .withSeed(seed)
                .withWarnings(w -> err.println("jlm: warning: " + w));
        ModelComparison result;
        try (ProgressBar bar = new ProgressBar(err, "eval")) {
            result = ModelEvaluator.compare(reference, candidate, options, bar::update);
        }
        out.println(common.json ? result.toJson() : result.toTable());
        return 0;
    }
}
