package dev.jlm.core;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * Start-up choice between the Vector API kernels and their scalar references, made once per JVM.
 *
 * <p>{@code -Djlm.simd=scalar} forces the scalar references (to check that the switch works, or to measure
 * the vectorization gain); {@code -Djlm.simd=vector} forces the Vector API (refused where vectors are narrower
 * than 128 bits); the default {@code auto} takes the Vector API when the platform's preferred float vector has at
 * least 4 lanes, and the scalar references otherwise.
 */
public final class Simd {
    /** The float species every Vector API kernel uses: the widest the CPU supports (16 lanes on AVX-512). */
    public static final VectorSpecies<Float> FLOAT = FloatVector.SPECIES_PREFERRED;

    private static final boolean VECTOR = choose(System.getProperty("jlm.simd", "auto"));

    private Simd() {
    }

    /** True when kernels should use their Vector API implementation. */
    public static boolean useVector() {
        return VECTOR;
    }

    /** A one-word description for logs and reports: {@code "vector(512-bit, 16 float lanes)"} or {@code "scalar"}. */
    public static String describe() {
        return VECTOR ? "vector(" + FLOAT.vectorBitSize() + "-bit, " + FLOAT.length() + " float lanes)" : "scalar";
    }

    private static boolean choose(String mode) {
        return switch (mode) {
            case "scalar" -> false;
            case "vector" -> {
                if (FLOAT.length() < 4 || VectorShape.preferredShape().vectorBitSize() < 128) {
                    throw new IllegalStateException("-Djlm.simd=vector needs vectors of at least 128 bits; this JVM's are "
                            + VectorShape.preferredShape().vectorBitSize() + " bits (use auto or scalar)");
                }
                yield true;
            }
            case "auto" -> FLOAT.length() >= 4 && VectorShape.preferredShape().vectorBitSize() >= 128;
            default -> throw new IllegalArgumentException("-Djlm.simd must be auto, vector or scalar, not '" + mode + "'");
        };
    }
}
