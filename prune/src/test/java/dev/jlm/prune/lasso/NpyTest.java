package dev.jlm.prune.lasso;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlm.core.DType;
import dev.jlm.core.JlmException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class NpyTest {
    @TempDir
    Path dir;

    /** A .npy file made byte by byte, as NumPy writes it (version 1, header padded to 64 bytes). */
    private Path npy(String name, String descr, boolean fortran, String shape, byte[] body) throws IOException {
        String dict = "{'descr': '" + descr + "', 'fortran_order': " + (fortran ? "True" : "False") + ", 'shape': " + shape + ", }";
        int pad = (64 - (10 + dict.length() + 1) % 64) % 64;
        String header = dict + " ".repeat(pad) + "\n";
        ByteBuffer b = ByteBuffer.allocate(10 + header.length() + body.length).order(ByteOrder.LITTLE_ENDIAN);
        b.put(new byte[] {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0}).putShort((short) header.length());
        b.put(header.getBytes(StandardCharsets.ISO_8859_1)).put(body);
        Path f = dir.resolve(name);
        Files.write(f, b.array());
        return f;
    }

    private static byte[] f32(float... v) {
        ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
        for (float x : v) {
            b.putFloat(x);
        }
        return b.array();
    }

    @Test
    void roundTripF64() {
        Random rnd = new Random(1);
        for (long[] shape : new long[][] {{7}, {3, 5}, {2, 3, 4}, {1, 1}}) {
            int count = 1;
            for (long d : shape) {
                count *= (int) d;
            }
            double[] v = new double[count];
            for (int i = 0; i < count; i++) {
                v[i] = rnd.nextGaussian();
            }
            Path f = dir.resolve("a" + shape.length + ".npy");
            Npy.writeF64(f, v, shape);
            try (Npy.NpyArray a = Npy.read(f)) {
                assertArrayEquals(shape, a.shape());
                assertEquals(DType.F64, a.data().dtype());
                assertArrayEquals(v, a.toDoubleArray());
            }
        }
    }

    @Test
    void readsFloat32InBothOrders() throws IOException {
        // Logical [[1, 2, 3], [4, 5, 6]]: C order stores rows, Fortran order stores columns.
        Path c = npy("c.npy", "<f4", false, "(2, 3)", f32(1, 2, 3, 4, 5, 6));
        Path f = npy("f.npy", "<f4", true, "(2, 3)", f32(1, 4, 2, 5, 3, 6));
        try (Npy.NpyArray a = Npy.read(c); Npy.NpyArray b = Npy.read(f)) {
            assertArrayEquals(new double[] {1, 2, 3, 4, 5, 6}, a.toDoubleArray());
            assertArrayEquals(new double[] {1, 2, 3, 4, 5, 6}, b.toDoubleArray());
            assertTrue(b.fortranOrder());
            assertArrayEquals(new long[] {3, 2}, b.data().shape());
            assertEquals(6.0, b.get(1, 2));
        }
    }

    @Test
    void readsScikitLearnFixtureInFortranOrder() {
        try (Npy.NpyArray x = Fixtures.read("correlated_X")) {
            assertTrue(x.fortranOrder());
            assertEquals(DType.F32, x.data().dtype());
            assertArrayEquals(new long[] {50, 120}, x.shape());
        }
    }

    @Test
    void refusesWhatItCannotRead() throws IOException {
        byte[] eight = new byte[8];
        assertMessage(JlmException.Unsupported.class, "big-endian", npy("be.npy", ">f8", false, "(1,)", eight));
        assertMessage(JlmException.Unsupported.class, "'|O'", npy("obj.npy", "|O", false, "(1,)", eight));
        assertMessage(JlmException.Unsupported.class, "'|b1'", npy("bool.npy", "|b1", false, "(8,)", eight));
        assertMessage(JlmException.Unsupported.class, "'<c16'", npy("cplx.npy", "<c16", false, "(1,)", new byte[16]));
        assertMessage(JlmException.InvalidModel.class, "truncated", npy("short.npy", "<f8", false, "(2,)", eight));
        assertMessage(JlmException.InvalidModel.class, "needs", npy("long.npy", "<f8", false, "(1,)", new byte[16]));
        Path bad = dir.resolve("magic.npy");
        Files.write(bad, "not a numpy file at all".getBytes(StandardCharsets.US_ASCII));
        assertMessage(JlmException.InvalidModel.class, "bad magic", bad);
        Path empty = dir.resolve("empty.npy");
        Files.write(empty, new byte[0]);
        assertMessage(JlmException.InvalidModel.class, "too short", empty);
        assertMessage(JlmException.Io.class, "no such file", dir.resolve("missing.npy"));
        assertMessage(JlmException.InvalidModel.class, "malformed header", npy("hdr.npy", "<f8", false, "[1]", eight));
    }

    private static void assertMessage(Class<? extends JlmException> type, String part, Path file) {
        JlmException e = assertThrows(type, () -> Npy.read(file).close());
        assertTrue(e.getMessage().contains(part) && e.getMessage().contains(file.getFileName().toString()),
                "message should name the file and say '" + part + "': " + e.getMessage());
        assertTrue(!e.getMessage().contains("\n"), "one line: " + e.getMessage());
    }
}
