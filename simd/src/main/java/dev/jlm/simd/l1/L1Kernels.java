package dev.jlm.simd.l1;

import dev.jlm.core.Simd;
import java.lang.foreign.MemorySegment;

/**
 * The hot loops of the L1 (Lasso) proximal solvers on little-endian F64 vectors in off-heap memory:
 * dot products, axpy, column products {@code X^T r} of a column-major matrix, soft-thresholding and
 * the group soft-threshold.
 *
 * <p>Offsets and lengths count elements (doubles), not bytes. Implementations are stateless and may be
 * used from many threads at once; a caller writing the same memory from several threads synchronizes
 * itself. {@link #get()} returns the Vector API implementation or the scalar reference, chosen once at
 * start-up by {@link Simd#useVector()}.
 */
public interface L1Kernels {

    /** The implementation chosen at start-up ({@code -Djlm.simd=scalar|vector|auto}). */
    static L1Kernels get() {
        return Simd.useVector() ? VectorL1Kernels.INSTANCE : ScalarL1Kernels.INSTANCE;
    }

    /** The scalar reference implementation. */
    static L1Kernels scalar() {
        return ScalarL1Kernels.INSTANCE;
    }

    /** The Vector API implementation. */
    static L1Kernels vector() {
        return VectorL1Kernels.INSTANCE;
    }

    /** {@code sign(x) * max(|x| - t, 0)}; {@code t >= 0}. */
    static double softThreshold(double x, double t) {
        return x > t ? x - t : (x < -t ? x + t : 0.0);
    }

    /** {@code sum_i a[aOff + i] * b[bOff + i]} for {@code i < n}. */
    double dot(MemorySegment a, long aOff, MemorySegment b, long bOff, int n);

    /** {@code y[yOff + i] += alpha * x[xOff + i]} for {@code i < n}. */
    void axpy(double alpha, MemorySegment x, long xOff, MemorySegment y, long yOff, int n);

    /**
     * The fused step of coordinate descent: {@code y += alpha * x}, then returns {@code z . y} with the updated
     * {@code y}, in one pass over {@code y} (the previous coordinate's residual update and the next
     * coordinate's gradient).
     */
    double axpyDot(double alpha, MemorySegment x, long xOff, MemorySegment y, long yOff, MemorySegment z, long zOff, int n);

    /**
     * Inner products of two lists of columns: {@code out[outOff + s * outStride + t] = a_s . b_t} for {@code s < na}
     * and {@code t < nb}, where column a_s holds {@code n} doubles from element {@code aOff[s]} of {@code a} and b_t
     * from element {@code bOff[t]} of {@code b}. Blocks of columns are multiplied together, so that each chunk of a
     * column, once loaded, serves several products (the Gram entries of features entering a support).
     */
    void crossDots(MemorySegment a, long[] aOff, int na, MemorySegment b, long[] bOff, int nb, int n, double[] out,
                   int outOff, int outStride);
    /** {@code sum_i a[off + i]^2}. */
    double sumSquares(MemorySegment a, long off, int n);

    /** {@code max_i |a[off + i]|} (0 for n = 0); a NaN element gives NaN. */
    double maxAbs(MemorySegment a, long off, int n);

    /**
     * The 16-bit and 8-bit codes of a float64 column for its scales {@code s16, s8 >= 0}:
     * {@code q16_i = clamp(rint(x_i * (1 / s16)), -32767, 32767)} and {@code q8_i = clamp(rint(x_i * (1 / s8)), -127,
     * 127)} (0 for a zero scale; {@code x_i / s} in place of {@code x_i * (1 / s)} where {@code 1 / s} overflows),
     * written as little-endian int16 at element {@code q16Off} of {@code q16} and int8 at byte {@code q8Off} of
     * {@code q8}; {@code stats} receives {@code sum_i (x_i - s16 q16_i)^2, sum_i q16_i^2, sum_i (x_i - s8 q8_i)^2,
     * sum_i q8_i^2}, each residual {@code x_i - s q_i} rounded once (a fused multiply-add), the sums in any order.
     */
    void quantizeColumn(MemorySegment x, long xOff, int n, double s16, MemorySegment q16, long q16Off, double s8,
                        MemorySegment q8, long q8Off, double[] stats);

