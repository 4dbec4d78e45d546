package dev.jlm.core.ort;

import dev.jlm.core.JlmException;

import java.nio.file.Path;
import java.util.Collections;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;

/**
 * Immutable settings for opening an {@link OrtModel}: the {@link Device}, thread counts, graph optimization
 * level, an optional path where ONNX Runtime writes the optimized model, extra ONNX Runtime session config
 * entries (key/value strings, see {@code onnxruntime_session_options_config_keys.h}), and where warnings go.
 *
 * <p>Start from {@link #defaults()} and derive with the {@code with...} methods, each of which returns a new
 * instance. Defaults: CPU, ONNX Runtime's own thread counts, {@link GraphOptimization#ALL}, no optimized-model
 * output, no extra entries, warnings printed once each to stderr.
 *
 * <p>{@code interOpThreads > 1} switches ONNX Runtime to its parallel execution mode, the only mode in which
 * that setting has an effect; otherwise nodes run one after another, each using up to {@code intraOpThreads}.
 */
public final class SessionConfig {
    /** ONNX Runtime's session config key for the folder of external data when a model is given as bytes. */
    public static final String EXTERNAL_DATA_FOLDER_KEY = "session.model_external_initializers_file_folder_path";

    private static final Set<String> PRINTED = ConcurrentHashMap.newKeySet();

    /** Prints each distinct warning once per JVM to stderr, so that repeated opens do not flood the log. */
    private static final Consumer<String> STDERR_ONCE = message -> {
        if (PRINTED.add(message)) {
            System.err.println("jlm: warning: " + message);
        }
    };

    private static final SessionConfig DEFAULTS =
            new SessionConfig(Device.CPU, 0, 0, GraphOptimization.ALL, null, Map.of(), STDERR_ONCE);

    private final Device device;
    private final int intraOpThreads;
    private final int interOpThreads;
    private final GraphOptimization optimization;
    private final Path optimizedModelPath;
    private final Map<String, String> configEntries;
    private final Consumer<String> warnings;

    private SessionConfig(Device device, int intraOpThreads, int interOpThreads, GraphOptimization optimization,
                          Path optimizedModelPath, Map<String, String> configEntries, Consumer<String> warnings) {
        this.device = device;
        this.intraOpThreads = intraOpThreads;
        this.interOpThreads = interOpThreads;
        this.optimization = optimization;
        this.optimizedModelPath = optimizedModelPath;
        this.configEntries = configEntries;
        this.warnings = warnings;
    }

    /** CPU, ONNX Runtime's default threads, all graph optimizations. */
    public static SessionConfig defaults() {
        return DEFAULTS;
    }

    public Device device() {
        return device;
    }

    /** Threads used inside one operator; 0 means ONNX Runtime's default (one per physical core). */
    public int intraOpThreads() {
        return intraOpThreads;
    }

    /** Threads that run independent nodes at once; 0 means ONNX Runtime's default. */
    public int interOpThreads() {
        return interOpThreads;
    }

    public GraphOptimization optimization() {
        return optimization;
    }

    /** Where ONNX Runtime saves the graph it optimized, if set. */
    public Optional<Path> optimizedModelPath() {
        return Optional.ofNullable(optimizedModelPath);
    }

    /** Extra ONNX Runtime session config entries, sorted by key; unmodifiable. */
    public Map<String, String> configEntries() {
        return configEntries;
    }

    /** Receives one-line warnings, such as {@link Device#AUTO} falling back to the CPU. */
    public Consumer<String> warnings() {
        return warnings;
    }

    public SessionConfig withDevice(Device device) {
        return new SessionConfig(Objects.requireNonNull(device, "device"), intraOpThreads, interOpThreads,
                optimization, optimizedModelPath, configEntries, warnings);
    }

    /** @throws JlmException.InvalidArgument if {@code threads} is negative */
    public SessionConfig withIntraOpThreads(int threads) {
        return new SessionConfig(device, checkThreads(threads, "intra-op"), interOpThreads, optimization,
                optimizedModelPath, configEntries, warnings);
    }

    /** @throws JlmException.InvalidArgument if {@code threads} is negative */
    public SessionConfig withInterOpThreads(int threads) {
        return new SessionConfig(device, intraOpThreads, checkThreads(threads, "inter-op"), optimization,
                optimizedModelPath, configEntries, warnings);
    }

    public SessionConfig withOptimization(GraphOptimization level) {
        return new SessionConfig(device, intraOpThreads, interOpThreads, Objects.requireNonNull(level, "level"),
                optimizedModelPath, configEntries, warnings);
    }

    /** Has ONNX Runtime write the optimized graph to {@code path}; {@code null} turns it off. */
    public SessionConfig withOptimizedModelPath(Path path) {
        return new SessionConfig(device, intraOpThreads, interOpThreads, optimization, path, configEntries, warnings);
    }

    /**
     * Adds (or replaces) one ONNX Runtime session config entry.
     *
     * @throws JlmException.InvalidArgument for a blank key or a null value
     */
    public SessionConfig withConfigEntry(String key, String value) {
        if (key == null || key.isBlank() || value == null) {
            throw new JlmException.InvalidArgument("session config entry needs a key and a value, got '" + key + "' = '" + value + "'");
        }
        TreeMap<String, String> m = new TreeMap<>(configEntries);
        m.put(key, value);
        return new SessionConfig(device, intraOpThreads, interOpThreads, optimization, optimizedModelPath,
                Collections.unmodifiableMap(m), warnings);
    }

    /** Adds (or replaces) several session config entries. */
    public SessionConfig withConfigEntries(Map<String, String> entries) {
        SessionConfig c = this;
        for (Map.Entry<String, String> e : entries.entrySet()) {
            c = c.withConfigEntry(e.getKey(), e.getValue());
        }
        return c;
    }

    /**
     * Tells ONNX Runtime where the external data files of a model given as bytes lie (a model opened from a
     * path finds them next to itself).
     */
    public SessionConfig withExternalDataFolder(Path folder) {
        return withConfigEntry(EXTERNAL_DATA_FOLDER_KEY, folder.toAbsolutePath().toString());
    }

    /** Sends warnings to {@code listener} instead of stderr. */
    public SessionConfig withWarnings(Consumer<String> listener) {
        return new SessionConfig(device, intraOpThreads, interOpThreads, optimization, optimizedModelPath,
                configEntries, Objects.requireNonNull(listener, "listener"));
    }

    private static int checkThreads(int threads, String what) {
        if (threads < 0) {
            throw new JlmException.InvalidArgument(what + " thread count must be >= 0 (0 = ONNX Runtime's default), not " + threads);
        }
        return threads;
    }

    /** Equality covers every setting except the warning listener. */
    @Override
    public boolean equals(Object o) {
        return o instanceof SessionConfig c && device.equals(c.device) && intraOpThreads == c.intraOpThreads
                && interOpThreads == c.interOpThreads && optimization == c.optimization
                && Objects.equals(optimizedModelPath, c.optimizedModelPath) && configEntries.equals(c.configEntries);
    }

    @Override
    public int hashCode() {
        return Objects.hash(device, intraOpThreads, interOpThreads, optimization, optimizedModelPath, configEntries);
    }

    @Override
    public String toString() {
        return "SessionConfig[device=" + device + ", intraOpThreads=" + intraOpThreads + ", interOpThreads="
                + interOpThreads + ", optimization=" + optimization
                + (optimizedModelPath == null ? "" : ", optimizedModelPath=" + optimizedModelPath)
                + (configEntries.isEmpty() ? "" : ", config=" + configEntries) + "]";
    }
}
