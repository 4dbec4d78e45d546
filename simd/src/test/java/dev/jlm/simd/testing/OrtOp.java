package dev.jlm.simd.testing;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.jlm.core.Tensor;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * An ONNX Runtime session over a {@link TinyModel}, run on jlm {@link Tensor}s without copies: inputs and outputs
 * are ONNX Runtime tensors over the very memory of the jlm tensors (direct buffers), and outputs are pre-bound,
 * so a {@link Bound#run()} measures the operator, not data movement.
 *
 * <p>The tensors handed to {@link #bind} must stay open while the binding is used; close the binding, then the
 * session.
 */
public final class OrtOp implements AutoCloseable {
    private final OrtEnvironment env;
    private final OrtSession session;

    private OrtOp(OrtEnvironment env, OrtSession session) {
        this.env = env;
        this.session = session;
    }

    /**
     * A CPU session for {@code model} with {@code threads} intra-op threads (one inter-op thread, sequential
     * execution, all graph optimizations).
     */
    public static OrtOp create(byte[] model, int threads) throws OrtException {
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (OrtSession.SessionOptions o = new OrtSession.SessionOptions()) {
            o.setIntraOpNumThreads(threads);
            o.setInterOpNumThreads(1);
            o.setExecutionMode(OrtSession.SessionOptions.ExecutionMode.SEQUENTIAL);
            o.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
            return new OrtOp(env, env.createSession(model, o));
        }
    }

    /** Inputs and outputs by name, all bound to jlm tensors. */
    public Bound bind(Map<String, Tensor> inputs, Map<String, Tensor> outputs) throws OrtException {
        Map<String, OnnxTensor> in = new LinkedHashMap<>();
        Map<String, OnnxTensor> out = new LinkedHashMap<>();
        try {
            for (var e : inputs.entrySet()) {
                in.put(e.getKey(), wrap(env, e.getValue()));
            }
            for (var e : outputs.entrySet()) {
                out.put(e.getKey(), wrap(env, e.getValue()));
            }
        } catch (OrtException | RuntimeException e) {
            in.values().forEach(OnnxTensor::close);
            out.values().forEach(OnnxTensor::close);
            throw e;
        }
        return new Bound(in, out);
    }

    /** Binds, runs once, unbinds: the convenient form for tests. */
    public void run(Map<String, Tensor> inputs, Map<String, Tensor> outputs) throws OrtException {
        try (Bound b = bind(inputs, outputs)) {
            b.run();
        }
    }

    @Override
    public void close() throws OrtException {
        session.close();
    }

    /**
     * An ONNX Runtime tensor over the memory of {@code t} (F32, F16, BF16 or I64, contiguous, native memory); it
     * does not own the memory.
     */
    public static OnnxTensor wrap(OrtEnvironment env, Tensor t) throws OrtException {
        if (!t.isContiguous() || !t.segment().isNative()) {
            throw new IllegalArgumentException("ONNX Runtime needs contiguous native memory, not " + t);
        }
        ByteBuffer bb = t.segment().asByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
        long[] shape = t.shape();
        return switch (t.dtype()) {
            case F32 -> OnnxTensor.createTensor(env, bb.asFloatBuffer(), shape);
            case I64 -> OnnxTensor.createTensor(env, bb.asLongBuffer(), shape);
            case F16 -> OnnxTensor.createTensor(env, bb, shape, ai.onnxruntime.OnnxJavaType.FLOAT16);
            case BF16 -> OnnxTensor.createTensor(env, bb, shape, ai.onnxruntime.OnnxJavaType.BFLOAT16);
            default -> throw new IllegalArgumentException("no ONNX Runtime binding for " + t.dtype());
        };
    }

    /** A session with its inputs and pre-allocated outputs bound; {@link #run()} allocates only ONNX Runtime's small result holder. */
    public final class Bound implements AutoCloseable {
        private final Map<String, OnnxTensor> inputs;
        private final Map<String, OnnxTensor> outputs;

        private Bound(Map<String, OnnxTensor> inputs, Map<String, OnnxTensor> outputs) {
            this.inputs = inputs;
            this.outputs = outputs;
        }

        /** Runs the model; the outputs land in the bound jlm tensors. */
        public void run() throws OrtException {
            // Pinned outputs: the result holds nothing to read back, but must still be closed.
            session.run(inputs, outputs).close();
        }

        @Override
        public void close() {
            inputs.values().forEach(OnnxTensor::close);
            outputs.values().forEach(OnnxTensor::close);
        }
    }
}
