package dev.jlm.quant;

import dev.jlm.core.DType;
import dev.jlm.core.JlmException;
import dev.jlm.core.Tensor;
import dev.jlm.simd.quant.BlockKernel;
import dev.jlm.simd.quant.QuantizedMatrix;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import java.util.stream.IntStream;

/**
 * GPTQ (Frantar et al., 2022) in the MatMulNBits layout: the input dimensions k of {@code W[K, N]} are quantized
 * one by one; the error of row k, divided by the diagonal of the upper Cholesky factor U of {@code H^-1}, is spread
 * onto the rows not yet quantized through row k of U. {@code H = X^T X} of the layer's calibration inputs,
 * damped by {@code damp * mean(diag(H))}.
 *
 * <p>Order: by default act-order, the dimensions by decreasing {@code H[k][k]}, with static groups: the blocks stay
 * the MatMulNBits blocks of consecutive k (no {@code g_idx}), and each block's scales and zero points are chosen
 * when the first of its rows comes, on the weights as the feedback has left them by then. Scale search: per output
 * and block, the clipping grid and least-squares refits of the MSE method, but minimizing the error weighted by
 * {@code 1 / U[k][k]^2} (the GPTQ loss of quantizing row k), so the rows the outputs are most sensitive to
 * count most.
 *
 * <p>Memory: the weight as a float {@code [K, N]} copy, H and its factor as doubles {@code [K, K]}; nothing of the
 * calibration activations. Time: {@code K^3} for the factorization and {@code K^2 N} for the feedback.
 */
public final class Gptq {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;

    private Gptq() {
    }

    /**
     * Quantizes {@code weight} with the Hessian {@code h} of its inputs.
     *
     * @param weight         F32/F16/BF16 {@code [K, N]}, or {@code [N, K]} with {@code rowsAreOutputs}
     * @param h              row-major {@code K x K}, symmetric ({@code X^T X}; any positive multiple)
     * @param cfg            bits, block (a fixed size; auto is taken as 32), symmetry
     * @param damp           relative damping, typically 0.01
     * @return the quantized weight, with its error measured on the weights (like the other methods)
     */
    public static BlockQuantizer.Result quantize(Tensor weight, boolean rowsAreOutputs, float[] h, QuantConfig cfg,
                                                 DType scaleType, double damp, String name) {
        return quantize(weight, rowsAreOutputs, h, cfg, scaleType, damp, true, name);
    }

