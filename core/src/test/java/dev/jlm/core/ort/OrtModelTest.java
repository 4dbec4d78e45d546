package dev.jlm.core.ort;

import ai.onnx.proto.OnnxMl;
import ai.onnx.proto.OnnxMl.GraphProto;
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
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;

import static dev.jlm.core.ort.TinyModels.in;
import static dev.jlm.core.ort.TinyModels.node;
import static dev.jlm.core.ort.TinyModels.value;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class OrtModelTest {
    private static OrtModel miniLm;

    @BeforeAll
    static void openMiniLm() {
        miniLm = OrtModel.open(TestModels.miniLm());
    }

    @AfterAll
    static void closeMiniLm() {
        miniLm.close();
    }

    @Test
    void miniLmSignatures() {
        assertEquals(List.of("input_ids", "attention_mask", "token_type_ids"),
                miniLm.inputs().stream().map(ValueSignature::name).toList());
        for (ValueSignature s : miniLm.inputs()) {
            assertEquals(DType.I64, s.dtype());
            assertArrayEquals(new long[] {-1, -1}, s.shape());
            assertEquals(List.of("batch_size", "sequence_length"), s.dimNames());
        }
        ValueSignature out = miniLm.output("last_hidden_state");
        assertEquals(1, miniLm.outputs().size());
        assertEquals(DType.F32, out.dtype());
        assertArrayEquals(new long[] {-1, -1, 384}, out.shape());
        assertEquals(List.of("batch_size", "sequence_length", ""), out.dimNames());
        assertEquals("F32[batch_size, sequence_length, 384]", out.describe());
        assertEquals(Device.CPU, miniLm.device());
    }

    @Test
    void miniLmMatchesOnnxRuntimeDirectlyOnBothOutputPaths() throws Exception {
        Random r = new Random(11);
        long[][][] arrays = Support.miniLmArrays(r, 3, 13);
        float[] expected;
        try (OrtSession direct = OrtEnvironment.getEnvironment().createSession(TestModels.miniLm().toString(), new OrtSession.SessionOptions())) {
            expected = Support.miniLmDirect(direct, arrays);
        }
        Support.assertInformative(expected, "direct ORT");
        Map<String, Tensor> inputs = Support.miniLmInputs(arrays);
        long pinnedBefore = miniLm.pinnedOutputCount();
        try (Outputs pinned = miniLm.run(inputs);
             Outputs copied = miniLm.run(inputs, null, false)) {
            // the output's symbolic dims are named like the inputs', so it was written in place
            assertEquals(pinnedBefore + 1, miniLm.pinnedOutputCount());
            Tensor t = pinned.get("last_hidden_state");
            assertArrayEquals(new long[] {3, 13, 384}, t.shape());
            assertArrayEquals(expected, t.toFloatArray(), "pinned path vs ONNX Runtime's API");
            Support.assertSameTensor(t, copied.get("last_hidden_state"), "pinned vs copied");
        } finally {
            Support.closeAll(inputs);
        }
    }

    @Test
    void matMulAddAgreesWithDoublePrecisionReference() {
        // odd sizes on purpose: k = 7, n = 13, batch = 5
        int k = 7;
        int n = 13;
        int batch = 5;
        Random r = new Random(3);
        float[] w = new float[k * n];
        for (int i = 0; i < w.length; i++) {
            w[i] = (float) r.nextGaussian();
        }
        try (OrtModel m = OrtModel.open(TinyModels.matMulAdd(w, k, n).toByteArray(), "matmul-add", SessionConfig.defaults());
             Tensor x = Support.randomF32(r, batch, k);
             Tensor x2 = Support.randomF32(r, batch, n)) {
            for (boolean pin : new boolean[] {true, false}) {
                try (Outputs out = m.run(Map.of("X", x, "X2", x2), null, pin)) {
                    assertEquals(List.of("Y", "Z"), List.copyOf(out.names()));
                    Tensor y = out.get("Y");
                    Tensor z = out.get("Z");
                    for (int b = 0; b < batch; b++) {
                        for (int j = 0; j < n; j++) {
                            double ref = 0;
                            double mag = 0;
                            for (int i = 0; i < k; i++) {
                                ref += (double) x.getFloat(b, i) * w[i * n + j];
                                mag += Math.abs((double) x.getFloat(b, i) * w[i * n + j]);
                            }
                            // float32 accumulation of k terms: error below k * 2^-24 * sum|terms|, bounded here by 1e-5 relative
                            assertEquals(ref, y.getDouble(b, j), 1e-5 * mag + 1e-30, "Y[" + b + "," + j + "]");
                            double refZ = ref + x2.getFloat(b, j);
                            assertEquals(refZ, z.getDouble(b, j), 1e-5 * (mag + Math.abs(x2.getFloat(b, j))) + 1e-30, "Z");
                        }
                    }
                    Support.assertInformative(y.toFloatArray(), "Y");
                }
            }
            assertEquals(2, m.pinnedOutputCount(), "both outputs of the first run written in place");
            try (Outputs only = m.run(Map.of("X", x, "X2", x2), Set.of("Y"))) {
                assertEquals(Set.of("Y"), only.names());
                assertFalse(only.contains("Z"));
            }
        }
    }

    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"F32", "F16", "BF16", "F64", "I8", "U8", "I16", "I32", "I64", "BOOL"})
    void everyDtypeRoundTripsThroughIdentity(DType dtype) {
        Random r = new Random(dtype.ordinal());
        try (OrtModel m = OrtModel.open(TinyModels.identity(dtype), "identity-" + dtype, SessionConfig.defaults())) {
            assertEquals(dtype, m.input("A").dtype());
            for (long[] shape : new long[][] {{3, 5}, {1, 1}, {1, 17}, {0, 4}}) {
                try (Tensor a = Support.randomBits(r, dtype, shape)) {
                    for (boolean pin : new boolean[] {true, false}) {
                        try (Outputs out = m.run(Map.of("A", a), null, pin)) {
                            Support.assertSameTensor(a, out.get("B"), dtype + " " + java.util.Arrays.toString(shape) + " pin=" + pin);
                        }
                    }
                }
            }
            assertTrue(m.pinnedOutputCount() >= 4);
        }
    }

    @Test
    void unsignedWideTypesComeBackThroughTheCopyPathButCannotBeInputs() {
        // Cast I32 -> U16/U32/U64: ONNX Runtime's Java API has no element type for them, so they are read back by copy
        for (DType out : new DType[] {DType.U16, DType.U32, DType.U64}) {
            byte[] model = TinyModels.model(GraphProto.newBuilder()
                    .addInput(value("A", DType.I32, "n"))
                    .addNode(OnnxMl.NodeProto.newBuilder().setOpType("Cast").addInput("A").addOutput("B")
                            .addAttribute(OnnxMl.AttributeProto.newBuilder().setName("to").setType(OnnxMl.AttributeProto.AttributeType.INT).setI(out.onnxCode())))
                    .addOutput(value("B", out, "n"))).toByteArray();
            Random r = new Random(5);
            try (OrtModel m = OrtModel.open(model, "cast", SessionConfig.defaults());
                 Tensor a = Tensor.allocate(DType.I32, 11)) {
                for (int i = 0; i < 11; i++) {
                    a.setDouble(r.nextInt(60000), i);
                }
                try (Outputs o = m.run(Map.of("A", a))) {
                    Tensor b = o.get("B");
                    assertEquals(out, b.dtype());
                    for (int i = 0; i < 11; i++) {
                        assertEquals(a.getDouble(i), b.getDouble(i));
                    }
                }
            }
        }
        try (OrtModel m = OrtModel.open(TinyModels.identity(DType.U16), "identity-u16", SessionConfig.defaults());
             Tensor a = Tensor.allocate(DType.U16, 2, 2)) {
            JlmException e = assertThrows(JlmException.Unsupported.class, () -> m.run(Map.of("A", a)));
            assertTrue(e.getMessage().contains("input 'A' has type U16"), e.getMessage());
        }
    }

    @Test
    void stridedInputIsMadeContiguous() {
        Random r = new Random(8);
        try (OrtModel m = OrtModel.open(TinyModels.identity(DType.F32), "identity", SessionConfig.defaults());
             Tensor big = Support.randomF32(r, 4, 10)) {
            Tensor view = big.slice(1, 2, 7);
            assertFalse(view.isContiguous());
            try (Outputs o = m.run(Map.of("A", view))) {
                assertArrayEquals(view.toFloatArray(), o.get("B").toFloatArray());
                assertArrayEquals(new long[] {4, 5}, o.get("B").shape());
            }
        }
    }

    @Test
    void outputsWhoseShapeCannotBeKnownAreCopied() {
        // Y = Concat(X, X) along axis 0 with an output dim that no input names: nothing to pin
        byte[] model = TinyModels.model(GraphProto.newBuilder()
                .addInput(value("X", DType.F32, "n", 3))
                .addNode(OnnxMl.NodeProto.newBuilder().setOpType("Concat").addInput("X").addInput("X").addOutput("Y")
                        .addAttribute(OnnxMl.AttributeProto.newBuilder().setName("axis").setType(OnnxMl.AttributeProto.AttributeType.INT).setI(0)))
                .addOutput(value("Y", DType.F32, "twice_n", 3))).toByteArray();
        try (OrtModel m = OrtModel.open(model, "concat", SessionConfig.defaults());
             Tensor x = Support.randomF32(new Random(2), 5, 3);
             Outputs o = m.run(Map.of("X", x))) {
            assertEquals(0, m.pinnedOutputCount());
            Tensor y = o.get("Y");
            assertArrayEquals(new long[] {10, 3}, y.shape());
            float[] xs = x.toFloatArray();
            float[] ys = y.toFloatArray();
            for (int i = 0; i < ys.length; i++) {
                assertEquals(xs[i % xs.length], ys[i]);
            }
        }
    }

    @Test
    void aModelThatLiesAboutItsOutputShapeFallsBackToCopying() {
        // declares Y as [n, 3] but computes [2n, 3]: the pinned run is rejected, the copy path takes over for good
        byte[] model = TinyModels.model(GraphProto.newBuilder()
                .addInput(value("X", DType.F32, "n", 3))
                .addNode(OnnxMl.NodeProto.newBuilder().setOpType("Concat").addInput("X").addInput("X").addOutput("Y")
                        .addAttribute(OnnxMl.AttributeProto.newBuilder().setName("axis").setType(OnnxMl.AttributeProto.AttributeType.INT).setI(0)))
                .addOutput(value("Y", DType.F32, "n", 3))).toByteArray();
        List<String> warnings = new ArrayList<>();
        try (OrtModel m = OrtModel.open(model, "liar", SessionConfig.defaults().withWarnings(warnings::add));
             Tensor x = Support.randomF32(new Random(2), 4, 3)) {
            for (int run = 0; run < 2; run++) {
                try (Outputs o = m.run(Map.of("X", x))) {
                    assertArrayEquals(new long[] {8, 3}, o.get("Y").shape());
                    float[] xs = x.toFloatArray();
                    float[] ys = o.get("Y").toFloatArray();
                    for (int i = 0; i < ys.length; i++) {
                        assertEquals(xs[i % xs.length], ys[i]);
                    }
                }
            }
            assertEquals(1, warnings.size(), warnings.toString());
            assertTrue(warnings.get(0).contains("liar"), warnings.get(0));
            assertEquals(0, m.pinnedOutputCount());
        }
    }

    @Test
    void aGraphInputThatIsAlsoAnOutputComesBackIntact() {
        // ONNX Runtime hands such an output back as the input value and ignores a buffer given for it,
        // so it must not be written in place; the other output still is.
        byte[] model = TinyModels.model(GraphProto.newBuilder()
                .addInput(value("X", DType.F32, "n", 3))
                .addNode(node("Neg", in("X"), "Y"))
                .addOutput(value("Y", DType.F32, "n", 3))
                .addOutput(value("X", DType.F32, "n", 3))).toByteArray();
        try (OrtModel m = OrtModel.open(model, "passthrough", SessionConfig.defaults());
             Tensor x = Support.randomF32(new Random(12), 4, 3);
             Outputs o = m.run(Map.of("X", x))) {
            Support.assertSameTensor(x, o.get("X"), "X");
            float[] xs = x.toFloatArray();
            float[] ys = o.get("Y").toFloatArray();
            for (int i = 0; i < xs.length; i++) {
                assertEquals(-xs[i], ys[i]);
            }
            assertEquals(1, m.pinnedOutputCount());
        }
    }

    @Test
    void badInputsAreRejectedUpFrontWithOneLineMessages() {
        float[] w = new float[4 * 3];
        try (OrtModel m = OrtModel.open(TinyModels.matMulAdd(w, 4, 3).toByteArray(), "mm", SessionConfig.defaults());
             Tensor x = Tensor.allocate(DType.F32, 2, 4);
             Tensor x2 = Tensor.allocate(DType.F32, 2, 3);
             Tensor x2b = Tensor.allocate(DType.F32, 5, 3);
             Tensor f64 = Tensor.allocate(DType.F64, 2, 4);
             Tensor wrongDim = Tensor.allocate(DType.F32, 2, 5);
             Tensor rank3 = Tensor.allocate(DType.F32, 1, 2, 4)) {
            assertBad(() -> m.run(Map.of("X", x, "X2", x2, "bogus", x)), "unknown input 'bogus'");
            assertBad(() -> m.run(Map.of("X", x)), "missing input 'X2' (F32[batch, 3])");
            assertBad(() -> m.run(Map.of("X", f64, "X2", x2)), "input 'X' expects F32[batch, 4] but got F64[2, 4]");
            assertBad(() -> m.run(Map.of("X", wrongDim, "X2", x2)), "input 'X' expects F32[batch, 4] but got F32[2, 5]");
            assertBad(() -> m.run(Map.of("X", rank3, "X2", x2)), "input 'X' expects F32[batch, 4] but got F32[1, 2, 4]");
            assertBad(() -> m.run(Map.of("X", x, "X2", x2b)), "batch = 5 but input 'X' has batch = 2");
            assertBad(() -> m.run(Map.of("X", x, "X2", x2), Set.of("nope")), "unknown output 'nope'");
            assertBad(() -> m.run(Map.of("X", x, "X2", x2), Set.of()), "no outputs requested");
            assertBad(() -> m.run(null), "inputs must not be null");
            Tensor closed = Tensor.allocate(DType.F32, 2, 4);
            closed.close();
            assertBad(() -> m.run(Map.of("X", closed, "X2", x2)), "input 'X' is a closed tensor");
        }
    }

    private static void assertBad(org.junit.jupiter.api.function.Executable call, String expected) {
        JlmException e = assertThrows(JlmException.InvalidArgument.class, call);
        assertTrue(e.getMessage().contains(expected), "message '" + e.getMessage() + "' should contain '" + expected + "'");
        assertTrue(e.getMessage().startsWith("model "), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), "one line");
    }

    @Test
    void onnxRuntimeFailuresBecomeOneLineBackendErrors() {
        long[][][] arrays = Support.miniLmArrays(new Random(1), 1, 5);
        arrays[0][0][2] = 1_000_000_000L; // far outside the vocabulary: Gather fails inside ONNX Runtime
        Map<String, Tensor> inputs = Support.miniLmInputs(arrays);
        try {
            JlmException e = assertThrows(JlmException.Backend.class, () -> miniLm.run(inputs));
            assertTrue(e.getMessage().startsWith("model " + TestModels.miniLm() + ": run failed in ONNX Runtime: "), e.getMessage());
            assertFalse(e.getMessage().contains("\n"));
            assertTrue(e.getCause() instanceof ai.onnxruntime.OrtException);
        } finally {
            Support.closeAll(inputs);
        }
        // the model keeps working after a failed run
        Map<String, Tensor> good = Support.miniLmInputs(Support.miniLmArrays(new Random(1), 1, 5));
        try (Outputs o = miniLm.run(good)) {
            Support.assertInformative(o.get("last_hidden_state").toFloatArray(), "after failure");
        } finally {
            Support.closeAll(good);
        }
    }

    @Test
    void openingErrors(@TempDir Path dir) throws Exception {
        JlmException missing = assertThrows(JlmException.Io.class, () -> OrtModel.open(dir.resolve("absent.onnx")));
        assertTrue(missing.getMessage().contains("absent.onnx"), missing.getMessage());
        Path junk = dir.resolve("junk.onnx");
        Files.write(junk, new byte[] {1, 2, 3, 4, 5, 6, 7});
        JlmException bad = assertThrows(JlmException.Backend.class, () -> OrtModel.open(junk));
        assertTrue(bad.getMessage().startsWith("model " + junk + ": loading failed in ONNX Runtime: "), bad.getMessage());
        assertFalse(bad.getMessage().contains("\n"));
        JlmException badBytes = assertThrows(JlmException.Backend.class,
                () -> OrtModel.open(new byte[] {9, 9, 9}, "junk-bytes", SessionConfig.defaults()));
        assertTrue(badBytes.getMessage().startsWith("model junk-bytes: loading"), badBytes.getMessage());
        // a string input is outside jlm's dtypes: refused at open, naming the input
        byte[] strings = TinyModels.model(GraphProto.newBuilder()
                .addInput(OnnxMl.ValueInfoProto.newBuilder().setName("S").setType(OnnxMl.TypeProto.newBuilder()
                        .setTensorType(OnnxMl.TypeProto.Tensor.newBuilder().setElemType(8)
                                .setShape(OnnxMl.TensorShapeProto.newBuilder().addDim(OnnxMl.TensorShapeProto.Dimension.newBuilder().setDimValue(2))))))
                .addNode(node("Identity", in("S"), "T"))
                .addOutput(OnnxMl.ValueInfoProto.newBuilder().setName("T"))).toByteArray();
        JlmException str = assertThrows(JlmException.Unsupported.class, () -> OrtModel.open(strings, "strings", SessionConfig.defaults()));
        assertTrue(str.getMessage().contains("input 'S' has ONNX type STRING"), str.getMessage());
    }

    @Test
    void closedModelAndOutputs() {
        OrtModel m = OrtModel.open(TinyModels.identity(DType.F32), "identity", SessionConfig.defaults());
        try (Tensor a = Support.randomF32(new Random(4), 2, 3)) {
            Outputs o = m.run(Map.of("A", a));
            Tensor kept = o.detach("B");
            assertThrows(JlmException.InvalidArgument.class, () -> o.get("B"));
            Outputs o2 = m.run(Map.of("A", a));
            Tensor held = o2.get("B");
            o.close();
            o2.close();
            assertFalse(held.segment().scope().isAlive(), "closing Outputs frees its tensors");
            assertThrows(IllegalStateException.class, () -> o2.get("B"));
            assertArrayEquals(a.toFloatArray(), kept.toFloatArray(), "a detached tensor outlives its Outputs");
            kept.close();
            m.close();
            m.close();
            assertTrue(m.isClosed());
            assertThrows(IllegalStateException.class, () -> m.run(Map.of("A", a)));
        }
    }

    @Test
    void sessionConfigIsAppliedAndImmutable(@TempDir Path dir) {
        SessionConfig base = SessionConfig.defaults();
        Path optimized = dir.resolve("optimized.onnx");
        SessionConfig c = base.withIntraOpThreads(1).withInterOpThreads(1).withOptimization(GraphOptimization.BASIC)
                .withOptimizedModelPath(optimized).withConfigEntry("session.use_env_allocators", "0");
        assertEquals(0, base.intraOpThreads());
        assertEquals(GraphOptimization.ALL, base.optimization());
        assertTrue(base.configEntries().isEmpty());
        assertEquals(Map.of("session.use_env_allocators", "0"), c.configEntries());
        assertThrows(JlmException.InvalidArgument.class, () -> base.withIntraOpThreads(-1));
        assertThrows(JlmException.InvalidArgument.class, () -> base.withConfigEntry(" ", "x"));
        assertThrows(UnsupportedOperationException.class, () -> c.configEntries().put("a", "b"));
        assertEquals(c, base.withIntraOpThreads(1).withInterOpThreads(1).withOptimization(GraphOptimization.BASIC)
                .withOptimizedModelPath(optimized).withConfigEntry("session.use_env_allocators", "0").withWarnings(s -> { }));

        Random r = new Random(21);
        float[] w = new float[6 * 5];
        for (int i = 0; i < w.length; i++) {
            w[i] = (float) r.nextGaussian();
        }
        byte[] model = TinyModels.matMulAdd(w, 6, 5).toByteArray();
        try (OrtModel plain = OrtModel.open(model, "plain", base);
             OrtModel tuned = OrtModel.open(model, "tuned", c);
             Tensor x = Support.randomF32(r, 3, 6);
             Tensor x2 = Support.randomF32(r, 3, 5);
             Outputs a = plain.run(Map.of("X", x, "X2", x2));
             Outputs b = tuned.run(Map.of("X", x, "X2", x2))) {
            assertTrue(Files.isRegularFile(optimized), "ONNX Runtime wrote the optimized model");
            assertEquals(c, tuned.config());
            float[] za = a.get("Z").toFloatArray();
            float[] zb = b.get("Z").toFloatArray();
            for (int i = 0; i < za.length; i++) {
                assertEquals(za[i], zb[i], 1e-5 * (1 + Math.abs(za[i])));
            }
        }
    }

    @Test
    void inputsAreReadInPlaceFromOffHeapMemory() throws Exception {
        // The same tiny model run through ONNX Runtime directly from Java arrays must agree bit for bit
        Random r = new Random(17);
        float[] w = new float[9 * 4];
        for (int i = 0; i < w.length; i++) {
            w[i] = (float) r.nextGaussian();
        }
        byte[] model = TinyModels.matMulAdd(w, 9, 4).toByteArray();
        try (OrtModel m = OrtModel.open(model, "mm", SessionConfig.defaults());
             OrtSession direct = OrtEnvironment.getEnvironment().createSession(model, new OrtSession.SessionOptions());
             Tensor x = Support.randomF32(r, 6, 9);
             Tensor x2 = Support.randomF32(r, 6, 4);
             Outputs o = m.run(Map.of("X", x, "X2", x2))) {
            float[][] xa = new float[6][9];
            float[][] x2a = new float[6][4];
            for (int i = 0; i < 6; i++) {
                for (int j = 0; j < 9; j++) {
                    xa[i][j] = x.getFloat(i, j);
                }
                for (int j = 0; j < 4; j++) {
                    x2a[i][j] = x2.getFloat(i, j);
                }
            }
            Map<String, OnnxTensor> in = new LinkedHashMap<>();
            in.put("X", OnnxTensor.createTensor(OrtEnvironment.getEnvironment(), xa));
            in.put("X2", OnnxTensor.createTensor(OrtEnvironment.getEnvironment(), x2a));
            try (OrtSession.Result res = direct.run(in)) {
                assertArrayEquals(Support.floats(res.get("Y").orElseThrow()), o.get("Y").toFloatArray());
                assertArrayEquals(Support.floats(res.get("Z").orElseThrow()), o.get("Z").toFloatArray());
            } finally {
                in.values().forEach(OnnxTensor::close);
            }
        }
    }
}
