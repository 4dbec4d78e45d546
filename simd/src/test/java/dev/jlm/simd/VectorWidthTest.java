package dev.jlm.simd;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.jlm.core.Simd;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.VectorShape;
import org.junit.jupiter.api.Test;

/**
 * The narrow-width test runs (root pom, profile narrow-vectors) set {@code jlm.test.vectorBits}: this checks that
 * their JVM flags did narrow the kernels' vectors, so that those runs test what they claim to.
 */
class VectorWidthTest {
    @Test
    void kernelsRunAtTheWidthTheTestRunAsksFor() {
        String expected = System.getProperty("jlm.test.vectorBits");
        // a default run: the CPU's preferred width
        int bits = expected == null ? VectorShape.preferredShape().vectorBitSize() : Integer.parseInt(expected);
        assertEquals(bits, Simd.FLOAT.vectorBitSize(), Simd.describe());
        assertEquals(bits, DoubleVector.SPECIES_PREFERRED.vectorBitSize());
    }
}
