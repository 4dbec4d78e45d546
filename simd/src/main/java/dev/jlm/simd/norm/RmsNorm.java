package dev.jlm.simd.norm;

import dev.jlm.core.Simd;
import dev.jlm.core.Tensor;

/**
 * RMSNorm over the last axis: {@code y = x / sqrt(mean(x^2) + eps) * gamma}, row by row (ONNX
 * {@code RMSNormalization}, opset 23, axis -1).
 *
 * <p>{@code x} (and {@code residual}) may be F32, F16 or BF16, read where they lie; {@code gamma} and the outputs
 * are F32. Any shape works: the last axis is the row, all others are rows. Outputs may be the input tensor itself
 * (in place) but must not partly overlap it. Views whose last axis is contiguous and whose rows are evenly spaced
 * are accepted; others are rejected with {@link dev.jlm.core.JlmException.InvalidArgument}. Non-finite values
 * stay in their row and come out as the formula gives them: a NaN makes its row NaN; an infinity makes its row
 * zero, NaN where the infinities were. Sums of squares are kept in float, so values above about 1e19 in magnitude
 * (whose squares overflow) are outside the supported range, as in ONNX Runtime.
 *
 * <p>Instances are immutable and thread-safe. {@link #get()} is the implementation chosen at start-up
 * ({@link Simd#useVector()}); large inputs are split by rows across {@link #threads()} threads of the shared
 * {@link dev.jlm.simd.RowExecutor} pool. Nothing is allocated per call on a single thread.
 */
public interface RmsNorm {
    /** The implementation chosen at start-up ({@code -Djlm.simd}), using all cores. */
    static RmsNorm get() {
        return Simd.useVector() ? vector() : scalar();
    }

    /** The scalar reference: plain loops, sums in double. */
    static RmsNorm scalar() {
        return NormImpl.SCALAR;
    }

    /** The Vector API implementation. */
    static RmsNorm vector() {
        return NormImpl.VECTOR;
    }

    /** "vector" or "scalar". */
    String kind();

    /** The most threads one call uses. */
    int threads();

    /** The same kernel using at most {@code threads} threads per call (1: always the calling thread). */
    RmsNorm withThreads(int threads);

    /**
     * {@code out = x / sqrt(mean(x^2) + eps) * gamma} over the last axis.
     *
     * @param x     input, F32/F16/BF16, last axis of length {@code n}
     * @param gamma F32 vector of {@code n} elements
     * @param eps   added to the mean square; must be positive
     * @param out   F32, the shape of {@code x}; may be {@code x} itself when {@code x} is F32
     * @throws dev.jlm.core.JlmException.InvalidArgument on a shape, dtype, eps or memory-layout fault
     */
    void apply(Tensor x, Tensor gamma, float eps, Tensor out);

    /**
     * The residual form of pre-norm decoder blocks: {@code sum = x + residual; out = rmsnorm(sum)} in one pass
     * over the inputs.
     *
     * @param sum F32, receives {@code x + residual}; may be {@code x} or {@code residual} itself (updating the
     *            residual stream in place)
     * @param out F32, receives the normalized sum; must not share memory with {@code sum}
     */
    void applyResidual(Tensor x, Tensor residual, Tensor gamma, float eps, Tensor sum, Tensor out);
}
