package dev.jlm.core.eval;

import dev.jlm.core.JlmException;
import dev.jlm.core.Tensor;

import java.util.Arrays;
import java.util.Locale;
import java.util.Objects;

/**
 * How far the candidate's output distributions are from the reference's, for logits or probabilities along
 * the last axis ({@code [batch, vocab]}, {@code [batch, seq, vocab]}: one distribution per row), accumulated
 * batch after batch. P is the reference, Q the candidate; all figures are in nats (natural logarithm) and
 * averaged over rows:
 *
 * <ul>
 *   <li>forward KL, {@code KL(P||Q) = sum p (ln p - ln q)};</li>
 *   <li>reverse KL, {@code KL(Q||P)};</li>
 *   <li>Jensen-Shannon divergence {@code JS = KL(P||M)/2 + KL(Q||M)/2} with {@code M = (P+Q)/2}; symmetric,
 *       between 0 and ln 2;</li>
 *   <li>top-1 agreement: the fraction of rows whose largest entry (first one on ties) is at the same index.</li>
 * </ul>
 *
 * <p>Logits become log-probabilities through a log-softmax computed stably in double precision (the row
 * maximum is subtracted before exponentiating); -Infinity logits are allowed and mean probability 0.
 * Inputs that already are probabilities are clamped to at least {@link #PROBABILITY_FLOOR} (which also
 * removes small negative values from rounding) and renormalized to sum 1, so that a probability that
 * underflowed to 0 in one model does not make a KL infinite. Terms with {@code p = 0} count as 0
 * ({@code 0 ln 0 = 0}). Per-row KL and JS are clamped at 0 (and JS at ln 2) to hide rounding only.
 *
 * <p>A NaN anywhere in a counted row makes every figure NaN. With a mask (the data's shape without its last
 * axis), only rows where it is not zero count. With no rows counted, every figure is NaN. An accumulator is
 * not thread-safe: use one per thread and {@link #merge} them.
 */
public final class DistributionMetrics {
    /** The smallest probability used when the input already is probabilities. */
    public static final double PROBABILITY_FLOOR = 1e-12;

    private static final double LN2 = Math.log(2);

    private final String name;
    private final boolean probabilities;
    private long rows;
    private double forwardSum;
    private double reverseSum;
    private double jsSum;
    private double agreeSum;

    /**
     * A new, empty accumulator.
     *
     * @param name          the output's name, for messages and the result
     * @param probabilities true if the inputs already are probabilities, false for logits (or log-probabilities)
     */
    public DistributionMetrics(String name, boolean probabilities) {
        this.name = Objects.requireNonNull(name, "name");
        this.probabilities = probabilities;
    }

    /**
     * The default guess whether an output holds logits or probabilities worth comparing as distributions:
     * its name contains "logit", "prob" or "score" (any case) and its last dimension is at least 2.
     * Callers decide in the end; this is only the default.
     */
    public static boolean looksLikeLogits(String name, long[] shape) {
        if (name == null || shape == null || shape.length == 0 || shape[shape.length - 1] < 2) {
            return false;
        }
        String n = name.toLowerCase(Locale.ROOT);
        return n.contains("logit") || n.contains("prob") || n.contains("score");
    }

    /**
     * The default guess whether such an output already holds probabilities: its name contains "prob" but
     * not "log" (so "log_probs" counts as logits, which is right: a log-softmax leaves log-probabilities as
     * they are).
     */
    public static boolean looksLikeProbabilities(String name) {
        String n = name.toLowerCase(Locale.ROOT);
        return n.contains("prob") && !n.contains("log");
    }

    /** Adds every row of a batch; the tensors must have the same shape. */
    public DistributionMetrics add(Tensor reference, Tensor candidate) {
        return add(reference, candidate, null);
    }

    /** Adds the rows where {@code mask} (the data's shape without its last axis) is not zero; null: every row. */
    public DistributionMetrics add(Tensor reference, Tensor candidate, Tensor mask) {
        Rows.pair(reference, candidate, mask, "output " + name, this::accumulate);
        return this;
    }

    /** Adds rows of {@code rowLength} values from two arrays of equal length. */
    public DistributionMetrics add(float[] reference, float[] candidate, int rowLength) {
        return add(reference, candidate, rowLength, null);
    }

