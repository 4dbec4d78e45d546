package dev.jlm.core.eval;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ModelComparisonTest {
    static ModelComparison sample() {
        Random rnd = new Random(41);
        float[] a = TensorMetricsTest.randomArray(rnd, 6 * 10);
        float[] b = TensorMetricsTest.perturbed(rnd, a, 0.05);
        float[] n = b.clone();
        n[3] = Float.NaN;
        List<ModelComparison.OutputComparison> outs = List.of(
                new ModelComparison.OutputComparison("last_hidden_state", new TensorMetrics("last_hidden_state").add(a, b, 10).result(),
                        new EmbeddingMetrics.Result("last_hidden_state", 2, 0.9991, 0.998), null),
                new ModelComparison.OutputComparison("logits", new TensorMetrics("logits").add(a, n, 10).result(), null,
                        new DistributionMetrics("logits", false).add(a, b, 10).result()));
        Map<String, String> notes = new LinkedHashMap<>();
        notes.put("seed", "42");
        notes.put("inputs \"text\"", "sentences\\dev.txt\nline two");
        return new ModelComparison(
                new ModelComparison.ModelInfo("model \"fp32\".onnx", 90_387_606, LatencySummary.of(12_000_000, 11_000_000, 13_500_000)),
                new ModelComparison.ModelInfo("C:\\models\\int8.onnx", 23_000_000, LatencySummary.of(6_000_000, 5_000_000, 7_000_000)),
                outs, notes);
    }

    @Test
    void jsonParsesBackWithEscapesAndValues() {
        ModelComparison c = sample();
        JsonObject o = JsonParser.parseString(c.toJson()).getAsJsonObject();
        assertEquals("model \"fp32\".onnx", o.getAsJsonObject("reference").get("label").getAsString());
        assertEquals("C:\\models\\int8.onnx", o.getAsJsonObject("candidate").get("label").getAsString());
        assertEquals(90_387_606L, o.getAsJsonObject("reference").get("fileBytes").getAsLong());
        assertEquals(12_000_000L, o.getAsJsonObject("reference").getAsJsonObject("latency").get("p50Nanos").getAsLong());
        assertEquals(6_000_000L, o.getAsJsonObject("candidate").getAsJsonObject("latency").get("p50Nanos").getAsLong());
        assertEquals(23_000_000.0 / 90_387_606, o.get("sizeRatio").getAsDouble(), 1e-15);
        assertEquals(2.0, o.get("p50Speedup").getAsDouble(), 1e-15);
        JsonObject h = o.getAsJsonArray("outputs").get(0).getAsJsonObject();
        TensorMetrics.Result t = c.outputs().get(0).tensor();
        assertEquals("last_hidden_state", h.get("name").getAsString());
        assertEquals(t.meanCosine(), h.get("meanCosine").getAsDouble()); // exact round trip of doubles
        assertEquals(t.relativeL2Error(), h.get("relativeL2Error").getAsDouble());
        assertEquals(0.9991, h.getAsJsonObject("sentenceEmbedding").get("meanCosine").getAsDouble());
        assertTrue(h.get("distribution").isJsonNull());
        JsonObject l = o.getAsJsonArray("outputs").get(1).getAsJsonObject();
        assertEquals("NaN", l.get("meanCosine").getAsString());
        assertEquals(c.outputs().get(1).distribution().forwardKl(), l.getAsJsonObject("distribution").get("forwardKl").getAsDouble());
        assertTrue(l.get("sentenceEmbedding").isJsonNull());
        assertEquals("sentences\\dev.txt\nline two", o.getAsJsonObject("notes").get("inputs \"text\"").getAsString());
        assertEquals("42", o.getAsJsonObject("notes").get("seed").getAsString());
    }

    @Test
    void unknownSizesAndLatenciesAreNull() {
        ModelComparison c = new ModelComparison(new ModelComparison.ModelInfo("a", -1, null),
                new ModelComparison.ModelInfo("b", 10, null), List.of(), null);
        JsonObject o = JsonParser.parseString(c.toJson()).getAsJsonObject();
        assertTrue(o.getAsJsonObject("reference").get("fileBytes").isJsonNull());
        assertTrue(o.getAsJsonObject("reference").get("latency").isJsonNull());
        assertTrue(o.get("sizeRatio").isJsonNull());
        assertTrue(o.get("p50Speedup").isJsonNull());
        assertTrue(c.toTable().contains("size ratio (candidate/reference): -"), c.toTable());
    }

    @Test
    void tableIsAlignedAndHoldsTheFigures() {
        ModelComparison c = sample();
        String table = c.toTable();
        String[] lines = table.split("\\R");
        // the outputs table: every row's second column starts where the header's does
        int head = -1;
        for (int i = 0; i < lines.length; i++) {
            if (lines[i].startsWith("output ")) {
                head = i;
            }
        }
        assertTrue(head > 0, table);
        int col = lines[head].indexOf("last_hidden_state");
        int col2 = lines[head].indexOf("logits");
        for (int i = head + 1; i < lines.length && !lines[i].isEmpty(); i++) {
            assertTrue(lines[i].charAt(col - 1) == ' ' && lines[i].charAt(col) != ' ', "column 1 of: " + lines[i]);
            assertTrue(lines[i].charAt(col2 - 1) == ' ' && lines[i].charAt(col2) != ' ', "column 2 of: " + lines[i]);
        }
        TensorMetrics.Result t = c.outputs().get(0).tensor();
        assertTrue(table.contains(String.format(java.util.Locale.ROOT, "%.6f", t.meanCosine())), table);
        assertTrue(table.contains("NaN"), table);
        assertTrue(table.contains("12.000 ms") && table.contains("6.000 ms"), table);
        assertTrue(table.contains("p50 speed-up (reference/candidate): 2.00x"), table);
        assertTrue(table.contains("86.20 MiB"), table);
        assertTrue(table.contains("sentences\\dev.txt line two"), "control characters are blanked: " + table);
    }
}