    /**
     * Quantizes {@code weight} with the Hessian {@code h} of its inputs.
     *
     * @param actOrder true: quantize the input dimensions by decreasing {@code H[k][k]} (act-order), each block's
     *                 scales chosen when the first of its rows comes; false: in their natural order
     */
    public static BlockQuantizer.Result quantize(Tensor weight, boolean rowsAreOutputs, float[] h, QuantConfig cfg,
                                                 DType scaleType, double damp, boolean actOrder, String name) {
        if (weight.rank() != 2) {
            throw new JlmException.InvalidArgument(name + ": GPTQ needs a 2-D weight, not " + weight);
        }
        BlockQuantizer.requireFinite(weight, name);
        int n = (int) (rowsAreOutputs ? weight.dim(0) : weight.dim(1));
        int k = (int) (rowsAreOutputs ? weight.dim(1) : weight.dim(0));
        if (h.length != (long) k * k) {
            throw new JlmException.InvalidArgument(name + ": Hessian holds " + h.length + " values, not " + k + " x " + k);
        }
        int block = cfg.blockSize() == QuantConfig.AUTO_BLOCK ? 32 : cfg.blockSize();
        float[] orig = new float[k * n];
        for (int r = 0; r < k; r++) {
            for (int c = 0; c < n; c++) {
                long i = rowsAreOutputs ? (long) c * k + r : (long) r * n + c;
                orig[r * n + c] = BlockQuantizer.read(weight.segment(), weight.dtype(), i);
            }
        }
        int[] perm = order(h, k, actOrder);
        int[] pos = new int[k];
        for (int r = 0; r < k; r++) {
            pos[perm[r]] = r;
        }
        // W and H in the order the rows are quantized
        float[] w = new float[k * n];
        float[] hp = new float[k * k];
        for (int r = 0; r < k; r++) {
            System.arraycopy(orig, perm[r] * n, w, r * n, n);
            for (int c = 0; c < k; c++) {
                hp[r * k + c] = h[perm[r] * k + perm[c]];
            }
        }
        double[] u = inverseCholeskyUpper(hp, k, damp, w, n, name);

        QuantizedMatrix q = QuantizedMatrix.allocate(cfg.bits(), block, n, k, scaleType, !cfg.symmetric());
        try {
            int max = q.maxCode();
            QuantConfig search = cfg.method() == Method.RTN ? cfg : cfg.withMethod(Method.MSE);
            int kBlocks = q.kBlocks();
            float[][] scales = new float[kBlocks][n];
            int[][] zps = new int[kBlocks][n];
            boolean[] chosen = new boolean[kBlocks];
            byte[] codes = new byte[k * n];
            float[] err = new float[n];
            for (int r = 0; r < k; r++) {
                int blk = perm[r] / block;
                if (!chosen[blk]) {
                    // First row of this block to be quantized: choose each output's scale for the whole block,
                    // on the weights as the feedback has left them (in natural order, the block's start).
                    chosen[blk] = true;
                    int len = Math.min(block, k - blk * block);
                    int[] rows = new int[len];
                    float[] wt = new float[len];
                    for (int j = 0; j < len; j++) {
                        rows[j] = pos[blk * block + j];
                        double d = u[rows[j] * k + rows[j]];
                        wt[j] = (float) (1 / (d * d));
                    }
                    float[] bs = scales[blk];
                    int[] bz = zps[blk];
                    IntStream.range(0, n).parallel().forEach(c -> {
                        float[] col = new float[len];
                        for (int j = 0; j < len; j++) {
                            col[j] = w[rows[j] * n + c];
                        }
                        float[] s = new float[1];
                        int[] z = new int[1];
                        if (search.method() != Method.RTN) {
                            weightedSearch(col, wt, len, search, scaleType, max, s, z);
                        } else {
                            BlockQuantizer.quantizeBlock(BlockKernel.get(), col, 0, len, search, scaleType, new byte[len], s, z);
                        }
                        bs[c] = s[0];
                        bz[c] = z[0];
                        q.setScale(c, blk, s[0]);
                        if (q.hasZeroPoints()) {
                            q.setZeroPoint(c, blk, z[0]);
                        }
                    });
                }
                float[] bs = scales[blk];
                int[] bz = zps[blk];
                double d = u[r * k + r];
                int base = r * n;
                int obase = perm[r] * n;
                for (int c = 0; c < n; c++) {
                    float x = w[base + c];
                    int code = code(x, bs[c], bz[c], max);
                    codes[obase + c] = (byte) code;
                    float deq = (code - bz[c]) * bs[c];
                    err[c] = (float) ((x - deq) / d);
                }
                // Spread the error onto the rows not yet quantized: W[j, :] -= U[r, j] * err.
                int rr = r;
                int rows = k - r - 1;
                if (rows > 0) {
                    int chunks = Math.max(1, Math.min(rows, Runtime.getRuntime().availableProcessors() * 4));
                    IntStream.range(0, chunks).parallel().forEach(ch -> {
                        int from = rr + 1 + (int) ((long) rows * ch / chunks);
                        int to = rr + 1 + (int) ((long) rows * (ch + 1) / chunks);
                        for (int j = from; j < to; j++) {
                            axpy(-(float) u[rr * k + j], err, w, j * n, n);
                        }
                    });
                }
            }
            // Codes into the MatMulNBits layout, padding with the zero point.
            int kp = q.kBlocks() * block;
            byte[] row = new byte[kp];
            double sse = 0;
            double norm = 0;
            for (int c = 0; c < n; c++) {
                for (int r = 0; r < kp; r++) {
                    row[r] = r < k ? codes[r * n + c] : (byte) q.zeroPoint(c, q.kBlocks() - 1);
                }
                for (int blk = 0; blk < q.kBlocks(); blk++) {
                    q.setBlockCodes(c, blk, row, blk * block);
                }
                for (int r = 0; r < k; r++) {
                    double e = orig[r * n + c] - (double) q.dequantize(c, r);
                    sse += e * e;
                    norm += (double) orig[r * n + c] * orig[r * n + c];
                }
            }
            return new BlockQuantizer.Result(q, sse, norm);
        } catch (RuntimeException | Error e) {
            q.close();
            throw e;
        }
    }