    /** Adds the rows whose {@code rowMask} entry is not zero; a null mask takes every row. */
    public DistributionMetrics add(float[] reference, float[] candidate, int rowLength, long[] rowMask) {
        Rows.pair(reference, candidate, rowLength, rowMask, "output " + name, this::accumulate);
        return this;
    }

    private void accumulate(Rows a, Rows b, boolean[] mask) {
        int len = a.length();
        if (len == 0) {
            throw new JlmException.InvalidArgument("output " + name + ": distributions over 0 classes");
        }
        double[] x = new double[len];
        double[] y = new double[len];
        double[] lp = new double[len];
        double[] lq = new double[len];
        for (long r = 0; r < a.count(); r++) {
            if (mask != null && !mask[(int) r]) {
                continue;
            }
            a.read(r, x);
            b.read(r, y);
            double agree = argmax(x) == argmax(y) ? 1 : 0;
            if (hasNaN(x) || hasNaN(y)) {
                agree = Double.NaN;
            }
            logDistribution(x, lp);
            logDistribution(y, lq);
            double fwd = 0, rev = 0, js = 0;
            for (int j = 0; j < len; j++) {
                double p = Math.exp(lp[j]);
                double q = Math.exp(lq[j]);
                // ln m = ln((p + q) / 2) from the logs, so tiny probabilities keep their precision
                double hi = Math.max(lp[j], lq[j]);
                double lm = hi == Double.NEGATIVE_INFINITY ? hi
                        : hi + Math.log1p(Math.exp(Math.min(lp[j], lq[j]) - hi)) - LN2;
                if (p != 0) { // NaN != 0 as well, so NaN is kept
                    fwd += p * (lp[j] - lq[j]);
                    js += p * (lp[j] - lm);
                }
                if (q != 0) {
                    rev += q * (lq[j] - lp[j]);
                    js += q * (lq[j] - lm);
                }
            }
            rows++;
            forwardSum += Math.max(0, fwd);
            reverseSum += Math.max(0, rev);
            jsSum += Math.min(LN2, Math.max(0, 0.5 * js));
            agreeSum += agree;
        }
    }

    /** Log-probabilities of one row: log-softmax of logits, or log of clamped, renormalized probabilities. */
    private void logDistribution(double[] v, double[] out) {
        if (probabilities) {
            double sum = 0;
            for (int j = 0; j < v.length; j++) {
                out[j] = Math.max(v[j], PROBABILITY_FLOOR); // keeps NaN
                sum += out[j];
            }
            double logSum = Math.log(sum);
            for (int j = 0; j < v.length; j++) {
                out[j] = Math.log(out[j]) - logSum;
            }
        } else {
            double max = Double.NEGATIVE_INFINITY;
            for (double e : v) {
                max = Math.max(max, e);
            }
            double sum = 0;
            for (double e : v) {
                sum += Math.exp(e - max);
            }
            double lse = max + Math.log(sum);
            for (int j = 0; j < v.length; j++) {
                out[j] = v[j] - lse;
            }
        }
    }

    private static int argmax(double[] v) {
        int best = 0;
        for (int j = 1; j < v.length; j++) {
            if (v[j] > v[best]) {
                best = j;
            }
        }
        return best;
    }

    private static boolean hasNaN(double[] v) {
        for (double e : v) {
            if (Double.isNaN(e)) {
                return true;
            }
        }
        return false;
    }

    /** Adds another accumulator's rows to this one (for per-thread accumulation). */
    public DistributionMetrics merge(DistributionMetrics other) {
        rows += other.rows;
        forwardSum += other.forwardSum;
        reverseSum += other.reverseSum;
        jsSum += other.jsSum;
        agreeSum += other.agreeSum;
        return this;
    }

    /** The figures over everything added so far. */
    public Result result() {
        double n = rows;
        return new Result(name, rows, forwardSum / n, reverseSum / n, jsSum / n, agreeSum / n);
    }

    /**
     * Figures of a distribution comparison, in nats, averaged over rows; see {@link DistributionMetrics}.
     *
     * @param name          the output's name
     * @param rows          rows (distributions) counted
     * @param forwardKl     mean KL(P||Q), P the reference
     * @param reverseKl     mean KL(Q||P)
     * @param jensenShannon mean Jensen-Shannon divergence, in [0, ln 2]
     * @param top1Agreement fraction of rows with the same arg-max
     */
    public record Result(String name, long rows, double forwardKl, double reverseKl, double jensenShannon,
                         double top1Agreement) {
    }
}
