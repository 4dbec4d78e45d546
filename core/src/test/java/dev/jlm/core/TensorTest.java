package dev.jlm.core;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class TensorTest {
    @Test
    void allocationIsAlignedZeroedAndFreedOnClose() {
        Tensor t = Tensor.allocate(DType.F32, 3, 5, 7);
        assertEquals(0, t.segment().address() % Tensor.ALIGNMENT);
        assertEquals(105, t.size());
        assertEquals(420, t.byteSize());
        assertArrayEquals(new long[]{35, 7, 1}, t.strides());
        assertTrue(t.isContiguous());
        assertTrue(t.ownsMemory());
        for (float v : t.toFloatArray()) {
            assertEquals(0f, v);
        }
        t.close();
        t.close();
        assertThrows(IllegalStateException.class, () -> t.getFloat(0, 0, 0));
    }

    @Test
    void packedTypesTakeHalfABytePerElement() {
        try (Tensor t = Tensor.allocate(DType.I4, 5)) {
            assertEquals(3, t.byteSize());
            long[] values = {-8, 7, -1, 0, 3};
            for (int i = 0; i < values.length; i++) {
                t.setDouble(values[i], i);
            }
            for (int i = 0; i < values.length; i++) {
                assertEquals(values[i], (long) t.getDouble(i));
            }
            assertEquals(0x7 << 4 | 0x8, t.segment().get(java.lang.foreign.ValueLayout.JAVA_BYTE, 0) & 0xff, "low nibble first");
        }
        try (Tensor u = Tensor.allocate(DType.U4, 2, 4)) {
            u.setDouble(15, 1, 3);
            assertEquals(15.0, u.getDouble(1, 3));
            assertEquals(0.0, u.getDouble(1, 2));
            assertThrows(JlmException.InvalidArgument.class, () -> u.slice(1, 1, 3), "odd nibble offset");
            assertEquals(15.0, u.slice(0, 1, 2).getDouble(0, 3));
        }
    }

    @Test
    void slicesAndReshapesAreViewsWithoutCopies() {
        Random rnd = new Random(3);
        float[] data = new float[6 * 10];
        for (int i = 0; i < data.length; i++) {
            data[i] = rnd.nextFloat() - 0.5f;
        }
        try (Tensor t = Tensor.of(data, 6, 10)) {
            Tensor cols = t.slice(1, 3, 8);
            assertFalse(cols.isContiguous());
            assertArrayEquals(new long[]{6, 5}, cols.shape());
            for (int r = 0; r < 6; r++) {
                for (int c = 0; c < 5; c++) {
                    assertEquals(data[r * 10 + c + 3], cols.getFloat(r, c));
                }
            }
            cols.setFloat(42f, 2, 1);
            assertEquals(42f, t.getFloat(2, 4), "a view writes through");
            try (Tensor copy = cols.copy()) {
                assertTrue(copy.isContiguous());
                assertArrayEquals(cols.toFloatArray(), copy.toFloatArray());
            }
            Tensor rows = t.slice(0, 2, 4);
            assertTrue(rows.isContiguous());
            assertEquals(20, rows.segment().byteSize() / 4);
            Tensor flat = rows.reshape(-1);
            assertEquals(20, flat.dim(0));
            assertEquals(t.getFloat(3, 9), flat.getFloat(19));
            Tensor row = t.get(5);
            assertEquals(1, row.rank());
            assertEquals(data[50], row.getFloat(0));
            assertThrows(JlmException.InvalidArgument.class, () -> cols.reshape(30));
            assertThrows(JlmException.InvalidArgument.class, () -> t.reshape(7, -1));
            assertThrows(JlmException.InvalidArgument.class, () -> t.slice(0, 4, 7));
            assertThrows(JlmException.InvalidArgument.class, () -> t.getFloat(6, 0));
        }
    }

    @Test
    void halfPrecisionElementsRoundToNearestEven() {
        try (Tensor h = Tensor.allocate(DType.F16, 3); Tensor b = Tensor.allocate(DType.BF16, 3)) {
            float x = 1.0f + 1.0f / 2048; // exactly halfway between two F16 values: ties to even gives 1.0
            h.setFloat(x, 0);
            assertEquals(1.0f, h.getFloat(0));
            h.setFloat(65504f, 1);
            assertEquals(65504f, h.getFloat(1));
            float y = 1.0f + 1.0f / 256; // halfway between two BF16 values
            b.setFloat(y, 0);
            assertEquals(1.0f, b.getFloat(0));
            b.setFloat(Float.NaN, 1);
            assertTrue(Float.isNaN(b.getFloat(1)));
        }
    }

    @Test
    void wrapChecksTheSizeAndNeverOwns() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(24);
            Tensor t = Tensor.wrap(seg, DType.F64, 3);
            assertFalse(t.ownsMemory());
            t.close();
            t.setDouble(2.5, 1);
            assertEquals(2.5, t.getDouble(1));
            assertThrows(JlmException.InvalidArgument.class, () -> Tensor.wrap(seg, DType.F32, 5));
            Tensor inArena = Tensor.allocate(arena, DType.I32, 4);
            assertEquals(0, inArena.segment().address() % Tensor.ALIGNMENT);
        }
        assertThrows(JlmException.InvalidArgument.class, () -> Tensor.allocate(DType.F32, 2, -1));
        assertThrows(JlmException.InvalidArgument.class, () -> Tensor.allocate(DType.F32, Long.MAX_VALUE, 4));
        assertThrows(JlmException.InvalidArgument.class, () -> Tensor.of(new float[5], 2, 2));
    }

    @Test
    void unsignedAndSignedIntegersReadBack() {
        try (Tensor t = Tensor.allocate(DType.U8, 2); Tensor s = Tensor.allocate(DType.I8, 2);
             Tensor u64 = Tensor.allocate(DType.U64, 1)) {
            t.setDouble(250, 0);
            s.setDouble(-100, 0);
            assertEquals(250.0, t.getDouble(0));
            assertEquals(-100.0, s.getDouble(0));
            u64.segment().set(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, 0, -1L);
            assertEquals(18446744073709551615.0, u64.getDouble(0));
        }
    }

    @Test
    void exceptionMessagesStayOnOneLine() {
        JlmException e = new JlmException("tensor 'a\nb\tc' is bad");
        assertFalse(e.getMessage().contains("\n"));
        assertTrue(e.getMessage().contains("a\\u000ab"), e.getMessage());
    }
}
