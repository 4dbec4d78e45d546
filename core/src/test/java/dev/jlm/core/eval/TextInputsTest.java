package dev.jlm.core.eval;

import dev.jlm.core.DType;
import dev.jlm.core.JlmException;
import dev.jlm.core.Tensor;
import dev.jlm.core.testing.TestModels;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** TextInputs on the real all-MiniLM-L6-v2 tokenizer (BERT uncased WordPiece: [CLS]=101, [SEP]=102, [PAD]=0). */
class TextInputsTest {
    static final List<String> BERT_INPUTS = List.of("input_ids", "attention_mask", "token_type_ids");

    static List<String> sentences() {
        Path p = TestModels.sentences();
        assumeTrue(p != null, "shared/data/sentences-dev.txt not found");
        return TextInputs.readSentences(p);
    }

    /** Checks one batch row by row; returns the real (unpadded) lengths. */
    static int[] checkBatch(InputBatch b, int expectedBatch) {
        Tensor ids = b.get("input_ids"), mask = b.get("attention_mask"), types = b.get("token_type_ids");
        assertEquals(DType.I64, ids.dtype());
        assertEquals(expectedBatch, ids.dim(0));
        assertEquals(expectedBatch, b.batchSize());
        assertArrayEquals(ids.shape(), mask.shape());
        assertArrayEquals(ids.shape(), types.shape());
        assertSame(mask, b.attentionMask());
        long seq = ids.dim(1);
        int[] lengths = new int[expectedBatch];
        for (int s = 0; s < expectedBatch; s++) {
            int len = 0;
            while (len < seq && mask.getDouble(s, len) == 1) {
                len++;
            }
            lengths[s] = len;
            assertEquals(101, (long) ids.getDouble(s, 0), "[CLS] first");
            assertEquals(102, (long) ids.getDouble(s, len - 1), "[SEP] last");
            for (int t = 1; t < len - 1; t++) {
                long id = (long) ids.getDouble(s, t);
                assertTrue(id != 0 && id != 101 && id != 102, "no special token inside a sentence");
            }
            for (int t = len; t < seq; t++) {
                assertEquals(0, mask.getDouble(s, t), "mask 0 after the first padding position");
                assertEquals(0, ids.getDouble(s, t), "[PAD] id");
            }
            for (int t = 0; t < seq; t++) {
                assertEquals(0, types.getDouble(s, t));
            }
        }
        int longest = 0;
        for (int l : lengths) {
            longest = Math.max(longest, l);
        }
        assertEquals(longest, seq, "padded to the longest in the batch");
        return lengths;
    }

    @Test
    void knownTokensAndPadding() {
        try (TextInputs text = TextInputs.open(TestModels.miniLmTokenizer());
             InputBatch b = text.encode(List.of("Hello world", "Hello world, this sentence is longer."), BERT_INPUTS)) {
            int[] lengths = checkBatch(b, 2);
            assertEquals(4, lengths[0]);
            assertTrue(lengths[1] > 4);
            Tensor ids = b.get("input_ids");
            // "hello" and "world" in the BERT uncased vocabulary
            assertArrayEquals(new float[] {101, 7592, 2088, 102}, java.util.Arrays.copyOf(ids.toFloatArray(), 4));
            assertEquals(7592, (long) ids.getDouble(1, 1));
        }
    }

    @Test
    void batchesOverTheSentenceFile() {
        List<String> all = sentences();
        assertTrue(all.size() >= 100);
        try (TextInputs text = TextInputs.open(TestModels.miniLmTokenizer())) {
            int batches = 0, seen = 0;
            for (InputBatch b : text.batches(all, 64, BERT_INPUTS)) {
                try (b) {
                    int expected = Math.min(64, all.size() - seen);
                    checkBatch(b, expected);
                    // the batch holds the same ids as each sentence encoded alone
                    try (InputBatch single = text.encode(List.of(all.get(seen + expected - 1)), BERT_INPUTS)) {
                        long len = single.get("input_ids").dim(1);
                        for (int t = 0; t < len; t++) {
                            assertEquals(single.get("input_ids").getDouble(0, t), b.get("input_ids").getDouble(expected - 1, t));
                        }
                    }
                    seen += expected;
                    batches++;
                }
            }
            assertEquals(all.size(), seen);
            assertEquals((all.size() + 63) / 64, batches);
        }
    }

