package dev.jlm.quant;

/** How quantized weights appear in the rewritten model. */
public enum OutputFormat {
    /** ONNX Runtime's {@code com.microsoft::MatMulNBits} (and {@code GatherBlockQuantized} for embeddings). */
    MATMULNBITS,
    /** Standard ONNX: a blocked {@code DequantizeLinear} (opset 21+) feeding the original node. */
    QDQ
}
