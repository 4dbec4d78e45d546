package dev.jlm.simd.quant;

import dev.jlm.core.Simd;

/**
 * The inner loop of every block quantizer: round one block of weights to integer codes for a given scale
 * and zero point, and measure what that costs.
 *
 * <p>A weight {@code x} gets the code {@code q = clamp(rint(x / scale) + zp, 0, maxCode)} (ties to even)
 * and dequantizes to {@code (q - zp) * scale}, both in float arithmetic exactly as ONNX Runtime computes
 * them. A zero scale maps every weight to {@code zp}. Implementations are stateless and thread-safe.
 */
public interface BlockKernel {
    /**
     * Quantizes {@code x[off .. off + len)} and returns the sum of squared reconstruction errors (in double).
     *
     * @param codes where to write the codes ({@code codes[codesOff ..]}), or null to only measure the error
     */
    double quantize(float[] x, int off, int len, float scale, int zp, int maxCode, byte[] codes, int codesOff);

    /**
     * For fixed codes, the least-squares scale {@code sum(x * d) / sum(d * d)} with {@code d = q - zp}, the
     * codes taken for {@code scale} and {@code zp}; returns 0 when all codes equal the zero point.
     */
    float refitScale(float[] x, int off, int len, float scale, int zp, int maxCode);

    /** The implementation chosen at start-up ({@code -Djlm.simd}). */
    static BlockKernel get() {
        return Simd.useVector() ? VectorBlockKernel.INSTANCE : ScalarBlockKernel.INSTANCE;
    }

    /** The scalar reference. */
    static BlockKernel scalar() {
        return ScalarBlockKernel.INSTANCE;
    }

    /** The Vector API implementation. */
    static BlockKernel vector() {
        return VectorBlockKernel.INSTANCE;
    }
}
