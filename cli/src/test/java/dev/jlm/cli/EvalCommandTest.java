package dev.jlm.cli;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.jlm.core.testing.TestModels;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static dev.jlm.cli.CliTest.jlm;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code jlm eval} on the real model against itself and against its int8 sibling. */
class EvalCommandTest {
    @TempDir
    static Path dir;
    static Path sentences;

    @BeforeAll
    static void sentences() throws Exception {
        // The first 48 sentences of the shared file keep the test short; the docs' figures use all 500.
        Assumptions.assumeTrue(TestModels.sentences() != null, "the sentences file ../shared/data/sentences-dev.txt is missing");
        List<String> lines = Files.readAllLines(TestModels.sentences()).stream().filter(l -> !l.isBlank()).limit(48).toList();
        sentences = dir.resolve("sentences.txt");
        Files.write(sentences, lines);
    }

    private static JsonObject output(Run r) {
        assertEquals(0, r.code(), r.err());
        JsonObject o = JsonParser.parseString(r.out()).getAsJsonObject();
        return o.getAsJsonArray("outputs").get(0).getAsJsonObject();
    }

    record Run(int code, String out, String err) {
    }

    private static Run eval(String... args) {
        CliTest.Run r = jlm(args);
        return new Run(r.code(), r.out(), r.err());
    }

    @Test
    void aModelAgainstItselfIsIdentical() {
        String m = TestModels.miniLm().toString();
        JsonObject out = output(eval("eval", m, m, "--text", sentences.toString(),
                "--tokenizer", TestModels.miniLmTokenizer().toString(), "--json"));
        assertEquals("last_hidden_state", out.get("name").getAsString());
        assertEquals(1.0, out.get("meanCosine").getAsDouble());
        assertEquals(1.0, out.get("minCosine").getAsDouble());
        assertEquals(0.0, out.get("maxAbsError").getAsDouble());
        assertEquals(0.0, out.get("relativeL2Error").getAsDouble());
        assertEquals(48, out.getAsJsonObject("sentenceEmbedding").get("sentences").getAsInt());
        assertEquals(1.0, out.getAsJsonObject("sentenceEmbedding").get("meanCosine").getAsDouble());
    }

    @Test
    void theInt8SiblingStaysCloseButNotIdentical() {
        JsonObject out = output(eval("eval", TestModels.miniLm().toString(), TestModels.miniLmInt8().toString(),
                "--text", sentences.toString(), "--tokenizer", TestModels.miniLmTokenizer().toString(), "--json"));
        double sentenceCosine = out.getAsJsonObject("sentenceEmbedding").get("meanCosine").getAsDouble();
        assertTrue(sentenceCosine > 0.98 && sentenceCosine < 0.999, "int8 sentence cosine " + sentenceCosine);
        assertTrue(out.get("maxAbsError").getAsDouble() > 0.01);
    }

    @Test
    void randomInputsWhenNoTextIsGiven() {
        String m = TestModels.miniLm().toString();
        Run r = eval("eval", m, TestModels.miniLmInt8().toString(), "--samples", "3", "--seed", "5");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("3 random batches"), r.out());
        assertTrue(r.out().contains("cosine mean"), r.out());
    }

    @Test
    void badInputsAreOneLineErrors(@TempDir Path tmp) throws Exception {
        String m = TestModels.miniLm().toString();
        Run noTokenizer = eval("eval", copy(tmp, "a.onnx"), m, "--text", sentences.toString());
        assertEquals(1, noTokenizer.code());
        assertTrue(noTokenizer.err().contains("no tokenizer found"), noTokenizer.err());

        Path empty = tmp.resolve("empty.txt");
        Files.writeString(empty, "\n\n");
        Run noSentences = eval("eval", m, m, "--text", empty.toString(), "--tokenizer", TestModels.miniLmTokenizer().toString());
        assertEquals(1, noSentences.code());
        assertEquals(1, noSentences.err().strip().lines().count(), noSentences.err());

        Run cuda = eval("eval", m, m, "--samples", "1", "--device", "cuda");
        if (!dev.jlm.core.ort.OrtModel.hasCudaProvider()) {
            assertEquals(1, cuda.code());
            assertTrue(cuda.err().contains("CUDA"), cuda.err());
            assertEquals(1, cuda.err().strip().lines().count(), cuda.err());
        }
        Run auto = eval("eval", m, m, "--samples", "2", "--device", "auto");
        assertEquals(0, auto.code(), auto.err());

        assertEquals(2, eval("eval", m).code());
        assertEquals(1, eval("eval", m, m, "--device", "tpu").code());
    }

    private static String copy(Path tmp, String name) throws Exception {
        Path p = tmp.resolve(name);
        Files.copy(TestModels.miniLm(), p);
        return p.toString();
    }
}
