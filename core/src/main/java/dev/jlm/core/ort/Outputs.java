package dev.jlm.core.ort;

import dev.jlm.core.JlmException;
import dev.jlm.core.Tensor;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * The results of one {@link OrtModel#run}: output name to {@link Tensor}, in the model's output order.
 *
 * <p>Ownership: the tensors are owned by this object and live in jlm's own off-heap memory, not in ONNX
 * Runtime's (every ONNX Runtime value of the run is already released when {@code run} returns).
 * {@link #close()} frees every tensor still held; a tensor taken with {@link #detach(String)} belongs to the
 * caller, who must close it. Reading a tensor after this object closed fails with
 * {@link IllegalStateException} rather than reading freed memory.
 *
 * <p>Not meant to be shared between threads while one of them closes or detaches; reading the tensors from
 * many threads is fine.
 */
public final class Outputs implements AutoCloseable {
    private final String model;
    private final LinkedHashMap<String, Tensor> tensors;
    private boolean closed;

    Outputs(String model, LinkedHashMap<String, Tensor> tensors) {
        this.model = model;
        this.tensors = tensors;
    }

    /**
     * The output {@code name}, owned by this object.
     *
     * @throws JlmException.InvalidArgument if there is no such output (or it was detached)
     */
    public synchronized Tensor get(String name) {
        checkOpen();
        Tensor t = tensors.get(name);
        if (t == null) {
            throw new JlmException.InvalidArgument("model " + model + ": no output '" + name + "' in this result; it has " + tensors.keySet());
        }
        return t;
    }

    /** True if this result holds an output of that name. */
    public synchronized boolean contains(String name) {
        return tensors.containsKey(name);
    }

    /** The names held, in the model's output order. */
    public synchronized Set<String> names() {
        return Collections.unmodifiableSet(new java.util.LinkedHashSet<>(tensors.keySet()));
    }

    /** An unmodifiable snapshot of name to tensor; the tensors remain owned by this object. */
    public synchronized Map<String, Tensor> asMap() {
        return Collections.unmodifiableMap(new LinkedHashMap<>(tensors));
    }

    public synchronized int size() {
        return tensors.size();
    }

    /**
     * Removes the output {@code name} from this result and hands it to the caller, who then owns it and must
     * close it; closing this result no longer frees it.
     *
     * @throws JlmException.InvalidArgument if there is no such output
     */
    public synchronized Tensor detach(String name) {
        Tensor t = get(name);
        tensors.remove(name);
        return t;
    }

    /** Frees every tensor still held. Idempotent. */
    @Override
    public synchronized void close() {
        closed = true;
        for (Tensor t : tensors.values()) {
            t.close();
        }
        tensors.clear();
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("the outputs of model " + model + " are closed");
        }
    }

    @Override
    public synchronized String toString() {
        StringBuilder sb = new StringBuilder("Outputs[");
        tensors.forEach((k, v) -> sb.append(sb.length() > 8 ? ", " : "").append(k).append('=').append(v));
        return sb.append(']').toString();
    }
}
