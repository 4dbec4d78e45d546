package dev.jlm.simd.softmax;

import dev.jlm.core.Simd;
import dev.jlm.core.Tensor;

/**
 * Softmax over the last axis, numerically stable: {@code y = exp(x - max(x)) / sum(exp(x - max(x)))} row by row
 * (ONNX {@code Softmax}, opset 13, axis -1), optionally after adding a mask to the row.
 *
 * <p>The mask is additive ({@code 0} keeps a score, {@code -inf} or a large negative number removes it) and has
 * the last axis of {@code x}; its rows are reused cyclically: row {@code i} of {@code x} takes row
 * {@code i % maskRows} of the mask, so a {@code [q, k]} causal mask serves scores of shape {@code [heads, q, k]}
 * and a {@code [k]} mask serves every row. The number of mask rows must divide the number of rows of {@code x}.
 *
 * <p>{@code x} and the mask may be F32, F16 or BF16; {@code out} is F32 and may be {@code x} itself. A row
 * holding NaN or {@code +inf}, or whose every entry is masked with {@code -inf}, comes out NaN, as in the
 * reference. Instances are immutable and thread-safe; {@link #get()} is the start-up choice.
 */
public interface Softmax {
    /** The implementation chosen at start-up ({@code -Djlm.simd}), using all cores. */
    static Softmax get() {
        return Simd.useVector() ? vector() : scalar();
    }

    /** The scalar reference: plain loops, exp and sums in double. */
    static Softmax scalar() {
        return SoftmaxImpl.SCALAR;
    }

    /** The Vector API implementation. */
    static Softmax vector() {
        return SoftmaxImpl.VECTOR;
    }

    /** "vector" or "scalar". */
    String kind();

    /** The most threads one call uses. */
    int threads();

    /** The same kernel using at most {@code threads} threads per call. */
    Softmax withThreads(int threads);

    /** {@code out = softmax(x)} over the last axis. */
    void apply(Tensor x, Tensor out);

    /**
     * {@code out = softmax(x + mask)} over the last axis.
     *
     * @param mask additive mask with the last axis of {@code x}, or null for none
     */
    void apply(Tensor x, Tensor mask, Tensor out);
}
