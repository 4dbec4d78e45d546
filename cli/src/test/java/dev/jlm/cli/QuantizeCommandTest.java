package dev.jlm.cli;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.TensorShapeProto;
import ai.onnx.proto.OnnxMl.TypeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.protobuf.ByteString;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code jlm quantize} as a user meets it: outputs, the summary, JSON, and every kind of bad input. */
class QuantizeCommandTest {
    static ValueInfoProto value(String name, long... dims) {
        TensorShapeProto.Builder s = TensorShapeProto.newBuilder();
        for (long d : dims) {
            s.addDim(TensorShapeProto.Dimension.newBuilder().setDimValue(d));
        }
        return ValueInfoProto.newBuilder().setName(name)
                .setType(TypeProto.newBuilder().setTensorType(TypeProto.Tensor.newBuilder().setElemType(1).setShape(s))).build();
    }

    static TensorProto weight(String name, long k, long n, float poison) {
        Random rnd = new Random(k * 31 + n);
        ByteBuffer b = ByteBuffer.allocate((int) (k * n * 4)).order(ByteOrder.LITTLE_ENDIAN);
        for (long i = 0; i < k * n; i++) {
            b.putFloat(i == 7 && poison != 0 ? poison : (float) rnd.nextGaussian() * 0.1f);
        }
        b.flip();
        return TensorProto.newBuilder().setName(name).setDataType(1).addDims(k).addDims(n).setRawData(ByteString.copyFrom(b)).build();
    }

