package dev.jlm.simd.attention;

import static dev.jlm.simd.testing.TestData.normal;
import static dev.jlm.simd.testing.TestData.poisoned;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import dev.jlm.core.DType;
import dev.jlm.core.Tensor;
import dev.jlm.simd.testing.OrtOp;
import dev.jlm.simd.testing.TinyModel;
import java.nio.IntBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * jlm's attention against ONNX Runtime on the same inputs: the standard {@code Attention} (opset 23) and the
 * {@code com.microsoft} contrib ops {@code MultiHeadAttention} and {@code GroupQueryAttention}. ONNX Runtime
 * computes in F32 too, so the two may differ by the rounding of both: the bound is a relative error of 1e-5 of the
 * largest output magnitude of the row ({@code |a - b| <= 1e-5 * max_row |b|}), plus 1e-6 absolute.
 */
class AttentionOrtTest {
    static final double REL = 1e-5;

    static Stream<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        // batch, heads, kvHeads, seq, headDim, causal
        int[][] shapes = {{1, 1, 1, 1, 32}, {2, 4, 4, 7, 64}, {1, 12, 4, 64, 80}, {1, 32, 8, 129, 128}, {1, 4, 1, 200, 64}};
        for (int[] s : shapes) {
            for (boolean causal : new boolean[] {true, false}) {
                out.add(Arguments.of(s[0], s[1], s[2], s[3], s[4], causal));
            }
        }
        return out.stream();
    }

    static void assertRowsClose(String what, float[] ours, float[] theirs, int d) {
        for (int r = 0; r < theirs.length / d; r++) {
            double max = 0;
            for (int i = 0; i < d; i++) {
                max = Math.max(max, Math.abs(theirs[r * d + i]));
            }
            for (int i = 0; i < d; i++) {
                double err = Math.abs(ours[r * d + i] - theirs[r * d + i]);
                if (!(err <= REL * max + 1e-6)) {
                    throw new AssertionError(what + ": row " + r + " element " + i + " is " + ours[r * d + i]
                            + ", ONNX Runtime gives " + theirs[r * d + i]);
                }
            }
        }
    }

    @ParameterizedTest(name = "Attention-23 b={0} h={1}/{2} seq={3} d={4} causal={5}")
    @MethodSource("cases")
    void matchesOnnxAttention(int b, int h, int hkv, int s, int d, boolean causal) throws Exception {
        byte[] model = TinyModel.node("Attention", 23)
                .input("Q", b, h, s, d).input("K", b, hkv, s, d).input("V", b, hkv, s, d).output("Y", b, h, s, d)
                .attr("is_causal", causal ? 1L : 0L).build();
        try (Tensor q = Tensor.of(normal(1, b * h * s * d, 0, 1), b, h, s, d);
             Tensor k = Tensor.of(normal(2, b * hkv * s * d, 0, 1), b, hkv, s, d);
             Tensor v = Tensor.of(normal(3, b * hkv * s * d, 0, 1), b, hkv, s, d);
             Tensor ours = poisoned(b, h, s, d); Tensor theirs = poisoned(b, h, s, d);
             OrtOp op = OrtOp.create(model, 1)) {
            op.run(Map.of("Q", q, "K", k, "V", v), Map.of("Y", theirs));
            Attention.get().apply(q, k, v, AttentionOptions.DEFAULT.withCausal(causal), ours);
            assertRowsClose("Attention", ours.toFloatArray(), theirs.toFloatArray(), d);
        }
    }

    @ParameterizedTest(name = "Attention-23 with mask and scale, h={0}/{1}")
    @MethodSource("maskCases")
    void matchesOnnxAttentionWithMaskAndScale(int h, int hkv) throws Exception {
        int b = 2;
        int s = 50;
        int d = 64;
        float scale = 0.2f;
        byte[] model = TinyModel.node("Attention", 23)
                .input("Q", b, h, s, d).input("K", b, hkv, s, d).input("V", b, hkv, s, d).input("M", s, s)
                .output("Y", b, h, s, d).attr("scale", scale).build();
        try (Tensor q = Tensor.of(normal(4, b * h * s * d, 0, 1), b, h, s, d);
             Tensor k = Tensor.of(normal(5, b * hkv * s * d, 0, 1), b, hkv, s, d);
             Tensor v = Tensor.of(normal(6, b * hkv * s * d, 0, 1), b, hkv, s, d);
             Tensor m = Tensor.of(normal(7, s * s, 0, 3), s, s);
             Tensor ours = poisoned(b, h, s, d); Tensor theirs = poisoned(b, h, s, d);
             OrtOp op = OrtOp.create(model, 1)) {
            op.run(Map.of("Q", q, "K", k, "V", v, "M", m), Map.of("Y", theirs));
            Attention.get().apply(q, k, v, AttentionOptions.DEFAULT.withScale(scale).withMask(m), ours);
            assertRowsClose("Attention with mask", ours.toFloatArray(), theirs.toFloatArray(), d);
        }
    }

    /** GroupQueryAttention is causal only. */
    static Stream<Arguments> causalCases() {
        return cases().filter(a -> (Boolean) a.get()[5]);
    }

    static Stream<Arguments> maskCases() {
        return Stream.of(Arguments.of(4, 4), Arguments.of(8, 2));
    }

    /** MultiHeadAttention works on [batch, seq, heads * headDim]: jlm's packed form with equal lengths. */
    @ParameterizedTest(name = "MultiHeadAttention b={0} h={1} seq={3} d={4} causal={5}")
    @MethodSource("cases")
    void matchesContribMultiHeadAttention(int b, int h, int hkv, int s, int d, boolean causal) throws Exception {
        byte[] model = TinyModel.node("com.microsoft", "MultiHeadAttention", 1)
                .input("query", b, s, h * d).input("key", b, s, h * d).input("value", b, s, h * d)
                .output("output", b, s, h * d).attr("num_heads", (long) h).attr("unidirectional", causal ? 1L : 0L)
                .build();
        long[] offsets = new long[b + 1];
        for (int i = 0; i < b; i++) {
            offsets[i + 1] = offsets[i] + s;
        }
        try (Tensor q = Tensor.of(normal(8, b * s * h * d, 0, 1), b, s, h * d);
             Tensor k = Tensor.of(normal(9, b * s * h * d, 0, 1), b, s, h * d);
             Tensor v = Tensor.of(normal(10, b * s * h * d, 0, 1), b, s, h * d);
             Tensor ours = poisoned(b * s, h * d); Tensor theirs = poisoned(b, s, h * d);
             OrtOp op = OrtOp.create(model, 1)) {
            op.run(Map.of("query", q, "key", k, "value", v), Map.of("output", theirs));
            Attention.get().applyPacked(q.reshape(b * s, h * d), k.reshape(b * s, h * d), v.reshape(b * s, h * d),
                    offsets, h, h, AttentionOptions.DEFAULT.withCausal(causal), ours);
            assertRowsClose("MultiHeadAttention", ours.toFloatArray(), theirs.toFloatArray(), d);
        }
    }

    /**
     * GroupQueryAttention (always causal) on [batch, seq, heads * headDim] with kvHeads * headDim keys, no past:
     * jlm's packed form with GQA.
     */
    @ParameterizedTest(name = "GroupQueryAttention b={0} h={1}/{2} seq={3} d={4}")
    @MethodSource("causalCases")
    void matchesContribGroupQueryAttention(int b, int h, int hkv, int s, int d, boolean causal) throws Exception {
        byte[] model = TinyModel.node("com.microsoft", "GroupQueryAttention", 1)
                .input("query", b, s, h * d).input("key", b, s, hkv * d).input("value", b, s, hkv * d)
                .typedInput("seqlens_k", INT32, b).typedInput("total_sequence_length", INT32)
                .output("output", b, s, h * d)
                .wire(List.of("query", "key", "value", "", "", "seqlens_k", "total_sequence_length"),
                        List.of("output"))
                .attr("num_heads", (long) h).attr("kv_num_heads", (long) hkv).build();
        long[] offsets = new long[b + 1];
        for (int i = 0; i < b; i++) {
            offsets[i + 1] = offsets[i] + s;
        }
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        int[] seqlens = new int[b];
        java.util.Arrays.fill(seqlens, s - 1);
        try (Tensor q = Tensor.of(normal(11, b * s * h * d, 0, 1), b, s, h * d);
             Tensor k = Tensor.of(normal(12, b * s * hkv * d, 0, 1), b, s, hkv * d);
             Tensor v = Tensor.of(normal(13, b * s * hkv * d, 0, 1), b, s, hkv * d);
             Tensor ours = poisoned(b * s, h * d);
             OrtSession.SessionOptions so = new OrtSession.SessionOptions()) {
            so.setIntraOpNumThreads(1);
            Map<String, OnnxTensor> in = new HashMap<>();
            try (OrtSession session = env.createSession(model, so)) {
                in.put("query", OrtOp.wrap(env, q));
                in.put("key", OrtOp.wrap(env, k));
                in.put("value", OrtOp.wrap(env, v));
                in.put("seqlens_k", OnnxTensor.createTensor(env, IntBuffer.wrap(seqlens), new long[] {b}));
                in.put("total_sequence_length", OnnxTensor.createTensor(env, IntBuffer.wrap(new int[] {s}), new long[0]));
                try (OrtSession.Result r = session.run(in)) {
                    float[] y = flatten((float[][][]) r.get(0).getValue());
                    Attention.get().applyPacked(q.reshape(b * s, h * d), k.reshape(b * s, hkv * d),
                            v.reshape(b * s, hkv * d), offsets, h, hkv, AttentionOptions.DEFAULT.withCausal(true), ours);
                    assertRowsClose("GroupQueryAttention", ours.toFloatArray(), y, d);
                }
            } finally {
                in.values().forEach(OnnxTensor::close);
            }
        }
    }

    private static float[] flatten(float[][][] a) {
        int n = a[0].length * a[0][0].length;
        float[] out = new float[a.length * n];
        for (int i = 0; i < a.length; i++) {
            for (int j = 0; j < a[i].length; j++) {
                System.arraycopy(a[i][j], 0, out, i * n + j * a[i][j].length, a[i][j].length);
            }
        }
        return out;
    }

    static final int INT32 = ai.onnx.proto.OnnxMl.TensorProto.DataType.INT32_VALUE;
}
