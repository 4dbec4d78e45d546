/** Softmax over the last axis, with an optional additive mask: {@link dev.jlm.simd.softmax.Softmax}. */
package dev.jlm.simd.softmax;
