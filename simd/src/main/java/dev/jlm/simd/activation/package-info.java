/** Element-wise activations of transformer MLPs: SiLU, GELU (tanh and erf forms), SwiGLU ({@link dev.jlm.simd.activation.Activations}). */
package dev.jlm.simd.activation;
