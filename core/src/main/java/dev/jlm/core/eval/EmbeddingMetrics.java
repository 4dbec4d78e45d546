package dev.jlm.core.eval;

import dev.jlm.core.JlmException;
import dev.jlm.core.Tensor;

import java.util.Arrays;
import java.util.Objects;

/**
 * Sentence-embedding agreement between two models: each model's token states {@code [batch, seq, hidden]}
 * are mean-pooled over the tokens the attention mask {@code [batch, seq]} keeps (the sentence-transformers
 * convention), and the cosine similarity of the two embeddings of each sentence is accumulated; reported
 * as mean and minimum over sentences. Cosine does not depend on the embeddings' lengths, so L2
 * normalization (see {@link #meanPool}) does not change these figures.
 *
 * <p>Zero-vector conventions and NaN behaviour are those of {@link TensorMetrics}; sums are in double
 * precision; with no sentences counted both figures are NaN. An accumulator is not thread-safe: use one
 * per thread and {@link #merge} them.
 */
public final class EmbeddingMetrics {
    /** Lower bound of the token count in the mean (as sentence-transformers clamps it), for all-zero masks. */
    public static final double MIN_TOKEN_WEIGHT = 1e-9;
    /** Lower bound of the norm in L2 normalization (as {@code torch.nn.functional.normalize}). */
    public static final double MIN_NORM = 1e-12;

    private final String name;
    private long sentences;
    private double cosineSum;
    private double cosineMin = Double.POSITIVE_INFINITY;

    /** A new, empty accumulator; {@code name} (the output's name) is used in messages and the result. */
    public EmbeddingMetrics(String name) {
        this.name = Objects.requireNonNull(name, "name");
    }

    /**
     * Masked mean pooling of token states {@code [batch, seq, hidden]} with an attention mask
     * {@code [batch, seq]}: for each sentence {@code sum_t mask[t] * h[t] / max(sum_t mask[t], 1e-9)},
     * optionally divided by {@code max(||v||, 1e-12)}. Tokens whose mask is 0 are skipped, so whatever a
     * model leaves at padding positions (even NaN) does not reach the embedding. Computed in double precision.
     *
     * @return {@code [batch][hidden]}
     */
    public static double[][] meanPool(Tensor hidden, Tensor attentionMask, boolean normalize) {
        return meanPool(hidden, attentionMask, normalize, "hidden states");
    }

    private static double[][] meanPool(Tensor hidden, Tensor attentionMask, boolean normalize, String what) {
        long[] hs = hidden.shape();
        if (hs.length != 3) {
            throw new JlmException.InvalidArgument(what + ": expected [batch, seq, hidden] but got " + Arrays.toString(hs));
        }
        if (hs[0] > Integer.MAX_VALUE - 8) {
            throw new JlmException.InvalidArgument(what + ": batch " + hs[0] + " too large");
        }
        int batch = (int) hs[0];
        long seq = hs[1];
        double[] weights = weights(attentionMask, hs, what);
        try (Rows rows = Rows.of(hidden, what)) {
            int h = rows.length();
            double[][] out = new double[batch][h];
            double[] buf = new double[h];
            for (int b = 0; b < batch; b++) {
                double total = 0;
                double[] v = out[b];
                for (long t = 0; t < seq; t++) {
                    double w = weights[(int) (b * seq + t)];
                    if (w == 0) {
                        continue;
                    }
                    rows.read(b * seq + t, buf);
                    for (int j = 0; j < h; j++) {
                        v[j] += w * buf[j];
                    }
                    total += w;
                }
                double div = Math.max(total, MIN_TOKEN_WEIGHT);
                for (int j = 0; j < h; j++) {
                    v[j] /= div;
                }
                if (normalize) {
                    double ss = 0;
                    for (double e : v) {
                        ss += e * e;
                    }
                    double norm = Math.max(Math.sqrt(ss), MIN_NORM); // keeps NaN
                    for (int j = 0; j < h; j++) {
                        v[j] /= norm;
                    }
                }
            }
            return out;
        }
    }

    private static double[] weights(Tensor mask, long[] hiddenShape, String what) {
        long[] expected = {hiddenShape[0], hiddenShape[1]};
        if (!Arrays.equals(mask.shape(), expected)) {
            throw new JlmException.InvalidArgument(what + ": attention mask " + Arrays.toString(mask.shape())
                    + " does not match [batch, seq] = " + Arrays.toString(expected));
        }
        long n = mask.size();
        if (n > Integer.MAX_VALUE - 8) {
            throw new JlmException.InvalidArgument(what + ": attention mask too large");
        }
        Tensor copy = mask.isContiguous() ? null : mask.copy();
        try {
            Tensor flat = (copy != null ? copy : mask).reshape(n);
            double[] w = new double[(int) n];
            for (int i = 0; i < w.length; i++) {
                w[i] = flat.getDouble(i);
            }
            return w;
        } finally {
            if (copy != null) {
                copy.close();
            }
        }
    }

    /** Pools both models' token states with the same attention mask and adds one cosine per sentence. */
    public EmbeddingMetrics add(Tensor referenceHidden, Tensor candidateHidden, Tensor attentionMask) {
        String what = "output " + name;
        if (!Arrays.equals(referenceHidden.shape(), candidateHidden.shape())) {
            throw new JlmException.InvalidArgument(what + ": shapes differ, " + Arrays.toString(referenceHidden.shape())
                    + " vs " + Arrays.toString(candidateHidden.shape()));
        }
        double[][] a = meanPool(referenceHidden, attentionMask, false, what + " (reference)");
        double[][] b = meanPool(candidateHidden, attentionMask, false, what + " (candidate)");
        for (int s = 0; s < a.length; s++) {
            double dot = 0, xx = 0, yy = 0;
            for (int j = 0; j < a[s].length; j++) {
                dot += a[s][j] * b[s][j];
                xx += a[s][j] * a[s][j];
                yy += b[s][j] * b[s][j];
            }
            double cos = TensorMetrics.cosine(dot, xx, yy);
            sentences++;
            cosineSum += cos;
            cosineMin = Math.min(cosineMin, cos);
        }
        return this;
    }

    /** Adds another accumulator's sentences to this one. */
    public EmbeddingMetrics merge(EmbeddingMetrics other) {
        sentences += other.sentences;
        cosineSum += other.cosineSum;
        cosineMin = Math.min(cosineMin, other.cosineMin);
        return this;
    }

    /** The figures over everything added so far. */
    public Result result() {
        return sentences == 0 ? new Result(name, 0, Double.NaN, Double.NaN)
                : new Result(name, sentences, cosineSum / sentences, cosineMin);
    }

    /**
     * Sentence-embedding figures.
     *
     * @param name       the output whose token states were pooled
     * @param sentences  sentences counted
     * @param meanCosine mean over sentences of the cosine between the two models' embeddings
     * @param minCosine  minimum over sentences of that cosine
     */
    public record Result(String name, long sentences, double meanCosine, double minCosine) {
    }
}
