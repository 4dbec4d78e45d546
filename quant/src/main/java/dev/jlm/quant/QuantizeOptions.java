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
 */
public record QuantizeOptions(QuantConfig weights, boolean embeddings, Pattern exclude, OutputFormat format,
                              int accuracyLevel, SaveOptions save, Calibration calibration) {
    public QuantizeOptions {
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
     * {@code --w4}: 4 bits, block 32, asymmetric, MSE search, embeddings included, MatMulNBits with accuracy level 4
     * (int8 activations inside ONNX Runtime: on all-MiniLM-L6-v2 as accurate as level 0, and faster).
     */
    public static QuantizeOptions w4() {
        return new QuantizeOptions(QuantConfig.w4(), true, null, OutputFormat.MATMULNBITS, 4, SaveOptions.DEFAULTS, null);
    }

    /** {@code --w8}: 8 bits, block 32, asymmetric, MSE search, embeddings in float, MatMulNBits, accuracy level 4. */
    public static QuantizeOptions w8() {
        return new QuantizeOptions(QuantConfig.w8(), false, null, OutputFormat.MATMULNBITS, 4, SaveOptions.DEFAULTS, null);
    }

    public QuantizeOptions withWeights(QuantConfig w) {
        return new QuantizeOptions(w, embeddings, exclude, format, accuracyLevel, save, calibration);
    }

    public QuantizeOptions withEmbeddings(boolean e) {
        return new QuantizeOptions(weights, e, exclude, format, accuracyLevel, save, calibration);
    }

    public QuantizeOptions withExclude(Pattern p) {
        return new QuantizeOptions(weights, embeddings, p, format, accuracyLevel, save, calibration);
    }

    public QuantizeOptions withFormat(OutputFormat f) {
        return new QuantizeOptions(weights, embeddings, exclude, f, accuracyLevel, save, calibration);
    }

    /** Sets the method and, for GPTQ, its calibration data in one step (the two must agree). */
    public QuantizeOptions withMethod(Method m, Calibration cal) {
        return new QuantizeOptions(weights.withMethod(m), embeddings, exclude, format, accuracyLevel, save, cal);
    }

    public QuantizeOptions withSave(SaveOptions s) {
        return new QuantizeOptions(weights, embeddings, exclude, format, accuracyLevel, s, calibration);
    }

    public QuantizeOptions withAccuracyLevel(int level) {
        return new QuantizeOptions(weights, embeddings, exclude, format, level, save, calibration);
    }
}
