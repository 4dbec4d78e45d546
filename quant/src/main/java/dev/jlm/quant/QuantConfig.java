package dev.jlm.quant;

import dev.jlm.core.JlmException;

/**
 * How one weight matrix is quantized: block-wise along K, in the MatMulNBits layout.
 *
 * @param bits      4 or 8
 * @param blockSize 16, 32, 64 or 128; or {@link #AUTO_BLOCK} to pick per matrix the largest block whose
 *                  relative error stays within {@code 1 + autoSlack} times the error of block 16
 * @param symmetric true: no zero points (code {@code 2^(bits-1)} is zero); false: a zero point per block
 * @param method    how scales are chosen
 * @param autoSlack the tolerance of {@link #AUTO_BLOCK}, for instance 0.25 for 25% more error than block 16
 */
public record QuantConfig(int bits, int blockSize, boolean symmetric, Method method, double autoSlack) {
    /** {@code blockSize} value that asks for a per-matrix choice. */
    public static final int AUTO_BLOCK = 0;
    /** The block sizes {@link #AUTO_BLOCK} chooses from, largest first. */
    static final int[] AUTO_CANDIDATES = {128, 64, 32, 16};
    /** The default tolerance of the automatic block choice. */
    public static final double DEFAULT_AUTO_SLACK = 0.25;

    public QuantConfig {
        if (bits != 4 && bits != 8) {
            throw new JlmException.InvalidArgument("bits must be 4 or 8, not " + bits);
        }
        if (blockSize != AUTO_BLOCK && (blockSize < 16 || blockSize > 128 || Integer.bitCount(blockSize) != 1)) {
            throw new JlmException.InvalidArgument("block size must be 16, 32, 64, 128 or auto, not " + blockSize);
        }
        if (method == null) {
            throw new JlmException.InvalidArgument("a quantization method is required");
        }
        if (!(autoSlack >= 0) || Double.isInfinite(autoSlack)) {
            throw new JlmException.InvalidArgument("auto block slack must be a finite number >= 0, not " + autoSlack);
        }
    }

    /** 4 bits, block 32, asymmetric, MSE scale search. */
    public static QuantConfig w4() {
        return new QuantConfig(4, 32, false, Method.MSE, DEFAULT_AUTO_SLACK);
    }

    /** 8 bits, block 32, asymmetric, MSE scale search. */
    public static QuantConfig w8() {
        return new QuantConfig(8, 32, false, Method.MSE, DEFAULT_AUTO_SLACK);
    }

    public QuantConfig withBlockSize(int block) {
        return new QuantConfig(bits, block, symmetric, method, autoSlack);
    }

    public QuantConfig withSymmetric(boolean sym) {
        return new QuantConfig(bits, blockSize, sym, method, autoSlack);
    }

    public QuantConfig withMethod(Method m) {
        return new QuantConfig(bits, blockSize, symmetric, m, autoSlack);
    }

    public QuantConfig withBits(int b) {
        return new QuantConfig(b, blockSize, symmetric, method, autoSlack);
    }
}
