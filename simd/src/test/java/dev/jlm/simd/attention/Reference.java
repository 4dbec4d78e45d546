package dev.jlm.simd.attention;

/**
 * Attention in double precision, computed the plain way (every score of a row, then the weights, then the sum),
 * from an explicit visibility matrix and an explicit additive mask: the oracle the tiled kernel is checked against.
 * Besides the output it returns, per output element, {@code sum_j w_j |v_j|}: the size of the terms summed, which
 * is what rounding errors scale with (an output near zero through cancellation has no meaningful relative error).
 */
final class Reference {
    /** Which scoring the reference applies. */
    enum Weights { SOFTMAX, SOFTPLUS }

    final double[] out;
    final double[] magnitude;

    private Reference(double[] out, double[] magnitude) {
        this.out = out;
        this.magnitude = magnitude;
    }

    /** Visibility of key j to query i of head h in sequence b. */
    interface Visible {
        boolean test(int b, int h, int i, int j);
    }

    /** Additive mask value for (b, h, i, j); 0 for none. */
    interface Mask {
        double at(int b, int h, int i, int j);
    }

    /**
     * q [b, heads, sq, d], k and v [b, kvHeads, skv, d] (row-major, as floats), query head h using kv head
     * h / (heads / kvHeads).
     */
    static Reference compute(float[] q, float[] k, float[] v, int batch, int heads, int kvHeads, int sq, int skv, int d,
                             double scale, Visible visible, Mask mask, Weights weights) {
        double[] out = new double[batch * heads * sq * d];
        double[] mag = new double[out.length];
        int group = heads / kvHeads;
        double[] s = new double[skv];
        for (int b = 0; b < batch; b++) {
            for (int h = 0; h < heads; h++) {
                int kh = h / group;
                int qb = ((b * heads + h) * sq) * d;
                int kb = ((b * kvHeads + kh) * skv) * d;
                for (int i = 0; i < sq; i++) {
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j < skv; j++) {
                        if (!visible.test(b, h, i, j)) {
                            s[j] = Double.NEGATIVE_INFINITY;
                            continue;
                        }
                        double acc = 0;
                        for (int x = 0; x < d; x++) {
                            acc += (double) q[qb + i * d + x] * k[kb + j * d + x];
                        }
                        s[j] = acc * scale + (mask == null ? 0 : mask.at(b, h, i, j));
                        max = Math.max(max, s[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j < skv; j++) {
                        double w;
                        if (s[j] == Double.NEGATIVE_INFINITY) {
                            w = 0;
                        } else if (weights == Weights.SOFTMAX) {
                            w = Math.exp(s[j] - max);
                        } else {
                            w = Math.max(s[j], 0) + Math.log1p(Math.exp(-Math.abs(s[j])));
                        }
                        s[j] = w;
                        sum += w;
                    }
                    int ob = qb + i * d;
                    for (int x = 0; x < d; x++) {
                        double acc = 0;
                        double m = 0;
                        for (int j = 0; j < skv; j++) {
                            if (s[j] != 0) {
                                double vv = v[kb + j * d + x];
                                acc += s[j] * vv;
                                m += s[j] * Math.abs(vv);
                            }
                        }
                        out[ob + x] = sum == 0 ? Double.NaN : acc / sum;
                        mag[ob + x] = sum == 0 ? Double.NaN : m / sum;
                    }
                }
            }
        }
        return new Reference(out, mag);
    }

    /** Causal visibility with queries at positions skv - sq + i. */
    static Visible causal(int sq, int skv) {
        return (b, h, i, j) -> j <= skv - sq + i;
    }

    static Visible all() {
        return (b, h, i, j) -> true;
    }

    /**
     * Fails unless every element is within {@code rel * magnitude} of the reference (NaN where the reference is
     * NaN); the message names the worst element.
     */
    void assertClose(String what, float[] actual, double rel) {
        if (actual.length != out.length) {
            throw new AssertionError(what + ": " + actual.length + " values, expected " + out.length);
        }
        int worst = -1;
        double worstRatio = 0;
        for (int i = 0; i < out.length; i++) {
            if (Double.isNaN(out[i])) {
                if (!Float.isNaN(actual[i])) {
                    throw new AssertionError(what + ": element " + i + " is " + actual[i] + ", expected NaN");
                }
                continue;
            }
            if (!Float.isFinite(actual[i])) {
                throw new AssertionError(what + ": element " + i + " is " + actual[i] + ", expected " + out[i]);
            }
            double ratio = Math.abs(actual[i] - out[i]) / Math.max(magnitude[i], 1e-30);
            if (ratio > worstRatio) {
                worstRatio = ratio;
                worst = i;
            }
        }
        if (worstRatio > rel) {
            throw new AssertionError(what + ": element " + worst + " is " + actual[worst] + ", expected " + out[worst]
                    + " (error " + worstRatio + " of the magnitude " + magnitude[worst] + ", bound " + rel + ")");
        }
    }
}
