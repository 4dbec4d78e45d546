package dev.jlm.core.eval;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import dev.jlm.core.DType;
import dev.jlm.core.JlmException;
import dev.jlm.core.Tensor;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.NoSuchElementException;

/**
 * Text turned into model inputs with a Hugging Face {@code tokenizer.json} (through the DJL binding of the
 * Rust tokenizers library). Each batch holds {@link DType#I64} tensors {@code [batch, seq]}: special tokens
 * added (for BERT {@code [CLS] ... [SEP]}), truncated to at most {@link #maxLength()} tokens (special tokens
 * included), padded with the tokenizer's pad token to the longest sentence of the batch.
 *
 * <p>Which tensors a batch holds follows the input names the caller passes (those the model has), matched
 * without regard to case: {@code input_ids} (also {@code ids}, {@code input}), {@code attention_mask}
 * (also {@code input_mask}, {@code mask}), {@code token_type_ids} (also {@code segment_ids},
 * {@code type_ids}; 0 for single sentences) and {@code position_ids} ({@code 0..seq-1} per row).
 * The attention mask is always made, for pooling and metrics, even when the model takes none.
 *
 * <p>Owns the native tokenizer: close it when done. Encoding may run on several threads at once; closing
 * must come after all of them.
 */
public final class TextInputs implements AutoCloseable {
    /** The truncation length used unless the caller gives the model's own limit. */
    public static final int DEFAULT_MAX_LENGTH = 512;

    private static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private enum Role { IDS, MASK, TYPES, POSITIONS }

    private final HuggingFaceTokenizer tokenizer;
    private final Path file;
    private final int maxLength;

    private TextInputs(HuggingFaceTokenizer tokenizer, Path file, int maxLength) {
        this.tokenizer = tokenizer;
        this.file = file;
        this.maxLength = maxLength;
    }

    /** Loads a tokenizer.json, truncating at {@link #DEFAULT_MAX_LENGTH}. */
    public static TextInputs open(Path tokenizerJson) {
        return open(tokenizerJson, DEFAULT_MAX_LENGTH);
    }

    /**
     * Loads a tokenizer.json, truncating at {@code maxLength} tokens (pass the model's limit when it is lower
     * than the default, e.g. its number of position embeddings).
     *
     * @throws JlmException.Io           if the file is missing or unreadable
     * @throws JlmException.InvalidModel if it is not a tokenizer the library can load
     */
    public static TextInputs open(Path tokenizerJson, int maxLength) {
        if (maxLength < 2) {
            throw new JlmException.InvalidArgument("tokenizer max length must be at least 2, not " + maxLength);
        }
        if (!Files.isRegularFile(tokenizerJson) || !Files.isReadable(tokenizerJson)) {
            throw new JlmException.Io("tokenizer file " + tokenizerJson + " does not exist or cannot be read", null);
        }
        try {
            HuggingFaceTokenizer tok = HuggingFaceTokenizer.builder()
                    .optTokenizerPath(tokenizerJson)
                    .optAddSpecialTokens(true)
                    .optTruncation(true)
                    .optMaxLength(maxLength)
                    .optPadding(true) // pad to the longest in the batch
                    .build();
            return new TextInputs(tok, tokenizerJson, maxLength);
        } catch (IOException | RuntimeException e) {
            throw new JlmException.InvalidModel("cannot load tokenizer " + tokenizerJson + ": " + oneLine(e), e);
        } catch (UnsatisfiedLinkError e) {
            throw new JlmException.Unsupported("the native tokenizer library cannot be loaded on this machine: "
                    + oneLine(e), e);
        }
    }

    private static String oneLine(Throwable e) {
        String m = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        return m.replaceAll("\\s+", " ").trim();
    }

    /**
     * Reads sentences, one per line (UTF-8); blank lines are skipped.
     *
     * @throws JlmException.Io           if the file is missing or unreadable
     * @throws JlmException.InvalidModel if it is not UTF-8 text or holds no sentence
     */
    public static List<String> readSentences(Path file) {
        List<String> lines;
        try {
            lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        } catch (CharacterCodingException e) {
            throw new JlmException.InvalidModel("sentence file " + file + " is not UTF-8 text", e);
        } catch (IOException e) {
            throw new JlmException.Io("cannot read sentence file " + file + ": " + oneLine(e), e);
        }
        List<String> out = new ArrayList<>(lines.size());
        for (String line : lines) {
            if (out.isEmpty() && line.startsWith("\uFEFF")) {
                line = line.substring(1); // byte order mark
            }
            if (!line.isBlank()) {
                out.add(line);
            }
        }
        if (out.isEmpty()) {
            throw new JlmException.InvalidModel("sentence file " + file + " holds no sentences");
        }
        return List.copyOf(out);
    }

