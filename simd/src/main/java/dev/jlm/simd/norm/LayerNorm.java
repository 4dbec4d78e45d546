package dev.jlm.simd.norm;

import dev.jlm.core.Simd;
import dev.jlm.core.Tensor;

/**
 * LayerNorm over the last axis: {@code y = (x - mean(x)) / sqrt(var(x) + eps) * gamma + beta}, with the
 * population variance, row by row (ONNX {@code LayerNormalization}, axis -1). The variance is computed from the
 * centred values (two passes over a row that stays in cache), not as {@code E[x^2] - E[x]^2}, so rows with a
 * large mean keep their precision.
 *
 * <p>Dtypes, shapes, aliasing, threads and NaN handling as in {@link RmsNorm}; {@code beta} may be null (no
 * bias). Instances are immutable and thread-safe.
 */
public interface LayerNorm {
    /** The implementation chosen at start-up ({@code -Djlm.simd}), using all cores. */
    static LayerNorm get() {
        return Simd.useVector() ? vector() : scalar();
    }

    /** The scalar reference: plain loops, sums in double. */
    static LayerNorm scalar() {
        return NormImpl.SCALAR;
    }

    /** The Vector API implementation. */
    static LayerNorm vector() {
        return NormImpl.VECTOR;
    }

    /** "vector" or "scalar". */
    String kind();

    /** The most threads one call uses. */
    int threads();

    /** The same kernel using at most {@code threads} threads per call. */
    LayerNorm withThreads(int threads);

    /**
     * {@code out = (x - mean) / sqrt(var + eps) * gamma + beta} over the last axis.
     *
     * @param beta F32 vector of {@code n} elements, or null for none
     */
    void apply(Tensor x, Tensor gamma, Tensor beta, float eps, Tensor out);

    /** {@code sum = x + residual; out = layernorm(sum)}; aliasing rules as in {@link RmsNorm#applyResidual}. */
    void applyResidual(Tensor x, Tensor residual, Tensor gamma, Tensor beta, float eps, Tensor sum, Tensor out);
}
