package dev.jlm.core.eval;

import dev.jlm.core.JlmException;
import dev.jlm.core.Tensor;

import java.util.Arrays;
import java.util.Objects;

/**
 * How far a candidate tensor is from a reference tensor of the same shape, accumulated batch after batch.
 * Both are seen as rows along their last axis ({@code [batch, seq, hidden]}: one row per token).
 *
 * <ul>
 *   <li>cosine similarity per row, reported as mean and minimum over rows. The cosine of two all-zero rows
 *       is defined as 1 (identical), of an all-zero row and a non-zero row as 0 (no direction in common);
 *       rounding is clamped to [-1, 1];</li>
 *   <li>maximum and mean absolute error over all elements;</li>
 *   <li>relative L2 error {@code ||a - b|| / ||a||} over all elements, {@code a} being the reference;
 *       0 when both are all zero, +Infinity when only the reference is.</li>
 * </ul>
 *
 * <p>With a mask (shape of the data without its last axis, e.g. the attention mask {@code [batch, seq]}),
 * only rows where the mask is not zero count, for every figure: padding tokens are left out entirely.
 * Sums are kept in double precision. A NaN in any counted element makes every figure NaN (nothing is
 * skipped silently); an infinity makes the errors infinite or NaN. With no rows counted, every figure is NaN.
 *
 * <p>An accumulator is not thread-safe: use one per thread and {@link #merge} them. Results are immutable.
 */
public final class TensorMetrics {
    private final String name;
    private long rows;
    private long elements;
    private double cosineSum;
    private double cosineMin = Double.POSITIVE_INFINITY;
    private double absMax;
    private double absSum;
    private double diffSquares;
    private double refSquares;

    /** A new, empty accumulator; {@code name} (the output's name) is used in error messages. */
    public TensorMetrics(String name) {
        this.name = Objects.requireNonNull(name, "name");
    }

    /** Adds every row of a batch; the tensors must have the same shape (any float or integer dtype). */
    public TensorMetrics add(Tensor reference, Tensor candidate) {
        return add(reference, candidate, null);
    }

    /**
     * Adds the rows of a batch where {@code mask} (shape of the data without its last axis) is not zero;
     * a null mask takes every row.
     */
    public TensorMetrics add(Tensor reference, Tensor candidate, Tensor mask) {
        Rows.pair(reference, candidate, mask, "output " + name, this::accumulate);
        return this;
    }

    /** Adds rows of {@code rowLength} values from two arrays of equal length. */
    public TensorMetrics add(float[] reference, float[] candidate, int rowLength) {
        return add(reference, candidate, rowLength, null);
    }

    /** Adds the rows whose {@code rowMask} entry is not zero; a null mask takes every row. */
    public TensorMetrics add(float[] reference, float[] candidate, int rowLength, long[] rowMask) {
        Rows.pair(reference, candidate, rowLength, rowMask, "output " + name, this::accumulate);
        return this;
    }

    private void accumulate(Rows a, Rows b, boolean[] mask) {
        int len = a.length();
        double[] x = new double[len];
        double[] y = new double[len];
        for (long r = 0; r < a.count(); r++) {
            if (mask != null && !mask[(int) r]) {
                continue;
            }
            a.read(r, x);
            b.read(r, y);
            double dot = 0, xx = 0, yy = 0, max = absMax, abs = 0, dd = 0;
            for (int j = 0; j < len; j++) {
                double d = x[j] - y[j];
                double ad = Math.abs(d);
                dot += x[j] * y[j];
                xx += x[j] * x[j];
                yy += y[j] * y[j];
                abs += ad;
                dd += d * d;
                max = Math.max(max, ad); // Math.max keeps NaN
            }
            double cos = cosine(dot, xx, yy);
            rows++;
            elements += len;
            cosineSum += cos;
            cosineMin = Math.min(cosineMin, cos);
            absMax = max;
            absSum += abs;
            diffSquares += dd;
            refSquares += xx;
        }
    }

    /**
     * The cosine from a dot product and the two squared norms, with the zero-row conventions of this class:
     * both zero gives 1, one zero gives 0; NaN stays NaN; clamped to [-1, 1].
     */
    static double cosine(double dot, double xx, double yy) {
        if (xx == 0 && yy == 0) {
            return 1;
        }
        if ((xx == 0 && yy > 0) || (yy == 0 && xx > 0)) {
            return 0;
        }
        // Equal norms divide directly, so that a row compared with itself gives exactly 1.
        double c = xx == yy ? dot / xx : dot / (Math.sqrt(xx) * Math.sqrt(yy));
        return Math.max(-1, Math.min(1, c)); // Math.min/max keep NaN
    }

    /** Adds another accumulator's rows to this one (for per-thread accumulation). */
    public TensorMetrics merge(TensorMetrics other) {
        rows += other.rows;
        elements += other.elements;
        cosineSum += other.cosineSum;
        cosineMin = Math.min(cosineMin, other.cosineMin);
        absMax = Math.max(absMax, other.absMax);
        absSum += other.absSum;
        diffSquares += other.diffSquares;
        refSquares += other.refSquares;
        return this;
    }

    /** The figures over everything added so far. */
    public Result result() {
        if (rows == 0) {
            return new Result(name, 0, 0, Double.NaN, Double.NaN, Double.NaN, Double.NaN, Double.NaN);
        }
        double rel;
        if (refSquares == 0) {
            rel = diffSquares == 0 ? 0 : diffSquares > 0 ? Double.POSITIVE_INFINITY : Double.NaN;
        } else {
            rel = Math.sqrt(diffSquares) / Math.sqrt(refSquares);
        }
        return new Result(name, rows, elements, cosineSum / rows, cosineMin, absMax,
                elements == 0 ? 0 : absSum / elements, rel);
    }

    /**
     * Figures of a comparison; see {@link TensorMetrics} for the definitions.
     *
     * @param name             the output's name
     * @param rows             rows counted (after the mask)
     * @param elements         elements counted
     * @param meanCosine       mean over rows of the cosine similarity
     * @param minCosine        minimum over rows of the cosine similarity
     * @param maxAbsError      maximum of |reference - candidate|
     * @param meanAbsError     mean of |reference - candidate|
     * @param relativeL2Error  ||reference - candidate|| / ||reference||
     */
    public record Result(String name, long rows, long elements, double meanCosine, double minCosine,
                         double maxAbsError, double meanAbsError, double relativeL2Error) {
    }
}
