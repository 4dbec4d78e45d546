package dev.jlm.simd.rope;

import static dev.jlm.simd.testing.TestData.assertMessage;
import static dev.jlm.simd.testing.TestData.normal;
import static dev.jlm.simd.testing.TestData.poisoned;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.jlm.core.DType;
import dev.jlm.core.Tensor;
import dev.jlm.simd.rope.Rope.Layout;
import dev.jlm.simd.testing.OrtOp;
import dev.jlm.simd.testing.TestData;
import dev.jlm.simd.testing.TinyModel;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * RoPE against a double-precision reference that computes every angle afresh. Bound per element: 1e-6 times the
 * magnitude of the rotated pair ({@code |a| + |b|}): the F32 table is within half an ulp of cos and sin, and each
 * output is two rounded products and a sum.
 */
class RopeTest {
    static final double TOL = 1e-6;

    static Stream<Rope> impls() {
        return Stream.of(Rope.scalar(), Rope.vector());
    }

    /** x is [batch][seq][heads][headDim] flattened; returns the rotated copy in double. */
    static double[] reference(float[] x, int batch, int seq, int heads, int headDim, int rot, double base,
                              long position, boolean interleaved) {
        double[] y = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            y[i] = x[i];
        }
        int half = rot / 2;
        for (int b = 0; b < batch; b++) {
            for (int t = 0; t < seq; t++) {
                for (int h = 0; h < heads; h++) {
                    int o = ((b * seq + t) * heads + h) * headDim;
                    for (int i = 0; i < half; i++) {
                        double angle = (position + t) * Math.pow(base, -2.0 * i / rot);
                        int ia = interleaved ? o + 2 * i : o + i;
                        int ib = interleaved ? o + 2 * i + 1 : o + i + half;
                        double a = x[ia];
                        double c = x[ib];
                        y[ia] = a * Math.cos(angle) - c * Math.sin(angle);
                        y[ib] = c * Math.cos(angle) + a * Math.sin(angle);
                    }
                }
            }
        }
        return y;
    }

    /** Checks |y - ref| <= TOL * (|a| + |b|) of the pair each element belongs to (untouched elements: exact). */
    static void assertRotated(String what, float[] x, double[] want, float[] got, int headDim, int rot,
                              boolean interleaved) {
        int half = rot / 2;
        for (int i = 0; i < got.length; i++) {
            int d = i % headDim;
            int base = i - d;
            double bound;
            if (d >= rot) {
                bound = 0;
            } else {
                int k = interleaved ? d / 2 : d % half;
                int ia = base + (interleaved ? 2 * k : k);
                int ib = base + (interleaved ? 2 * k + 1 : k + half);
                bound = TOL * (Math.abs(x[ia]) + Math.abs(x[ib]));
            }
            if (!(Math.abs(got[i] - want[i]) <= bound)) {
                fail(what + ": element " + i + " is " + got[i] + ", expected " + want[i] + " (bound " + bound + ")");
            }
        }
    }

    @ParameterizedTest
    @MethodSource("impls")
    void bothLayoutsAtModelShapes(Rope k) {
        int[][] shapes = {   // batch, seq, heads, headDim, rotaryDim
            {1, 1, 32, 128, 128}, {1, 7, 12, 64, 64}, {2, 5, 3, 96, 96}, {1, 3, 4, 64, 32}, {1, 4, 2, 10, 6},
            {1, 9, 1, 2, 2}, {1, 2, 5, 48, 40}};
        for (int[] s : shapes) {
            for (Layout layout : Layout.values()) {
                for (long position : new long[] {0, 1, 1000}) {
                    check(k, s[0], s[1], s[2], s[3], s[4], 10000.0, position, layout, DType.F32);
                }
            }
        }
        check(k, 1, 3, 8, 128, 128, 500000.0, 8000, Layout.HALF_SPLIT, DType.F32);
        check(k, 1, 6, 4, 64, 64, 10000.0, 17, Layout.HALF_SPLIT, DType.BF16);
        check(k, 1, 6, 4, 64, 64, 10000.0, 17, Layout.INTERLEAVED, DType.F16);
    }

    private static void check(Rope k, int batch, int seq, int heads, int headDim, int rot, double base, long position,
                              Layout layout, DType dtype) {
        int n = batch * seq * heads * headDim;
        float[] x = normal(seq * 31L + headDim, n, 0, 1.5);
        RopeTable table = RopeTable.of(rot, base, 9000);
        boolean inter = layout == Layout.INTERLEAVED;
        String what = k.kind() + " " + layout + " " + dtype + " [" + batch + "," + seq + "," + heads + "," + headDim
                + "] rot=" + rot + " pos=" + position;
        long[] shape = batch == 1 ? new long[] {seq, heads, headDim} : new long[] {batch, seq, heads, headDim};
        try (Tensor xt = TestData.of(dtype, x, shape); Tensor out = poisoned(shape)) {
            double[] want = reference(x, batch, seq, heads, headDim, rot, base, position, inter);
            k.apply(xt, table, layout, position, out);
            assertRotated(what, x, want, out.toFloatArray(), headDim, rot, inter);
            if (dtype == DType.F32) {
                k.apply(xt, table, layout, position, xt);
                assertRotated(what + " in place", x, want, xt.toFloatArray(), headDim, rot, inter);
            }
        }
    }

    @ParameterizedTest
    @MethodSource("impls")
    void oneHeadAsRankTwo(Rope k) {
        int seq = 11;
        int headDim = 64;
        float[] x = normal(5, seq * headDim, 0, 1);
        RopeTable table = RopeTable.of(headDim, 10000.0, 64);
        try (Tensor xt = Tensor.of(x, seq, headDim); Tensor out = poisoned(seq, headDim)) {
            k.apply(xt, table, Layout.HALF_SPLIT, 3, out);
            assertRotated("rank 2", x, reference(x, 1, seq, 1, headDim, headDim, 10000.0, 3, false), out.toFloatArray(),
                    headDim, headDim, false);
        }
    }

    @Test
    void piecesStartingInsideABatchGetTheirPositionsRight() {
        int batch = 3;
        int seq = 201;
        int heads = 8;
        int headDim = 64;
        float[] x = normal(8, batch * seq * heads * headDim, 0, 1);
        RopeTable table = RopeTable.of(headDim, 10000.0, 512);
        for (Layout layout : Layout.values()) {
            try (Tensor xt = Tensor.of(x, batch, seq, heads, headDim); Tensor one = poisoned(batch, seq, heads, headDim);
                 Tensor four = poisoned(batch, seq, heads, headDim)) {
                Rope.vector().withThreads(1).apply(xt, table, layout, 5, one);
                Rope.vector().withThreads(4).apply(xt, table, layout, 5, four);   // 4 pieces of ~150 tokens
                org.junit.jupiter.api.Assertions.assertArrayEquals(one.toFloatArray(), four.toFloatArray());
                boolean inter = layout == Layout.INTERLEAVED;
                assertRotated("4 pieces " + layout, x, reference(x, batch, seq, heads, headDim, headDim, 10000.0, 5,
                        inter), four.toFloatArray(), headDim, headDim, inter);
            }
        }
    }

    @Test
    void tablesAreSharedPerKey() {
        assertSame(RopeTable.of(64, 10000.0, 128), RopeTable.of(64, 10000.0, 128));
        assertTrue(RopeTable.of(64, 10000.0, 128) != RopeTable.of(64, 10000.0, 256));
    }

    @Test
    void badInputIsRejectedWithTheArgumentNamed() {
        RopeTable t64 = RopeTable.of(64, 10000.0, 16);
        try (Tensor x = Tensor.of(new float[4 * 2 * 32], 4, 2, 32); Tensor out = poisoned(4, 2, 32);
             Tensor x1 = Tensor.of(new float[64], 64); Tensor x64 = Tensor.of(new float[20 * 64], 20, 64);
             Tensor o64 = poisoned(20, 64)) {
            Rope k = Rope.get();
            assertMessage(() -> k.apply(x, t64, Layout.HALF_SPLIT, 0, out), "rotaryDim");
            assertMessage(() -> k.apply(x1, t64, Layout.HALF_SPLIT, 0, x1), "rope x");
            assertMessage(() -> k.apply(x64, t64, Layout.HALF_SPLIT, 0, o64), "outside the table");
            assertMessage(() -> k.apply(x64.slice(0, 0, 4), t64, Layout.HALF_SPLIT, -1, o64.slice(0, 0, 4)),
                    "outside the table");
            assertMessage(() -> k.apply(x64, t64, null, 0, o64), "layout");
        }
        assertMessage(() -> RopeTable.of(7, 10000.0, 16), "even");
        assertMessage(() -> RopeTable.of(8, 1.0, 16), "base");
        assertMessage(() -> RopeTable.of(8, Double.NaN, 16), "base");
        assertMessage(() -> RopeTable.of(8, 10000.0, 0), "maxPositions");
    }

    /** ONNX Runtime's RotaryEmbedding (opset 23), 3-D input with num_heads, position ids, both layouts. */
    @Test
    void agreesWithOnnxRuntime() throws Exception {
        int batch = 2;
        int seq = 5;
        int heads = 4;
        int headDim = 64;
        long position = 37;
        RopeTable table = RopeTable.of(headDim, 10000.0, 256);
        for (Layout layout : Layout.values()) {
            boolean inter = layout == Layout.INTERLEAVED;
            float[] x = normal(inter ? 1 : 2, batch * seq * heads * headDim, 0, 1);
            byte[] model = TinyModel.node("RotaryEmbedding", 23)
                    .input("X", batch, seq, (long) heads * headDim)
                    .input("cos_cache", table.maxPositions(), headDim / 2)
                    .input("sin_cache", table.maxPositions(), headDim / 2)
                    .typedInput("position_ids", TinyModel.INT64, batch, seq)
                    .output("Y", batch, seq, (long) heads * headDim)
                    .attr("interleaved", inter ? 1L : 0L).attr("num_heads", (long) heads).build();
            try (Tensor xt = Tensor.of(x, batch, seq, heads, headDim);
                 Tensor ids = Tensor.allocate(DType.I64, batch, seq);
                 Tensor ort = poisoned(batch, seq, heads, headDim); Tensor jlm = poisoned(batch, seq, heads, headDim);
                 OrtOp op = OrtOp.create(model, 1)) {
                for (int b = 0; b < batch; b++) {
                    for (int t = 0; t < seq; t++) {
                        ids.setDouble(position + t, b, t);
                    }
                }
                op.run(Map.of("X", xt.reshape(batch, seq, (long) heads * headDim), "cos_cache", table.cos(),
                        "sin_cache", table.sin(), "position_ids", ids), Map.of("Y", ort.reshape(batch, seq,
                        (long) heads * headDim)));
                Rope.get().apply(xt, table, layout, position, jlm);
                double[] want = reference(x, batch, seq, heads, headDim, headDim, 10000.0, position, inter);
                assertRotated("onnxruntime " + layout, x, want, ort.toFloatArray(), headDim, headDim, inter);
                assertRotated("jlm " + layout, x, want, jlm.toFloatArray(), headDim, headDim, inter);
            }
        }
    }
}
