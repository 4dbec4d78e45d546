/**
 * Scaled dot-product attention computed tile by tile with an online softmax ({@link dev.jlm.simd.attention.Attention}),
 * its options ({@link dev.jlm.simd.attention.AttentionOptions}) and a pre-allocated key/value cache for decoding
 * ({@link dev.jlm.simd.attention.KvCache}).
 */
package dev.jlm.simd.attention;
