package dev.jlm.quant;

import dev.jlm.core.DType;
import dev.jlm.core.JlmException;
import dev.jlm.core.Tensor;
import dev.jlm.simd.quant.BlockKernel;
import dev.jlm.simd.quant.QuantizedMatrix;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.stream.IntStream;

/**
 * Quantizes a 2-D float weight block-wise along K into a {@link QuantizedMatrix} (the MatMulNBits layout),
 * with round-to-nearest or the data-free MSE scale search, at a fixed block size or an automatic one.
 *
 * <p>MSE search, per block: the clipping range {@code alpha * [min, max]} (symmetric: {@code alpha * absmax})
 * for alpha on a grid from 1.0 down to 0.5 in steps of 0.01, keeping the alpha with the least squared error;
 * then up to two least-squares refits of the scale for the codes found, each kept only if it lowers the error.
 * Alpha = 1 is round-to-nearest itself, so the search never has more error than RTN. Scales are rounded to
 * their storage type before any error is measured, so the error reported is the error of what is stored.
 *
 * <p>Stateless; rows are quantized in parallel on the common fork-join pool.
 */
public final class BlockQuantizer {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final int GRID = 50;
    private static final double GRID_STEP = 0.01;
    private static final int REFITS = 2;
    private static final int ROW_GROUP = 16;

    private BlockQuantizer() {
    }

    /**
     * A quantized weight and what it cost in accuracy.
     *
     * @param matrix       the quantized matrix ({@code N x K}); the caller closes it
     * @param squaredError {@code ||W - dequant(Q)||^2}
     * @param squaredNorm  {@code ||W||^2}
     */
    public record Result(QuantizedMatrix matrix, double squaredError, double squaredNorm) implements AutoCloseable {
        /** {@code ||W - dequant(Q)||_F / ||W||_F} (0 for an all-zero weight). */
        public double relativeError() {
            return squaredNorm == 0 ? Math.sqrt(squaredError) : Math.sqrt(squaredError / squaredNorm);
        }

        @Override
        public void close() {
            matrix.close();
        }
    }

    /**
     * Quantizes {@code weight}.
     *
     * @param weight         F32, F16 or BF16, 2-D: {@code [K, N]} (a MatMul's B) or, with {@code rowsAreOutputs},
     *                       {@code [N, K]} (a Gemm's B with transB=1, an embedding table)
     * @param rowsAreOutputs true when the first dimension is N
     * @param scaleType      the type of the scales (the model's activation type: F32, F16 or BF16)
     * @param name           names the weight in error messages
     * @throws JlmException.InvalidArgument for a non-finite weight (naming it), a bad shape or dtype
     */
    public static Result quantize(Tensor weight, boolean rowsAreOutputs, QuantConfig cfg, DType scaleType, String name) {
        if (weight.rank() != 2) {
            throw new JlmException.InvalidArgument(name + ": a weight to quantize must be 2-D, not " + weight);
        }
        if (!weight.dtype().isFloat() || weight.dtype() == DType.F64) {
            throw new JlmException.InvalidArgument(name + ": cannot quantize a " + weight.dtype() + " weight");
        }
        if (!weight.isContiguous()) {
            throw new JlmException.InvalidArgument(name + ": the weight must be contiguous");
        }
        if (cfg.method() == Method.GPTQ) {
            throw new JlmException.InvalidArgument(name + ": GPTQ needs calibration data; use Gptq.quantize");
        }
        requireFinite(weight, name);
        long n = rowsAreOutputs ? weight.dim(0) : weight.dim(1);
        long k = rowsAreOutputs ? weight.dim(1) : weight.dim(0);
        if (cfg.blockSize() != QuantConfig.AUTO_BLOCK) {
            return quantizeFixed(weight, rowsAreOutputs, n, k, cfg, cfg.blockSize(), scaleType);
        }
        Result best = null;
        Result finest = null;
        java.util.List<Result> tried = new java.util.ArrayList<>();
        try {
            for (int b : QuantConfig.AUTO_CANDIDATES) {
                if (b > 16 && b / 2 >= k) {
                    continue; // a block more than twice K only adds padding
                }
                tried.add(quantizeFixed(weight, rowsAreOutputs, n, k, cfg, b, scaleType));
            }
            finest = tried.getLast();
            double bound = finest.relativeError() * (1 + cfg.autoSlack());
            for (Result r : tried) {
                if (r.relativeError() <= bound) {
                    best = r;
                    break;
                }
            }
            return best;
        } finally {
            for (Result r : tried) {
                if (r != best) {
                    r.close();
                }
            }
        }
    }

    /** Fails with a message naming the weight and the first non-finite element. */
    static void requireFinite(Tensor w, String name) {
        MemorySegment s = w.segment();
        long size = w.size();
        long cols = w.dim(1);
        for (long i = 0; i < size; i++) {
            float v = read(s, w.dtype(), i);
            if (!Float.isFinite(v)) {
                throw new JlmException.InvalidArgument(name + ": weight holds a non-finite value (" + v + ") at ["
                        + i / cols + ", " + i % cols + "]; refusing to quantize it");
            }
        }
    }

    static float read(MemorySegment s, DType t, long i) {
        return switch (t) {
            case F32 -> s.get(F32, 4 * i);
            case F16 -> Float.float16ToFloat(s.get(I16, 2 * i));
            default -> Float.intBitsToFloat((s.get(I16, 2 * i) & 0xffff) << 16);
        };
    }

