package dev.jlm.quant;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import com.google.protobuf.ByteString;
import dev.jlm.core.DType;
import dev.jlm.core.JlmException;
import dev.jlm.core.Tensor;
import dev.jlm.core.onnx.OnnxModel;
import dev.jlm.simd.quant.QuantizedMatrix;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The rewrite on a hand-built graph with every supported case, run in ONNX Runtime. The exact oracle: the
 * rewritten model's outputs equal (relative 1e-5) those of the float model whose weights are replaced by the
 * dequantized weights read back from the written file. So the bytes ONNX Runtime executes are the quantizer's.
 */
class ModelQuantizerTest {
    static Path write(Path dir, String name, ModelProto m) throws Exception {
        Path p = dir.resolve(name);
        Files.write(p, m.toByteArray());
        return p;
    }

    static NodeProto node(GraphProto g, String name) {
        return g.getNodeList().stream().filter(n -> n.getName().equals(name)).findFirst().orElseThrow(() -> new AssertionError("no node " + name));
    }

    static long attr(NodeProto n, String name) {
        return n.getAttributeList().stream().filter(a -> a.getName().equals(name)).findFirst().orElseThrow().getI();
    }

    static TensorProto f32(String name, float[] values, long... dims) {
        ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) {
            b.putFloat(v);
        }
        b.flip();
        TensorProto.Builder t = TensorProto.newBuilder().setName(name).setDataType(1).setRawData(ByteString.copyFrom(b));
        for (long d : dims) {
            t.addDims(d);
        }
        return t.build();
    }

    /** The weight a MatMulNBits node holds, dequantized, as [N, K]. */
    static float[] dequantMatMulNBits(OnnxModel q, NodeProto n) {
        int bits = (int) attr(n, "bits");
        int block = (int) attr(n, "block_size");
        long nn = attr(n, "N");
        long kk = attr(n, "K");
        Tensor zp = n.getInputCount() > 3 && !n.getInput(3).isEmpty() ? q.initializer(n.getInput(3)) : null;
        try (QuantizedMatrix m = QuantizedMatrix.wrap(bits, block, nn, kk, q.initializer(n.getInput(1)), q.initializer(n.getInput(2)), zp);
             Tensor d = m.dequantize()) {
            return d.toFloatArray();
        }
    }

    /** The table a GatherBlockQuantized node holds, dequantized, as [V, H]. */
    static float[] dequantGather(OnnxModel q, NodeProto n, long v, long h) {
        int bits = (int) attr(n, "bits");
        int block = (int) attr(n, "block_size");
        Tensor data = q.initializer(n.getInput(0));
        Tensor scales = q.initializer(n.getInput(2));
        Tensor zp = n.getInputCount() > 3 ? q.initializer(n.getInput(3)) : null;
        int nb = (int) ((h + block - 1) / block);
        float[] out = new float[(int) (v * h)];
        for (long r = 0; r < v; r++) {
            for (long c = 0; c < h; c++) {
                int code = bits == 8 ? (int) data.getDouble(r, c) : ((int) data.getDouble(r, c / 2) >> (4 * (c & 1))) & 0xf;
                int blk = (int) (c / block);
                int z = 1 << (bits - 1);
                if (zp != null) {
                    z = bits == 8 ? (int) zp.getDouble(r, blk) : ((int) zp.getDouble(r, blk / 2) >> (4 * (blk & 1))) & 0xf;
                }
                out[(int) (r * h + c)] = (code - z) * scales.getFloat(r, blk);
            }
        }
        assertEquals(nb, scales.dim(1));
        return out;
    }

    static float[] transpose(float[] a, int rows, int cols) {
        float[] t = new float[a.length];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                t[c * rows + r] = a[r * cols + c];
            }
        }
        return t;
    }

    /** The float model with its weights replaced by the given values. */
    static ModelProto withWeights(ModelProto m, Map<String, TensorProto> weights) {
        GraphProto.Builder g = m.getGraph().toBuilder();
        for (int k = 0; k < g.getInitializerCount(); k++) {
            TensorProto t = weights.get(g.getInitializer(k).getName());
            if (t != null) {
                g.setInitializer(k, t);
            }
        }
        return m.toBuilder().setGraph(g).build();
    }

    @Test
    void matMulNBitsRewriteRunsInOnnxRuntimeExactlyAsDequantized(@TempDir Path dir) throws Exception {
        ModelProto original = TestGraphs.mixed(1, 13);
        Path in = write(dir, "mixed.onnx", original);
        Map<String, Object> inputs = TestGraphs.mixedInputs(2);
        Map<String, float[]> ref = TestGraphs.run(in, inputs);
        for (int bits : new int[]{4, 8}) {
            for (boolean sym : new boolean[]{false, true}) {
                for (int block : new int[]{16, 32}) {
                    String what = bits + "-bit block " + block + (sym ? " sym" : " asym");
                    QuantConfig cfg = new QuantConfig(bits, block, sym, Method.MSE, 0.15);
                    int tableBlock = block == 16 ? 32 : 16;
                    Path out = dir.resolve("q" + bits + sym + block + ".onnx");
                    QuantizeReport rep;
                    try (OnnxModel m = OnnxModel.load(in)) {
                        // accuracy level 0: ONNX Runtime computes in fp32, so the comparison below can be exact
                        // the table at a block of its own, unlike the matrices'
                        rep = ModelQuantizer.quantize(m, out, QuantizeOptions.w4().withWeights(cfg).withEmbeddingBlock(tableBlock)
                                .withAccuracyLevel(0), null);
                    }
                    assertTrue(rep.written());
                    assertEquals(List.of("table", "W1", "W2", "W3", "W4"), rep.layers().stream().map(QuantizeReport.Layer::weight).toList(), what);
                    assertEquals(List.of("mm1", "mm1b"), rep.layers().get(1).nodes(), "a shared weight is quantized once");
                    assertEquals(1, rep.skipped().size());
                    assertEquals("W5", rep.skipped().getFirst().weight());
                    Map<String, float[]> got = TestGraphs.run(out, inputs);

                    Map<String, TensorProto> deq = new HashMap<>();
                    try (OnnxModel q = OnnxModel.load(out)) {
                        GraphProto g = q.graph();
                        assertEquals("GatherBlockQuantized", node(g, "embed").getOpType());
                        assertEquals(tableBlock, attr(node(g, "embed"), "block_size"), what);
                        assertEquals(block, attr(node(g, "mm1"), "block_size"), what);
                        deq.put("table", f32("table", dequantGather(q, node(g, "embed"), 6600, 40), 6600, 40));
                        NodeProto mm1 = node(g, "mm1");
                        assertEquals("MatMulNBits", mm1.getOpType());
                        assertEquals("com.microsoft", mm1.getDomain());
                        assertEquals(mm1.getInput(1), node(g, "mm1b").getInput(1), "both nodes read one quantized weight");
                        deq.put("W1", f32("W1", transpose(dequantMatMulNBits(q, mm1), 24, 40), 40, 24));
                        deq.put("W2", f32("W2", dequantMatMulNBits(q, node(g, "gemm2")), 17, 24));
                        deq.put("W3", f32("W3", transpose(dequantMatMulNBits(q, node(g, "gemm3")), 33, 17), 17, 33));
                        deq.put("W4", f32("W4", transpose(dequantMatMulNBits(q, node(g, "gemm4")), 20, 33), 33, 20));
                        assertEquals(6, node(g, "gemm2").getInputCount(), "a [N] Gemm bias becomes MatMulNBits' bias");
                        assertEquals("C2", node(g, "gemm2").getInput(5));
                        assertEquals("Transpose", node(g, "tr5").getOpType());
                        assertEquals("MatMul", node(g, "mm5").getOpType());
                        assertTrue(q.initializerNames().contains("W5"));
                        assertFalse(q.initializerNames().contains("W1"));
                        assertFalse(q.initializerNames().contains("C3"), "the [1, N] bias was copied as [N] and the original dropped");
                        assertTrue(q.initializerNames().contains("C4"), "a [M, N] C is added after the MatMulNBits");
                        assertEquals(1L, q.opsets().get("com.microsoft"));
                        assertEquals(13L, q.opsets().get(""));
                        assertEquals("unit test", q.proto().getMetadataProps(0).getValue());
                        assertEquals("a test graph", q.proto().getDocString());
                    }
                    Map<String, float[]> viaFloat = TestGraphs.run(withWeights(original, deq).toByteArray(), inputs);
                    for (String o : List.of("y", "t")) {
                        double e = TestGraphs.relError(got.get(o), viaFloat.get(o));
                        assertTrue(e < 1e-5, what + ": output " + o + " differs from the dequantized float model by " + e);
                    }
                    double e = TestGraphs.relError(got.get("y"), ref.get("y"));
                    assertTrue(e < (bits == 4 ? 0.25 : 0.02), what + ": output error " + e);
                    assertTrue(e > 0, what + ": quantization changed nothing");
                    assertTrue(rep.bytesAfter() < rep.bytesBefore(), what);

                    // accuracy level 4 (int8 activations in ONNX Runtime): close to level 0, not exact
                    Path out4 = dir.resolve("q4-" + bits + sym + block + ".onnx");
                    try (OnnxModel m = OnnxModel.load(in)) {
                        ModelQuantizer.quantize(m, out4, QuantizeOptions.w4().withWeights(cfg).withEmbeddingBlock(tableBlock)
                                .withAccuracyLevel(4), null);
                    }
                    double e4 = TestGraphs.relError(TestGraphs.run(out4, inputs).get("y"), viaFloat.get("y"));
                    assertTrue(e4 < 0.05, what + ": accuracy level 4 differs by " + e4);
                }
            }
        }
    }

    @Test
    void qdqRewriteOnOpset21RunsExactlyAsDequantized(@TempDir Path dir) throws Exception {
        ModelProto original = TestGraphs.mixed(3, 21);
        Path in = write(dir, "mixed21.onnx", original);
        Map<String, Object> inputs = TestGraphs.mixedInputs(4);
        Map<String, float[]> ref = TestGraphs.run(in, inputs);
        for (int bits : new int[]{4, 8}) {
            for (boolean sym : new boolean[]{false, true}) {
                Path out = dir.resolve("qdq" + bits + sym + ".onnx");
                QuantizeOptions o = QuantizeOptions.w4().withWeights(new QuantConfig(bits, 16, sym, Method.MSE, 0.15)).withFormat(OutputFormat.QDQ);
                QuantizeReport rep;
                try (OnnxModel m = OnnxModel.load(in)) {
                    rep = ModelQuantizer.quantize(m, out, o, null);
                }
                assertEquals(5, rep.layers().size());
                Map<String, float[]> got = TestGraphs.run(out, inputs);
                double e = TestGraphs.relError(got.get("y"), ref.get("y"));
                assertTrue(e > 0 && e < (bits == 4 ? 0.25 : 0.02), bits + "-bit qdq error " + e);
                try (OnnxModel q = OnnxModel.load(out)) {
                    long dq = q.graph().getNodeList().stream().filter(n -> n.getOpType().equals("DequantizeLinear")).count();
                    assertEquals(5, dq, "one DequantizeLinear per weight, shared by its readers");
                    assertEquals("MatMul", node(q.graph(), "mm1").getOpType());
                    assertFalse(q.opsets().containsKey("com.microsoft"));
                    TensorProto codes = q.initializerProto(node(q.graph(), "mm1").getInput(1).replace("_dequantized", "_quantized"));
                    assertNotNull(codes);
                    assertEquals(bits == 4 ? (sym ? DType.I4 : DType.U4).onnxCode() : (sym ? DType.I8 : DType.U8).onnxCode(), codes.getDataType());
                }
            }
        }
        Path in13 = write(dir, "mixed13.onnx", TestGraphs.mixed(3, 13));
        try (OnnxModel m = OnnxModel.load(in13)) {
            JlmException e = assertThrows(JlmException.Unsupported.class, () -> ModelQuantizer.quantize(m, dir.resolve("x.onnx"),
                    QuantizeOptions.w4().withFormat(OutputFormat.QDQ), null));
            assertTrue(e.getMessage().contains("opset 21"), e.getMessage());
        }
        assertFalse(Files.exists(dir.resolve("x.onnx")));
    }

    @Test
    void excludeAndKeepEmbeddingsLeaveWeightsInFloat(@TempDir Path dir) throws Exception {
        Path in = write(dir, "m.onnx", TestGraphs.mixed(5, 13));
        try (OnnxModel m = OnnxModel.load(in)) {
            QuantizeReport r = ModelQuantizer.quantize(m, dir.resolve("o.onnx"),
                    QuantizeOptions.w4().withEmbeddings(false).withExclude(Pattern.compile("^gemm[34]$")), null);
            assertEquals(List.of("W1", "W2"), r.layers().stream().map(QuantizeReport.Layer::weight).toList());
            Map<String, String> why = new HashMap<>();
            r.skipped().forEach(s -> why.put(s.weight(), s.reason()));
            assertTrue(why.get("table").contains("keep-embeddings"), why.toString());
            assertTrue(why.get("W3").contains("--exclude"), why.toString());
            assertTrue(why.get("W5").contains("not a MatMul"), why.toString());
        }
        TestGraphs.run(dir.resolve("o.onnx"), TestGraphs.mixedInputs(1));
    }

    @Test
    void badInputIsRefusedOrReportedWithoutWritingAnything(@TempDir Path dir) throws Exception {
        Path in = write(dir, "m.onnx", TestGraphs.mixed(6, 13));
        try (OnnxModel m = OnnxModel.load(in)) {
            assertThrows(JlmException.class, () -> ModelQuantizer.quantize(m, in, QuantizeOptions.w4(), null), "output equal to the input");
        }
        assertEquals(TestGraphs.mixed(6, 13), ModelProto.parseFrom(Files.readAllBytes(in)), "the input is untouched");

        // A NaN weight: exit with its name, no file.
        ModelProto nan = TestGraphs.mixed(6, 13);
        GraphProto.Builder g = nan.getGraph().toBuilder();
        for (int k = 0; k < g.getInitializerCount(); k++) {
            if (g.getInitializer(k).getName().equals("W3")) {
                float[] v = new float[17 * 33];
                v[40] = Float.NaN;
                g.setInitializer(k, f32("W3", v, 17, 33));
            }
        }
        Path bad = write(dir, "nan.onnx", nan.toBuilder().setGraph(g).build());
        try (OnnxModel m = OnnxModel.load(bad)) {
            JlmException e = assertThrows(JlmException.class, () -> ModelQuantizer.quantize(m, dir.resolve("nan-w4.onnx"), QuantizeOptions.w4(), null));
            assertTrue(e.getMessage().contains("W3") && e.getMessage().contains("non-finite"), e.getMessage());
        }
        assertFalse(Files.exists(dir.resolve("nan-w4.onnx")));

        // Already quantized: its own output has nothing left to quantize but W5 (read by a Transpose).
        Path q = dir.resolve("m-w4.onnx");
        try (OnnxModel m = OnnxModel.load(in)) {
            ModelQuantizer.quantize(m, q, QuantizeOptions.w4(), null);
        }
        try (OnnxModel m = OnnxModel.load(q)) {
            QuantizeReport r = ModelQuantizer.quantize(m, dir.resolve("again.onnx"), QuantizeOptions.w4(), null);
            assertFalse(r.written());
            assertTrue(r.notes().stream().anyMatch(s -> s.contains("already quantized") && s.contains("MatMulNBits")), r.notes().toString());
            assertTrue(r.notes().stream().anyMatch(s -> s.contains("no quantizable weight")), r.notes().toString());
        }
        assertFalse(Files.exists(dir.resolve("again.onnx")));
    }

    @Test
    void smallEmbeddingTablesStayInFloat(@TempDir Path dir) throws Exception {
        ModelProto m = TestGraphs.mixed(8, 13);
        GraphProto.Builder g = m.getGraph().toBuilder();
        for (int k = 0; k < g.getInitializerCount(); k++) {
            if (g.getInitializer(k).getName().equals("table")) {
                g.setInitializer(k, TestGraphs.floats("table", new java.util.Random(1), 0.5, 50, 40));
            }
        }
        Path in = write(dir, "small.onnx", m.toBuilder().setGraph(g).build());
        try (OnnxModel model = OnnxModel.load(in)) {
            QuantizeReport r = ModelQuantizer.quantize(model, dir.resolve("small-w4.onnx"), QuantizeOptions.w4(), null);
            assertTrue(r.skipped().stream().anyMatch(s -> s.weight().equals("table") && s.reason().contains("small embedding")), r.skipped().toString());
        }
        TestGraphs.run(dir.resolve("small-w4.onnx"), TestGraphs.mixedInputs(1));
    }

    @Test
    void unknownDomainsAreLeftUntouched(@TempDir Path dir) throws Exception {
        ModelProto m = TestGraphs.mixed(7, 13);
        NodeProto custom = NodeProto.newBuilder().setOpType("MatMul").setDomain("org.example").setName("custom")
                .addInput("y").addInput("W5").addOutput("z").build();
        ModelProto withCustom = m.toBuilder().setGraph(m.getGraph().toBuilder().addNode(custom)
                .addOutput(TestGraphs.value("z", 1, 6, 19))).addOpsetImport(ai.onnx.proto.OnnxMl.OperatorSetIdProto.newBuilder()
                .setDomain("org.example").setVersion(1)).build();
        Path in = write(dir, "c.onnx", withCustom);
        try (OnnxModel model = OnnxModel.load(in)) {
            QuantizeReport r = ModelQuantizer.quantize(model, dir.resolve("c-w4.onnx"), QuantizeOptions.w4(), null);
            assertTrue(r.written());
        }
        try (OnnxModel q = OnnxModel.load(dir.resolve("c-w4.onnx"))) {
            assertEquals(custom, node(q.graph(), "custom"));
            assertTrue(q.initializerNames().contains("W5"));
            assertEquals(1L, q.opsets().get("org.example"));
        }
    }
}
