package dev.jlm.bench.report;

/**
 * Bytes each benchmark operation must move at the least: every input element read once and every output
 * element written once (F32, 4 bytes), small vectors (gamma, beta, RoPE table rows) included. Write-allocate
 * traffic is not counted, for the kernels as for the roofline, so the two compare like with like.
 */
final class Traffic {
    private Traffic() {
    }

    /** Bytes per operation, or NaN when the benchmark is unknown here. */
    static double bytes(Result r) {
        long[] s = r.param("shape") == null ? new long[0] : shape(r.param("shape"));
        double elems = 1;
        for (long d : s) {
            elems *= d;
        }
        double cols = s.length == 0 ? 0 : s[s.length - 1];
        return switch (r.benchClass() + "." + r.method()) {
            case "RmsNormBench.rmsNorm" -> 8 * elems + 4 * cols;
            case "RmsNormBench.rmsNormResidual" -> 16 * elems + 4 * cols;
            case "LayerNormBench.layerNorm" -> 8 * elems + 8 * cols;
            case "LayerNormBench.layerNormResidual" -> 16 * elems + 8 * cols;
            case "SoftmaxBench.softmax" -> 8 * elems;
            // x in, out; cos and sin rows of headDim/2 for each of the seq positions
            case "RopeBench.rope" -> 8 * elems + 4.0 * s[0] * s[2];
            case "ActivationBench.activation" -> "swiglu".equals(r.param("op")) ? 12 * elems : 8 * elems;
            // q, k, v in and out once; shape = heads x kvHeads x seq x headDim
            case "AttentionBench.prefill" -> 4.0 * s[2] * s[3] * (2 * s[0] + 2 * s[1]);
            // the whole cache (k and v) read once, plus q in and out for one token
            case "AttentionBench.decode" -> 4.0 * s[3] * (2 * s[0] + 2.0 * s[1] * s[2]);
            // the whole cache read once, plus q in and out for each of the draft's tokens
            case "AttentionBench.draft" -> 4.0 * s[3] * (2.0 * s[0] * tokens(r) + 2.0 * s[1] * s[2]);
            case "RooflineBench.copy", "RooflineBench.copyTwoStreams" -> 2.0 * Long.parseLong(r.param("sizeMiB")) * (1 << 20);
            case "RooflineBench.triad" -> 3.0 * Long.parseLong(r.param("sizeMiB")) * (1 << 20);
            case "RooflineBench.read" -> 1.0 * Long.parseLong(r.param("sizeMiB")) * (1 << 20);
            default -> Double.NaN;
        };
    }

    /**
     * Floating-point operations per operation for the compute-bound ops, or NaN: attention counts 2 * headDim
     * for each score and 2 * headDim for each weighted value; causal prefill counts half the score matrix.
     */
    static double flops(Result r) {
        if (r.param("shape") == null) {
            return Double.NaN;
        }
        long[] s = shape(r.param("shape"));
        return switch (r.benchClass() + "." + r.method()) {
            case "AttentionBench.prefill" -> 4.0 * s[0] * s[2] * s[2] * s[3] / 2;
            case "AttentionBench.decode" -> 4.0 * s[0] * s[2] * s[3];
            case "AttentionBench.draft" -> 4.0 * s[0] * tokens(r) * s[2] * s[3];
            default -> Double.NaN;
        };
    }

    /** New tokens of an {@code AttentionBench.draft} result. */
    private static double tokens(Result r) {
        String t = r.param("tokens");
        return t == null ? Double.NaN : Double.parseDouble(t);
    }

    /** The width the targets speak of: the elements of one row (all dimensions but the first). */
    static long width(String shape) {
        long[] s = shape(shape);
        long w = 1;
        for (int i = 1; i < s.length; i++) {
            w *= s[i];
        }
        return s.length == 1 ? s[0] : w;
    }

    static long[] shape(String s) {
        String[] parts = s.split("x");
        long[] d = new long[parts.length];
        for (int i = 0; i < parts.length; i++) {
            d[i] = Long.parseLong(parts[i].trim());
        }
        return d;
    }
}
