package dev.jlm.core.convert;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.jlm.core.JlmException;
import dev.jlm.core.Simd;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Lengths, offsets, alignment and bounds: both kernels write exactly the requested range (poisoned
 * beforehand, checked element by element against the JDK or the bit shift) and nothing around it; the
 * public façade rejects bad arguments with {@link JlmException.InvalidArgument}.
 */
class SegmentConversionTest {
    private static final int GUARD = 5;

    enum Op { F16_TO_F32, F32_TO_F16, BF16_TO_F32, F32_TO_BF16 }

    static List<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        for (ConversionKernels impl : List.of(ScalarConversions.INSTANCE, VectorConversions.INSTANCE)) {
            for (Op op : Op.values()) {
                for (int length : new int[] {0, 1, 15, 16, 17, 31, 1_000_003}) {
                    // Byte misalignment of source and destination; the large case runs once per op.
                    int[][] shifts = length > 100 ? new int[][] {{1, 3}} : new int[][] {{0, 0}, {1, 3}, {2, 1}, {3, 2}};
                    for (int[] s : shifts) {
                        out.add(Arguments.of(impl, op, length, s[0], s[1]));
                    }
                }
            }
        }
        return out;
    }

    @ParameterizedTest(name = "{0} {1} n={2} srcShift={3} dstShift={4}")
    @MethodSource("cases")
    void writesExactlyTheRange(ConversionKernels impl, Op op, int length, int srcShift, int dstShift) {
        boolean widen = op == Op.F16_TO_F32 || op == Op.BF16_TO_F32;
        int srcWidth = widen ? 2 : 4;
        int dstWidth = widen ? 4 : 2;
        long srcIndex = 3;
        long dstIndex = GUARD;
        long srcElems = srcIndex + length + 2;
        long dstElems = dstIndex + length + GUARD;
        SplittableRandom rnd = new SplittableRandom(length * 31L + srcShift);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment src = arena.allocate(srcElems * srcWidth + srcShift, 64).asSlice(srcShift);
            MemorySegment dst = arena.allocate(dstElems * dstWidth + dstShift, 64).asSlice(dstShift);
            for (long i = 0; i < srcElems; i++) {
                if (widen) {
                    src.set(ScalarConversions.I16, 2 * i, (short) rnd.nextInt());
                } else {
                    src.set(ScalarConversions.I32, 4 * i, randomFloatBits(rnd));
                }
            }
            if (widen) {
                TestSupport.poisonF32(dst);
            } else {
                TestSupport.poison16(dst);
            }
            switch (op) {
                case F16_TO_F32 -> impl.f16ToF32(src, srcIndex, dst, dstIndex, length);
                case F32_TO_F16 -> impl.f32ToF16(src, srcIndex, dst, dstIndex, length);
                case BF16_TO_F32 -> impl.bf16ToF32(src, srcIndex, dst, dstIndex, length);
                case F32_TO_BF16 -> impl.f32ToBf16(src, srcIndex, dst, dstIndex, length);
            }
            for (long i = 0; i < dstElems; i++) {
                boolean inside = i >= dstIndex && i < dstIndex + length;
                long s = srcIndex + i - dstIndex;
                if (widen) {
                    int got = dst.get(ScalarConversions.I32, 4 * i);
                    int expected = !inside ? TestSupport.POISON_F32 : widened(op, src.get(ScalarConversions.I16, 2 * s));
                    if (got != expected) {
                        fail(op + " at " + i + ": expected " + Integer.toHexString(expected) + ", got " + Integer.toHexString(got));
                    }
                } else {
                    short got = dst.get(ScalarConversions.I16, 2 * i);
                    if (!inside) {
                        if (got != TestSupport.POISON_16) {
                            fail(op + " wrote outside the range at " + i);
                        }
                        continue;
                    }
                    float f = Float.intBitsToFloat(src.get(ScalarConversions.I32, 4 * s));
                    short expected = op == Op.F32_TO_F16 ? Float.floatToFloat16(f) : (short) Bf16ConversionTest.reference(f);
                    if (got != expected) {
                        fail(op + " of " + Float.toHexString(f) + " at " + i + ": expected "
                                + Integer.toHexString(expected & 0xffff) + ", got " + Integer.toHexString(got & 0xffff));
                    }
                }
            }
        }
    }

    /** Non-NaN values with a spread of exponents around the F16 range and beyond. */
    private static int randomFloatBits(SplittableRandom rnd) {
        int exp = rnd.nextInt(127 - 40, 127 + 40);
        return (rnd.nextBoolean() ? 0x8000_0000 : 0) | exp << 23 | rnd.nextInt(1 << 23);
    }

    private static int widened(Op op, short h) {
        if (op == Op.BF16_TO_F32) {
            return (h & 0xffff) << 16;
        }
        float f = Float.float16ToFloat(h);
        // NaN payloads follow this package's rule (exact); the JDK's are compared as "is NaN" elsewhere.
        return Float.isNaN(f) ? ((h & 0x8000) << 16) | 0x7f80_0000 | ((h & 0x3ff) << 13) : Float.floatToRawIntBits(f);
    }

    /** Heap segments (of any array type) work as well as native ones. */
    @Test
    void heapSegments() {
        float[] in = {1f, -2.5f, 65504f, 1e-7f, 3.14159f, Float.NaN, 0f, -0f, 1e6f, 7f, 8f, 9f, 10f, 11f, 12f, 13f, 14f, 15f, 16f, 17f};
        for (ConversionKernels impl : List.of(ScalarConversions.INSTANCE, VectorConversions.INSTANCE)) {
            short[] half = new short[in.length];
            impl.f32ToF16(MemorySegment.ofArray(in), 0, MemorySegment.ofArray(half), 0, in.length);
            float[] back = new float[in.length];
            impl.f16ToF32(MemorySegment.ofArray(half), 0, MemorySegment.ofArray(back), 0, in.length);
            for (int i = 0; i < in.length; i++) {
                assertEquals(Float.floatToFloat16(in[i]) & 0xffff, half[i] & 0xffff, impl + " at " + i);
                assertEquals(Float.float16ToFloat(half[i]), back[i], impl + " at " + i);
            }
        }
    }

    /** The façade uses the implementation that {@link Simd} chose, and computes the same bits through it. */
    @Test
    void facadeUsesTheStartUpChoice() {
        assertSame(Simd.useVector() ? VectorConversions.INSTANCE : ScalarConversions.INSTANCE, Conversions.kernels());
        float[] in = new float[101];
        SplittableRandom rnd = new SplittableRandom(3);
        for (int i = 0; i < in.length; i++) {
            in[i] = (float) rnd.nextGaussian() * 100;
        }
        short[] f16 = new short[in.length];
        short[] bf16 = new short[in.length];
        Conversions.f32ToF16(MemorySegment.ofArray(in), 0, MemorySegment.ofArray(f16), 0, in.length);
        Conversions.f32ToBf16(MemorySegment.ofArray(in), 0, MemorySegment.ofArray(bf16), 0, in.length);
        float[] a = new float[in.length];
        float[] b = new float[in.length];
        Conversions.f16ToF32(MemorySegment.ofArray(f16), 0, MemorySegment.ofArray(a), 0, in.length);
        Conversions.bf16ToF32(MemorySegment.ofArray(bf16), 0, MemorySegment.ofArray(b), 0, in.length);
        for (int i = 0; i < in.length; i++) {
            assertEquals(Float.floatToFloat16(in[i]), f16[i]);
            assertEquals(Conversions.f32ToF16(in[i]), f16[i]);
            assertEquals(Conversions.f32ToBf16(in[i]), bf16[i]);
            assertEquals(Float.float16ToFloat(f16[i]), a[i]);
            assertEquals(Conversions.f16ToF32(f16[i]), a[i]);
            assertEquals(Conversions.bf16ToF32(bf16[i]), b[i]);
            // Relative error of rounding to 11 (F16) and 8 (BF16) significant bits: at most half an ulp.
            assertTrue(Math.abs(a[i] - (double) in[i]) <= Math.abs(in[i]) * 0x1p-11, "F16 error at " + i);
            assertTrue(Math.abs(b[i] - (double) in[i]) <= Math.abs(in[i]) * 0x1p-8, "BF16 error at " + i);
        }
    }

    @Test
    void badArgumentsAreRejected() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment f32 = arena.allocate(4 * 10);
            MemorySegment f16 = arena.allocate(2 * 10);
            expect("negative count -1", () -> Conversions.f16ToF32(f16, 0, f32, 0, -1));
            expect("source range of 11 elements from index 0 is out of bounds for a segment of 10 F16 elements",
                    () -> Conversions.f16ToF32(f16, 0, f32, 0, 11));
            expect("destination range of 2 elements from index 9 is out of bounds for a segment of 10 F32 elements",
                    () -> Conversions.f16ToF32(f16, 0, f32, 9, 2));
            expect("source range of 1 elements from index -1", () -> Conversions.f32ToF16(f32, -1, f16, 0, 1));
            expect("destination range of 1 elements from index " + Long.MAX_VALUE,
                    () -> Conversions.f32ToBf16(f32, 0, f16, Long.MAX_VALUE, 1));
            expect("source range of " + Long.MAX_VALUE, () -> Conversions.bf16ToF32(f16, 1, f32, 0, Long.MAX_VALUE));
            expect("BF16", () -> Conversions.bf16ToF32(f16, 5, f32, 0, 6));
            expect("source segment is null", () -> Conversions.f32ToF16(null, 0, f16, 0, 0));
            expect("destination segment is null", () -> Conversions.f32ToF16(f32, 0, null, 0, 0));
            expect("destination segment is read-only", () -> Conversions.f32ToF16(f32, 0, f16.asReadOnly(), 0, 1));
            // A segment of 7 bytes holds one F32 element; the half element left over does not count.
            expect("segment of 1 F32 elements", () -> Conversions.f32ToF16(arena.allocate(7), 0, f16, 0, 2));
            // Overlapping ranges in one buffer (e.g. an in-place attempt) are refused.
            MemorySegment buf = arena.allocate(64);
            expect("overlap", () -> Conversions.f16ToF32(buf, 0, buf, 0, 4));
            expect("overlap", () -> Conversions.f32ToBf16(buf, 2, buf.asSlice(4), 0, 4));
        }
        // Boundaries that are fine: empty ranges at the very end, adjacent non-overlapping halves of one buffer.
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(48);
            Conversions.f16ToF32(buf, 24, buf, 0, 0);
            Conversions.f16ToF32(buf.asSlice(0, 16), 0, buf, 4, 8);
            Conversions.f32ToF16(buf, 0, buf.asSlice(0, 48), 16, 8);
        }
    }

    private static void expect(String fragment, Runnable call) {
        JlmException.InvalidArgument e = assertThrows(JlmException.InvalidArgument.class, call::run);
        assertTrue(e.getMessage().contains(fragment), () -> "message '" + e.getMessage() + "' should contain '" + fragment + "'");
        assertTrue(!e.getMessage().contains("\n"), "one-line message");
    }
}
