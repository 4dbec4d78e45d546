package dev.jlm.simd.quant;

import dev.jlm.core.DType;
import dev.jlm.core.JlmException;
import dev.jlm.core.Tensor;
import org.junit.jupiter.api.Test;

import java.lang.foreign.ValueLayout;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The MatMulNBits byte layout, checked byte by byte. */
class QuantizedMatrixTest {
    private static int byteAt(Tensor t, long i) {
        return t.segment().get(ValueLayout.JAVA_BYTE, i) & 0xff;
    }

    @Test
    void fourBitCodesArePackedLowNibbleFirstAlongK() {
        // N=2, K=40 with block 32: two blocks per row, the second padded from 8 to 32 values.
        try (QuantizedMatrix q = QuantizedMatrix.allocate(4, 32, 2, 40, DType.F32, true)) {
            assertArrayEquals(new long[]{2, 2, 16}, q.data().shape());
            assertArrayEquals(new long[]{2, 2}, q.scales().shape());
            assertArrayEquals(new long[]{2, 1}, q.zeroPoints().shape(), "two 4-bit zero points per byte");
            q.setCode(1, 0, 0x3);
            q.setCode(1, 1, 0xA);
            q.setCode(1, 33, 0x7);
            assertEquals(0xA3, byteAt(q.data(), 32), "row 1, block 0, byte 0: k=0 low, k=1 high");
            assertEquals(0x70, byteAt(q.data(), 32 + 16), "row 1, block 1, byte 0: k=33 in the high nibble");
            q.setZeroPoint(1, 0, 5);
            q.setZeroPoint(1, 1, 12);
            assertEquals(0xC5, byteAt(q.zeroPoints(), 1));
            assertEquals(5, q.zeroPoint(1, 0));
            assertEquals(12, q.zeroPoint(1, 1));
            q.setScale(1, 0, 0.5f);
            q.setScale(1, 1, -2f);
            assertEquals((0x3 - 5) * 0.5f, q.dequantize(1, 0));
            assertEquals((0xA - 5) * 0.5f, q.dequantize(1, 1));
            assertEquals((0x7 - 12) * -2f, q.dequantize(1, 33));
            assertEquals(2 * 2 * 16 + 2 * 2 * 4 + 2, q.byteSize());
        }
    }

    @Test
    void eightBitCodesTakeOneBytePerValueAndSymmetricHasNoZeroPoints() {
        try (QuantizedMatrix q = QuantizedMatrix.allocate(8, 16, 3, 20, DType.F16, false)) {
            assertArrayEquals(new long[]{3, 2, 16}, q.data().shape());
            assertNull(q.zeroPoints());
            assertFalse(q.hasZeroPoints());
            assertEquals(128, q.zeroPoint(2, 1));
            q.setCode(2, 17, 200);
            assertEquals(200, byteAt(q.data(), 2 * 32 + 17));
            assertEquals(0.1f, q.setScale(2, 1, 0.1f), 1e-4f, "F16 scale rounds");
            assertEquals(Float.float16ToFloat(Float.floatToFloat16(0.1f)), q.scale(2, 1));
            assertEquals((200 - 128) * q.scale(2, 1), q.dequantize(2, 17));
            assertThrows(JlmException.InvalidArgument.class, () -> q.setZeroPoint(0, 0, 1));
        }
    }

    @Test
    void setBlockCodesPacksLikeSetCode() {
        Random rnd = new Random(11);
        for (int bits : new int[]{4, 8}) {
            try (QuantizedMatrix a = QuantizedMatrix.allocate(bits, 64, 3, 150, DType.F32, false);
                 QuantizedMatrix b = QuantizedMatrix.allocate(bits, 64, 3, 150, DType.F32, false)) {
                byte[] codes = new byte[64 * 3];
                for (int r = 0; r < 3; r++) {
                    for (int i = 0; i < codes.length; i++) {
                        codes[i] = (byte) rnd.nextInt(1 << bits);
                    }
                    for (int blk = 0; blk < 3; blk++) {
                        a.setBlockCodes(r, blk, codes, blk * 64);
                        for (int j = 0; j < 64; j++) {
                            b.setCode(r, blk * 64L + j, codes[blk * 64 + j] & 0xff);
                        }
                    }
                }
                assertTrue(a.data().segment().mismatch(b.data().segment()) < 0, bits + "-bit");
            }
        }
    }

