package dev.jlm.core.ort;

import ai.onnxruntime.MapInfo;
import ai.onnxruntime.NodeInfo;
import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtLoggingLevel;
import ai.onnxruntime.OrtSession;
import ai.onnxruntime.SequenceInfo;
import ai.onnxruntime.TensorInfo;
import dev.jlm.core.DType;
import dev.jlm.core.JlmException;
import dev.jlm.core.Tensor;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.atomic.LongAdder;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * An ONNX model loaded into an ONNX Runtime session, run on jlm {@link Tensor}s.
 *
 * <p><b>Inputs</b> are checked against {@link #inputs()} before anything runs (names, dtype, rank, fixed
 * dimensions, and that dimensions with the same symbolic name agree) and are handed to ONNX Runtime without
 * copying: ONNX Runtime reads the tensors' off-heap memory directly. A strided view is first copied to
 * contiguous memory. The input tensors must stay open until {@code run} returns.
 *
 * <p><b>Outputs</b> come back as an {@link Outputs} that owns them (see there). When an output's shape can be
 * known before the run (its dimensions are fixed or carry a symbolic name that an input also carries, as in
 * {@code [batch_size, sequence_length, 384]}) the tensor is allocated first and ONNX Runtime writes into it
 * directly; otherwise the value ONNX Runtime allocated is copied once into a new tensor and released. If a
 * model's declared output shapes prove wrong, the model falls back to copying for good and says so once.
 *
 * <p><b>Threads</b>: {@code run} may be called from many threads at once on the same model (ONNX Runtime
 * sessions allow concurrent runs and this class keeps no per-run state). {@link #close()} waits for runs in
 * progress; a run after close fails with {@link IllegalStateException}.
 *
 * <p><b>Devices</b>: see {@link Device}. Asking for CUDA where this build or this machine cannot provide it
 * fails with a one-line {@link JlmException.Unsupported}; {@link Device#AUTO} falls back to the CPU with a
 * warning sent to {@link SessionConfig#warnings()}. {@link #device()} tells which device the model got.
 *
 * <p>Errors from ONNX Runtime become {@link JlmException.Backend} with a one-line message naming the model
 * and the operation.
 */
public final class OrtModel implements AutoCloseable {
    private static final String CPU_ONLY =
            "CUDA requested but this build has the CPU-only ONNX Runtime; build with -Pcuda";

    private final String name;
    private final SessionConfig config;
    private final Device device;
    private final OrtSession session;
    private final OrtSession.RunOptions runOptions;
    private final List<ValueSignature> inputs;
    private final List<ValueSignature> outputs;
    private final Map<String, ValueSignature> inputByName;
    private final Map<String, ValueSignature> outputByName;
    // Runs share the read lock; close takes the write lock so that it never frees a session under a run.
    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
    private boolean closed;
    private volatile boolean pinOutputs = true;
    private final LongAdder pinnedOutputs = new LongAdder();

    private OrtModel(String name, SessionConfig config, Device device, OrtSession session) throws OrtException {
        this.name = name;
        this.config = config;
        this.device = device;
        this.session = session;
        this.inputs = signatures(name, "input", session.getInputInfo());
        this.outputs = signatures(name, "output", session.getOutputInfo());
        this.inputByName = byName(inputs);
        this.outputByName = byName(outputs);
        OrtSession.RunOptions ro = new OrtSession.RunOptions();
        try {
            // A failed run is reported by the exception; ONNX Runtime's own log line of it would be noise on stderr.
            ro.setLogLevel(OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL);
        } catch (OrtException e) {
            ro.close();
            throw e;
        }
        this.runOptions = ro;
    }

    // ---- opening --------------------------------------------------------------------------------------

    /** Opens the model file on the CPU with default settings. */
    public static OrtModel open(Path model) {
        return open(model, SessionConfig.defaults());
    }

    /**
     * Opens the model file; ONNX Runtime resolves external data relative to the file's folder.
     *
     * @throws JlmException.Io          if the file does not exist
     * @throws JlmException.Unsupported if the device cannot be had, or an input/output is not a tensor of a supported type
     * @throws JlmException.Backend     if ONNX Runtime cannot load the model
     */
    public static OrtModel open(Path model, SessionConfig config) {
        Objects.requireNonNull(model, "model");
        Objects.requireNonNull(config, "config");
        if (!Files.isRegularFile(model)) {
            throw new JlmException.Io("model " + model + ": no such file", new NoSuchFileException(model.toString()));
        }
        String path = model.toAbsolutePath().toString();
        return create(model.toString(), config, opts -> Ort.env().createSession(path, opts));
    }

    /** Opens a serialized ModelProto held in memory, named {@code <in-memory model>} in messages. */
    public static OrtModel open(byte[] modelBytes, SessionConfig config) {
        return open(modelBytes, "<in-memory model>", config);
    }

    /**
     * Opens a serialized ModelProto held in memory. Its external data, if any, is looked up in the folder set
     * with {@link SessionConfig#withExternalDataFolder(Path)}.
     *
     * @param name what messages call the model
     */
    public static OrtModel open(byte[] modelBytes, String name, SessionConfig config) {
        Objects.requireNonNull(modelBytes, "modelBytes");
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(config, "config");
        return create(name, config, opts -> Ort.env().createSession(modelBytes, opts));
    }

    /** True when this ONNX Runtime build carries the CUDA execution provider (says nothing about a GPU being present). */
    public static boolean hasCudaProvider() {
        return Ort.hasCudaProvider();
    }

    /** The ONNX Runtime version, such as {@code 1.29.0}. */
    public static String runtimeVersion() {
        return Ort.env().getVersion();
    }

    @FunctionalInterface
    private interface SessionFactory {
        OrtSession create(OrtSession.SessionOptions options) throws OrtException;
    }

    private static OrtModel create(String name, SessionConfig config, SessionFactory factory) {
        Ort.env();
        return switch (config.device()) {
            case Device.Cpu cpu -> build(name, config, cpu, factory);
            case Device.Cuda cuda -> {
                if (!Ort.hasCudaProvider()) {
                    throw new JlmException.Unsupported("model " + name + ": " + CPU_ONLY);
                }
                yield build(name, config, cuda, factory);
            }
            case Device.Auto auto -> {
                if (!Ort.hasCudaProvider()) {
                    config.warnings().accept("device auto: this build has the CPU-only ONNX Runtime (build with -Pcuda for GPUs); running on the CPU");
                    yield build(name, config, Device.CPU, factory);
                }
                try {
                    yield build(name, config, Device.cuda(0), factory);
                } catch (JlmException.Unsupported e) {
                    config.warnings().accept(e.getMessage() + "; device auto runs it on the CPU");
                    yield build(name, config, Device.CPU, factory);
                } catch (JlmException.Backend e) {
                    // Not clearly a CUDA matter: if the CPU cannot load the model either, its error is the one to report.
                    OrtModel cpu = build(name, config, Device.CPU, factory);
                    config.warnings().accept(e.getMessage() + " (on CUDA device 0); device auto runs it on the CPU");
                    yield cpu;
                }
            }
        };
    }

    private static OrtModel build(String name, SessionConfig config, Device device, SessionFactory factory) {
        OrtSession session;
        try (OrtSession.SessionOptions opts = new OrtSession.SessionOptions()) {
            try {
                opts.setOptimizationLevel(config.optimization().ort());
                if (config.intraOpThreads() > 0) {
                    opts.setIntraOpNumThreads(config.intraOpThreads());
                }
                if (config.interOpThreads() > 0) {
                    opts.setInterOpNumThreads(config.interOpThreads());
                    if (config.interOpThreads() > 1) {
                        opts.setExecutionMode(OrtSession.SessionOptions.ExecutionMode.PARALLEL);
                    }
                }
                if (config.optimizedModelPath().isPresent()) {
                    opts.setOptimizedModelFilePath(config.optimizedModelPath().get().toAbsolutePath().toString());
                }
                for (Map.Entry<String, String> e : config.configEntries().entrySet()) {
                    opts.addConfigEntry(e.getKey(), e.getValue());
                }
            } catch (OrtException e) {
                throw Ort.backend(name, "setting session options", e);
            }
            if (device instanceof Device.Cuda cuda) {
                try {
                    opts.addCUDA(cuda.deviceId());
                } catch (OrtException e) {
                    throw cudaUnusable(name, cuda, e);
                }
            }
            try {
                session = factory.create(opts);
            } catch (OrtException e) {
                if (device instanceof Device.Cuda cuda && mentionsCuda(e)) {
                    throw cudaUnusable(name, cuda, e);
                }
                throw Ort.backend(name, "loading", e);
            }
        }
        try {
            return new OrtModel(name, config, device, session);
        } catch (OrtException | RuntimeException e) {
            try {
                session.close();
            } catch (OrtException ignored) {
                // the first failure is the one worth reporting
            }
            if (e instanceof OrtException oe) {
                throw Ort.backend(name, "reading the input and output types", oe);
            }
            throw (RuntimeException) e;
        }
    }

    private static JlmException.Unsupported cudaUnusable(String name, Device.Cuda cuda, OrtException e) {
        String reason = Ort.reason(e);
        String hint = reason.contains("Failed to load") ? " (the CUDA provider's libraries, CUDA and cuDNN, could not be loaded)" : "";
        return new JlmException.Unsupported("model " + name + ": CUDA device " + cuda.deviceId() + " is not usable: " + reason + hint, e);
    }

    private static boolean mentionsCuda(OrtException e) {
        String m = String.valueOf(e.getMessage()).toLowerCase(Locale.ROOT);
        return m.contains("cuda") || m.contains("cudnn") || m.contains("cublas");
    }

    private static List<ValueSignature> signatures(String model, String kind, Map<String, NodeInfo> infos) {
        List<ValueSignature> out = new ArrayList<>(infos.size());
        for (NodeInfo ni : infos.values()) {
            if (!(ni.getInfo() instanceof TensorInfo ti)) {
                String what = ni.getInfo() instanceof SequenceInfo ? "a sequence" : ni.getInfo() instanceof MapInfo ? "a map" : "not a tensor";
                throw new JlmException.Unsupported("model " + model + ": " + kind + " '" + ni.getName() + "' is " + what + ", which jlm does not support");
            }
            DType dtype = Ort.dtype(ti.onnxType);
            if (dtype == null) {
                throw new JlmException.Unsupported("model " + model + ": " + kind + " '" + ni.getName() + "' has ONNX type "
                        + Ort.onnxName(ti.onnxType) + ", which jlm does not support");
            }
            long[] shape = ti.getShape();
            String[] names = ti.getDimensionNames();
            List<String> dimNames = new ArrayList<>(shape.length);
            for (int i = 0; i < shape.length; i++) {
                String n = names != null && i < names.length && names[i] != null ? names[i] : "";
                dimNames.add(shape[i] >= 0 ? "" : n);
                if (shape[i] < 0) {
                    shape[i] = -1;
                }
            }
            out.add(new ValueSignature(ni.getName(), dtype, shape, dimNames));
        }
        return Collections.unmodifiableList(out);
    }

    private static Map<String, ValueSignature> byName(List<ValueSignature> sigs) {
        Map<String, ValueSignature> m = new LinkedHashMap<>();
        for (ValueSignature s : sigs) {
            m.put(s.name(), s);
        }
        return Collections.unmodifiableMap(m);
    }

    // ---- description ----------------------------------------------------------------------------------

    /** The name messages use: the file path as given, or the name given with the bytes. */
    public String name() {
        return name;
    }

    /** The settings this model was opened with. */
    public SessionConfig config() {
        return config;
    }

    /** The device the session runs on: {@link Device#CPU} or a {@link Device.Cuda}, never {@link Device#AUTO}. */
    public Device device() {
        return device;
    }

    /** The inputs a run needs, in the model's order. */
    public List<ValueSignature> inputs() {
        return inputs;
    }

    /** The outputs a run can return, in the model's order. */
    public List<ValueSignature> outputs() {
        return outputs;
    }

    /** @throws JlmException.InvalidArgument if the model has no such input */
    public ValueSignature input(String inputName) {
        ValueSignature s = inputByName.get(inputName);
        if (s == null) {
            throw new JlmException.InvalidArgument("model " + name + ": no input '" + inputName + "'; its inputs are " + inputByName.keySet());
        }
        return s;
    }

    /** @throws JlmException.InvalidArgument if the model has no such output */
    public ValueSignature output(String outputName) {
        ValueSignature s = outputByName.get(outputName);
        if (s == null) {
            throw new JlmException.InvalidArgument("model " + name + ": no output '" + outputName + "'; its outputs are " + outputByName.keySet());
        }
        return s;
    }

    // ---- running --------------------------------------------------------------------------------------

    /**
     * Runs the model and returns every output.
     *
     * @param inputs one tensor per model input, by name; not closed by this method
     * @throws JlmException.InvalidArgument if an input is missing, unknown, closed, or of the wrong dtype or shape
     * @throws JlmException.Unsupported     for an input dtype ONNX Runtime's Java API cannot pass (U16, U32, U64, 4-bit)
     * @throws JlmException.Backend         if ONNX Runtime fails
     */
    public Outputs run(Map<String, Tensor> inputs) {
        return run(inputs, null, true);
    }

    /**
     * Runs the model and returns only the outputs named in {@code requestedOutputs} (all of them when null),
     * which lets ONNX Runtime skip work that only other outputs need.
     *
     * @throws JlmException.InvalidArgument also for an unknown or empty set of requested outputs
     */
    public Outputs run(Map<String, Tensor> inputs, Set<String> requestedOutputs) {
        return run(inputs, requestedOutputs, true);
    }

    /** As {@link #run(Map, Set)}; {@code pin=false} forces the copy path for every output (tests compare the two). */
    Outputs run(Map<String, Tensor> inputs, Set<String> requestedOutputs, boolean pin) {
        lock.readLock().lock();
        try {
            if (closed) {
                throw new IllegalStateException("model " + name + " is closed");
            }
            Map<String, Long> dims = checkInputs(inputs);
            List<ValueSignature> wanted = wantedOutputs(requestedOutputs);
            boolean pinning = pin && pinOutputs;
            try {
                return execute(inputs, wanted, dims, pinning);
            } catch (PinnedShapeMismatch e) {
                pinOutputs = false;
                config.warnings().accept("model " + name + ": its declared output shapes do not match what it computes; "
                        + "outputs are copied from now on instead of written in place");
                return execute(inputs, wanted, dims, false);
            }
        } finally {
            lock.readLock().unlock();
        }
    }

    /** Checks the inputs against the signature; returns the sizes of the symbolic dimensions they fix. */
    private Map<String, Long> checkInputs(Map<String, Tensor> given) {
        if (given == null) {
            throw new JlmException.InvalidArgument("model " + name + ": inputs must not be null");
        }
        for (String key : given.keySet()) {
            if (!inputByName.containsKey(key)) {
                throw new JlmException.InvalidArgument("model " + name + ": unknown input '" + key + "'; its inputs are " + inputByName.keySet());
            }
        }
        Map<String, Long> dims = new HashMap<>();
        Map<String, String> dimSource = new HashMap<>();
        for (ValueSignature sig : inputs) {
            Tensor t = given.get(sig.name());
            if (t == null) {
                throw new JlmException.InvalidArgument("model " + name + ": missing input '" + sig.name() + "' (" + sig.describe() + ")");
            }
            if (!t.segment().scope().isAlive()) {
                throw new JlmException.InvalidArgument("model " + name + ": input '" + sig.name() + "' is a closed tensor");
            }
            long[] expected = sig.shape();
            long[] got = t.shape();
            boolean fits = t.dtype() == sig.dtype() && got.length == expected.length;
            for (int i = 0; fits && i < got.length; i++) {
                fits = expected[i] < 0 || expected[i] == got[i];
            }
            if (!fits) {
                throw new JlmException.InvalidArgument("model " + name + ": input '" + sig.name() + "' expects "
                        + sig.describe() + " but got " + t.dtype() + Arrays.toString(got));
            }
            for (int i = 0; i < got.length; i++) {
                String dn = sig.dimNames().get(i);
                if (expected[i] < 0 && !dn.isEmpty()) {
                    Long prev = dims.putIfAbsent(dn, got[i]);
                    if (prev != null && prev != got[i]) {
                        throw new JlmException.InvalidArgument("model " + name + ": input '" + sig.name() + "' has "
                                + dn + " = " + got[i] + " but input '" + dimSource.get(dn) + "' has " + dn + " = " + prev);
                    }
                    dimSource.putIfAbsent(dn, sig.name());
                }
            }
        }
        return dims;
    }

    private List<ValueSignature> wantedOutputs(Set<String> requested) {
        if (requested == null) {
            return outputs;
        }
        if (requested.isEmpty()) {
            throw new JlmException.InvalidArgument("model " + name + ": no outputs requested; its outputs are " + outputByName.keySet());
        }
        for (String r : requested) {
            if (!outputByName.containsKey(r)) {
                throw new JlmException.InvalidArgument("model " + name + ": unknown output '" + r + "'; its outputs are " + outputByName.keySet());
            }
        }
        List<ValueSignature> wanted = new ArrayList<>();
        for (ValueSignature s : outputs) {
            if (requested.contains(s.name())) {
                wanted.add(s);
            }
        }
        return wanted;
    }

    /** Thrown when ONNX Runtime rejects pre-allocated outputs because the model's declared shapes are wrong. */
    private static final class PinnedShapeMismatch extends RuntimeException {
        PinnedShapeMismatch() {
            super(null, null, false, false);
        }
    }

    private Outputs execute(Map<String, Tensor> given, List<ValueSignature> wanted, Map<String, Long> dims, boolean pin) {
        List<AutoCloseable> scratch = new ArrayList<>();
        Map<String, Tensor> pinnedTensors = new HashMap<>();
        LinkedHashMap<String, Tensor> results = new LinkedHashMap<>();
        boolean ok = false;
        try {
            Map<String, OnnxTensor> ortInputs = new HashMap<>();
            for (ValueSignature sig : inputs) {
                Tensor t = given.get(sig.name());
                if (!t.isContiguous()) {
                    t = t.copy();
                    scratch.add(t);
                }
                OnnxTensor v = wrap(t, "input '" + sig.name() + "'");
                scratch.add(v);
                ortInputs.put(sig.name(), v);
            }
            Map<String, OnnxTensor> pinned = new HashMap<>();
            Set<String> fetched = new LinkedHashSet<>();
            for (ValueSignature sig : wanted) {
                // An output that is also a graph input is handed back by ONNX Runtime as the input value itself,
                // never written into a buffer given for it, so it always takes the copy path.
                boolean pinnable = pin && Ort.javaType(sig.dtype()) != null && !inputByName.containsKey(sig.name());
                long[] shape = pinnable ? knownShape(sig, dims) : null;
                if (shape != null && sig.dtype().byteSize(count(shape)) > Integer.MAX_VALUE - 64) {
                    shape = null; // too large for a Java buffer; the copy path reports it
                }
                if (shape == null) {
                    fetched.add(sig.name());
                    continue;
                }
                Tensor out = Tensor.allocate(sig.dtype(), shape);
                pinnedTensors.put(sig.name(), out);
                OnnxTensor v = wrap(out, "output '" + sig.name() + "'");
                scratch.add(v);
                pinned.put(sig.name(), v);
            }
            try (OrtSession.Result r = session.run(ortInputs, fetched, pinned, runOptions)) {
                for (ValueSignature sig : wanted) {
                    Tensor t = pinnedTensors.get(sig.name());
                    if (t == null) {
                        t = copyOut(sig.name(), r.get(sig.name()).orElseThrow(
                                () -> new IllegalStateException("ONNX Runtime returned no value for " + sig.name())));
                    }
                    results.put(sig.name(), t);
                }
            } catch (OrtException e) {
                if (!pinned.isEmpty() && isPinnedShapeMismatch(e)) {
                    throw new PinnedShapeMismatch();
                }
                throw Ort.backend(name, "run", e);
            }
            pinnedOutputs.add(pinned.size());
            ok = true;
            return new Outputs(name, results);
        } finally {
            for (int i = scratch.size() - 1; i >= 0; i--) {
                closeQuietly(scratch.get(i));
            }
            if (!ok) {
                results.values().forEach(Tensor::close);
                pinnedTensors.values().forEach(Tensor::close);
            }
        }
    }

    private static boolean isPinnedShapeMismatch(OrtException e) {
        String m = String.valueOf(e.getMessage());
        return m.contains("pre-allocated") || m.contains("provided for output") || m.contains("re-use buffer");
    }

    /** The output's shape if the signature and the inputs' symbolic dimensions determine it, else null. */
    private static long[] knownShape(ValueSignature sig, Map<String, Long> dims) {
        long[] s = sig.shape();
        for (int i = 0; i < s.length; i++) {
            if (s[i] < 0) {
                Long v = sig.dimNames().get(i).isEmpty() ? null : dims.get(sig.dimNames().get(i));
                if (v == null) {
                    return null;
                }
                s[i] = v;
            }
        }
        return s;
    }

    private static long count(long[] shape) {
        long n = 1;
        for (long d : shape) {
            n = Math.multiplyExact(n, d);
        }
        return n;
    }

    /** An ONNX Runtime tensor over the tensor's own memory (no copy for native memory). */
    private OnnxTensor wrap(Tensor t, String what) {
        OnnxJavaType jt = Ort.javaType(t.dtype());
        if (jt == null) {
            throw new JlmException.Unsupported("model " + name + ": " + what + " has type " + t.dtype()
                    + ", which ONNX Runtime's Java API cannot pass");
        }
        if (t.byteSize() > Integer.MAX_VALUE - 64) {
            throw new JlmException.InvalidArgument("model " + name + ": " + what + " " + t + " is larger than 2 GiB, "
                    + "which ONNX Runtime's Java API cannot pass");
        }
        ByteBuffer buf = t.segment().asByteBuffer().order(ByteOrder.nativeOrder());
        try {
            return OnnxTensor.createTensor(Ort.env(), buf, t.shape(), jt);
        } catch (OrtException e) {
            throw Ort.backend(name, "creating " + what, e);
        }
    }

    /** One bulk copy of an ONNX Runtime output into a new jlm tensor. */
    private Tensor copyOut(String output, OnnxValue value) {
        if (!(value instanceof OnnxTensor ot)) {
            throw new JlmException.Unsupported("model " + name + ": output '" + output + "' is a " + value.getType() + ", not a tensor");
        }
        TensorInfo ti = ot.getInfo();
        DType dtype = Ort.dtype(ti.onnxType);
        if (dtype == null) {
            throw new JlmException.Unsupported("model " + name + ": output '" + output + "' has ONNX type "
                    + Ort.onnxName(ti.onnxType) + ", which jlm does not support");
        }
        long[] shape = ti.getShape();
        if (dtype.byteSize(ti.getNumElements()) > Integer.MAX_VALUE - 64) {
            throw new JlmException.Unsupported("model " + name + ": output '" + output + "' " + dtype + Arrays.toString(shape)
                    + " is larger than 2 GiB, which ONNX Runtime's Java API cannot return");
        }
        Tensor out = Tensor.allocate(dtype, shape);
        try {
            long n = out.byteSize();
            if (n > 0) {
                MemorySegment src = MemorySegment.ofBuffer(Ort.bytes(ot));
                if (src.byteSize() < n) {
                    throw new IllegalStateException("ONNX Runtime gave " + src.byteSize() + " bytes for " + out);
                }
                MemorySegment.copy(src, 0, out.segment(), 0, n);
            }
            return out;
        } catch (RuntimeException e) {
            out.close();
            throw e;
        }
    }

    private static void closeQuietly(AutoCloseable c) {
        try {
            c.close();
        } catch (Exception ignored) {
            // releasing scratch values; a failure here cannot be acted upon
        }
    }

    /** How many outputs ONNX Runtime wrote in place so far, for tests. */
    long pinnedOutputCount() {
        return pinnedOutputs.sum();
    }

    // ---- lifetime -------------------------------------------------------------------------------------

    /** True once {@link #close()} ran. */
    public boolean isClosed() {
        lock.readLock().lock();
        try {
            return closed;
        } finally {
            lock.readLock().unlock();
        }
    }

    /** Releases the session after any runs in progress finish. Idempotent. */
    @Override
    public void close() {
        lock.writeLock().lock();
        try {
            if (closed) {
                return;
            }
            closed = true;
            runOptions.close();
            try {
                session.close();
            } catch (OrtException e) {
                throw Ort.backend(name, "closing the session", e);
            }
        } finally {
            lock.writeLock().unlock();
        }
    }

    @Override
    public String toString() {
        return "OrtModel[" + name + " on " + device + ", inputs " + inputs + ", outputs " + outputs + "]";
    }
}
