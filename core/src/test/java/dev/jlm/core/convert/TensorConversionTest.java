package dev.jlm.core.convert;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.jlm.core.DType;
import dev.jlm.core.JlmException;
import dev.jlm.core.Tensor;
import java.util.SplittableRandom;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/**
 * {@link Conversions#toF32}, {@link Conversions#toF16} and {@link Conversions#toBf16} on contiguous tensors
 * and strided views, for every source/target pair of F32, F16 and BF16. Each output element is compared
 * bit for bit with the element-wise conversion of the source element at the same index (JDK F16 rounding,
 * double-precision BF16 reference).
 */
class TensorConversionTest {
    private static final DType[] TYPES = {DType.F32, DType.F16, DType.BF16};

    @Test
    void contiguousTensorsEveryPair() {
        for (DType from : TYPES) {
            for (long[] shape : new long[][] {{5, 7}, {1}, {}, {3, 0, 4}, {2, 3, 1700}}) {
                try (Tensor t = random(from, shape, 11)) {
                    checkAllTargets(t);
                }
            }
        }
    }

    @Test
    void stridedViewsEveryPair() {
        for (DType from : TYPES) {
            try (Tensor base = random(from, new long[] {4, 6, 5, 3}, 12)) {
                Tensor[] views = {
                        base.slice(1, 1, 5), // the runs are 5 * 3 elements
                        base.slice(2, 1, 4), // runs of 3 * 3
                        base.slice(3, 1, 3), // runs of 2
                        base.slice(1, 2, 3).slice(3, 0, 1), // runs of 1
                        base.slice(0, 1, 3).slice(2, 2, 5).slice(3, 1, 2),
                        base.get(2).slice(0, 1, 4),
                        base.slice(1, 3, 3), // empty
                };
                for (int i = 0; i < 5; i++) {
                    assertFalse(views[i].isContiguous(), views[i] + " should be strided");
                }
                for (Tensor v : views) {
                    checkAllTargets(v);
                }
            }
            // Longer than the 4096-element chunk of the F16 <-> BF16 path, strided.
            try (Tensor base = random(from, new long[] {3, 5000}, 13)) {
                checkAllTargets(base.slice(1, 7, 4999));
                checkAllTargets(base);
            }
        }
    }

    @Test
    void sameTypeGivesAnIndependentCopy() {
        for (DType type : TYPES) {
            try (Tensor t = random(type, new long[] {4, 9}, 14)) {
                Function<Tensor, Tensor> same = type == DType.F32 ? Conversions::toF32
                        : type == DType.F16 ? Conversions::toF16 : Conversions::toBf16;
                try (Tensor c = same.apply(t)) {
                    assertTrue(c.ownsMemory());
                    assertNotEquals(t.segment().address(), c.segment().address());
                    assertEquals(-1L, t.segment().mismatch(c.segment()), "bytes must be equal");
                    c.setFloat(12345f, 0, 0);
                    assertNotEquals(12345f, t.getFloat(0, 0), "the copy must not share memory");
                }
            }
        }
    }

    @Test
    void badTensorsAreRejected() {
        JlmException.InvalidArgument e = assertThrows(JlmException.InvalidArgument.class, () -> Conversions.toF32(null));
        assertEquals("toF32: tensor is null", e.getMessage());
        for (DType type : new DType[] {DType.I8, DType.F64, DType.I4, DType.I32}) {
            try (Tensor t = Tensor.allocate(type, 2, 2)) {
                for (Function<Tensor, Tensor> f : java.util.List.<Function<Tensor, Tensor>>of(
                        Conversions::toF32, Conversions::toF16, Conversions::toBf16)) {
                    JlmException.InvalidArgument bad = assertThrows(JlmException.InvalidArgument.class, () -> f.apply(t));
                    assertTrue(bad.getMessage().contains("Tensor[" + type + " [2, 2]]"), bad.getMessage());
                }
            }
        }
    }

    // ---- helpers ------------------------------------------------------------------------------

    private static void checkAllTargets(Tensor src) {
        check(src, Conversions.toF32(src));
        check(src, Conversions.toF16(src));
        check(src, Conversions.toBf16(src));
    }

    /** {@code out} is owned, contiguous, of the source's shape, and each element is the expected rounding. */
    private static void check(Tensor src, Tensor out) {
        try (out) {
            assertTrue(out.ownsMemory(), "result must be owned");
            assertTrue(out.isContiguous(), "result must be contiguous");
            assertArrayEquals(src.shape(), out.shape());
            long[] shape = src.shape();
            long[] idx = new long[shape.length];
            for (long i = 0; i < src.size(); i++) {
                float value = src.getFloat(idx); // exact: every source type widens exactly
                int expected = switch (out.dtype()) {
                    case F32 -> Float.floatToRawIntBits(value);
                    case F16 -> Float.floatToFloat16(value) & 0xffff;
                    case BF16 -> Bf16ConversionTest.reference(value);
                    default -> throw new AssertionError();
                };
                int got = out.dtype() == DType.F32 ? Float.floatToRawIntBits(out.getFloat(idx))
                        : out.segment().get(ScalarConversions.I16, 2 * i) & 0xffff;
                if (got != expected) {
                    fail(src + " -> " + out.dtype() + " at element " + i + " (" + value + "): expected "
                            + Integer.toHexString(expected) + ", got " + Integer.toHexString(got));
                }
                for (int d = idx.length - 1; d >= 0 && ++idx[d] == shape[d]; d--) {
                    idx[d] = 0;
                }
            }
        }
    }

    /** Random non-NaN values spread over magnitudes that F16 holds, with some beyond it. */
    private static Tensor random(DType type, long[] shape, long seed) {
        Tensor t = Tensor.allocate(type, shape);
        SplittableRandom rnd = new SplittableRandom(seed);
        long[] idx = new long[shape.length];
        for (long i = 0; i < t.size(); i++) {
            double v = rnd.nextGaussian() * Math.scalb(1.0, rnd.nextInt(-26, 18));
            t.setDouble(v, idx);
            for (int d = idx.length - 1; d >= 0 && ++idx[d] == shape[d]; d--) {
                idx[d] = 0;
            }
        }
        assertFalse(t.size() > 10 && t.toFloatArray()[1] == t.toFloatArray()[2], "values should differ");
        return t;
    }
}