    private static Result quantizeFixed(Tensor w, boolean rowsAreOutputs, long n, long k, QuantConfig cfg, int block, DType scaleType) {
        QuantizedMatrix q = QuantizedMatrix.allocate(cfg.bits(), block, n, k, scaleType, !cfg.symmetric());
        try {
            int groups = (int) ((n + ROW_GROUP - 1) / ROW_GROUP);
            double[] se = new double[groups];
            double[] norm = new double[groups];
            IntStream.range(0, groups).parallel().forEach(g -> {
                double[] r = quantizeRows(w, rowsAreOutputs, q, (long) g * ROW_GROUP, Math.min(n, (long) (g + 1) * ROW_GROUP), cfg);
                se[g] = r[0];
                norm[g] = r[1];
            });
            double sse = 0;
            double nn = 0;
            for (int g = 0; g < groups; g++) {
                sse += se[g];
                nn += norm[g];
            }
            return new Result(q, sse, nn);
        } catch (RuntimeException | Error e) {
            q.close();
            throw e;
        }
    }

    /** Quantizes rows [from, to) of the output dimension; returns {squared error, squared norm}. */
    private static double[] quantizeRows(Tensor w, boolean rowsAreOutputs, QuantizedMatrix q, long from, long to, QuantConfig cfg) {
        long k = q.k();
        int block = q.blockSize();
        int kp = q.kBlocks() * block;
        int rows = (int) (to - from);
        float[][] x = new float[rows][kp];
        MemorySegment s = w.segment();
        DType t = w.dtype();
        if (rowsAreOutputs) {
            for (int r = 0; r < rows; r++) {
                long base = (from + r) * k;
                for (int c = 0; c < k; c++) {
                    x[r][c] = read(s, t, base + c);
                }
            }
        } else {
            long n = q.n();
            for (int c = 0; c < k; c++) {
                long base = c * n + from;
                for (int r = 0; r < rows; r++) {
                    x[r][c] = read(s, t, base + r);
                }
            }
        }
        BlockKernel kern = BlockKernel.get();
        byte[] codes = new byte[kp];
        float[] scale = new float[1];
        int[] zp = new int[1];
        double sse = 0;
        double norm = 0;
        for (int r = 0; r < rows; r++) {
            long row = from + r;
            for (int blk = 0; blk < q.kBlocks(); blk++) {
                int off = blk * block;
                int len = (int) Math.min(block, k - off);
                sse += quantizeBlock(kern, x[r], off, len, cfg, q.scaleType(), codes, scale, zp);
                for (int j = len; j < block; j++) {
                    codes[off + j] = (byte) zp[0]; // padding dequantizes to exactly 0
                }
                q.setScale(row, blk, scale[0]);
                if (q.hasZeroPoints()) {
                    q.setZeroPoint(row, blk, zp[0]);
                }
                q.setBlockCodes(row, blk, codes, off);
            }
            for (int c = 0; c < k; c++) {
                norm += (double) x[r][c] * x[r][c];
            }
        }
        return new double[]{sse, norm};
    }

    /** The value a scale takes once stored in {@code type}. */
    static float storable(float s, DType type) {
        return switch (type) {
            case F16 -> Float.float16ToFloat(Float.floatToFloat16(s));
            case BF16 -> {
                int b = Float.floatToRawIntBits(s);
                yield Float.intBitsToFloat(((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) << 16);
            }
            default -> s;
        };
    }

    /**
     * Quantizes one block {@code x[off .. off + len)}: writes the codes to {@code codes[off ..]}, the scale and zero
     * point to {@code scaleOut[0]} and {@code zpOut[0]}; returns the squared error.
     */
    static double quantizeBlock(BlockKernel kern, float[] x, int off, int len, QuantConfig cfg, DType scaleType,
                                byte[] codes, float[] scaleOut, int[] zpOut) {
        int max = (1 << cfg.bits()) - 1;
        int half = 1 << (cfg.bits() - 1);
        float lo = Float.POSITIVE_INFINITY;
        float hi = Float.NEGATIVE_INFINITY;
        float extreme = 0f;
        for (int i = 0; i < len; i++) {
            float v = x[off + i];
            lo = Math.min(lo, v);
            hi = Math.max(hi, v);
            if (Math.abs(v) > Math.abs(extreme)) {
                extreme = v;
            }
        }
        if (!cfg.symmetric() && lo == hi) {
            // a constant block: let the range reach zero so the constant itself is a code
            lo = Math.min(lo, 0f);
            hi = Math.max(hi, 0f);
        }
        int steps = cfg.method() == Method.RTN ? 0 : GRID;
        float bestScale = 0f;
        int bestZp = half;
        double best = Double.POSITIVE_INFINITY;
        for (int i = 0; i <= steps; i++) {
            float alpha = (float) (1.0 - i * GRID_STEP);
            float s;
            int zp;
            if (cfg.symmetric()) {
                // the largest magnitude maps to -2^(bits-1), the one end with a code to spare
                s = storable(extreme * alpha / -half, scaleType);
                zp = half;
            } else {
                s = storable((hi - lo) * alpha / max, scaleType);
                zp = s == 0f ? half : (int) Math.max(0, Math.min(max, Math.rint(-lo * alpha / s)));
            }
            double e = kern.quantize(x, off, len, s, zp, max, null, 0);
            if (e < best) {
                best = e;
                bestScale = s;
                bestZp = zp;
            }
        }
        if (cfg.method() != Method.RTN) {
            for (int it = 0; it < REFITS && bestScale != 0f; it++) {
                float s = storable(kern.refitScale(x, off, len, bestScale, bestZp, max), scaleType);
                if (s == 0f || !Float.isFinite(s) || s == bestScale) {
                    break;
                }
                double e = kern.quantize(x, off, len, s, bestZp, max, null, 0);
                if (!(e < best)) {
                    break;
                }
                best = e;
                bestScale = s;
            }
        }
        scaleOut[0] = bestScale;
        zpOut[0] = bestZp;
        return kern.quantize(x, off, len, bestScale, bestZp, max, codes, off);
    }
}