    /** y = MatMul(MatMul(x, W1), W2) with x [2, 64]. */
    static Path twoLayers(Path dir, String file, float poison) throws Exception {
        GraphProto g = GraphProto.newBuilder().setName("g")
                .addInput(value("x", 2, 64)).addOutput(value("y", 2, 16))
                .addInitializer(weight("W1", 64, 48, 0)).addInitializer(weight("W2", 48, 16, poison))
                .addNode(NodeProto.newBuilder().setOpType("MatMul").setName("first").addInput("x").addInput("W1").addOutput("h"))
                .addNode(NodeProto.newBuilder().setOpType("MatMul").setName("second").addInput("h").addInput("W2").addOutput("y"))
                .build();
        Path p = dir.resolve(file);
        Files.write(p, ModelProto.newBuilder().setIrVersion(8)
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(13)).setGraph(g).build().toByteArray());
        return p;
    }

    @Test
    void quantizesNextToTheInputAndPrintsTheSummary(@TempDir Path dir) throws Exception {
        Path in = twoLayers(dir, "net.onnx", 0);
        byte[] before = Files.readAllBytes(in);
        CliTest.Run r = CliTest.jlm("quantize", in.toString());
        assertEquals(0, r.code(), r.err());
        Path out = dir.resolve("net-w4.onnx");
        assertTrue(Files.isRegularFile(out));
        assertArrayEquals(before, Files.readAllBytes(in), "the input is untouched");
        assertTrue(r.out().contains("first") && r.out().contains("64 x 48") && r.out().contains("rel.error"), r.out());
        assertTrue(r.out().contains("mse, 4-bit, block 16, asymmetric"), r.out());
        assertTrue(r.out().contains("smaller"), r.out());

        CliTest.Run again = CliTest.jlm("quantize", out.toString(), "-o", dir.resolve("x.onnx").toString());
        assertEquals(0, again.code(), again.err());
        assertTrue(again.out().contains("already quantized") && again.out().contains("nothing written"), again.out());
        assertFalse(Files.exists(dir.resolve("x.onnx")));
    }

    @Test
    void jsonReportsEveryLayer(@TempDir Path dir) throws Exception {
        Path in = twoLayers(dir, "net.onnx", 0);
        Path out = dir.resolve("custom.onnx");
        CliTest.Run r = CliTest.jlm("quantize", in.toString(), "--w8", "--sym", "--block", "16", "--method", "rtn", "-o", out.toString(), "--json");
        assertEquals(0, r.code(), r.err());
        JsonObject o = JsonParser.parseString(r.out()).getAsJsonObject();
        assertTrue(o.get("written").getAsBoolean());
        assertEquals(8, o.get("bits").getAsInt());
        assertEquals("rtn", o.get("method").getAsString());
        assertEquals(2, o.getAsJsonArray("layers").size());
        JsonObject l = o.getAsJsonArray("layers").get(1).getAsJsonObject();
        assertEquals("W2", l.get("weight").getAsString());
        assertEquals(16, l.get("block").getAsInt());
        assertEquals(16, o.get("embedding_block").getAsInt(), "--w8: the tables follow --block");
        double err = l.get("relative_error").getAsDouble();
        assertTrue(err > 0 && err < 0.02, "8-bit relative error " + err);
        assertTrue(o.get("bytes_after").getAsLong() < o.get("bytes_before").getAsLong());
        assertTrue(Files.isRegularFile(out));
    }

    @Test
    void noQuantizableWeightWritesNothingAndSucceeds(@TempDir Path dir) throws Exception {
        GraphProto g = GraphProto.newBuilder().setName("g").addInput(value("x", 2)).addOutput(value("y", 2))
                .addNode(NodeProto.newBuilder().setOpType("Identity").setName("id").addInput("x").addOutput("y")).build();
        Path in = dir.resolve("id.onnx");
        Files.write(in, ModelProto.newBuilder().setIrVersion(8)
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(13)).setGraph(g).build().toByteArray());
        CliTest.Run r = CliTest.jlm("quantize", in.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("no quantizable weight"), r.out());
        assertFalse(Files.exists(dir.resolve("id-w4.onnx")));
    }

    @Test
    void badInputFailsWithOneLine(@TempDir Path dir) throws Exception {
        Path in = twoLayers(dir, "net.onnx", 0);
        CliTest.Run same = CliTest.jlm("quantize", in.toString(), "-o", in.toString());
        assertEquals(1, same.code());
        assertEquals(1, same.err().strip().lines().count(), same.err());
        assertTrue(same.err().contains("overwrite the input"), same.err());

        Path nan = twoLayers(dir, "nan.onnx", Float.NaN);
        CliTest.Run bad = CliTest.jlm("quantize", nan.toString());
        assertEquals(1, bad.code());
        assertTrue(bad.err().contains("W2") && bad.err().contains("non-finite"), bad.err());
        assertFalse(Files.exists(dir.resolve("nan-w4.onnx")));

        CliTest.Run missing = CliTest.jlm("quantize", in.toString(), "--calib", dir.resolve("none.txt").toString());
        assertEquals(1, missing.code());
        assertTrue(missing.err().contains("none.txt"), missing.err());
        Path empty = dir.resolve("empty.txt");
        Files.writeString(empty, "\n  \n");
        CliTest.Run emptyRun = CliTest.jlm("quantize", in.toString(), "--calib", empty.toString());
        assertEquals(1, emptyRun.code());
        assertTrue(emptyRun.err().contains("no sentences"), emptyRun.err());
        assertFalse(Files.exists(dir.resolve("net-w4.onnx")));

        CliTest.Run noTokenizer = CliTest.jlm("quantize", in.toString(), "--method", "gptq", "-o", dir.resolve("g.onnx").toString());
        assertEquals(1, noTokenizer.code(), "gptq without --calib draws random tokens from the tokenizer, which is missing");
        assertTrue(noTokenizer.err().contains("tokenizer"), noTokenizer.err());
        CliTest.Run inf = CliTest.jlm("quantize", twoLayers(dir, "inf.onnx", Float.POSITIVE_INFINITY).toString(), "--w8");
        assertEquals(1, inf.code());
        assertTrue(inf.err().contains("W2"), inf.err());
    }

    @Test
    void conflictingOrBadOptionsAreUsageErrors(@TempDir Path dir) throws Exception {
        String in = twoLayers(dir, "net.onnx", 0).toString();
        assertEquals(2, CliTest.jlm("quantize", in, "--w4", "--w8").code());
        assertEquals(2, CliTest.jlm("quantize", in, "--sym", "--asym").code());
        assertEquals(2, CliTest.jlm("quantize", in, "--block", "48").code());
        assertEquals(2, CliTest.jlm("quantize", in, "--embedding-block", "24").code());
        assertEquals(2, CliTest.jlm("quantize", in, "--embedding-block", "0").code());
        assertEquals(2, CliTest.jlm("quantize", in, "--method", "best").code());
        assertEquals(2, CliTest.jlm("quantize", in, "--calib-samples", "0", "--method", "gptq").code());
        assertEquals(2, CliTest.jlm("quantize", in, "--format", "gguf").code());
        assertEquals(2, CliTest.jlm("quantize", in, "--exclude", "(").code());
        assertEquals(2, CliTest.jlm("quantize", in, "--embeddings", "--keep-embeddings").code());
        CliTest.Run help = CliTest.jlm("quantize", "--help");
        assertEquals(0, help.code());
        assertTrue(help.out().contains("--calib") && help.out().contains("--eval"), help.out());
    }

    @Test
    void qdqOnAnOldOpsetSaysWhatToDo(@TempDir Path dir) throws Exception {
        CliTest.Run r = CliTest.jlm("quantize", twoLayers(dir, "net.onnx", 0).toString(), "--format", "qdq");
        assertEquals(1, r.code());
        assertTrue(r.err().contains("opset 21") && r.err().contains("matmulnbits"), r.err());
    }
}
