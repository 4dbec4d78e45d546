package dev.jlm.core.eval;

import dev.jlm.core.ort.ValueSignature;

import dev.jlm.core.DType;
import dev.jlm.core.JlmException;
import dev.jlm.core.Tensor;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RandomInputsTest {
    static final List<ValueSignature> BERT = List.of(
            new ValueSignature("input_ids", DType.I64, new long[] {-1, -1}, List.of("batch_size", "sequence_length")),
            new ValueSignature("attention_mask", DType.I64, new long[] {-1, -1}, List.of("batch_size", "sequence_length")),
            new ValueSignature("token_type_ids", DType.I64, new long[] {-1, -1}, List.of("batch_size", "sequence_length")));

    @Test
    void sameSeedSameValuesOtherSeedOtherValues() {
        RandomInputs gen = RandomInputs.defaults().withBatch(3).withDefaultDim(50).withVocab(30522);
        try (InputBatch a = gen.generate(BERT); InputBatch b = gen.generate(BERT);
             InputBatch c = gen.withSeed(7).generate(BERT); InputBatch d = gen.generate(BERT, 1)) {
            float[] ids = a.get("input_ids").toFloatArray();
            assertArrayEquals(ids, b.get("input_ids").toFloatArray());
            assertFalse(Arrays.equals(ids, c.get("input_ids").toFloatArray()));
            assertFalse(Arrays.equals(ids, d.get("input_ids").toFloatArray()));
            assertEquals(3, a.batchSize());
            assertSame(a.get("attention_mask"), a.attentionMask());
            assertEquals(List.of("input_ids", "attention_mask", "token_type_ids"), List.copyOf(a.inputs().keySet()));
        }
    }

    @Test
    void valuesFollowTheNamesAndRanges() {
        RandomInputs gen = RandomInputs.defaults().withBatch(2).withDefaultDim(500).withVocab(97);
        try (InputBatch in = gen.generate(BERT)) {
            Tensor ids = in.get("input_ids");
            assertArrayEquals(new long[] {2, 500}, ids.shape());
            assertEquals(DType.I64, ids.dtype());
            float[] v = ids.toFloatArray();
            double min = Arrays.stream(toDouble(v)).min().orElseThrow(), max = Arrays.stream(toDouble(v)).max().orElseThrow();
            assertTrue(min >= 0 && max < 97, min + " " + max);
            assertTrue(min <= 2 && max >= 94, "1000 draws should cover nearly all of [0, 97): " + min + " " + max);
            for (float f : in.get("attention_mask").toFloatArray()) {
                assertEquals(1f, f);
            }
            for (float f : in.get("token_type_ids").toFloatArray()) {
                assertEquals(0f, f);
            }
        }
        // floats: standard normal; other integers {0, 1}; positions 0..n-1; narrow types capped
        List<ValueSignature> other = List.of(ValueSignature.of("pixel_values", DType.F32, -1, 3, 32, 32),
                ValueSignature.of("flags", DType.I32, 4, 100), ValueSignature.of("position_ids", DType.I64, 1, -1),
                ValueSignature.of("input_ids", DType.I8, 1, 300), ValueSignature.of("mask", DType.BOOL, 2, 3));
        try (InputBatch in = gen.withVocab(100000).generate(other)) {
            double[] px = toDouble(in.get("pixel_values").toFloatArray());
            assertEquals(2 * 3 * 32 * 32, px.length);
            double mean = Arrays.stream(px).average().orElseThrow();
            double var = Arrays.stream(px).map(x -> (x - mean) * (x - mean)).sum() / px.length;
            // 6144 samples: standard error of the mean 0.013, of the variance about 0.018
            assertEquals(0, mean, 0.06);
            assertEquals(1, var, 0.08);
            double[] flags = toDouble(in.get("flags").toFloatArray());
            assertTrue(Arrays.stream(flags).allMatch(x -> x == 0 || x == 1));
            assertTrue(Arrays.stream(flags).anyMatch(x -> x == 0) && Arrays.stream(flags).anyMatch(x -> x == 1));
            float[] pos = in.get("position_ids").toFloatArray();
            assertEquals(500, pos.length);
            for (int i = 0; i < pos.length; i++) {
                assertEquals(i, pos[i]);
            }
            double[] small = toDouble(in.get("input_ids").toFloatArray());
            assertTrue(Arrays.stream(small).allMatch(x -> x >= 0 && x <= 127));
            assertTrue(Arrays.stream(small).anyMatch(x -> x > 100));
            for (float f : in.get("mask").toFloatArray()) {
                assertEquals(1f, f);
            }
            assertNull(in.attentionMask());
            assertEquals(2, in.batchSize());
        }
    }

    @Test
    void openDimensionsResolve() {
        ValueSignature spec = new ValueSignature("x", DType.F32, new long[] {-1, 8, -1, -1}, List.of("n", "", "seq", ""));
        assertArrayEquals(new long[] {1, 8, 16, 16}, RandomInputs.defaults().shapeOf(spec));
        assertArrayEquals(new long[] {4, 8, 33, 5},
                RandomInputs.defaults().withBatch(4).withDefaultDim(5).withDim("seq", 33).shapeOf(spec));
        ValueSignature named = new ValueSignature("y", DType.F32, new long[] {7, -1}, List.of("", "batch"));
        assertArrayEquals(new long[] {7, 2}, RandomInputs.defaults().withBatch(2).shapeOf(named));
        assertThrows(JlmException.InvalidArgument.class, () -> RandomInputs.defaults().withBatch(0));
        assertThrows(JlmException.InvalidArgument.class,
                () -> new ValueSignature("z", DType.F32, new long[] {1, 2}, List.of("a")));
        assertThrows(JlmException.InvalidArgument.class,
                () -> RandomInputs.defaults().generate(List.of(BERT.get(0), BERT.get(0))));
    }

    @Test
    void signatureIsImmutable() {
        long[] shape = {-5, 3};
        ValueSignature s = ValueSignature.of("a", DType.F16, shape);
        shape[1] = 99;
        assertArrayEquals(new long[] {-1, 3}, s.shape());
        s.shape()[1] = 42;
        assertArrayEquals(new long[] {-1, 3}, s.shape());
        assertEquals(ValueSignature.of("a", DType.F16, -1, 3), s);
        assertEquals("a: F16[?, 3]", s.toString());
        assertFalse(s.isFixed());
        assertTrue(RandomInputs.looksLikeIds("input_ids") && RandomInputs.looksLikeIds("token_id")
                && RandomInputs.looksLikeIds("ids") && !RandomInputs.looksLikeIds("hidden") && !RandomInputs.looksLikeIds("valid_len"));
    }

    private static double[] toDouble(float[] v) {
        double[] d = new double[v.length];
        for (int i = 0; i < v.length; i++) {
            d[i] = v[i];
        }
        return d;
    }
}
