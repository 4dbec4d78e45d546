package dev.jlm.core.eval;

import dev.jlm.core.ort.ValueSignature;

import dev.jlm.core.DType;
import dev.jlm.core.JlmException;
import dev.jlm.core.Tensor;

import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.regex.Pattern;

/**
 * Seeded random inputs for a model signature, for comparing two models when no text applies.
 *
 * <p>Dimensions that the signature leaves open take, in this order: the value set with
 * {@link #withDim(String, long)} for their symbolic name; {@link #batch()} when the dimension is the first
 * one or its name contains "batch"; otherwise {@link #defaultDim()}. Values, by input name (any case):
 * <ul>
 *   <li>name contains "mask": all ones (true for booleans);</li>
 *   <li>integer input whose name contains "position": {@code 0, 1, ...} along the last axis;</li>
 *   <li>integer input whose name contains "type" or "segment" ({@code token_type_ids}): zeros, valid for
 *       any type vocabulary;</li>
 *   <li>integer input whose name looks like ids ("input_ids", "ids", "token_id"; an "id" or "ids" word, or a
 *       name ending in "ids"): uniform in {@code [0, vocab)} (capped by the type's range);</li>
 *   <li>other integer or boolean inputs: uniform in {0, 1};</li>
 *   <li>float inputs: standard normal.</li>
 * </ul>
 *
 * <p>The same seed, signature and batch index always give the same values; each input draws from its own
 * stream (seed, batch index and input name), so adding an input does not change the others. Immutable and
 * thread-safe; configure it with the {@code with...} methods.
 */
public final class RandomInputs {
    /** Default seed. */
    public static final long DEFAULT_SEED = 42;
    /** Default size of open batch dimensions. */
    public static final long DEFAULT_BATCH = 1;
    /** Default size of other open dimensions (sequence length and the like). */
    public static final long DEFAULT_DIM = 16;
    /** Default upper bound (exclusive) of id values. */
    public static final long DEFAULT_VOCAB = 1000;

    private static final Pattern ID_WORD = Pattern.compile("(^|[^a-z])ids?([^a-z]|$)");

    private final long seed;
    private final long batch;
    private final long defaultDim;
    private final long vocab;
    private final Map<String, Long> dims;

    private RandomInputs(long seed, long batch, long defaultDim, long vocab, Map<String, Long> dims) {
        this.seed = seed;
        this.batch = batch;
        this.defaultDim = defaultDim;
        this.vocab = vocab;
        this.dims = Map.copyOf(dims);
    }

    /** Seed 42, batch 1, other open dimensions 16, ids below 1000. */
    public static RandomInputs defaults() {
        return new RandomInputs(DEFAULT_SEED, DEFAULT_BATCH, DEFAULT_DIM, DEFAULT_VOCAB, Map.of());
    }

    public RandomInputs withSeed(long seed) {
        return new RandomInputs(seed, batch, defaultDim, vocab, dims);
    }

    /** The size of open batch dimensions. */
    public RandomInputs withBatch(long batch) {
        return new RandomInputs(seed, positive(batch, "batch"), defaultDim, vocab, dims);
    }

    /** The size of open dimensions that are neither batch nor named with {@link #withDim}. */
    public RandomInputs withDefaultDim(long size) {
        return new RandomInputs(seed, batch, positive(size, "dimension size"), vocab, dims);
    }

    /** The upper bound (exclusive) of id values, e.g. the model's vocabulary size. */
    public RandomInputs withVocab(long vocab) {
        return new RandomInputs(seed, batch, defaultDim, positive(vocab, "vocab"), dims);
    }

    /** The size of every open dimension with this symbolic name (e.g. "sequence_length"). */
    public RandomInputs withDim(String symbolicName, long size) {
        Map<String, Long> d = new HashMap<>(dims);
        d.put(symbolicName, positive(size, "dimension " + symbolicName));
        return new RandomInputs(seed, batch, defaultDim, vocab, d);
    }

    private static long positive(long v, String what) {
        if (v < 1) {
            throw new JlmException.InvalidArgument(what + " must be at least 1, not " + v);
        }
        return v;
    }

    public long seed() {
        return seed;
    }

    public long batch() {
        return batch;
    }

    public long defaultDim() {
        return defaultDim;
    }

    public long vocab() {
        return vocab;
    }