    /**
     * The interleaved copy: unit u (64 code bytes) of row 4i + j at (4i) rowBytes + 256 u + 64 j, the rows after
     * the last group of four in the row layout; every code, scale and zero point unchanged; codes written into
     * the copy (element by element and block by block, blocks wider than a unit included) land where it reads them.
     */
    @Test
    void interleavedCopyPermutesUnitsOfFourRows() {
        Random rnd = new Random(5);
        for (int bits : new int[]{4, 8}) {
            for (int block : new int[]{16, 32, 256}) {
                long n = 9;   // two groups of four and one row in the row layout
                long k = bits == 4 ? 1024 : 512;
                try (QuantizedMatrix q = QTesting.random(rnd, bits, block, n, k, DType.BF16, true);
                     QuantizedMatrix qi = q.interleaved()) {
                    assertEquals(QuantizedMatrix.Layout.INTERLEAVED4, qi.layout());
                    assertEquals(QuantizedMatrix.Layout.ROWS, q.layout());
                    assertEquals(q.byteSize(), qi.byteSize());
                    long rowBytes = (long) q.kBlocks() * q.blobBytes();
                    assertEquals(512, rowBytes);
                    for (long r = 0; r < n; r++) {
                        for (long p = 0; p < rowBytes; p++) {
                            long at = r < 8 ? (r & ~3L) * rowBytes + 256 * (p / 64) + 64 * (r & 3) + p % 64 : r * rowBytes + p;
                            assertEquals(byteAt(q.data(), r * rowBytes + p), byteAt(qi.data(), at), "row " + r + " byte " + p);
                        }
                        for (int blk = 0; blk < q.kBlocks(); blk++) {
                            assertEquals(q.scale(r, blk), qi.scale(r, blk));
                            assertEquals(q.zeroPoint(r, blk), qi.zeroPoint(r, blk));
                        }
                        for (long c = 0; c < k; c += 7) {
                            assertEquals(q.code(r, c), qi.code(r, c));
                        }
                    }
                    try (Tensor a = q.dequantize(); Tensor b = qi.dequantize()) {
                        assertArrayEquals(a.toFloatArray(), b.toFloatArray());
                    }
                    // writes through the element and block setters read back the same in both layouts
                    byte[] codes = new byte[block];
                    for (int i = 0; i < block; i++) {
                        codes[i] = (byte) rnd.nextInt(1 << bits);
                    }
                    q.setBlockCodes(5, 1, codes, 0);
                    qi.setBlockCodes(5, 1, codes, 0);
                    q.setCode(2, k - 1, 3);
                    qi.setCode(2, k - 1, 3);
                    for (long r = 0; r < n; r++) {
                        for (long c = 0; c < k; c++) {
                            assertEquals(q.code(r, c), qi.code(r, c), "row " + r + " col " + c);
                        }
                    }
                    assertEquals(codes[block - 1] & 0xff, qi.code(5, 2L * block - 1));
                    assertTrue(qi.toString().contains("INTERLEAVED4"), qi.toString());
                }
            }
        }
        // rows that are not whole 64-byte units keep the row layout in the copy
        try (QuantizedMatrix q = QTesting.random(rnd, 4, 32, 8, 96, DType.F32, false);
             QuantizedMatrix qi = q.interleaved()) {
            assertEquals(QuantizedMatrix.Layout.ROWS, qi.layout());
            assertTrue(q.data().segment().mismatch(qi.data().segment()) < 0);
        }
    }

    @Test
    void wrapChecksSizesAndAcceptsFlatShapes() {
        try (Tensor d = Tensor.allocate(DType.U8, 4 * 2 * 8);
             Tensor s = Tensor.allocate(DType.F32, 8);
             Tensor z = Tensor.allocate(DType.U8, 4)) {
            QuantizedMatrix q = QuantizedMatrix.wrap(4, 16, 4, 30, d, s, z);
            assertEquals(2, q.kBlocks());
            q.close();
            assertTrue(d.segment().scope().isAlive(), "a wrapped matrix does not free its tensors");
            assertThrows(JlmException.InvalidArgument.class, () -> QuantizedMatrix.wrap(4, 16, 4, 40, d, s, z));
            assertThrows(JlmException.InvalidArgument.class, () -> QuantizedMatrix.wrap(4, 24, 4, 30, d, s, z));
            assertThrows(JlmException.InvalidArgument.class, () -> QuantizedMatrix.wrap(3, 16, 4, 30, d, s, z));
        }
    }
}
