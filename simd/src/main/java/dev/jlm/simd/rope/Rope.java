package dev.jlm.simd.rope;

import dev.jlm.core.Simd;
import dev.jlm.core.Tensor;

/**
 * Rotary position embedding (RoPE): rotates pairs of each head's first {@code table.rotaryDim()} elements by
 * {@code position * base^(-2i / rotaryDim)}; elements beyond the rotary dimensions are copied unchanged. Same
 * results as ONNX {@code RotaryEmbedding} (opset 23).
 *
 * <p>{@code x} is {@code [..., seq, heads, headDim]} (rank 3 or more; the layout a Q/K projection produces) or
 * {@code [seq, headDim]} (one head); token {@code t} of the sequence is at position {@code position + t}, for every
 * leading batch index. {@code x} may be F32, F16 or BF16; {@code out} is F32 with the shape of {@code x} and may be
 * {@code x} itself. Instances are immutable and thread-safe; {@link #get()} is the start-up choice.
 */
public interface Rope {
    /** Which elements form a rotated pair. */
    enum Layout {
        /** Pairs {@code (x[2i], x[2i+1])}: GPT-J, ONNX {@code interleaved=1}. */
        INTERLEAVED,
        /** Pairs {@code (x[i], x[i + rotaryDim/2])}: GPT-NeoX, Llama as exported by Hugging Face, ONNX {@code interleaved=0}. */
        HALF_SPLIT
    }

    /** The implementation chosen at start-up ({@code -Djlm.simd}), using all cores. */
    static Rope get() {
        return Simd.useVector() ? vector() : scalar();
    }

    /** The scalar reference. */
    static Rope scalar() {
        return RopeImpl.SCALAR;
    }

    /** The Vector API implementation. */
    static Rope vector() {
        return RopeImpl.VECTOR;
    }

    /** "vector" or "scalar". */
    String kind();

    /** The most threads one call uses. */
    int threads();

    /** The same kernel using at most {@code threads} threads per call. */
    Rope withThreads(int threads);

    /**
     * Rotates {@code x} into {@code out}.
     *
     * @param position position of the first token ({@code >= 0}); with a KV cache, the number of tokens before
     * @throws dev.jlm.core.JlmException.InvalidArgument on a shape or dtype fault, {@code rotaryDim > headDim}, or
     *                                                   positions beyond the table
     */
    void apply(Tensor x, RopeTable table, Layout layout, long position, Tensor out);
}
