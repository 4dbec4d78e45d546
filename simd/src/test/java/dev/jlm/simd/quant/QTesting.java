package dev.jlm.simd.quant;

import dev.jlm.core.DType;
import dev.jlm.core.Tensor;

import java.util.Random;

/** Random quantized matrices and inputs for the kernel tests. */
final class QTesting {
    private QTesting() {
    }

    /** Random codes, scales of both signs and (when asymmetric) random zero points; the K padding keeps zero-point codes. */
    static QuantizedMatrix random(Random rnd, int bits, int block, long n, long k, DType scaleType, boolean asym) {
        QuantizedMatrix q = QuantizedMatrix.allocate(bits, block, n, k, scaleType, asym);
        int max = q.maxCode();
        for (long r = 0; r < n; r++) {
            for (int blk = 0; blk < q.kBlocks(); blk++) {
                q.setScale(r, blk, (float) ((rnd.nextDouble() * 2 - 1) * 0.05));
                if (asym) {
                    q.setZeroPoint(r, blk, rnd.nextInt(max + 1));
                }
                int zp = q.zeroPoint(r, blk);
                for (int j = 0; j < block; j++) {
                    long c = (long) blk * block + j;
                    q.setCode(r, c, c < k ? rnd.nextInt(max + 1) : zp);
                }
            }
        }
        return q;
    }

    static Tensor randomF32(Random rnd, long... shape) {
        Tensor t = Tensor.allocate(DType.F32, shape);
        long n = t.size();
        for (long i = 0; i < n; i++) {
            t.segment().setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, i, (float) rnd.nextGaussian());
        }
        return t;
    }

    static Tensor nan(long... shape) {
        Tensor t = Tensor.allocate(DType.F32, shape);
        for (long i = 0; i < t.size(); i++) {
            t.segment().setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, i, Float.NaN);
        }
        return t;
    }

    /** y = a x dequant(q)^T + bias in double, and the sum of |terms| per output for the error bound. */
    static double[][] reference(Tensor a, QuantizedMatrix q, Tensor bias) {
        long k = q.k();
        int m = (int) (a.size() / k);
        int n = (int) q.n();
        float[] av = a.toFloatArray();
        double[][] out = new double[2][m * n];
        for (int r = 0; r < n; r++) {
            double[] w = new double[(int) k];
            double[] wabs = new double[(int) k];
            for (int c = 0; c < k; c++) {
                int blk = c / q.blockSize();
                double s = q.scale(r, blk);
                w[c] = (q.code(r, c) - q.zeroPoint(r, blk)) * s;
                // the kernels subtract the zero point after the sum, so their rounding scales with |q| + |zp|
                wabs[c] = (q.code(r, c) + q.zeroPoint(r, blk)) * Math.abs(s);
            }
            for (int i = 0; i < m; i++) {
                double sum = bias == null ? 0 : bias.getDouble(r);
                double mag = Math.abs(sum);
                for (int c = 0; c < k; c++) {
                    sum += av[(int) (i * k + c)] * w[c];
                    mag += Math.abs(av[(int) (i * k + c)]) * wabs[c];
                }
                out[0][i * n + r] = sum;
                out[1][i * n + r] = mag;
            }
        }
        return out;
    }
}
