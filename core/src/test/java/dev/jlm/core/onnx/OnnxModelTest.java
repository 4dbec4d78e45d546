package dev.jlm.core.onnx;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import dev.jlm.core.DType;
import dev.jlm.core.JlmException;
import dev.jlm.core.Tensor;
import dev.jlm.core.testing.TestModels;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.FloatBuffer;
import java.nio.LongBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Loading, validating, viewing and saving real and hand-built ONNX models. */
class OnnxModelTest {
    private static final Class<?> PLAIN = java.lang.foreign.MemorySegment.ofAddress(0).getClass();
    static Path miniLm;
    static OnnxModel model;
    static ModelProto reference;

    @BeforeAll
    static void load() throws Exception {
        miniLm = TestModels.miniLm();
        model = OnnxModel.load(miniLm);
        reference = ModelProto.parseFrom(Files.readAllBytes(miniLm)); // plain heap parse, the oracle
    }

    @AfterAll
    static void close() {
        model.close();
    }

    @Test
    void readsTheGraphOfMiniLm() throws Exception {
        assertEquals(reference, model.proto());
        assertEquals(List.of("input_ids", "attention_mask", "token_type_ids"),
                model.inputs().stream().map(ValueInfo::name).toList());
        ValueInfo out = model.outputs().getFirst();
        assertEquals("last_hidden_state", out.name());
        assertEquals(DType.F32, out.dtype());
        assertEquals(384, out.shape()[2]);
        assertEquals(-1, out.shape()[0]);
        assertTrue(model.opsets().containsKey(""));
        assertEquals(Files.size(miniLm), model.totalFileBytes());
    }

    @Test
    void initializersAreViewsIntoTheMappedFileWithTheSameBytes() {
        int checked = 0;
        for (TensorProto t : reference.getGraph().getInitializerList()) {
            Tensor view = model.initializer(t.getName());
            assertArrayEquals(TensorData.dims(t), view.shape());
            byte[] expected = t.hasRawData() ? t.getRawData().toByteArray() : null;
            if (expected != null) {
                assertTrue(view.segment().isNative(), "raw_data must alias the mapping, not a heap copy");
                assertEquals(PLAIN, view.segment().getClass(),
                        "views are plain off-heap segments, the class the kernels' fast loops are compiled for");
                assertTrue(view.segment().isReadOnly(), "weights of a loaded model are read-only");
                assertArrayEquals(expected, view.segment().toArray(java.lang.foreign.ValueLayout.JAVA_BYTE), t.getName());
                checked++;
            }
        }
        assertTrue(checked > 50, "MiniLM keeps its ~100 weights in raw_data; checked " + checked);
        // The same view is returned each time, so repeated lookups allocate nothing.
        String first = reference.getGraph().getInitializer(0).getName();
        assertTrue(model.initializer(first) == model.initializer(first));
    }

    @Test
    void findsTheQuantizableWeights() {
        List<WeightUse> uses = model.constantWeights();
        long matmuls = uses.stream().filter(u -> u.opType().equals("MatMul")).count();
        long gathers = uses.stream().filter(u -> u.opType().equals("Gather")).count();
        // 6 layers x (Q, K, V, attention output, FFN in, FFN out)
        assertEquals(36, matmuls);
        assertTrue(gathers >= 1, "the word embedding table is a Gather on a constant");
        WeightUse w = uses.stream().filter(u -> u.opType().equals("MatMul")).findFirst().orElseThrow();
        assertEquals(384, w.rows());
    }

    @Test
    void viewsFailCleanlyAfterClose() throws Exception {
        OnnxModel m = OnnxModel.load(miniLm);
        Tensor t = m.initializer(m.initializerNames().iterator().next());
        m.close();
        m.close();
        assertThrows(IllegalStateException.class, () -> t.getFloat(new long[t.rank()]));
    }