    /**
     * Column products of a column-major matrix: {@code out[outOff + j - from] = x_j . r} for
     * {@code from <= j < to}, where column {@code j} holds {@code n} elements starting at {@code j * ld}
     * in {@code x}, and {@code r} holds {@code n} elements starting at {@code rOff}.
     */
    void columnDots(MemorySegment x, long ld, int n, int from, int to, MemorySegment r, long rOff,
                    MemorySegment out, long outOff);

    /**
     * {@link #columnDots} on a float32 copy of the matrix ({@code x} holds floats, column j at {@code j * ld}
     * floats), with {@code r} and the products in double: half the memory traffic of the float64 product, for
     * screening passes whose error is bounded by the caller.
     */
    void columnDotsF32(MemorySegment x, long ld, int n, int from, int to, MemorySegment r, long rOff,
                       MemorySegment out, long outOff);

    /**
     * {@link #columnDots} on a 16-bit integer copy of the matrix ({@code x} holds little-endian int16, column j at
     * {@code j * ld} elements): {@code out = q_j . r} unscaled, the caller multiplies by the column's scale. A
     * quarter of the memory traffic of the float64 product, for passes whose error is bounded by the caller.
     */
    void columnDotsI16(MemorySegment x, long ld, int n, int from, int to, MemorySegment r, long rOff,
                       MemorySegment out, long outOff);

    /**
     * {@link #columnDots} on an 8-bit integer copy of the matrix ({@code x} holds int8, column j at {@code j * ld}
     * bytes): {@code out = q_j . r} unscaled. An eighth of the float64 memory traffic, for a first screening pass
     * whose (larger) error is bounded by the caller. The arithmetic may be float32 (r rounded to float): each
     * product is within {@link #i8ProductError}{@code (n) * sum_i |q_i r_i|} of the exact one, plus
     * {@code n * 2^-142} where r has elements below float's normal range.
     */
    void columnDotsI8(MemorySegment x, long ld, int n, int from, int to, MemorySegment r, long rOff,
                      MemorySegment out, long outOff);

    /** The relative error bound of {@link #columnDotsI8} for columns of n elements (see there). */
    double i8ProductError(int n);

    /**
     * {@code sum_i q[qOff + i] * r[rOff + i]} with {@code q} little-endian int16 and {@code r} float64 (the caller
     * multiplies by the column's scale).
     */
    double dotI16(MemorySegment q, long qOff, MemorySegment r, long rOff, int n);

    /** {@code y[yOff + i] += alpha * q[qOff + i]} with {@code q} little-endian int16. */
    void axpyI16(double alpha, MemorySegment q, long qOff, MemorySegment y, long yOff, int n);

    /**
     * {@link #axpyDot} on int16 columns: {@code y += alpha * q}, then returns {@code z . y} (unscaled) with the
     * updated {@code y}, {@code q} and {@code z} little-endian int16, in one pass over {@code y}.
     */
    double axpyDotI16(double alpha, MemorySegment q, long qOff, MemorySegment y, long yOff, MemorySegment z, long zOff,
                      int n);

    /**
     * Forward substitution with a lower-triangular matrix stored by rows: solves {@code L y = b} in place, where
     * {@code L[i][t] = l[i * ld + t]} for {@code t <= i < m} and {@code b} is {@code b[bOff .. bOff + m)}. {@code b}
     * may lie in {@code l} itself past the rows read (the next row of a factor being appended).
     */
    void forwardSolve(double[] l, int m, int ld, double[] b, int bOff);

    /**
     * Back substitution with the transpose of that matrix: solves {@code L^T x = b} in place for {@code b[0 .. m)},
     * reading L by rows (each solved unknown times its row is subtracted from the ones before).
     */
    void backwardSolve(double[] l, int m, int ld, double[] b);

    /**
     * Soft-threshold of a vector with one threshold per element scaled by {@code t}:
     * {@code out[i] = S(in[i], t * w[i])}, or with {@code w == null} the threshold {@code t} for all.
     * With {@code positive}, negative results are clipped to 0 (the prox of the non-negative Lasso).
     * {@code in} and {@code out} may be the same memory at the same offset.
     */
    void softThreshold(MemorySegment in, long inOff, MemorySegment out, long outOff, int n, double t,
                       MemorySegment w, long wOff, boolean positive);

    /**
     * The group soft-threshold (prox of {@code t * ||v||_2}) in place: {@code v *= max(0, 1 - t / ||v||)}.
     *
     * @return the Euclidean norm of {@code v} after the operation
     */
    double groupSoftThreshold(MemorySegment v, long off, int n, double t);
}
