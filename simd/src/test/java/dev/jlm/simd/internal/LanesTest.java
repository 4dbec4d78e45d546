package dev.jlm.simd.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlm.core.DType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.api.Test;

/** The converting loads against the JDK's conversions, for every one of the 65536 bit patterns. */
class LanesTest {
    @Test
    void everyHalfAndBfloat16PatternLoadsExactly() {
        int l = Lanes.F.length();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(65536L * 2 + 2);   // odd offset below: unaligned loads too
            for (int b = 0; b < 65536; b++) {
                seg.set(Lanes.I16, 2 + b * 2L, (short) b);
            }
            MemorySegment view = seg.asSlice(2);
            for (int b = 0; b < 65536; b += l) {
                FloatVector h = Lanes.load(DType.F16, view, b);
                FloatVector bf = Lanes.load(DType.BF16, view, b);
                for (int j = 0; j < l; j++) {
                    short bits = (short) (b + j);
                    check("F16 " + Integer.toHexString(b + j), Float.float16ToFloat(bits), h.lane(j));
                    check("F16 scalar", Float.float16ToFloat(bits), Lanes.get(DType.F16, view, b + j));
                    check("BF16 " + Integer.toHexString(b + j), Float.intBitsToFloat((b + j) << 16), bf.lane(j));
                    check("BF16 scalar", Float.intBitsToFloat((b + j) << 16), Lanes.get(DType.BF16, view, b + j));
                }
            }
        }
    }

    private static void check(String what, float want, float got) {
        if (Float.isNaN(want)) {
            assertTrue(Float.isNaN(got), what + " must be NaN");
        } else {
            assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(got), what);
        }
    }
}