    /**
     * The order in which the input dimensions are quantized: natural, or by decreasing diagonal of H (act-order:
     * the inputs that carry the most energy first, while the most rows remain to absorb their error). Ties keep
     * their natural order.
     */
    static int[] order(float[] h, int k, boolean actOrder) {
        Integer[] idx = new Integer[k];
        for (int i = 0; i < k; i++) {
            idx[i] = i;
        }
        if (actOrder) {
            java.util.Arrays.sort(idx, (a, b) -> Float.compare(h[b * k + b], h[a * k + a]));
        }
        int[] out = new int[k];
        for (int i = 0; i < k; i++) {
            out[i] = idx[i];
        }
        return out;
    }

    /**
     * The scale and zero point of one block minimizing {@code sum wt[j] (x[j] - deq(x[j]))^2}: the clipping grid
     * of {@link BlockQuantizer}, then weighted least-squares refits of the scale for the codes found.
     */
    static void weightedSearch(float[] x, float[] wt, int len, QuantConfig cfg, DType scaleType, int max, float[] sOut, int[] zOut) {
        int half = 1 << (cfg.bits() - 1);
        float lo = Float.POSITIVE_INFINITY;
        float hi = Float.NEGATIVE_INFINITY;
        float extreme = 0f;
        for (int i = 0; i < len; i++) {
            lo = Math.min(lo, x[i]);
            hi = Math.max(hi, x[i]);
            if (Math.abs(x[i]) > Math.abs(extreme)) {
                extreme = x[i];
            }
        }
        if (!cfg.symmetric() && lo == hi) {
            lo = Math.min(lo, 0f);
            hi = Math.max(hi, 0f);
        }
        float bestS = 0f;
        int bestZ = half;
        double best = Double.POSITIVE_INFINITY;
        for (int i = 0; i <= 50; i++) {
            float alpha = (float) (1.0 - i * 0.01);
            float s;
            int zp;
            if (cfg.symmetric()) {
                s = BlockQuantizer.storable(extreme * alpha / -half, scaleType);
                zp = half;
            } else {
                s = BlockQuantizer.storable((hi - lo) * alpha / max, scaleType);
                zp = s == 0f ? half : (int) Math.max(0, Math.min(max, Math.rint(-lo * alpha / s)));
            }
            double e = weightedError(x, wt, len, s, zp, max);
            if (e < best) {
                best = e;
                bestS = s;
                bestZ = zp;
            }
        }
        for (int it = 0; it < 2 && bestS != 0f; it++) {
            double num = 0;
            double den = 0;
            for (int j = 0; j < len; j++) {
                int d = code(x[j], bestS, bestZ, max) - bestZ;
                num += (double) wt[j] * x[j] * d;
                den += (double) wt[j] * d * d;
            }
            if (den == 0) {
                break;
            }
            float s = BlockQuantizer.storable((float) (num / den), scaleType);
            if (s == 0f || !Float.isFinite(s) || s == bestS) {
                break;
            }
            double e = weightedError(x, wt, len, s, bestZ, max);
            if (!(e < best)) {
                break;
            }
            best = e;
            bestS = s;
        }
        sOut[0] = bestS;
        zOut[0] = bestZ;
    }

    private static double weightedError(float[] x, float[] wt, int len, float s, int zp, int max) {
        double e = 0;
        for (int j = 0; j < len; j++) {
            double d = x[j] - (double) ((code(x[j], s, zp, max) - zp) * s);
            e += wt[j] * d * d;
        }
        return e;
    }

    /** The code of one weight, exactly as {@link BlockKernel} computes it. */
    private static int code(float x, float s, int zp, int max) {
        if (s == 0f) {
            return zp;
        }
        float t = Math.max(0f, Math.min(max, x / s + zp));
        return (int) Math.rint(t);
    }

    private static void axpy(float a, float[] x, float[] y, int yOff, int n) {
        int i = 0;
        int bound = S.loopBound(n);
        FloatVector av = FloatVector.broadcast(S, a);
        for (; i < bound; i += S.length()) {
            FloatVector.fromArray(S, x, i).fma(av, FloatVector.fromArray(S, y, yOff + i)).intoArray(y, yOff + i);
        }
        for (; i < n; i++) {
            y[yOff + i] += a * x[i];
        }
    }

