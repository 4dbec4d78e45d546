/**
 * Kernels of the L1 proximal solvers on F64 off-heap vectors ({@link dev.jlm.simd.l1.L1Kernels}): dot,
 * axpy, column products X^T r of a column-major matrix, soft-thresholding and the group soft-threshold,
 * each as a scalar reference and a Vector API implementation.
 */
package dev.jlm.simd.l1;