    /** The truncation length in tokens, special tokens included. */
    public int maxLength() {
        return maxLength;
    }

    /** True if {@code inputName} is one of the inputs this class can fill (see the class description). */
    public static boolean canProduce(String inputName) {
        return role(inputName) != null;
    }

    private static Role role(String name) {
        return switch (name.toLowerCase(Locale.ROOT)) {
            case "input_ids", "ids", "input" -> Role.IDS;
            case "attention_mask", "input_mask", "mask" -> Role.MASK;
            case "token_type_ids", "segment_ids", "type_ids" -> Role.TYPES;
            case "position_ids" -> Role.POSITIONS;
            default -> null;
        };
    }

    /**
     * Tokenizes one batch into the inputs named in {@code inputNames}, in that order.
     *
     * @throws JlmException.Unsupported     if an input name is not one this class can fill
     * @throws JlmException.InvalidArgument if there are no sentences
     */
    public InputBatch encode(List<String> sentences, Collection<String> inputNames) {
        if (sentences.isEmpty()) {
            throw new JlmException.InvalidArgument("no sentences to tokenize");
        }
        if (inputNames.isEmpty()) {
            throw new JlmException.InvalidArgument("no model inputs to fill");
        }
        Map<String, Role> roles = new LinkedHashMap<>();
        for (String n : inputNames) {
            Role r = role(n);
            if (r == null) {
                throw new JlmException.Unsupported("cannot fill model input '" + n + "' from text; known inputs are "
                        + "input_ids, attention_mask, token_type_ids and position_ids");
            }
            roles.put(n, r);
        }
        Encoding[] enc;
        try {
            enc = tokenizer.batchEncode(sentences);
        } catch (RuntimeException e) {
            throw new JlmException("tokenizer " + file + " failed: " + oneLine(e), e);
        }
        int batch = enc.length;
        int seq = enc[0].getIds().length;
        for (Encoding e : enc) {
            if (e.getIds().length != seq) {
                throw new JlmException("tokenizer " + file + " did not pad the batch to one length");
            }
        }
        Map<String, Tensor> tensors = new LinkedHashMap<>();
        Tensor mask = null;
        try {
            mask = fill(enc, batch, seq, Role.MASK);
            for (Map.Entry<String, Role> e : roles.entrySet()) {
                tensors.put(e.getKey(), e.getValue() == Role.MASK ? mask : fill(enc, batch, seq, e.getValue()));
            }
            return new InputBatch(tensors, mask, batch);
        } catch (RuntimeException | Error e) {
            tensors.values().forEach(Tensor::close);
            if (mask != null) {
                mask.close();
            }
            throw e;
        }
    }

    private static Tensor fill(Encoding[] enc, int batch, int seq, Role role) {
        Tensor t = Tensor.allocate(DType.I64, batch, seq);
        MemorySegment seg = t.segment();
        long[] positions = null;
        if (role == Role.POSITIONS) {
            positions = new long[seq];
            for (int i = 0; i < seq; i++) {
                positions[i] = i;
            }
        }
        for (int b = 0; b < batch; b++) {
            long[] row = switch (role) {
                case IDS -> enc[b].getIds();
                case MASK -> enc[b].getAttentionMask();
                case TYPES -> enc[b].getTypeIds();
                case POSITIONS -> positions;
            };
            MemorySegment.copy(row, 0, seg, I64, (long) b * seq * Long.BYTES, seq);
        }
        return t;
    }

    /**
     * The sentences in batches of {@code batchSize} (the last one may be smaller), each tokenized when the
     * iteration reaches it; the caller closes every batch it takes.
     */
    public Iterable<InputBatch> batches(List<String> sentences, int batchSize, Collection<String> inputNames) {
        if (batchSize < 1) {
            throw new JlmException.InvalidArgument("batch size must be at least 1, not " + batchSize);
        }
        List<String> all = List.copyOf(sentences);
        List<String> names = List.copyOf(inputNames);
        return () -> new Iterator<>() {
            private int next;

            @Override
            public boolean hasNext() {
                return next < all.size();
            }

            @Override
            public InputBatch next() {
                if (!hasNext()) {
                    throw new NoSuchElementException();
                }
                int end = Math.min(all.size(), next + batchSize);
                List<String> part = all.subList(next, end);
                next = end;
                return encode(part, names);
            }
        };
    }

    /** Releases the native tokenizer. Idempotent. */
    @Override
    public void close() {
        tokenizer.close();
    }
}
