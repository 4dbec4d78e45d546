package dev.jlm.simd.attention;

import dev.jlm.core.JlmException;
import dev.jlm.core.Tensor;

/**
 * What one attention call computes besides the plain softmax of the scaled scores: causality, a scale override,
 * an additive mask, the long-context masks (sliding window, LM-Infinite's Lambda shape) and the scoring function.
 * Immutable; each {@code with...} method returns a new instance. {@link #DEFAULT} is non-causal, scale
 * {@code 1/sqrt(headDim)}, no mask, softmax.
 *
 * <p>Positions: query {@code i} of {@code qLen} queries attending to {@code kvLen} keys sits at position
 * {@code kvLen - qLen + i} (the new tokens come last, as in decoding with a cache); with {@code qLen == kvLen}
 * that is {@code i}. Causal attention lets the query at position {@code p} see keys {@code 0..p}. A window
 * {@code W > 0} implies causal and keeps only keys {@code p-W+1..p}; {@code globalTokens G > 0} (with a window)
 * adds keys {@code 0..G-1} back (the Lambda mask). Keys outside are skipped tile by tile, never masked in a
 * full matrix.
 */
public final class AttentionOptions {
    /** How scores become weights. */
    public enum Scoring {
        /** {@code softmax(s)}, computed online with a running maximum. */
        SOFTMAX,
        /** {@code softplus(s)} divided by its row sum (l1 normalization); masked keys weigh 0. */
        SOFTPLUS,
        /**
         * {@code exp(s)} divided by its row sum without a running maximum: the softplus path with exp, which
         * equals softmax mathematically; kept for testing that path. Overflows for scores above about 88.
         */
        EXP_L1
    }

    /** Non-causal softmax attention with the default scale and no mask. */
    public static final AttentionOptions DEFAULT = new AttentionOptions(false, Float.NaN, null, 0, 0, Scoring.SOFTMAX);

    private final boolean causal;
    private final float scale;
    private final Tensor mask;
    private final int window;
    private final int globalTokens;
    private final Scoring scoring;

    private AttentionOptions(boolean causal, float scale, Tensor mask, int window, int globalTokens, Scoring scoring) {
        this.causal = causal;
        this.scale = scale;
        this.mask = mask;
        this.window = window;
        this.globalTokens = globalTokens;
        this.scoring = scoring;
    }

    /** Causal (each query sees keys up to its own position) or not. */
    public AttentionOptions withCausal(boolean causal) {
        return new AttentionOptions(causal, scale, mask, window, globalTokens, scoring);
    }

    /**
     * The factor applied to {@code q . k}; NaN restores the default {@code 1/sqrt(headDim)}.
     *
     * @throws JlmException.InvalidArgument for an infinite or zero scale
     */
    public AttentionOptions withScale(float scale) {
        if (!Float.isNaN(scale) && (Float.isInfinite(scale) || scale == 0f)) {
            throw new JlmException.InvalidArgument("attention scale must be finite and non-zero, not " + scale);
        }
        return new AttentionOptions(causal, scale, mask, window, globalTokens, scoring);
    }

    /**
     * An additive mask (F32, F16 or BF16, contiguous) added to the scaled scores: {@code [qLen, kvLen]} for every
     * batch and head, or {@code [batch|1, heads|1, qLen, kvLen]}; null for none. Not used by packed batches.
     */
    public AttentionOptions withMask(Tensor mask) {
        return new AttentionOptions(causal, scale, mask, window, globalTokens, scoring);
    }

    /**
     * Sliding window: each query sees its last {@code window} keys (itself included); 0 turns it off.
     *
     * @throws JlmException.InvalidArgument for a negative window
     */
    public AttentionOptions withWindow(int window) {
        if (window < 0) {
            throw new JlmException.InvalidArgument("attention window must be 0 (none) or positive, not " + window);
        }
        return new AttentionOptions(causal, scale, mask, window, globalTokens, scoring);
    }

    /**
     * The Lambda mask of LM-Infinite: a window of {@code window} local keys plus the first {@code globalTokens}
     * keys.
     *
     * @throws JlmException.InvalidArgument for a window below 1 or a negative number of global tokens
     */
    public AttentionOptions withLambda(int globalTokens, int window) {
        if (window < 1) {
            throw new JlmException.InvalidArgument("Lambda mask window must be positive, not " + window);
        }
        if (globalTokens < 0) {
            throw new JlmException.InvalidArgument("Lambda mask global tokens must not be negative, not " + globalTokens);
        }
        return new AttentionOptions(causal, scale, mask, window, globalTokens, scoring);
    }

    /** How scores become weights. */
    public AttentionOptions withScoring(Scoring scoring) {
        if (scoring == null) {
            throw new JlmException.InvalidArgument("attention scoring must not be null");
        }
        return new AttentionOptions(causal, scale, mask, window, globalTokens, scoring);
    }

    public boolean causal() {
        return causal;
    }

    /** The scale override, NaN for the default. */
    public float scale() {
        return scale;
    }

    public Tensor mask() {
        return mask;
    }

    /** The window, 0 for none. */
    public int window() {
        return window;
    }

    public int globalTokens() {
        return globalTokens;
    }

    public Scoring scoring() {
        return scoring;
    }

    /** Whether keys after a query's position are hidden: causal, or any window. */
    boolean causalLike() {
        return causal || window > 0;
    }

    @Override
    public String toString() {
        return "AttentionOptions[causal=" + causal + ", scale=" + scale + ", mask=" + mask + ", window=" + window
                + ", global=" + globalTokens + ", " + scoring + "]";
    }
}
