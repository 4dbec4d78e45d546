package dev.jlm.simd.activation;

import dev.jlm.core.Simd;
import dev.jlm.core.Tensor;

/**
 * Element-wise activations: SiLU {@code x * sigmoid(x)}, GELU in its tanh form
 * {@code 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))} and its exact erf form {@code 0.5 x (1 + erf(x / sqrt 2))}
 * (ONNX {@code Gelu} with {@code approximate="tanh"} / {@code "none"}), and SwiGLU {@code silu(gate) * up}.
 *
 * <p>Inputs may be F32, F16 or BF16; {@code out} is F32 with the input's shape and may be the input itself. Inputs
 * may be views whose last axis is contiguous and whose rows are evenly spaced, such as the two halves of a fused
 * gate/up projection ({@code t.slice(-1, 0, ff)} and {@code t.slice(-1, ff, 2 * ff)}). Results are accurate
 * relative to the output, also far in the tails where {@code 1 + tanh} or {@code 1 + erf} would cancel; NaN
 * propagates. Instances are immutable and thread-safe; {@link #get()} is the start-up choice.
 */
public interface Activations {
    /** The implementation chosen at start-up ({@code -Djlm.simd}), using all cores. */
    static Activations get() {
        return Simd.useVector() ? vector() : scalar();
    }

    /** The scalar reference: one element at a time, in double. */
    static Activations scalar() {
        return ActivationImpl.SCALAR;
    }

    /** The Vector API implementation. */
    static Activations vector() {
        return ActivationImpl.VECTOR;
    }

    /** "vector" or "scalar". */
    String kind();

    /** The most threads one call uses. */
    int threads();

    /** The same kernels using at most {@code threads} threads per call. */
    Activations withThreads(int threads);

    /** {@code out = x * sigmoid(x)}. */
    void silu(Tensor x, Tensor out);

    /** {@code out = gelu(x)}, tanh approximation. */
    void geluTanh(Tensor x, Tensor out);

    /** {@code out = gelu(x)}, exact erf form (erfc evaluated to a relative error below 1.2e-7). */
    void geluErf(Tensor x, Tensor out);

    /** {@code out = silu(gate) * up}; all three of one shape. */
    void swiglu(Tensor gate, Tensor up, Tensor out);
}
