/**
 * Normalizations over the last axis: {@link dev.jlm.simd.norm.RmsNorm} and {@link dev.jlm.simd.norm.LayerNorm},
 * each with the fused residual-add variant decoder blocks use.
 */
package dev.jlm.simd.norm;