    /**
     * The upper Cholesky factor U of {@code (H + lambda I)^-1} ({@code H^-1 = U^T U}), row-major in doubles.
     * Inputs that never fire ({@code H[i][i] = 0}) get a unit diagonal and their weights set to zero. When H is
     * not positive definite, the damping grows tenfold, up to three times.
     */
    static double[] inverseCholeskyUpper(float[] hf, int k, double damp, float[] w, int n, String name) {
        double[] h = new double[k * k];
        double mean = 0;
        for (int i = 0; i < k; i++) {
            for (int j = 0; j < k; j++) {
                // symmetrize: callers may fill one triangle only if they mirror it; be robust to rounding
                h[i * k + j] = 0.5 * ((double) hf[i * k + j] + hf[j * k + i]);
            }
            if (h[i * k + i] <= 0) {
                h[i * k + i] = 1;
                java.util.Arrays.fill(w, i * n, (i + 1) * n, 0f);
            }
            mean += h[i * k + i];
        }
        mean /= k;
        for (int attempt = 0; attempt < 4; attempt++) {
            double lambda = damp * Math.pow(10, attempt) * mean;
            double[] a = h.clone();
            for (int i = 0; i < k; i++) {
                a[i * k + i] += lambda;
            }
            if (!cholesky(a, k)) {
                continue;
            }
            double[] inv = inverseFromCholesky(a, k);
            if (!cholesky(inv, k)) {
                continue;
            }
            // inv now holds L with H^-1 = L L^T; U = L^T
            double[] up = new double[k * k];
            for (int i = 0; i < k; i++) {
                for (int j = 0; j <= i; j++) {
                    up[j * k + i] = inv[i * k + j];
                }
            }
            return up;
        }
        throw new JlmException.InvalidArgument(name + ": the calibration Hessian is not positive definite even with damping; "
                + "use more calibration data or --method mse");
    }

    /** In-place lower Cholesky factor (upper triangle left as garbage is cleared); false if not positive definite. */
    static boolean cholesky(double[] a, int k) {
        for (int j = 0; j < k; j++) {
            double d = a[j * k + j];
            for (int p = 0; p < j; p++) {
                d -= a[j * k + p] * a[j * k + p];
            }
            if (!(d > 0)) {
                return false;
            }
            double ljj = Math.sqrt(d);
            a[j * k + j] = ljj;
            int jj = j;
            IntStream.range(j + 1, k).parallel().forEach(i -> {
                double s = a[i * k + jj];
                int ri = i * k;
                int rj = jj * k;
                for (int p = 0; p < jj; p++) {
                    s -= a[ri + p] * a[rj + p];
                }
                a[ri + jj] = s / ljj;
            });
        }
        for (int i = 0; i < k; i++) {
            for (int j = i + 1; j < k; j++) {
                a[i * k + j] = 0;
            }
        }
        return true;
    }

    /** {@code (L L^T)^-1} from the lower factor L, as a full symmetric matrix; row-wise, so every inner loop is contiguous. */
    static double[] inverseFromCholesky(double[] l, int k) {
        // Linv row by row: row i = (e_i - sum_{p<i} L[i,p] Linv[p,:]) / L[i,i]
        double[] li = new double[k * k];
        for (int i = 0; i < k; i++) {
            int ri = i * k;
            li[ri + i] = 1;
            for (int p = 0; p < i; p++) {
                double f = l[ri + p];
                if (f != 0) {
                    int rp = p * k;
                    for (int c = 0; c <= p; c++) {
                        li[ri + c] -= f * li[rp + c];
                    }
                }
            }
            double d = l[ri + i];
            for (int c = 0; c <= i; c++) {
                li[ri + c] /= d;
            }
        }
        // H^-1 = Linv^T Linv: row i gathers Linv[p, i] * Linv[p, :] over p >= i.
        double[] out = new double[k * k];
        IntStream.range(0, k).parallel().forEach(i -> {
            int ri = i * k;
            for (int p = i; p < k; p++) {
                double f = li[p * k + i];
                if (f != 0) {
                    int rp = p * k;
                    for (int c = 0; c <= p; c++) {
                        out[ri + c] += f * li[rp + c];
                    }
                }
            }
        });
        return out;
    }
}
