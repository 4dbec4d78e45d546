/**
 * Helpers shared by the kernels: row geometry and argument checks, lane-wise loads of F32/F16/BF16, vector
 * math (exp, erfc). Not part of the public API; signatures may change with any release.
 */
package dev.jlm.simd.internal;
