package dev.jlm.quant;

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
 * compared with the float model's on the sentences file. Deterministic; written to
 * {@code quant/target/quality-table.md}. Run: {@code ./mvnw -pl quant -am test -Dslow -Dtest=QualityTableTest -Dsurefire.failIfNoSpecifiedTests=false}
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
        sb.append("| method | bits | block | sym | embeddings | size (MB) | mean cosine | min cosine | mean cosine, sentences 129-500 | quantize time (s) |\n");
        sb.append("|---|---|---|---|---|---|---|---|---|---|\n");
        Object[][] rows = {
                {Method.RTN, 4, 32, false, true},
                {Method.MSE, 4, 32, false, true},
                {Method.MSE, 4, 32, true, true},
                {Method.MSE, 4, 16, false, true},
                {Method.MSE, 4, 64, false, true},
                {Method.MSE, 4, 128, false, true},
                {Method.MSE, 4, 0, false, true},
                {Method.MSE, 4, 32, false, false},
                {Method.RTN, 8, 32, false, false},
                {Method.MSE, 8, 32, false, false},
                {Method.MSE, 8, 32, false, true},
                {Method.MSE, 8, 128, true, false},
                {Method.GPTQ, 4, 32, false, true},
                {Method.GPTQ, 4, 32, true, true},
                {Method.GPTQ, 4, 64, false, true},
                {Method.GPTQ, 4, 128, false, true},
                {Method.GPTQ, 8, 32, false, true},
        };
        int i = 0;
        for (Object[] r : rows) {
            Method m = (Method) r[0];
            int bits = (int) r[1];
            int block = (int) r[2];
            boolean sym = (boolean) r[3];
            boolean emb = (boolean) r[4];
            String label = m + "/" + bits + "/" + block + "/" + sym + "/" + emb;
            if (!label.contains(filter)) {
                continue;
            }
            QuantConfig cfg = new QuantConfig(bits, block, sym, m, QuantConfig.DEFAULT_AUTO_SLACK);
            QuantizeOptions o = m == Method.GPTQ
                    ? QuantizeOptions.w4().withWeights(cfg.withMethod(Method.MSE)).withMethod(Method.GPTQ,
                    Calibration.of(TestModels.sentences(), TestModels.miniLmTokenizer())).withEmbeddings(emb)
                    : QuantizeOptions.w4().withWeights(cfg).withEmbeddings(emb);
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
            sb.append(String.format(Locale.ROOT, "| %s | %d | %s | %s | %s | %.2f | %.4f | %.4f | %.4f | %.1f |%n", m.name().toLowerCase(Locale.ROOT),
                    bits, block == 0 ? "auto" : Integer.toString(block), sym ? "sym" : "asym", emb ? bits + "-bit" : "float",
                    rep.bytesAfter() / 1e6, c[0], c[1], held[0], rep.elapsedNanos() / 1e9));
            System.out.println(label + " " + sb.toString().lines().reduce((a, b) -> b).orElse(""));
            if (System.getProperty("jlm.table.layers") != null) {
                rep.layers().forEach(l -> System.out.printf(Locale.ROOT, "  %-60s %5d x %-5d %.4f%n", l.nodes().getFirst(), l.rows(), l.cols(), l.relativeError()));
            }
        }
        Path table = Path.of("target", "quality-table.md");
        Files.writeString(table, "Sentences: " + sentences.size() + ", float model " + Files.size(TestModels.miniLm()) / 1e6 + " MB\n\n" + sb);
        System.out.println(sb);
        assertTrue(sb.length() > 0);
    }
}
