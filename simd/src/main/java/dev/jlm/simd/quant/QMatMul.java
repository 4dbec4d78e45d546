package dev.jlm.simd.quant;

import dev.jlm.core.DType;
import dev.jlm.core.JlmException;
import dev.jlm.core.Simd;
import dev.jlm.core.Tensor;
import dev.jlm.simd.RowExecutor;

import java.util.Arrays;

/**
 * {@code Y[M, N] = A[M, K] x dequant(B)^T (+ bias[N])} with B a {@link QuantizedMatrix}, reading exactly the
 * MatMulNBits bytes and dequantizing on the fly (the float weight matrix is never built). F32 activations.
 * Work is split over N into {@code threads} parts on the kernels' shared row executor, the caller taking one.
 * Implementations are stateless and thread-safe.
 */
public interface QMatMul {
    /**
     * Computes {@code y = a x dequant(b)^T + bias}.
     *
     * @param a       F32 {@code [M, K]} (or any shape whose last dimension is K; the rest is flattened into M)
     * @param b       the quantized weights, {@code N x K}
     * @param bias    F32 {@code [N]}, or null
     * @param y       F32 {@code [M, N]} (or the shape of {@code a} with K replaced by N), overwritten
     * @param threads how many parts to split N into (at least 1)
     */
    void multiply(Tensor a, QuantizedMatrix b, Tensor bias, Tensor y, int threads);

    /** The implementation chosen at start-up ({@code -Djlm.simd}). */
    static QMatMul get() {
        return Simd.useVector() ? VectorQMatMul.INSTANCE : ScalarQMatMul.INSTANCE;
    }

    /** The scalar reference. */
    static QMatMul scalar() {
        return ScalarQMatMul.INSTANCE;
    }

    /** The Vector API implementation. */
    static QMatMul vector() {
        return VectorQMatMul.INSTANCE;
    }

    /**
     * {@code threads}, or 1 when one of the operands lives in a confined arena (only the calling thread may touch
     * it, so the call is not split).
     */
    static int usableThreads(Tensor a, QuantizedMatrix b, Tensor bias, Tensor y, int threads) {
        boolean shared = b.shareable()
                && RowExecutor.shareable(a.segment(), y.segment(), bias == null ? null : bias.segment());
        return shared ? threads : 1;
    }

    /** Checks shapes and returns M. */
    static long checkShapes(Tensor a, QuantizedMatrix b, Tensor bias, Tensor y, int threads) {
        if (threads < 1) {
            throw new JlmException.InvalidArgument("threads must be >= 1, not " + threads);
        }
        a.requireContiguous(DType.F32, "quantized matmul input A");
        y.requireContiguous(DType.F32, "quantized matmul output Y");
        if (a.rank() < 1 || a.dim(-1) != b.k()) {
            throw new JlmException.InvalidArgument("quantized matmul: A " + Arrays.toString(a.shape()) + " does not end in K=" + b.k());
        }
        long m = a.size() / b.k();
        if (y.size() != m * b.n() || y.dim(-1) != b.n()) {
            throw new JlmException.InvalidArgument("quantized matmul: Y " + Arrays.toString(y.shape()) + " is not [" + m + ", " + b.n() + "]");
        }
        if (bias != null) {
            bias.requireContiguous(DType.F32, "quantized matmul bias");
            if (bias.size() != b.n()) {
                throw new JlmException.InvalidArgument("quantized matmul: bias " + Arrays.toString(bias.shape()) + " is not [" + b.n() + "]");
            }
        }
        return m;
    }
}
