/**
 * Conversions between the 16-bit float types and F32: IEEE 754 binary16 ({@code F16}) and bfloat16
 * ({@code BF16}).
 *
 * <p>{@link dev.jlm.core.convert.Conversions} is the only public type. Behind it sit a scalar reference that
 * does the bit manipulation explicitly and a Vector API implementation; one of them is chosen once at
 * start-up by {@link dev.jlm.core.Simd#useVector()}. Both give bit-identical results for every input.
 */
package dev.jlm.core.convert;