    @Test
    void roundTripIsIdenticalAndOrtGivesBitIdenticalOutputs(@TempDir Path dir) throws Exception {
        Path saved = dir.resolve("copy.onnx");
        model.save(saved);
        try (OnnxModel again = OnnxModel.load(saved)) {
            assertEquals(model.proto(), again.proto());
            assertEquals(Files.size(miniLm), Files.size(saved));
            for (String name : model.initializerNames()) {
                assertEquals(model.initializer(name).segment().mismatch(again.initializer(name).segment()), -1L, name);
            }
        }
        assertArrayEquals(Files.readAllBytes(miniLm), Files.readAllBytes(saved), "an unedited save is byte-identical");
        assertArrayEquals(runMiniLm(miniLm), runMiniLm(saved));
    }

    @Test
    void externalDataRoundTrip(@TempDir Path dir) throws Exception {
        Path ext = dir.resolve("ext").resolve("model.onnx");
        Files.createDirectories(ext.getParent());
        model.save(ext, SaveOptions.externalData());
        Path data = ext.resolveSibling("model.onnx.data");
        assertTrue(Files.size(data) > 80_000_000L);
        assertTrue(Files.size(ext) < 1_000_000L, "weights left the model file");
        try (OnnxModel external = OnnxModel.load(ext)) {
            int moved = 0;
            for (String name : model.initializerNames()) {
                Tensor a = model.initializer(name);
                Tensor b = external.initializer(name);
                assertEquals(-1L, a.segment().mismatch(b.segment()), name);
                assertEquals(PLAIN, b.segment().getClass(), name);
                if (external.isExternal(name)) {
                    moved++;
                    assertEquals(0, b.segment().address() % 64, "external tensors are aligned in the data file");
                }
            }
            assertTrue(moved > 50);
            assertEquals(Files.size(ext) + Files.size(data), external.totalFileBytes());
            assertArrayEquals(runMiniLm(miniLm), runMiniLm(ext), "ONNX Runtime reads our external data");

            // From external back to inline, somewhere else: the bytes come from the external file.
            Path inline = dir.resolve("inline.onnx");
            external.save(inline);
            assertArrayEquals(Files.readAllBytes(miniLm), Files.readAllBytes(inline));
            // Never over an input, the data file included.
            assertThrows(JlmException.class, () -> external.save(ext));
            assertThrows(JlmException.class, () -> external.save(data));
        }
    }

    @Test
    void refusesToOverwriteItsInputAndLeavesNoTemporaryFiles(@TempDir Path dir) throws Exception {
        Path copy = dir.resolve("m.onnx");
        Files.copy(miniLm, copy);
        byte[] before = Files.readAllBytes(copy);
        try (OnnxModel m = OnnxModel.load(copy)) {
            JlmException e = assertThrows(JlmException.class, () -> m.save(copy));
            assertTrue(e.getMessage().contains("refusing to overwrite"), e.getMessage());
            assertThrows(JlmException.class, () -> m.save(dir.resolve("no-such-dir").resolve("x.onnx")));
            assertThrows(JlmException.class, () -> m.save(dir));
        }
        assertArrayEquals(before, Files.readAllBytes(copy));
        try (var files = Files.list(dir)) {
            assertEquals(List.of(copy), files.toList(), "no temporary or partial files remain");
        }
    }

