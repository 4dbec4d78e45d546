/** jlm simd. See ARCHITECTURE.md for what this module owns. */
package dev.jlm.simd;
