package dev.jlm.core.eval;

import dev.jlm.core.Tensor;

import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * One batch of model inputs, owned by this batch: closing it closes every tensor.
 *
 * @param inputs        input name to tensor, in the order the inputs were asked for; unmodifiable
 * @param attentionMask the {@code [batch, seq]} attention mask for pooling and for masking token rows in
 *                      the metrics (the same tensor as the model's mask input when it has one, otherwise
 *                      an extra tensor owned by this batch), or null when there is none
 * @param batchSize     number of examples (sentences) in the batch
 */
public record InputBatch(Map<String, Tensor> inputs, Tensor attentionMask, int batchSize) implements AutoCloseable {
    public InputBatch {
        inputs = Collections.unmodifiableMap(new LinkedHashMap<>(inputs));
    }

    /** The tensor for input {@code name}, or null. */
    public Tensor get(String name) {
        return inputs.get(name);
    }

    /** Closes every tensor once. */
    @Override
    public void close() {
        Set<Tensor> seen = Collections.newSetFromMap(new IdentityHashMap<>());
        for (Tensor t : inputs.values()) {
            if (seen.add(t)) {
                t.close();
            }
        }
        if (attentionMask != null && seen.add(attentionMask)) {
            attentionMask.close();
        }
    }
}
