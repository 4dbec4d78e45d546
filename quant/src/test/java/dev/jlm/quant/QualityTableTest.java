package dev.jlm.quant;

import dev.jlm.core.eval.ModelComparison;
import dev.jlm.core.eval.ModelEvaluator;
import dev.jlm.core.onnx.OnnxModel;
import dev.jlm.core.testing.TestModels;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The quality table of docs/quantization.md: all-MiniLM-L6-v2 quantized several ways, sentence embeddings
 * compared with the float model's on the sentences file (deterministic), and the ONNX Runtime CPU latency of each
 * quantized model relative to the float model's (p50 over batches of 16 sentences, as {@code jlm eval} runs them,
 * both models in the same run; only meaningful on a quiet machine). Written to {@code quant/target/quality-table.md}.
 * Run: {@code ./mvnw -pl quant -am test -Dslow -Dtest=QualityTableTest -Dsurefire.failIfNoSpecifiedTests=false}
 * ({@code -Djlm.table.latency=false} leaves latency out; {@code -Djlm.table.filter=gptq} keeps the rows whose label
 * contains it).
 */
@Tag("slow")
class QualityTableTest {
    @Test
    void table(@TempDir Path dir) throws Exception {
        List<String> sentences = Embeddings.sentences(Integer.MAX_VALUE);
        long[][] tokens = Embeddings.tokenize(sentences);
        float[][] ref = Embeddings.embed(TestModels.miniLm(), tokens);
        String filter = System.getProperty("jlm.table.filter", "");
        StringBuilder sb = new StringBuilder();
        boolean latency = !"false".equals(System.getProperty("jlm.table.latency"));
        sb.append("| method | bits | block | sym | embedding tables | size (MB) | mean cosine | min cosine | mean cosine, sentences 129-500 "
                + "| latency p50 quantized/float | quantize time (s) |\n");
        sb.append("|---|---|---|---|---|---|---|---|---|---|---|\n");
        // method, bits, block (0: auto), symmetric, embedding tables (-1: float, else their block), GPTQ act-order,
        // GPTQ on random token sequences instead of the sentences
        Object[][] rows = {
                {Method.RTN, 4, 16, false, 128, true},
                {Method.MSE, 4, 16, false, 128, true},
                {Method.MSE, 4, 32, false, 32, true},
                {Method.MSE, 4, 32, true, 32, true},
                {Method.MSE, 4, 16, false, 16, true},
                {Method.MSE, 4, 64, false, 64, true},
                {Method.MSE, 4, 128, false, 128, true},
                {Method.MSE, 4, 0, false, 128, true},
                {Method.MSE, 4, 16, false, -1, true},
                {Method.RTN, 8, 32, false, -1, true},
                {Method.MSE, 8, 32, false, -1, true},
                {Method.MSE, 8, 32, false, 32, true},
                {Method.GPTQ, 4, 16, false, 128, true},
                {Method.GPTQ, 4, 16, false, 128, false},
                {Method.GPTQ, 4, 16, false, 128, true, true},
                {Method.GPTQ, 4, 32, false, 32, true},
                {Method.GPTQ, 4, 32, true, 32, true},
                {Method.GPTQ, 4, 64, false, 64, true},
                {Method.GPTQ, 4, 128, false, 128, true},
                {Method.GPTQ, 8, 32, false, 32, true},
        };
        int i = 0;
        for (Object[] r : rows) {
            Method m = (Method) r[0];
            int bits = (int) r[1];
            int block = (int) r[2];
            boolean sym = (boolean) r[3];
            int table = (int) r[4];
            boolean actOrder = (boolean) r[5];
            boolean random = r.length > 6 && (boolean) r[6];
            boolean emb = table > 0;
            String label = m + "/" + bits + "/" + block + "/" + sym + "/" + table + (actOrder ? "" : "/in-order") + (random ? "/random" : "");
            if (!label.contains(filter)) {
                continue;
            }
            QuantConfig cfg = new QuantConfig(bits, block, sym, m == Method.GPTQ ? Method.MSE : m, QuantConfig.DEFAULT_AUTO_SLACK);
            QuantizeOptions o = QuantizeOptions.w4().withWeights(cfg).withEmbeddings(emb).withEmbeddingBlock(emb ? table : 0);
            if (m == Method.GPTQ) {
                Calibration cal = random ? Calibration.random(TestModels.miniLmTokenizer())
                        : Calibration.of(TestModels.sentences(), TestModels.miniLmTokenizer());
                o = o.withMethod(Method.GPTQ, cal.withActOrder(actOrder));
            }
            String ex = System.getProperty("jlm.table.exclude");
            if (ex != null) {
                o = o.withExclude(java.util.regex.Pattern.compile(ex));
                label += " exclude " + ex;
            }
            Path out = dir.resolve("q" + (i++) + ".onnx");
            QuantizeReport rep;
            try (OnnxModel model = OnnxModel.load(TestModels.miniLm())) {
                rep = ModelQuantizer.quantize(model, out, o, null);
            }
            float[][] got = Embeddings.embed(out, tokens);
            double[] c = Embeddings.compare(ref, got);
            int cut = 128; // GPTQ calibrates on the first 128 sentences
            double[] held = Embeddings.compare(java.util.Arrays.copyOfRange(ref, cut, ref.length), java.util.Arrays.copyOfRange(got, cut, got.length));
            String ratio = latency ? String.format(Locale.ROOT, "%.2f", latencyRatio(out)) : "-";
            String name = m.name().toLowerCase(Locale.ROOT) + (m == Method.GPTQ && !actOrder ? " (in order)" : "")
                    + (random ? " (random tokens)" : "");
            sb.append(String.format(Locale.ROOT, "| %s | %d | %s | %s | %s | %.2f | %.4f | %.4f | %.4f | %s | %.1f |%n", name,
                    bits, block == 0 ? "auto" : Integer.toString(block), sym ? "sym" : "asym", emb ? bits + "-bit, block " + table : "float",
                    rep.bytesAfter() / 1e6, c[0], c[1], held[0], ratio, rep.elapsedNanos() / 1e9));
            System.out.println(label + " " + sb.toString().lines().reduce((a, b) -> b).orElse(""));
            // written row by row, so a long run that is stopped still leaves the rows it finished
            Files.writeString(Path.of("target", "quality-table.md"), header(sentences.size()) + sb);
            if (System.getProperty("jlm.table.layers") != null) {
                rep.layers().forEach(l -> System.out.printf(Locale.ROOT, "  %-60s %5d x %-5d %.4f%n", l.nodes().getFirst(), l.rows(), l.cols(), l.relativeError()));
            }
        }
        Files.writeString(Path.of("target", "quality-table.md"), header(sentences.size()) + sb);
        System.out.println(sb);
        assertTrue(sb.length() > 0);
    }

    private static String header(int sentences) throws java.io.IOException {
        double load = java.lang.management.ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage();
        return String.format(Locale.ROOT, "Sentences: %d, float model %.1f MB, %d CPUs, load average %.1f when written%n%n",
                sentences, Files.size(TestModels.miniLm()) / 1e6, Runtime.getRuntime().availableProcessors(), load);
    }

    /**
     * p50 latency of {@code quantized} over p50 latency of the float model, both run by {@link ModelEvaluator} as
     * {@code jlm eval} runs them (CPU, ONNX Runtime's threads, batches of 16 sentences, the two models alternating
     * batch by batch, the first batch of each untimed).
     */
    static double latencyRatio(Path quantized) {
        ModelEvaluator.Options o = ModelEvaluator.Options.defaults()
                .withText(TestModels.sentences(), TestModels.miniLmTokenizer()).withBatchSize(16);
        ModelComparison cmp = ModelEvaluator.compare(TestModels.miniLm(), quantized, o, null);
        return 1 / cmp.p50Speedup();
    }
}