    @Test
    void externalDataBeyondTwoGibibytesIsMapped(@TempDir Path dir) throws Exception {
        // A sparse data file: 2.5 GiB long, nearly no disk used. One tensor spans more than 2 GiB, another
        // starts past the 2 GiB mark: both need 64-bit offsets through a memory mapping.
        long big = 600_000_000L; // floats: 2.4 GB
        long farOffset = 2_600_000_000L;
        Path data = dir.resolve("big.bin");
        try (var raf = new java.io.RandomAccessFile(data.toFile(), "rw")) {
            raf.setLength(farOffset + 64);
            raf.seek((big - 1) * 4);
            raf.write(ByteBuffer.allocate(4).order(java.nio.ByteOrder.LITTLE_ENDIAN).putFloat(3.5f).array());
            raf.seek(farOffset);
            raf.write(ByteBuffer.allocate(16).order(java.nio.ByteOrder.LITTLE_ENDIAN).putFloat(1).putFloat(2).putFloat(3).putFloat(4).array());
        }
        ModelProto proto = Models.identity(List.of(
                Models.external("w_big", DType.F32, new long[]{big}, "big.bin", 0, big * 4),
                Models.external("w_far", DType.F32, new long[]{2, 2}, "big.bin", farOffset, 16)));
        Path file = dir.resolve("big.onnx");
        Files.write(file, proto.toByteArray());
        try (OnnxModel m = OnnxModel.load(file)) {
            Tensor w = m.initializer("w_big");
            assertEquals(big, w.size());
            assertEquals(3.5f, w.getFloat(big - 1));
            assertEquals(0f, w.getFloat(big / 2));
            Tensor far = m.initializer("w_far");
            assertArrayEquals(new float[]{1, 2, 3, 4}, far.toFloatArray());
            assertTrue(m.totalFileBytes() > farOffset);
        }
    }

    @Test
    void typedFieldsAndPackedTypesDecode() {
        TensorProto f = TensorProto.newBuilder().setName("f").setDataType(1).addDims(3)
                .addFloatData(1.5f).addFloatData(-2f).addFloatData(7f).build();
        TensorProto h = TensorProto.newBuilder().setName("h").setDataType(10).addDims(2)
                .addInt32Data(Float.floatToFloat16(0.5f)).addInt32Data(Float.floatToFloat16(-3f)).build();
        TensorProto i4 = TensorProto.newBuilder().setName("q").setDataType(22).addDims(3)
                .setRawData(com.google.protobuf.ByteString.copyFrom(new byte[]{(byte) 0x9F, 0x07})).build();
        TensorProto l = TensorProto.newBuilder().setName("l").setDataType(7).addDims(2)
                .addInt64Data(Long.MAX_VALUE).addInt64Data(-5).build();
        try (OnnxModel m = OnnxModel.of(Models.identity(List.of(f, h, i4, l)), "typed")) {
            assertArrayEquals(new float[]{1.5f, -2f, 7f}, m.initializer("f").toFloatArray());
            assertArrayEquals(new float[]{0.5f, -3f}, m.initializer("h").toFloatArray());
            // low nibble first: 0xF = -1, 0x9 = -7, 0x7 = 7
            assertArrayEquals(new float[]{-1f, -7f, 7f}, m.initializer("q").toFloatArray());
            assertEquals(-5.0, m.initializer("l").getDouble(1));
        }
    }

    static float[] runMiniLm(Path file) throws Exception {
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (OrtSession.SessionOptions opts = new OrtSession.SessionOptions()) {
            opts.setIntraOpNumThreads(1);
            try (OrtSession s = env.createSession(file.toString(), opts)) {
                Random rnd = new Random(7);
                long[] ids = new long[2 * 9];
                long[] mask = new long[ids.length];
                long[] types = new long[ids.length];
                for (int i = 0; i < ids.length; i++) {
                    ids[i] = 1000 + rnd.nextInt(20000);
                    mask[i] = i % 9 < 7 || i < 9 ? 1 : 0;
                }
                long[] shape = {2, 9};
                Map<String, OnnxTensor> in = new HashMap<>();
                in.put("input_ids", OnnxTensor.createTensor(env, LongBuffer.wrap(ids), shape));
                in.put("attention_mask", OnnxTensor.createTensor(env, LongBuffer.wrap(mask), shape));
                in.put("token_type_ids", OnnxTensor.createTensor(env, LongBuffer.wrap(types), shape));
                try (OrtSession.Result r = s.run(in)) {
                    FloatBuffer fb = ((OnnxTensor) r.get(0)).getFloatBuffer();
                    float[] out = new float[fb.remaining()];
                    fb.get(out);
                    assertNotEquals(0f, out[0]);
                    return out;
                } finally {
                    in.values().forEach(OnnxTensor::close);
                }
            }
        }
    }
}
