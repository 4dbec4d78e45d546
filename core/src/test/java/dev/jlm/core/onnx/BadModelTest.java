package dev.jlm.core.onnx;

import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import com.google.protobuf.ByteString;
import dev.jlm.core.DType;
import dev.jlm.core.JlmException;
import dev.jlm.core.testing.TestModels;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/** Every kind of bad model file gives one clean, one-line {@link JlmException.InvalidModel} naming the file. */
class BadModelTest {
    @TempDir
    Path dir;

    private JlmException.InvalidModel rejects(Path file, String expectedFragment) {
        JlmException.InvalidModel e = assertThrows(JlmException.InvalidModel.class, () -> OnnxModel.load(file));
        assertTrue(e.getMessage().startsWith(file.toString()), "message names the file: " + e.getMessage());
        assertTrue(e.getMessage().contains(expectedFragment), "expected '" + expectedFragment + "' in: " + e.getMessage());
        assertFalse(e.getMessage().contains("\n"), "one line: " + e.getMessage());
        return e;
    }

    private Path write(String name, byte[] bytes) throws Exception {
        Path p = dir.resolve(name);
        Files.write(p, bytes);
        return p;
    }

    private Path write(String name, ModelProto m) throws Exception {
        return write(name, m.toByteArray());
    }

    private static TensorProto raw(String name, DType type, long[] dims, int bytes) {
        TensorProto.Builder t = TensorProto.newBuilder().setName(name).setDataType(type.onnxCode())
                .setRawData(ByteString.copyFrom(new byte[bytes]));
        for (long d : dims) {
            t.addDims(d);
        }
        return t.build();
    }

    @Test
    void missingEmptyAndDirectoryPaths() throws Exception {
        rejects(dir.resolve("absent.onnx"), "no such file");
        rejects(write("empty.onnx", new byte[0]), "empty");
        rejects(dir, "is a directory");
    }

    @Test
    void randomBytes() throws Exception {
        Random rnd = new Random(1);
        for (int i = 0; i < 20; i++) {
            byte[] b = new byte[1 + rnd.nextInt(5000)];
            rnd.nextBytes(b);
            Path p = write("random" + i + ".onnx", b);
            JlmException.InvalidModel e = assertThrows(JlmException.InvalidModel.class, () -> OnnxModel.load(p));
            assertTrue(e.getMessage().startsWith(p.toString()));
        }
    }

    @Test
    void truncatedRealModel() throws Exception {
        byte[] full = Files.readAllBytes(TestModels.miniLmInt8());
        for (int cut : new int[]{1, 10, 100, 1000, full.length / 3, full.length / 2, full.length - 1}) {
            byte[] part = java.util.Arrays.copyOf(full, cut);
            Path p = write("cut" + cut + ".onnx", part);
            rejects(p, "");
        }
    }

    @Test
    void parsesButIsNoModel() throws Exception {
        rejects(write("nograph.onnx", ModelProto.newBuilder().setIrVersion(8).build()), "has no graph");
        ModelProto ok = Models.identity(List.of());
        rejects(write("noir.onnx", ok.toBuilder().clearIrVersion().build()), "no IR version");
        rejects(write("noopset.onnx", ok.toBuilder().clearOpsetImport().build()), "imports no opset");
    }

    @Test
    void danglingInputsAndOutputs() throws Exception {
        ModelProto ok = Models.identity(List.of());
        ModelProto dangling = ok.toBuilder().setGraph(ok.getGraph().toBuilder()
                .addNode(NodeProto.newBuilder().setOpType("Add").setName("add").addInput("y").addInput("ghost").addOutput("z"))).build();
        rejects(write("dangling.onnx", dangling), "reads 'ghost'");
        ModelProto noOut = ok.toBuilder().setGraph(ok.getGraph().toBuilder()
                .addOutput(Models.floatValue("nowhere", 1))).build();
        rejects(write("noout.onnx", noOut), "output 'nowhere'");
        ModelProto twice = ok.toBuilder().setGraph(ok.getGraph().toBuilder()
                .addNode(NodeProto.newBuilder().setOpType("Identity").addInput("x").addOutput("y"))).build();
        rejects(write("twice.onnx", twice), "more than one node");
    }

    @Test
    void initializerBytesNotMatchingDims() throws Exception {
        rejects(write("short.onnx", Models.identity(List.of(raw("w", DType.F32, new long[]{4, 4}, 60)))), "needs 64 bytes");
        rejects(write("typed.onnx", Models.identity(List.of(TensorProto.newBuilder().setName("w").setDataType(1)
                .addDims(3).addFloatData(1).build()))), "needs 3 values but holds 1");
        rejects(write("neg.onnx", Models.identity(List.of(raw("w", DType.F32, new long[]{-1}, 0)))), "negative dimension");
        rejects(write("overflow.onnx", Models.identity(List.of(raw("w", DType.F32, new long[]{1L << 40, 1L << 40}, 0)))), "overflows");
        rejects(write("dup.onnx", Models.identity(List.of(raw("w", DType.U8, new long[]{1}, 1), raw("w", DType.U8, new long[]{1}, 1)))), "two initializers");
    }

