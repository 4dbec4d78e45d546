/**
 * Rotary position embedding: {@link dev.jlm.simd.rope.Rope} applies it in the interleaved (GPT-J) or half-split
 * (GPT-NeoX, Llama) layout with cos/sin tables from {@link dev.jlm.simd.rope.RopeTable}.
 */
package dev.jlm.simd.rope;
