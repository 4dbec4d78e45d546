package dev.jlm.core.onnx;

import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.OperatorSetIdProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import com.google.protobuf.CodedInputStream;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.UnsafeByteOperations;
import dev.jlm.core.DType;
import dev.jlm.core.JlmException;
import dev.jlm.core.Tensor;
import dev.jlm.core.io.AtomicFiles;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * An ONNX model read from a file: the protobuf graph plus its initializers as {@link Tensor} views.
 *
 * <p>The file is memory-mapped and parsed with aliasing, so the bytes of {@code raw_data} initializers are
 * never copied: {@link #initializer(String)} returns a read-only view into the mapping. Initializers stored
 * as external data ({@code data_location = EXTERNAL}) are read through a mapping of their data file, which
 * may be larger than 2 GiB. The model is validated on load (graph present, every node input defined,
 * every initializer's bytes matching its dtype and dims, external data present and long enough), so that
 * code downstream can trust it; any fault is a {@link JlmException.InvalidModel} naming the file and the fault.
 *
 * <p>All views live as long as the model: {@link #close()} unmaps the files, after which a view throws
 * {@link IllegalStateException} instead of reading freed memory. A loaded model is immutable and safe to
 * share between threads; edits produce a new {@link ModelProto} that {@link #save(ModelProto, Path, SaveOptions)}
 * writes with this model as the source of any external bytes it still refers to.
 */
public final class OnnxModel implements AutoCloseable {
    /** Largest protobuf message (and so largest .onnx file without external data) protobuf can parse. */
    static final long PROTOBUF_LIMIT = Integer.MAX_VALUE;

    private final String name;
    private final Path path;
    private final Path baseDir;
    private final ModelProto proto;
    private final Arena arena;
    private final long fileBytes;
    private final Map<String, TensorProto> initializers;
    private final Map<String, MemorySegment> externalFiles = new ConcurrentHashMap<>();
    private final Map<TensorProto, Tensor> views = new IdentityHashMap<>();

    private OnnxModel(String name, Path path, Path baseDir, ModelProto proto, Arena arena, long fileBytes) {
        this.name = name;
        this.path = path;
        this.baseDir = baseDir;
        this.proto = proto;
        this.arena = arena;
        this.fileBytes = fileBytes;
        Map<String, TensorProto> inits = new LinkedHashMap<>();
        for (TensorProto t : proto.getGraph().getInitializerList()) {
            inits.put(t.getName(), t);
        }
        this.initializers = Collections.unmodifiableMap(inits);
    }

    // ---- loading ------------------------------------------------------------------------------

    /**
     * Loads and validates the model at {@code path}.
     *
     * @throws JlmException.InvalidModel if the file is missing, unreadable or not a valid ONNX model
     */
    public static OnnxModel load(Path path) {
        String label = path.toString();
        if (Files.isDirectory(path)) {
            throw new JlmException.InvalidModel(label + ": is a directory, not an ONNX model file");
        }
        Arena arena = Arena.ofShared();
        try {
            long size;
            MemorySegment mapped;
            try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
                size = ch.size();
                if (size == 0) {
                    throw new JlmException.InvalidModel(label + ": the file is empty");
                }
                if (size > PROTOBUF_LIMIT) {
                    throw new JlmException.InvalidModel(label + ": " + size + " bytes is beyond protobuf's 2 GiB limit; "
                            + "models this large must keep their weights in external data");
                }
                mapped = plain(ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena), arena);
            } catch (NoSuchFileException e) {
                throw new JlmException.InvalidModel(label + ": no such file");
            } catch (IOException e) {
                throw new JlmException.InvalidModel(label + ": cannot read (" + AtomicFiles.oneLine(e) + ")", e);
            }
            ModelProto proto = parse(mapped.asByteBuffer(), label);
            Path abs = path.toAbsolutePath().normalize();
            OnnxModel model = new OnnxModel(label, abs, abs.getParent(), proto, arena, size);
            model.validate();
            return model;
        } catch (RuntimeException | Error e) {
            arena.close();
            throw e;
        }
    }

    /**
     * Parses and validates a model held in memory (no external data). {@code label} names it in messages.
     * The bytes are copied once off-heap, so the caller may reuse the array.
     */
    public static OnnxModel fromBytes(byte[] bytes, String label) {
        Arena arena = Arena.ofShared();
        try {
            MemorySegment seg = arena.allocate(Math.max(1, bytes.length), Tensor.ALIGNMENT).asSlice(0, bytes.length);
            MemorySegment.copy(MemorySegment.ofArray(bytes), 0, seg, 0, bytes.length);
            return fromSegment(seg, label, arena);
        } catch (RuntimeException | Error e) {
            arena.close();
            throw e;
        }
    }

    /**
     * Parses and validates a model from off-heap memory the caller keeps alive for the model's lifetime.
     * The returned model aliases the memory; closing it does not free the caller's memory.
     */
    public static OnnxModel fromSegment(MemorySegment bytes, String label) {
        Arena arena = Arena.ofShared();
        try {
            return fromSegment(bytes, label, arena);
        } catch (RuntimeException | Error e) {
            arena.close();
            throw e;
        }
    }

    private static OnnxModel fromSegment(MemorySegment seg, String label, Arena arena) {
        if (seg.byteSize() == 0) {
            throw new JlmException.InvalidModel(label + ": the model is empty");
        }
        if (seg.byteSize() > PROTOBUF_LIMIT) {
            throw new JlmException.InvalidModel(label + ": " + seg.byteSize() + " bytes is beyond protobuf's 2 GiB limit");
        }
        ModelProto proto = parse(seg.asByteBuffer(), label);
        OnnxModel model = new OnnxModel(label, null, null, proto, arena, seg.byteSize());
        model.validate();
        return model;
    }

    /**
     * Wraps an already built model (for instance an edited copy of another) without validation of
     * external data, which must not be present; used for in-memory graphs handed to a backend.
     */
    public static OnnxModel of(ModelProto proto, String label) {
        Arena arena = Arena.ofShared();
        OnnxModel model = new OnnxModel(label, null, null, proto, arena, proto.getSerializedSize());
        try {
            model.validate();
            return model;
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    private static ModelProto parse(ByteBuffer buffer, String label) {
        try {
            // Wrapping the mapping as an immutable ByteString lets the parser alias raw_data instead of copying it.
            CodedInputStream in = UnsafeByteOperations.unsafeWrap(buffer).newCodedInput();
            in.enableAliasing(true);
            in.setSizeLimit(Integer.MAX_VALUE);
            ModelProto proto = ModelProto.parseFrom(in);
            in.checkLastTagWas(0);
            return proto;
        } catch (InvalidProtocolBufferException e) {
            throw new JlmException.InvalidModel(label + ": not a valid ONNX protobuf (" + AtomicFiles.oneLine(e) + ")", e);
        } catch (IOException | RuntimeException | StackOverflowError e) {
            throw new JlmException.InvalidModel(label + ": not a valid ONNX protobuf (" + AtomicFiles.oneLine(e) + ")", e);
        }
    }

    private void validate() {
        new ModelValidator(name, this).validate();
    }

    // ---- graph --------------------------------------------------------------------------------

    /**
     * The parsed protobuf; immutable. Its byte and string fields alias the mapped file, so it (and anything
     * read lazily from it) is usable while this model is open; copy what must outlive the model.
     */
    public ModelProto proto() {
        return proto;
    }

    /** The main graph. */
    public GraphProto graph() {
        return proto.getGraph();
    }

    /** The name used in messages: the path as given, or the label of an in-memory model. */
    public String name() {
        return name;
    }

    /** The absolute path of the model file, or null for an in-memory model. */
    public Path path() {
        return path;
    }

    /** The directory external data locations are relative to, or null for an in-memory model. */
    public Path baseDir() {
        return baseDir;
    }

    /** Size in bytes of the model file plus every external data file it refers to. */
    public long totalFileBytes() {
        long total = fileBytes;
        for (String loc : externalLocations()) {
            try {
                total += Files.size(resolveExternal(loc));
            } catch (IOException e) {
                throw new JlmException.InvalidModel(name + ": external data file " + loc + " became unreadable", e);
            }
        }
        return total;
    }

    /** Size in bytes of the model file itself. */
    public long fileBytes() {
        return fileBytes;
    }

    /** Opset version per domain ("" is the default ONNX domain, also spelled "ai.onnx"). */
    public Map<String, Long> opsets() {
        Map<String, Long> m = new LinkedHashMap<>();
        for (OperatorSetIdProto o : proto.getOpsetImportList()) {
            m.put(o.getDomain().equals("ai.onnx") ? "" : o.getDomain(), o.getVersion());
        }
        return m;
    }

    /** The graph's real inputs: those not backed by an initializer (old models list initializers as inputs too). */
    public List<ValueInfo> inputs() {
        List<ValueInfo> out = new ArrayList<>();
        for (ValueInfoProto v : graph().getInputList()) {
            if (!initializers.containsKey(v.getName())) {
                out.add(ValueInfo.of(v));
            }
        }
        return out;
    }

    /** The graph's outputs. */
    public List<ValueInfo> outputs() {
        List<ValueInfo> out = new ArrayList<>();
        for (ValueInfoProto v : graph().getOutputList()) {
            out.add(ValueInfo.of(v));
        }
        return out;
    }

    /** Names of the main graph's initializers, in file order. */
    public Set<String> initializerNames() {
        return initializers.keySet();
    }

    /** The protobuf of an initializer of the main graph, or null. */
    public TensorProto initializerProto(String initializer) {
        return initializers.get(initializer);
    }

    /**
     * An initializer of the main graph as a read-only tensor. Raw and external data are views without a
     * copy; the typed fields ({@code float_data}, ...) are decoded once into memory owned by the model.
     *
     * @throws JlmException.InvalidArgument if there is no such initializer
     * @throws JlmException.Unsupported     for dtypes jlm cannot represent (strings, complex, float8)
     */
    public Tensor initializer(String initializer) {
        TensorProto t = initializers.get(initializer);
        if (t == null) {
            throw new JlmException.InvalidArgument(name + ": no initializer named '" + initializer + "'");
        }
        return tensor(t);
    }

    /** Any tensor of this model (an initializer, a Constant's value, a subgraph's initializer) as a read-only tensor. */
    public Tensor tensor(TensorProto t) {
        synchronized (views) {
            return views.computeIfAbsent(t, k -> TensorData.toTensor(t, this));
        }
    }

    /** The bytes of an initializer's data as stored (raw, external, or encoded from typed fields), read-only. */
    public MemorySegment bytes(TensorProto t) {
        return TensorData.bytes(t, this);
    }

    /** Every node of the main graph that uses a constant 2-D weight: the candidates for quantization and pruning. */
    public List<WeightUse> constantWeights() {
        return WeightUse.find(this);
    }

    /** Nodes of the main graph that read the value {@code value}. */
    public List<NodeProto> consumers(String value) {
        List<NodeProto> out = new ArrayList<>();
        for (NodeProto n : graph().getNodeList()) {
            if (n.getInputList().contains(value)) {
                out.add(n);
            }
        }
        return out;
    }

    /** True if the named initializer keeps its bytes in an external data file. */
    public boolean isExternal(String initializer) {
        TensorProto t = initializers.get(initializer);
        return t != null && t.getDataLocation() == TensorProto.DataLocation.EXTERNAL;
    }

    // ---- saving -------------------------------------------------------------------------------

    /** Writes this model to {@code target} (inline data; see {@link SaveOptions}). Never overwrites this model's files. */
    public void save(Path target) {
        save(proto, target, SaveOptions.DEFAULTS);
    }

    /** Writes this model to {@code target} with the given options. */
    public void save(Path target, SaveOptions options) {
        save(proto, target, options);
    }

    /**
     * Writes {@code edited} (typically a modified copy of {@link #proto()}) to {@code target}: data files first,
     * then the model, each to a temporary file moved atomically into place. External data that {@code edited}
     * still refers to is read from this model's files and rewritten for the target.
     */
    public void save(ModelProto edited, Path target, SaveOptions options) {
        new ModelWriter(this).write(edited, target, options);
    }

    /** This model's files: the model and its external data, which a save must never overwrite. */
    public List<Path> files() {
        List<Path> out = new ArrayList<>();
        if (path != null) {
            out.add(path);
        }
        for (String loc : externalLocations()) {
            out.add(resolveExternal(loc));
        }
        return out;
    }

    /** Unmaps the model's files and frees decoded tensors; views become unusable. Idempotent. */
    @Override
    public void close() {
        if (arena.scope().isAlive()) {
            arena.close();
        }
    }

    @Override
    public String toString() {
        return "OnnxModel[" + name + "]";
    }

    // ---- package internals ----------------------------------------------------------------------

    Arena arena() {
        return arena;
    }

    Set<String> externalLocations() {
        Set<String> locs = new HashSet<>();
        collectExternal(graph(), locs);
        return locs;
    }

    private static void collectExternal(GraphProto g, Set<String> locs) {
        for (TensorProto t : g.getInitializerList()) {
            if (t.getDataLocation() == TensorProto.DataLocation.EXTERNAL) {
                String loc = ExternalData.of(t).location();
                if (loc != null) {
                    locs.add(loc);
                }
            }
        }
        for (NodeProto n : g.getNodeList()) {
            for (var a : n.getAttributeList()) {
                if (a.hasG()) {
                    collectExternal(a.getG(), locs);
                }
                for (GraphProto sub : a.getGraphsList()) {
                    collectExternal(sub, locs);
                }
            }
        }
    }

    /** Resolves an external data location against the model's directory, refusing paths that leave it. */
    Path resolveExternal(String location) {
        if (baseDir == null) {
            throw new JlmException.InvalidModel(name + ": refers to external data '" + location + "' but was not loaded from a file");
        }
        Path loc;
        try {
            loc = Path.of(location);
        } catch (RuntimeException e) {
            throw new JlmException.InvalidModel(name + ": external data location '" + location + "' is not a valid path");
        }
        Path resolved = baseDir.resolve(loc).normalize();
        if (loc.isAbsolute() || !resolved.startsWith(baseDir)) {
            throw new JlmException.InvalidModel(name + ": external data location '" + location + "' points outside the model's directory");
        }
        return resolved;
    }

    /** The whole external data file, mapped once and kept for the model's lifetime. */
    MemorySegment externalFile(String location) {
        MemorySegment seg = externalFiles.get(location);
        if (seg != null) {
            return seg;
        }
        synchronized (externalFiles) {
            seg = externalFiles.get(location);
            if (seg == null) {
                Path p = resolveExternal(location);
                if (!Files.isRegularFile(p)) {
                    throw new JlmException.InvalidModel(name + ": external data file " + location + " is missing");
                }
                try (FileChannel ch = FileChannel.open(p, StandardOpenOption.READ)) {
                    seg = plain(ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena), arena);
                } catch (IOException e) {
                    throw new JlmException.InvalidModel(name + ": cannot read external data file " + location
                            + " (" + AtomicFiles.oneLine(e) + ")", e);
                }
                externalFiles.put(location, seg);
            }
            return seg;
        }
    }

    /**
     * The same mapped bytes as a plain off-heap segment of the same arena, read-only: closing the arena still unmaps
     * them and invalidates every view. Kernels compile their fastest loops for that segment class only (a mapped
     * segment is another class, and the JIT would check it again at every store of a loop that reads it), so
     * initializers used as weights, gammas or tables take the fast loops.
     */
    @SuppressWarnings("restricted")   // the new segment spans exactly the mapping and lives in its arena
    private static MemorySegment plain(MemorySegment mapped, Arena arena) {
        try {
            return MemorySegment.ofAddress(mapped.address()).reinterpret(mapped.byteSize(), arena, null).asReadOnly();
        } catch (IllegalCallerException e) {   // native access denied to this module: the mapped segment as it is
            return mapped;
        }
    }

    static DType dtypeOf(TensorProto t, String model) {
        int code = t.getDataType();
        try {
            return DType.fromOnnx(code);
        } catch (JlmException.Unsupported e) {
            throw new JlmException.Unsupported(model + ": tensor '" + t.getName() + "' has data type "
                    + DType.onnxName(code) + ", which jlm does not handle");
        }
    }
}
