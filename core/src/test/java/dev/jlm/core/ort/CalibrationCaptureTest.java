package dev.jlm.core.ort;

import ai.onnx.proto.OnnxMl;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import com.google.protobuf.ByteString;
import dev.jlm.core.DType;
import dev.jlm.core.JlmException;
import dev.jlm.core.Tensor;
import dev.jlm.core.testing.TestModels;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.stream.Stream;

import static dev.jlm.core.ort.TinyModels.floatInit;
import static dev.jlm.core.ort.TinyModels.in;
import static dev.jlm.core.ort.TinyModels.node;
import static dev.jlm.core.ort.TinyModels.value;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CalibrationCaptureTest {
    private static final int K = 6;
    private static final int N = 5;

    /** H = X @ W (intermediate, not an output), Z = H + X2; X F32[batch, K], W F32[K, N], X2 F32[batch, N]. */
    private static GraphProto.Builder hiddenMatMul(float[] w, boolean typedH) {
        GraphProto.Builder g = GraphProto.newBuilder()
                .addInput(value("X", DType.F32, "batch", K))
                .addInput(value("X2", DType.F32, "batch", N))
                .addInitializer(floatInit("W", w, K, N))
                .addNode(node("MatMul", in("X", "W"), "H"))
                .addNode(node("Add", in("H", "X2"), "Z"))
                .addOutput(value("Z", DType.F32, "batch", N));
        if (typedH) {
            g.addValueInfo(value("H", DType.F32, "batch", N));
        }
        return g;
    }

    private static float[] weights(Random r) {
        float[] w = new float[K * N];
        for (int i = 0; i < w.length; i++) {
            w[i] = (float) r.nextGaussian();
        }
        return w;
    }

    /** Checks H against X @ W in double precision (float32 accumulation of K terms: 1e-5 relative to sum |terms|). */
    private static void assertProduct(Tensor x, float[] w, Tensor h) {
        int batch = (int) x.dim(0);
        assertArrayEquals(new long[] {batch, N}, h.shape());
        for (int b = 0; b < batch; b++) {
            for (int j = 0; j < N; j++) {
                double ref = 0;
                double mag = 0;
                for (int i = 0; i < K; i++) {
                    double term = (double) x.getFloat(b, i) * w[i * N + j];
                    ref += term;
                    mag += Math.abs(term);
                }
                assertEquals(ref, h.getDouble(b, j), 1e-5 * mag + 1e-30, "H[" + b + "," + j + "]");
            }
        }
        Support.assertInformative(h.toFloatArray(), "H");
    }

    @Test
    void capturesAnIntermediateWithAndWithoutValueInfo() {
        Random r = new Random(31);
        float[] w = weights(r);
        try (Tensor x = Support.randomF32(r, 7, K); Tensor x2 = Support.randomF32(r, 7, N)) {
            for (boolean typed : new boolean[] {false, true}) {
                byte[] model = TinyModels.model(hiddenMatMul(w, typed)).toByteArray();
                try (CalibrationCapture c = CalibrationCapture.open(model, ValueSelector.nodeInputs("Add", 0), SessionConfig.defaults());
                     Outputs o = c.run(Map.of("X", x, "X2", x2))) {
                    assertEquals(List.of("H"), c.captured());
                    assertEquals(List.of("Z", "H"), List.copyOf(o.names()));
                    assertProduct(x, w, o.get("H"));
                    if (typed) {
                        // value_info gave the added output its symbolic shape, so it can be written in place
                        assertEquals(List.of("batch", ""), c.model().output("H").dimNames());
                        assertEquals(2, c.model().pinnedOutputCount());
                    }
                    Tensor z = o.get("Z");
                    for (int b = 0; b < 7; b++) {
                        for (int j = 0; j < N; j++) {
                            assertEquals(o.get("H").getFloat(b, j) + x2.getFloat(b, j), z.getFloat(b, j));
                        }
                    }
                }
            }
        }
    }

    @Test
    void duplicatesOutputsInputsAndInitializersAreCapturedOnce() {
        Random r = new Random(32);
        float[] w = weights(r);
        byte[] model = TinyModels.model(hiddenMatMul(w, false)).toByteArray();
        try (Tensor x = Support.randomF32(r, 3, K); Tensor x2 = Support.randomF32(r, 3, N);
             CalibrationCapture c = CalibrationCapture.open(model, ValueSelector.names("H", "Z", "H", "X", "W"), SessionConfig.defaults());
             Outputs o = c.run(Map.of("X", x, "X2", x2));
             Outputs only = c.runCapturedOnly(Map.of("X", x, "X2", x2))) {
            assertEquals(List.of("H", "Z", "X", "W"), c.captured());
            assertEquals(new LinkedHashSet<>(List.of("Z", "H", "X", "W")), o.names());
            assertEquals(4, c.model().outputs().size(), "Z was an output already and is not added twice");
            assertArrayEquals(x.toFloatArray(), o.get("X").toFloatArray());
            assertArrayEquals(w, o.get("W").toFloatArray());
            assertArrayEquals(new long[] {K, N}, o.get("W").shape());
            assertProduct(x, w, o.get("H"));
            assertEquals(new LinkedHashSet<>(List.of("Z", "H", "X", "W")), only.names());
        }
    }

    @Test
    void badSelectionsFailUpFront() {
        byte[] model = TinyModels.model(hiddenMatMul(weights(new Random(1)), false)).toByteArray();
        JlmException e = assertThrows(JlmException.InvalidArgument.class,
                () -> CalibrationCapture.open(model, "tiny", ValueSelector.names("H", "nope"), SessionConfig.defaults()));
        assertEquals("model tiny: no value named 'nope' in its main graph", e.getMessage());
        JlmException none = assertThrows(JlmException.InvalidArgument.class,
                () -> CalibrationCapture.open(model, "tiny", ValueSelector.nodeInputs("Conv", 0), SessionConfig.defaults()));
        assertTrue(none.getMessage().contains("chose no values"), none.getMessage());
        JlmException junk = assertThrows(JlmException.InvalidModel.class,
                () -> CalibrationCapture.open(new byte[] {(byte) 0xff, 1, 2}, "junk", ValueSelector.names("H"), SessionConfig.defaults()));
        assertTrue(junk.getMessage().startsWith("model junk: not an ONNX model"), junk.getMessage());
    }

    /** The tiny model with W in an external data file beside it. */
    private static Path writeExternal(Path dir, float[] w) throws Exception {
        ByteBuffer b = ByteBuffer.allocate(w.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : w) {
            b.putFloat(v);
        }
        Files.write(dir.resolve("weights.bin"), b.array());
        GraphProto.Builder g = hiddenMatMul(w, false);
        g.setInitializer(0, TensorProto.newBuilder().setName("W").setDataType(DType.F32.onnxCode()).addDims(K).addDims(N)
                .setDataLocation(TensorProto.DataLocation.EXTERNAL)
                .addExternalData(OnnxMl.StringStringEntryProto.newBuilder().setKey("location").setValue("weights.bin"))
                .addExternalData(OnnxMl.StringStringEntryProto.newBuilder().setKey("offset").setValue("0"))
                .addExternalData(OnnxMl.StringStringEntryProto.newBuilder().setKey("length").setValue(Integer.toString(w.length * 4))));
        Path model = dir.resolve("model.onnx");
        Files.write(model, TinyModels.model(g).toByteArray());
        return model;
    }

    private static Map<String, Long> listing(Path dir) throws Exception {
        Map<String, Long> m = new TreeMap<>();
        try (Stream<Path> s = Files.list(dir)) {
            for (Path p : s.toList()) {
                m.put(p.getFileName().toString(), Files.size(p) * 31 + Files.getLastModifiedTime(p).toMillis());
            }
        }
        return m;
    }

    @Test
    void externalDataIsReadFromTheModelsFolderWithoutWritingThere(@TempDir Path dir) throws Exception {
        Random r = new Random(33);
        float[] w = weights(r);
        Path model = writeExternal(dir, w);
        Map<String, Long> before = listing(dir);
        try (Tensor x = Support.randomF32(r, 4, K); Tensor x2 = Support.randomF32(r, 4, N)) {
            try (CalibrationCapture c = CalibrationCapture.open(model, ValueSelector.nodeOutputs("MatMul", 0), SessionConfig.defaults());
                 Outputs o = c.run(Map.of("X", x, "X2", x2))) {
                assertEquals(model.toString(), c.model().name());
                assertProduct(x, w, o.get("H"));
            }
            byte[] bytes = Files.readAllBytes(model);
            // bytes alone: ONNX Runtime cannot know where weights.bin is
            JlmException e = assertThrows(JlmException.Backend.class,
                    () -> CalibrationCapture.open(bytes, "bytes", ValueSelector.names("H"), SessionConfig.defaults()));
            assertTrue(e.getMessage().startsWith("model bytes: loading failed in ONNX Runtime"), e.getMessage());
            // bytes plus the folder
            try (CalibrationCapture c = CalibrationCapture.open(bytes, "bytes", ValueSelector.names("H"),
                    SessionConfig.defaults().withExternalDataFolder(dir));
                 Outputs o = c.run(Map.of("X", x, "X2", x2))) {
                assertProduct(x, w, o.get("H"));
            }
        }
        assertEquals(before, listing(dir), "nothing written next to the model");
    }

    @Test
    void miniLmMatMulInputs() throws Exception {
        ModelProto proto = ModelProto.parseFrom(Files.readAllBytes(TestModels.miniLm()));
        Map<String, long[]> initializerDims = new HashMap<>();
        for (TensorProto t : proto.getGraph().getInitializerList()) {
            initializerDims.put(t.getName(), t.getDimsList().stream().mapToLong(Long::longValue).toArray());
        }
        // the MatMul that first consumes each captured value, to know its expected shape
        Map<String, OnnxMl.NodeProto> consumer = new HashMap<>();
        int matMuls = 0;
        for (OnnxMl.NodeProto n : proto.getGraph().getNodeList()) {
            if (n.getOpType().equals("MatMul")) {
                matMuls++;
                consumer.putIfAbsent(n.getInput(0), n);
            }
        }
        int batch = 2;
        int seq = 9;
        long[][][] arrays = Support.miniLmArrays(new Random(34), batch, seq);
        Map<String, Tensor> inputs = Support.miniLmInputs(arrays);
        try (CalibrationCapture c = CalibrationCapture.open(TestModels.miniLm(), ValueSelector.nodeInputs("MatMul", 0), SessionConfig.defaults());
             Outputs o = c.run(inputs);
             OrtModel plain = OrtModel.open(TestModels.miniLm());
             Outputs p = plain.run(inputs)) {
            assertEquals(consumer.keySet(), new LinkedHashSet<>(c.captured()));
            assertTrue(c.captured().size() < matMuls, "Q, K and V share their input and are captured once");
            assertEquals(36, c.captured().size(), "6 layers x (QKV input, Q, softmax, context, attention output, FFN intermediate)");
            int weightInputs = 0;
            for (String name : c.captured()) {
                Tensor t = o.get(name);
                Support.assertInformative(t.toFloatArray(), name);
                long[] w = initializerDims.get(consumer.get(name).getInput(1));
                if (w != null) {
                    weightInputs++;
                    assertArrayEquals(new long[] {batch, seq, w[0]}, t.shape(), name);
                } else {
                    long[] s = t.shape();
                    assertEquals(4, s.length, name);
                    assertEquals(batch, s[0], name);
                    assertEquals(12, s[1], name);
                    assertEquals(seq, s[2], name);
                    assertTrue(s[3] == 32 || s[3] == seq, name + " " + java.util.Arrays.toString(s));
                }
            }
            assertEquals(24, weightInputs);
            // the model's own output is still there and agrees with the plain model
            float[] full = o.get("last_hidden_state").toFloatArray();
            float[] ref = p.get("last_hidden_state").toFloatArray();
            double maxAbs = 0;
            for (float v : ref) {
                maxAbs = Math.max(maxAbs, Math.abs(v));
            }
            for (int i = 0; i < ref.length; i++) {
                // extra graph outputs can change which fusions ONNX Runtime applies: 1e-5 of the largest value
                assertEquals(ref[i], full[i], 1e-5 * maxAbs, "last_hidden_state[" + i + "]");
            }

            // the first captured value against a hand-made copy of the graph with that one extra output,
            // run through ONNX Runtime's own API
            String first = c.captured().get(0);
            ModelProto byHand = proto.toBuilder().setGraph(proto.getGraph().toBuilder()
                    .addOutput(OnnxMl.ValueInfoProto.newBuilder().setName(first))).build();
            OrtEnvironment env = OrtEnvironment.getEnvironment();
            try (OrtSession s = env.createSession(byHand.toByteArray(), new OrtSession.SessionOptions());
                 OnnxTensor ids = OnnxTensor.createTensor(env, arrays[0]);
                 OnnxTensor mask = OnnxTensor.createTensor(env, arrays[1]);
                 OnnxTensor types = OnnxTensor.createTensor(env, arrays[2]);
                 OrtSession.Result res = s.run(Map.of("input_ids", ids, "attention_mask", mask, "token_type_ids", types), java.util.Set.of(first))) {
                OnnxTensor v = (OnnxTensor) res.get(first).orElseThrow();
                assertArrayEquals(v.getInfo().getShape(), o.get(first).shape());
                assertArrayEquals(Support.floats(v), o.get(first).toFloatArray(), first);
            }
        } finally {
            Support.closeAll(inputs);
        }
    }

    @Test
    void withOutputsLeavesTheOriginalUntouched() {
        ModelProto m = TinyModels.model(hiddenMatMul(weights(new Random(2)), true));
        ModelProto instrumented = CalibrationCapture.withOutputs(m, List.of("H", "H", "X"));
        assertEquals(1, m.getGraph().getOutputCount());
        assertEquals(List.of("Z", "H", "X"), instrumented.getGraph().getOutputList().stream().map(OnnxMl.ValueInfoProto::getName).toList());
        assertTrue(instrumented.getGraph().getOutput(1).hasType(), "typed from value_info");
        assertTrue(instrumented.getGraph().getOutput(2).hasType(), "typed from the graph input");
        assertFalse(instrumented.getGraph().getNodeList().isEmpty());
        assertEquals(ByteString.copyFrom(m.getGraph().getInitializer(0).toByteArray()),
                ByteString.copyFrom(instrumented.getGraph().getInitializer(0).toByteArray()));
    }
}
