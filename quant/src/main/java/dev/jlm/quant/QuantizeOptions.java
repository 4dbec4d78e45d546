package dev.jlm.quant;

import dev.jlm.core.JlmException;
import dev.jlm.core.onnx.SaveOptions;

import java.util.regex.Pattern;

/**
 * What {@link ModelQuantizer} does to a model.
 *
 * @param weights       bits, block, symmetry and method of every quantized matrix
 * @param embeddings    also quantize embedding tables (Gather on a constant 2-D initializer)
 * @param exclude       nodes or weights whose name this pattern finds stay in float; null for none
 * @param format        the operators of the rewritten model
 * @param accuracyLevel MatMulNBits' {@code accuracy_level}: 0 (unset), 1 (fp32), 2 (fp16), 3 (bf16), 4 (int8 activations)
 * @param save          how the output is laid out on disk
 * @param calibration   the data for {@link Method#GPTQ}; null otherwise
 * @param embeddingBlock the block size of embedding tables (16, 32, 64 or 128), or 0 for the weights' block
 *                      (32 when that is auto)
 */
public record QuantizeOptions(QuantConfig weights, boolean embeddings, Pattern exclude, OutputFormat format,
                              int accuracyLevel, SaveOptions save, Calibration calibration, int embeddingBlock) {
    public QuantizeOptions {
        if (embeddingBlock != 0 && (embeddingBlock < 16 || embeddingBlock > 128 || Integer.bitCount(embeddingBlock) != 1)) {
            throw new JlmException.InvalidArgument("embedding block size must be 16, 32, 64, 128 or 0 (the weights' block), not " + embeddingBlock);
        }
        if (weights == null || format == null || save == null) {
            throw new JlmException.InvalidArgument("quantize options need weights, format and save settings");
        }
        if (accuracyLevel < 0 || accuracyLevel > 4) {
            throw new JlmException.InvalidArgument("accuracy level must be 0 to 4, not " + accuracyLevel);
        }
        if (weights.method() == Method.GPTQ && calibration == null) {
            throw new JlmException.InvalidArgument("--method gptq needs calibration data (--calib FILE)");
        }
    }

    /**
     * {@code --w4}: 4 bits, block 16, asymmetric, MSE search, embedding tables included at block 128, MatMulNBits
     * with accuracy level 4 (int8 activations inside ONNX Runtime: on all-MiniLM-L6-v2 as accurate as level 0, and
     * faster). Block 16 in the matrices costs about as much as the tables save at block 128, and the tables barely
     * affect accuracy: on all-MiniLM-L6-v2 both methods gain 0.002-0.005 mean cosine over block 32 everywhere,
     * for a 2% larger file.
     */
    public static QuantizeOptions w4() {
        return new QuantizeOptions(QuantConfig.w4().withBlockSize(16), true, null, OutputFormat.MATMULNBITS, 4,
                SaveOptions.DEFAULTS, null, 128);
    }

    /** {@code --w8}: 8 bits, block 32, asymmetric, MSE search, embeddings in float, MatMulNBits, accuracy level 4. */
    public static QuantizeOptions w8() {
        return new QuantizeOptions(QuantConfig.w8(), false, null, OutputFormat.MATMULNBITS, 4, SaveOptions.DEFAULTS, null, 0);
    }

    public QuantizeOptions withWeights(QuantConfig w) {
        return new QuantizeOptions(w, embeddings, exclude, format, accuracyLevel, save, calibration, embeddingBlock);
    }

    public QuantizeOptions withEmbeddings(boolean e) {
        return new QuantizeOptions(weights, e, exclude, format, accuracyLevel, save, calibration, embeddingBlock);
    }

    public QuantizeOptions withExclude(Pattern p) {
        return new QuantizeOptions(weights, embeddings, p, format, accuracyLevel, save, calibration, embeddingBlock);
    }

    public QuantizeOptions withFormat(OutputFormat f) {
        return new QuantizeOptions(weights, embeddings, exclude, f, accuracyLevel, save, calibration, embeddingBlock);
    }

    /** Sets the method and, for GPTQ, its calibration data in one step (the two must agree). */
    public QuantizeOptions withMethod(Method m, Calibration cal) {
        return new QuantizeOptions(weights.withMethod(m), embeddings, exclude, format, accuracyLevel, save, cal, embeddingBlock);
    }

    public QuantizeOptions withSave(SaveOptions s) {
        return new QuantizeOptions(weights, embeddings, exclude, format, accuracyLevel, s, calibration, embeddingBlock);
    }

    public QuantizeOptions withAccuracyLevel(int level) {
        return new QuantizeOptions(weights, embeddings, exclude, format, level, save, calibration, embeddingBlock);
    }

    public QuantizeOptions withEmbeddingBlock(int block) {
        return new QuantizeOptions(weights, embeddings, exclude, format, accuracyLevel, save, calibration, block);
    }

    /** The block size embedding tables are quantized with. */
    public int tableBlock() {
        return embeddingBlock != 0 ? embeddingBlock : weights.blockSize() == QuantConfig.AUTO_BLOCK ? 32 : weights.blockSize();
    }
}