    @Test
    void unsupportedDataTypes() throws Exception {
        TensorProto undefined = TensorProto.newBuilder().setName("w").addDims(1).setRawData(ByteString.copyFrom(new byte[4])).build();
        rejects(write("undef.onnx", Models.identity(List.of(undefined))), "no data type");
        TensorProto unknown = undefined.toBuilder().setDataType(99).build();
        rejects(write("unknown.onnx", Models.identity(List.of(unknown))), "unknown data type 99");
        // A known type jlm cannot represent loads, and fails cleanly when asked for as a tensor.
        TensorProto complex = TensorProto.newBuilder().setName("c").setDataType(14).addDims(1)
                .setRawData(ByteString.copyFrom(new byte[8])).build();
        Path p = write("complex.onnx", Models.identity(List.of(complex)));
        try (OnnxModel m = OnnxModel.load(p)) {
            JlmException e = assertThrows(JlmException.Unsupported.class, () -> m.initializer("c"));
            assertTrue(e.getMessage().contains("COMPLEX64"), e.getMessage());
        }
    }

    @Test
    void externalDataFaults() throws Exception {
        Files.write(dir.resolve("w.bin"), new byte[100]);
        rejects(write("missing.onnx", Models.identity(List.of(Models.external("w", DType.F32, new long[]{4}, "nope.bin", 0, 16)))),
                "nope.bin is missing");
        rejects(write("tooshort.onnx", Models.identity(List.of(Models.external("w", DType.F32, new long[]{40}, "w.bin", 0, 160)))),
                "too short");
        rejects(write("offset.onnx", Models.identity(List.of(Models.external("w", DType.F32, new long[]{4}, "w.bin", 90, 16)))),
                "too short");
        rejects(write("length.onnx", Models.identity(List.of(Models.external("w", DType.F32, new long[]{4}, "w.bin", 0, 12)))),
                "length is 12");
        rejects(write("escape.onnx", Models.identity(List.of(Models.external("w", DType.F32, new long[]{4}, "../w.bin", 0, 16)))),
                "outside the model's directory");
        rejects(write("absolute.onnx", Models.identity(List.of(Models.external("w", DType.F32, new long[]{4}, dir.resolve("w.bin").toString(), 0, 16)))),
                "outside the model's directory");
        rejects(write("garbled.onnx", Models.identity(List.of(Models.external("w", DType.F32, new long[]{4}, "w.bin", 0, 16).toBuilder()
                .setExternalData(1, ai.onnx.proto.OnnxMl.StringStringEntryProto.newBuilder().setKey("offset").setValue("x1")).build()))),
                "malformed external data");
    }

    /**
     * Thousands of randomly damaged copies of a real model: flipped bytes (biased towards the graph structure,
     * since most of the file is weight bytes), overwritten runs and truncations. Loading may succeed (damage
     * inside weights) or fail, but only with {@link JlmException}; every tensor of a model that loads is readable.
     */
    @Test
    void corruptedCopiesOfARealModelFailCleanly() throws Exception {
        corruptionRun(3000, 11);
    }

    @Tag("slow")
    @Test
    void corruptionSoak() throws Exception {
        corruptionRun(50_000, 12);
    }

    private void corruptionRun(int copies, long seed) throws Exception {
        byte[] original = Files.readAllBytes(TestModels.miniLmInt8());
        int structureEnd = structureSpan(original);
        Random rnd = new Random(seed);
        int loaded = 0;
        int rejected = 0;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(original.length);
            MemorySegment.copy(MemorySegment.ofArray(original), 0, buf, 0, original.length);
            for (int i = 0; i < copies; i++) {
                int length = original.length;
                int[] positions = new int[1 + rnd.nextInt(8)];
                int kind = rnd.nextInt(4);
                for (int k = 0; k < positions.length; k++) {
                    // nodes come first in the file, graph inputs/outputs and opsets last, weights in between
                    positions[k] = switch (rnd.nextInt(4)) {
                        case 0 -> rnd.nextInt(length);
                        case 1 -> length - 1 - rnd.nextInt(Math.min(length, 4096));
                        default -> rnd.nextInt(structureEnd);
                    };
                    byte b = switch (kind) {
                        case 0 -> (byte) rnd.nextInt(256);
                        case 1 -> (byte) (original[positions[k]] ^ (1 << rnd.nextInt(8)));
                        default -> (byte) (rnd.nextBoolean() ? 0xff : 0x00);
                    };
                    buf.set(ValueLayout.JAVA_BYTE, positions[k], b);
                }
                if (kind == 3) {
                    length = rnd.nextInt(original.length);
                }
                try (OnnxModel m = OnnxModel.fromSegment(buf.asSlice(0, length), "copy" + i)) {
                    for (String name : m.initializerNames()) {
                        try {
                            m.initializer(name).size();
                        } catch (JlmException.Unsupported expected) {
                            // a flipped data type code may name a type jlm does not represent
                        }
                    }
                    m.constantWeights();
                    m.inputs();
                    m.outputs();
                    loaded++;
                } catch (JlmException e) {
                    assertTrue(e.getMessage().startsWith("copy" + i + ": "), e.getMessage());
                    assertFalse(e.getMessage().contains("\n"));
                    rejected++;
                } catch (Throwable t) {
                    fail("copy " + i + " (kind " + kind + ") broke the loader with " + t, t);
                }
                for (int pos : positions) {
                    buf.set(ValueLayout.JAVA_BYTE, pos, original[pos]);
                }
            }
        }
        assertEquals(copies, loaded + rejected);
        assertTrue(rejected > copies / 10, "the damage must reach the structure often enough: " + rejected + " rejected");
    }

    /** Where the graph structure ends: the offset past which almost everything is raw weight bytes. */
    private static int structureSpan(byte[] model) {
        return Math.min(model.length, 256 * 1024);
    }
}
