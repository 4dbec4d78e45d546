package dev.jlm.simd.attention;

import dev.jlm.core.Simd;
import dev.jlm.core.Tensor;

/**
 * Scaled dot-product attention, {@code out = softmax(scale * q k^T + mask) v}, computed flash-style: keys and
 * values are visited in tiles with a running maximum and running sum per query row, so no {@code [qLen x kvLen]}
 * matrix is ever held; a call needs {@code O(tile * headDim)} floats of scratch per thread, allocated once per
 * thread. Work is split over (batch, head, query tile) on {@link dev.jlm.simd.RowExecutor}.
 *
 * <p>Grouped-query attention: {@code kvHeads} must divide {@code heads}; query head {@code h} reads key/value head
 * {@code h / (heads / kvHeads)} in place (MQA is {@code kvHeads == 1}). Queries may be F32, F16 or BF16, keys and
 * values F32, F16 or BF16 (converted lane by lane as they are read); arithmetic is F32; {@code out} is F32.
 * Causality, windows, masks and scoring: {@link AttentionOptions}. A row whose every key is masked out comes out
 * NaN, as softmax of an all {@code -inf} row does. Instances are immutable and thread-safe.
 */
public interface Attention {
    /** The implementation chosen at start-up ({@code -Djlm.simd}), using all cores. */
    static Attention get() {
        return Simd.useVector() ? vector() : scalar();
    }

    /** The scalar implementation: the same tiles, plain loops with double accumulators. */
    static Attention scalar() {
        return AttentionImpl.SCALAR;
    }

    /** The Vector API implementation. */
    static Attention vector() {
        return AttentionImpl.VECTOR;
    }

    /** "vector" or "scalar". */
    String kind();

    /** The most threads one call uses. */
    int threads();

    /** The same kernel using at most {@code threads} threads per call. */
    Attention withThreads(int threads);

    /**
     * Attention over {@code [batch, heads, qLen, headDim]} queries and {@code [batch, kvHeads, kvLen, headDim]}
     * keys and values into {@code out} of the shape of {@code q} (F32, disjoint from the inputs). All four must have
     * contiguous rows of {@code headDim} elements (views sliced on the sequence axis are fine).
     *
     * @throws dev.jlm.core.JlmException.InvalidArgument on head counts that do not divide, mismatched shapes or
     *                                                   dtypes, a causal call with more queries than keys, or a
     *                                                   mask of the wrong shape
     */
    void apply(Tensor q, Tensor k, Tensor v, AttentionOptions options, Tensor out);

    /**
     * Variable-length sequences packed back to back without padding: {@code q} and {@code out} are
     * {@code [tokens, heads * headDim]}, {@code k} and {@code v} {@code [tokens, kvHeads * headDim]}; sequence
     * {@code s} holds tokens {@code offsets[s]..offsets[s+1]-1} and attends only within itself. Equals
     * {@link #apply} on the same sequences padded to one length with padding masked out, on the valid rows.
     *
     * @param offsets cumulative offsets, {@code offsets[0] == 0}, non-decreasing, last == tokens
     * @throws dev.jlm.core.JlmException.InvalidArgument on bad offsets or shapes, or an additive mask (not
     *                                                   supported here)
     */
    void applyPacked(Tensor q, Tensor k, Tensor v, long[] offsets, int heads, int kvHeads, AttentionOptions options,
                     Tensor out);

    /**
     * Attention of {@code n} new queries {@code [batch, heads, n, headDim]} against the first {@link KvCache#length()}
     * positions of {@code cache} (append the new tokens' keys and values first); the queries are the last {@code n}
     * positions. With {@code n == 1} this is one decode step.
     *
     * @throws dev.jlm.core.JlmException.InvalidArgument on a shape that does not fit the cache, or more queries
     *                                                   than cached positions
     */
    void attend(KvCache cache, Tensor q, AttentionOptions options, Tensor out);
}
