package dev.jlm.quant;

import dev.jlm.core.JlmException;

import java.nio.file.Path;

/**
 * Calibration data for {@link Method#GPTQ}: sentences run through the float model to capture each quantized
 * layer's inputs.
 *
 * @param sentences    a text file, one sentence per line; null for random token sequences (see {@link #random})
 * @param tokenizer    the model's tokenizer.json; null to look next to the model ({@code tokenizer.json} or
 *                     {@code <model>-tokenizer.json})
 * @param maxSentences how many sentences to use at most (the first ones), or how many random sequences
 * @param batchSize    sentences per run
 * @param damp         GPTQ damping, relative to the mean diagonal of H
 * @param memoryBytes  at most this much memory for the Hessians held at once; layers beyond it are captured in
 *                     further passes over the data, so memory stays bounded whatever the model's depth
 * @param actOrder     GPTQ quantizes the input dimensions by decreasing Hessian diagonal (true) or in order
 */
public record Calibration(Path sentences, Path tokenizer, int maxSentences, int batchSize, double damp, long memoryBytes,
                          boolean actOrder) {
    public Calibration {
        if (maxSentences < 1 || batchSize < 1 || !(damp > 0) || memoryBytes < 1) {
            throw new JlmException.InvalidArgument("calibration needs max sentences, batch size, damping and memory > 0");
        }
    }

    /** 128 sentences in batches of 8, damping 0.01, 1 GiB of Hessians per pass, act-order. */
    public static Calibration of(Path sentences, Path tokenizer) {
        return new Calibration(sentences, tokenizer, 128, 8, 0.01, 1L << 30, true);
    }

    /**
     * Calibration without data: {@code count} sequences of 8 to 40 tokens drawn uniformly (seeded) from the
     * tokenizer's vocabulary, decoded to text without the special tokens and tokenized again, so each gets the
     * model's own start and end tokens. 256 sequences, otherwise as {@link #of}.
     */
    public static Calibration random(Path tokenizer) {
        return new Calibration(null, tokenizer, 256, 8, 0.01, 1L << 30, true);
    }

    /** Whether the calibration sentences are random token sequences rather than a file. */
    public boolean isRandom() {
        return sentences == null;
    }

    public Calibration withMaxSentences(int n) {
        return new Calibration(sentences, tokenizer, n, batchSize, damp, memoryBytes, actOrder);
    }

    public Calibration withMemoryBytes(long bytes) {
        return new Calibration(sentences, tokenizer, maxSentences, batchSize, damp, bytes, actOrder);
    }

    public Calibration withDamp(double d) {
        return new Calibration(sentences, tokenizer, maxSentences, batchSize, d, memoryBytes, actOrder);
    }

    public Calibration withActOrder(boolean a) {
        return new Calibration(sentences, tokenizer, maxSentences, batchSize, damp, memoryBytes, a);
    }
}