    @Test
    void truncatesAtMaxLength() {
        List<String> all = sentences();
        try (TextInputs text = TextInputs.open(TestModels.miniLmTokenizer(), 8);
             InputBatch b = text.encode(all.subList(0, 10), BERT_INPUTS)) {
            assertEquals(8, text.maxLength());
            assertEquals(8, b.get("input_ids").dim(1));
            int[] lengths = checkBatch(b, 10);
            for (int l : lengths) {
                assertTrue(l <= 8);
            }
        }
    }

    @Test
    void producesOnlyTheInputsAskedFor() {
        try (TextInputs text = TextInputs.open(TestModels.miniLmTokenizer());
             InputBatch b = text.encode(List.of("a b c", "d"), List.of("input_ids", "position_ids"))) {
            assertEquals(List.of("input_ids", "position_ids"), List.copyOf(b.inputs().keySet()));
            assertNotNull(b.attentionMask(), "the mask is made for metrics even when the model takes none");
            assertEquals(5, b.attentionMask().dim(1));
            float[] pos = b.get("position_ids").toFloatArray();
            assertArrayEquals(new float[] {0, 1, 2, 3, 4, 0, 1, 2, 3, 4}, pos);
            JlmException e = assertThrows(JlmException.Unsupported.class,
                    () -> text.encode(List.of("x"), List.of("input_ids", "pixel_values")));
            assertTrue(e.getMessage().contains("pixel_values"), e.getMessage());
            assertThrows(JlmException.InvalidArgument.class, () -> text.encode(List.of(), BERT_INPUTS));
        }
        assertTrue(TextInputs.canProduce("Attention_Mask") && !TextInputs.canProduce("images"));
    }

    @Test
    void badFilesGiveClearErrors(@TempDir Path dir) throws IOException {
        Path missing = dir.resolve("nope.json");
        JlmException e = assertThrows(JlmException.Io.class, () -> TextInputs.open(missing));
        assertTrue(e.getMessage().contains("nope.json"), e.getMessage());
        Path garbage = Files.writeString(dir.resolve("tokenizer.json"), "{ this is not a tokenizer");
        e = assertThrows(JlmException.InvalidModel.class, () -> TextInputs.open(garbage));
        assertTrue(e.getMessage().contains("tokenizer.json") && !e.getMessage().contains("\n"), e.getMessage());

        Path blank = Files.writeString(dir.resolve("blank.txt"), "\n   \n\t\n");
        e = assertThrows(JlmException.InvalidModel.class, () -> TextInputs.readSentences(blank));
        assertTrue(e.getMessage().contains("blank.txt"), e.getMessage());
        assertThrows(JlmException.Io.class, () -> TextInputs.readSentences(dir.resolve("none.txt")));
        Path latin1 = Files.write(dir.resolve("latin1.txt"), new byte[] {'c', 'a', 'f', (byte) 0xe9, '\n'});
        assertThrows(JlmException.InvalidModel.class, () -> TextInputs.readSentences(latin1));

        Path mixed = Files.writeString(dir.resolve("mixed.txt"), "\uFEFFfirst\r\n\r\n  \nsecond line\nthird");
        assertEquals(List.of("first", "second line", "third"), TextInputs.readSentences(mixed));
    }

    @Test
    void closeIsIdempotent() {
        TextInputs text = TextInputs.open(TestModels.miniLmTokenizer());
        List<InputBatch> kept = new ArrayList<>();
        kept.add(text.encode(List.of("kept after close"), BERT_INPUTS));
        text.close();
        text.close();
        // the tensors belong to the batch, not to the tokenizer
        assertEquals(101, (long) kept.getFirst().get("input_ids").getDouble(0, 0));
        kept.getFirst().close();
    }
}
