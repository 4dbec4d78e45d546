package dev.jlm.quant;

import dev.jlm.core.JlmException;

import java.nio.file.Path;

/**
 * Calibration data for {@link Method#GPTQ}: sentences run through the float model to capture each quantized
 * layer's inputs.
 *
 * @param sentences    a text file, one sentence per line
 * @param tokenizer    the model's tokenizer.json; null to look next to the model ({@code tokenizer.json} or
 *                     {@code <model>-tokenizer.json})
 * @param maxSentences how many sentences to use at most (the first ones)
 * @param batchSize    sentences per run
 * @param damp         GPTQ damping, relative to the mean diagonal of H
 * @param memoryBytes  at most this much memory for the Hessians held at once; layers beyond it are captured in
 *                     further passes over the data, so memory stays bounded whatever the model's depth
 */
public record Calibration(Path sentences, Path tokenizer, int maxSentences, int batchSize, double damp, long memoryBytes) {
    public Calibration {
        if (sentences == null) {
            throw new JlmException.InvalidArgument("calibration needs a sentence file");
        }
        if (maxSentences < 1 || batchSize < 1 || !(damp > 0) || memoryBytes < 1) {
            throw new JlmException.InvalidArgument("calibration needs max sentences, batch size, damping and memory > 0");
        }
    }

    /** 128 sentences in batches of 8, damping 0.01, 1 GiB of Hessians per pass. */
    public static Calibration of(Path sentences, Path tokenizer) {
        return new Calibration(sentences, tokenizer, 128, 8, 0.01, 1L << 30);
    }

    public Calibration withMaxSentences(int n) {
        return new Calibration(sentences, tokenizer, n, batchSize, damp, memoryBytes);
    }

    public Calibration withMemoryBytes(long bytes) {
        return new Calibration(sentences, tokenizer, maxSentences, batchSize, damp, bytes);
    }
}