    /** The concrete shape this generator uses for {@code spec}. */
    public long[] shapeOf(ValueSignature spec) {
        long[] s = spec.shape();
        for (int i = 0; i < s.length; i++) {
            if (s[i] >= 0) {
                continue;
            }
            String sym = spec.dimName(i);
            if (sym != null && dims.containsKey(sym)) {
                s[i] = dims.get(sym);
            } else if (i == 0 || (sym != null && sym.toLowerCase(Locale.ROOT).contains("batch"))) {
                s[i] = batch;
            } else {
                s[i] = defaultDim;
            }
        }
        return s;
    }

    /** Inputs for batch 0. */
    public InputBatch generate(List<ValueSignature> specs) {
        return generate(specs, 0);
    }

    /**
     * Inputs for the batch with index {@code batchIndex} (different batches, different values). The batch's
     * attention mask is the input named "attention_mask" (any case) if the signature has one with rank 2,
     * else null.
     */
    public InputBatch generate(List<ValueSignature> specs, long batchIndex) {
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        try {
            Tensor mask = null;
            for (ValueSignature spec : specs) {
                Tensor t = generate(spec, batchIndex);
                if (tensors.put(spec.name(), t) != null) {
                    throw new JlmException.InvalidArgument("input " + spec.name() + " appears twice in the signature");
                }
                if (mask == null && spec.name().equalsIgnoreCase("attention_mask") && t.rank() == 2) {
                    mask = t;
                }
            }
            long b = batch;
            for (Tensor t : tensors.values()) {
                if (t.rank() > 0) {
                    b = t.dim(0);
                    break;
                }
            }
            return new InputBatch(tensors, mask, (int) Math.min(Integer.MAX_VALUE, b));
        } catch (RuntimeException | Error e) {
            tensors.values().forEach(Tensor::close);
            throw e;
        }
    }

    /** One input's tensor for batch 0; the caller closes it. */
    public Tensor generate(ValueSignature spec) {
        return generate(spec, 0);
    }

    /** One input's tensor for the batch with index {@code batchIndex}; the caller closes it. */
    public Tensor generate(ValueSignature spec, long batchIndex) {
        DType dt = spec.dtype();
        long[] shape = shapeOf(spec);
        Tensor t = Tensor.allocate(dt, shape);
        try {
            Tensor flat = t.reshape(t.size());
            long n = t.size();
            long last = shape.length == 0 ? 1 : shape[shape.length - 1];
            SplittableRandom rnd = new SplittableRandom(streamSeed(spec.name(), batchIndex));
            String name = spec.name().toLowerCase(Locale.ROOT);
            if (name.contains("mask")) {
                for (long i = 0; i < n; i++) {
                    flat.setDouble(1, i);
                }
            } else if (dt.isFloat()) {
                for (long i = 0; i < n; i++) {
                    flat.setDouble(rnd.nextGaussian(), i);
                }
            } else if (name.contains("position")) {
                for (long i = 0; i < n; i++) {
                    flat.setDouble(Math.min(i % last, maxValue(dt)), i);
                }
            } else if (name.contains("type") || name.contains("segment")) {
                // zeros already
            } else {
                long cap = maxValue(dt) == Long.MAX_VALUE ? Long.MAX_VALUE : maxValue(dt) + 1;
                long bound = looksLikeIds(name) ? Math.min(vocab, cap) : Math.min(2, cap);
                for (long i = 0; i < n; i++) {
                    flat.setDouble(rnd.nextLong(bound), i);
                }
            }
            return t;
        } catch (RuntimeException | Error e) {
            t.close();
            throw e;
        }
    }

    /** A seed per (generator seed, batch, input), mixed so nearby values give unrelated streams. */
    private long streamSeed(String name, long batchIndex) {
        long h = seed;
        h = mix(h ^ mix(batchIndex + 0x632BE59BD9B4E019L));
        h = mix(h ^ name.hashCode());
        return h;
    }

    private static long mix(long z) { // the SplitMix64 finalizer
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /** Largest value of an integer type, capped at Long.MAX_VALUE. */
    private static long maxValue(DType dt) {
        return switch (dt) {
            case BOOL -> 1;
            case I4 -> 7;
            case U4 -> 15;
            case I8 -> Byte.MAX_VALUE;
            case U8 -> 255;
            case I16 -> Short.MAX_VALUE;
            case U16 -> 65535;
            case I32 -> Integer.MAX_VALUE;
            case U32 -> 0xffffffffL;
            default -> Long.MAX_VALUE;
        };
    }

    /** "input_ids", "ids", "token_id", "inputids": an "id"/"ids" word, or a name ending in "ids". */
    static boolean looksLikeIds(String lowerName) {
        return ID_WORD.matcher(lowerName).find() || lowerName.endsWith("ids");
    }
}
