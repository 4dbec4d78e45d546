package dev.jlm.core.convert;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/** Shared helpers: run a kernel on heap arrays through unaligned off-heap copies, and poison outputs. */
final class TestSupport {
    /** A quiet NaN with a payload no conversion produces, so untouched F32 slots are recognizable. */
    static final int POISON_F32 = 0x7fc0_dead;
    /** An F16/BF16 pattern (a NaN in both) used the same way. */
    static final short POISON_16 = (short) 0x7fad;

    private TestSupport() {
    }

    static void poisonF32(MemorySegment seg) {
        for (long i = 0; i + 4 <= seg.byteSize(); i += 4) {
            seg.set(ScalarConversions.I32, i, POISON_F32);
        }
    }

    static void poison16(MemorySegment seg) {
        for (long i = 0; i + 2 <= seg.byteSize(); i += 2) {
            seg.set(ScalarConversions.I16, i, POISON_16);
        }
    }

    static short[] f32ToF16(ConversionKernels impl, float[] in) {
        return narrow(impl, in, false);
    }

    static short[] f32ToBf16(ConversionKernels impl, float[] in) {
        return narrow(impl, in, true);
    }

    private static short[] narrow(ConversionKernels impl, float[] in, boolean bf16) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment src = arena.allocate(4L * in.length + 1).asSlice(1);
            MemorySegment dst = arena.allocate(2L * in.length + 1).asSlice(1);
            for (int i = 0; i < in.length; i++) {
                src.set(ScalarConversions.I32, 4L * i, Float.floatToRawIntBits(in[i]));
            }
            poison16(dst);
            if (bf16) {
                impl.f32ToBf16(src, 0, dst, 0, in.length);
            } else {
                impl.f32ToF16(src, 0, dst, 0, in.length);
            }
            short[] out = new short[in.length];
            for (int i = 0; i < out.length; i++) {
                out[i] = dst.get(ScalarConversions.I16, 2L * i);
            }
            return out;
        }
    }
}
