package dev.jlm.quant;

/** How the scales of a block are chosen. */
public enum Method {
    /** Round to nearest with the block's min/max (absmax when symmetric). */
    RTN,
    /** Data-free: per block, the clipping range (and a least-squares refit of the scale) that minimizes the weights' squared error. */
    MSE,
    /** Calibration-based: columns in order with inverse-Hessian error feedback (GPTQ), the block scales taken as by MSE. */
    GPTQ
}
