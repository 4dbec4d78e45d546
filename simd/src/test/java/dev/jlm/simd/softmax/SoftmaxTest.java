package dev.jlm.simd.softmax;

import static dev.jlm.simd.testing.TestData.assertMessage;
import static dev.jlm.simd.testing.TestData.assertClose;
import static dev.jlm.simd.testing.TestData.normal;
import static dev.jlm.simd.testing.TestData.poisoned;
import static dev.jlm.simd.testing.TestData.uniform;
import static dev.jlm.simd.testing.TestData.widths;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlm.core.DType;
import dev.jlm.core.Tensor;
import dev.jlm.simd.testing.OrtOp;
import dev.jlm.simd.testing.TestData;
import dev.jlm.simd.testing.TinyModel;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Softmax against a double-precision reference. Bound per element: relative error 5e-6 (exp within 2 ulp, plus
 * the rounding of x - max in float, at most half an ulp of the logit range), plus 1e-30 absolute for outputs
 * that underflow.
 */
class SoftmaxTest {
    static final double REL = 5e-6;
    static final double ABS = 1e-30;

    static Stream<Softmax> impls() {
        return Stream.of(Softmax.scalar(), Softmax.vector());
    }

    /** Softmax of x (+ mask row i % maskRows) in double. */
    static double[] reference(float[] x, float[] mask, int rows, int n) {
        int maskRows = mask == null ? 1 : mask.length / n;
        double[] y = new double[rows * n];
        for (int r = 0; r < rows; r++) {
            double[] v = new double[n];
            double max = Double.NEGATIVE_INFINITY;
            for (int i = 0; i < n; i++) {
                v[i] = x[r * n + i] + (mask == null ? 0 : (double) mask[(r % maskRows) * n + i]);
                max = Math.max(max, v[i]);
            }
            double sum = 0;
            for (int i = 0; i < n; i++) {
                v[i] = Math.exp(v[i] - max);
                sum += v[i];
            }
            for (int i = 0; i < n; i++) {
                y[r * n + i] = v[i] / sum;
            }
        }
        return y;
    }

    @ParameterizedTest
    @MethodSource("impls")
    void matchesReferenceAtEveryWidth(Softmax k) {
        for (int n : widths()) {
            int rows = n >= 2048 ? 2 : 3;
            float[] x = normal(n, rows * n, 0, 4);
            try (Tensor xt = Tensor.of(x, rows, n); Tensor out = poisoned(rows, n)) {
                k.apply(xt, out);
                assertClose(k.kind() + " n=" + n, reference(x, null, rows, n), out.toFloatArray(), REL, ABS);
            }
        }
    }

    @ParameterizedTest
    @MethodSource("impls")
    void wideLogitRangesAndRowSums(Softmax k) {
        int rows = 4;
        int n = 1000;
        float[] x = uniform(3, rows * n, -60, 60);
        try (Tensor xt = Tensor.of(x, rows, n); Tensor out = poisoned(rows, n)) {
            k.apply(xt, out);
            float[] y = out.toFloatArray();
            assertClose(k.kind() + " logits in [-60, 60]", reference(x, null, rows, n), y, REL, ABS);
            for (int r = 0; r < rows; r++) {
                double s = 0;
                for (int i = 0; i < n; i++) {
                    s += y[r * n + i];
                }
                assertEquals(1.0, s, 1e-5, "row " + r + " sums to 1");
            }
        }
    }

    @ParameterizedTest
    @MethodSource("impls")
    void causalMaskIsReusedAcrossHeads(Softmax k) {
        int heads = 3;
        for (int q : new int[] {1, 5, 33}) {
            int n = q;   // square causal scores [heads, q, q]
            float[] mask = new float[q * n];
            for (int i = 0; i < q; i++) {
                for (int j = 0; j < n; j++) {
                    mask[i * n + j] = j <= i ? 0f : Float.NEGATIVE_INFINITY;
                }
            }
            float[] x = normal(q, heads * q * n, 0, 2);
            try (Tensor xt = Tensor.of(x, heads, q, n); Tensor mt = Tensor.of(mask, q, n);
                 Tensor out = poisoned(heads, q, n)) {
                k.apply(xt, mt, out);
                float[] y = out.toFloatArray();
                assertClose(k.kind() + " causal q=" + q, reference(x, mask, heads * q, n), y, REL, ABS);
                for (int h = 0; h < heads; h++) {
                    for (int i = 0; i < q; i++) {
                        for (int j = i + 1; j < n; j++) {
                            assertEquals(0f, y[(h * q + i) * n + j], "masked positions are exactly zero");
                        }
                    }
                }
            }
        }
        // One mask row for all rows, large negative instead of -inf, BF16 scores.
        int rows = 6;
        int n = 50;
        float[] mask = new float[n];
        for (int j = 0; j < n; j++) {
            mask[j] = j % 7 == 0 ? -1e9f : 0.25f * j / n;
        }
        float[] x = normal(9, rows * n, 0, 3);
        try (Tensor xt = TestData.of(DType.BF16, x, rows, n); Tensor mt = Tensor.of(mask, n);
             Tensor out = poisoned(rows, n)) {
            k.apply(xt, mt, out);
            assertClose(k.kind() + " vector mask, BF16 scores", reference(x, mask, rows, n), out.toFloatArray(), REL, ABS);
        }
    }

    @ParameterizedTest
    @MethodSource("impls")
    void nonFiniteRowsComeOutNaNAndStayInTheirRow(Softmax k) {
        int rows = 4;
        int n = 21;
        float[] x = normal(4, rows * n, 0, 1);
        x[3] = Float.NaN;
        x[n + 20] = Float.POSITIVE_INFINITY;
        for (int i = 0; i < n; i++) {
            x[2 * n + i] = Float.NEGATIVE_INFINITY;
        }
        try (Tensor xt = Tensor.of(x, rows, n); Tensor out = poisoned(rows, n)) {
            k.apply(xt, out);
            float[] y = out.toFloatArray();
            for (int i = 0; i < 3 * n; i++) {
                assertTrue(Float.isNaN(y[i]), "NaN, +inf and all -inf rows are NaN, as in the reference");
            }
            assertClose(k.kind() + " finite row", reference(x, null, rows, n), y, REL, ABS);
        }
    }

    /**
     * Rows of 16384 elements and more sum their exponentials in pieces, and a call with fewer such rows than
     * threads runs each row's pieces on several threads: against the reference, bit-identical for 1, 2 and 3
     * threads, NaN rows still NaN, in place too.
     */
    /** The vector softmax of x ([rows, n]) on the given threads, into poisoned memory. */
    private static float[] vectorOutput(float[] x, int rows, int n, int threads) {
        try (Tensor xt = Tensor.of(x, rows, n); Tensor out = poisoned(rows, n)) {
            Softmax.vector().withThreads(threads).apply(xt, out);
            return out.toFloatArray();
        }
    }

    @Test
    void longRowsSplitOverThreadsGiveTheSameBits() {
        for (int n : new int[]{16384, 16399, 32000, 65536 + 5, 131072 + 17}) {
            for (int rows : new int[]{1, 2, 3}) {
                float[] x = normal(n + rows, rows * n, 0, 5);
                if (rows == 3) {
                    x[2 * n + n / 2 + 3] = Float.NaN;
                }
                double[] want = reference(x, null, rows, n);
                float[] first = null;
                for (int t = 1; t <= 3; t++) {
                    float[] y = vectorOutput(x, rows, n, t);
                    int finite = rows == 3 ? 2 * n : rows * n;
                    assertClose("n=" + n + " rows=" + rows + " threads=" + t, Arrays.copyOf(want, finite),
                            Arrays.copyOf(y, finite), REL, ABS);
                    for (int i = finite; i < rows * n; i++) {
                        assertTrue(Float.isNaN(y[i]), "a row with a NaN is NaN");
                    }
                    if (first == null) {
                        first = y;
                    } else {
                        assertArrayEquals(first, y, "threads=" + t + " n=" + n);
                    }
                }
                try (Tensor xt = Tensor.of(x, rows, n)) {
                    Softmax.vector().withThreads(2).apply(xt, xt);
                    assertArrayEquals(first, xt.toFloatArray(), "in place, n=" + n);
                }
            }
        }
    }

    /**
     * Rows of 16 to 256 elements go two at a time through one method (an odd last row paired with itself, the
     * elements after the last whole vector done by an overlapping vector): widths around the vector length and that
     * limit, odd row counts, rows with lanes below exp's fast range next to rows without; against the reference,
     * and bit-identical for 1, 2 and 3 threads (the chunks, and so the pairs, differ), in place too.
     */
    /**
     * Inputs past SoftmaxImpl.PAIRS_MAX_BYTES with rows of 128 to 384 elements go row after row instead of in
     * pairs (read from memory, the pairs' two streams were slower): just past the limit, against the reference and
     * bit-identical for 1, 2 and 3 threads (the choice depends on the whole input, not on a thread's share); F16
     * and BF16 rows past it too.
     */
    @Test
    void largeInputsOfShortRowsGoRowByRow() {
        for (int n : new int[] {128, 257, 384}) {
            int rows = (int) (SoftmaxImpl.PAIRS_MAX_BYTES / (4L * n)) + 3;
            float[] x = normal(n * 7L + 3, rows * n, 0, 4);
            sameBitsOnOneToThreeThreads(x, rows, n);
        }
        // 16-bit rows of that many (each converted and done on its own), against the reference, 1 and 2 threads
        int n = 128;
        int rows = (int) (SoftmaxImpl.PAIRS_MAX_BYTES / (4L * n)) + 1;
        float[] x = normal(77, rows * n, 0, 3);
        for (DType dt : new DType[] {DType.F16, DType.BF16}) {
            try (Tensor xt = TestData.of(dt, x, rows, n); Tensor one = poisoned(rows, n); Tensor two = poisoned(rows, n)) {
                double[] want = reference(xt.toFloatArray(), null, rows, n);
                Softmax.vector().withThreads(1).apply(xt, one);
                Softmax.vector().withThreads(2).apply(xt, two);
                assertClose(dt + " n=" + n + " rows=" + rows, want, one.toFloatArray(), REL, ABS);
                assertArrayEquals(one.toFloatArray(), two.toFloatArray(), dt + " 1 and 2 threads");
            }
        }
    }

    /** The vector kernel's output on 1, 2 and 3 threads: each within the bound of the reference, all equal. */
    private static float[] sameBitsOnOneToThreeThreads(float[] x, int rows, int n) {
        double[] want = reference(x, null, rows, n);
        float[] first = null;
        for (int t = 1; t <= 3; t++) {
            float[] y = vectorOutput(x, rows, n, t);
            String what = "n=" + n + " rows=" + rows + " threads=" + t;
            assertClose(what, want, y, REL, ABS);
            if (first == null) {
                first = y;
            } else {
                assertArrayEquals(first, y, what);
            }
        }
        return first;
    }

    @Test
    void shortRowsInPairsGiveTheSameBitsWhateverTheirPartner() {
        for (int n : new int[] {16, 17, 31, 32, 100, 128, 200, 255, 256, 257}) {
            for (int rows : new int[] {1, 2, 3, 7, 333}) {
                float[] x = normal(n * 31L + rows, rows * n, 0, 4);
                for (int r = 1; r < rows; r += 3) {   // every third row has lanes far below its maximum
                    for (int i = r % 5; i < n; i += 7) {
                        x[r * n + i] = -150f;
                    }
                }
                float[] first = sameBitsOnOneToThreeThreads(x, rows, n);
                for (int t = 1; t <= 3; t++) {
                    try (Tensor xt = Tensor.of(x, rows, n)) {
                        Softmax.vector().withThreads(t).apply(xt, xt);
                        assertArrayEquals(first, xt.toFloatArray(), "in place, n=" + n + " rows=" + rows + " t=" + t);
                    }
                }
                // each row alone in its call (paired with itself), in place: its bits too
                try (Tensor xt = Tensor.of(x, rows, n)) {
                    for (int r = 0; r < Math.min(rows, 8); r++) {
                        Tensor row = xt.slice(0, r, r + 1);
                        Softmax.vector().apply(row, row);
                    }
                    float[] y = xt.toFloatArray();
                    for (int i = 0; i < Math.min(rows, 8) * n; i++) {
                        assertEquals(first[i], y[i], "row " + i / n + " alone in place, n=" + n);
                    }
                }
            }
        }
    }

    /**
     * F16 and BF16 rows (converted to F32 by the vector kernel, a row or a block of short rows at a time): widths
     * below a vector, with a tail, and long enough to be split into pieces; with and without an F32 mask; against
     * the reference on the values the 16-bit tensor holds.
     */
    @ParameterizedTest
    @MethodSource("impls")
    void sixteenBitRowsWithAndWithoutMask(Softmax k) {
        for (DType dt : new DType[] {DType.F16, DType.BF16}) {
            for (int n : new int[] {7, 100, 2051, 20000}) {
                int rows = n == 100 ? 131 : 3;   // 131 short rows: blocks of converted rows, an odd last pair
                float[] x = normal(n + 11L, rows * n, 0, 3);
                float[] mask = uniform(n + 12L, n, -4, 0);
                try (Tensor xt = TestData.of(dt, x, rows, n); Tensor mt = Tensor.of(mask, n);
                     Tensor out = poisoned(rows, n)) {
                    float[] held = xt.toFloatArray();   // the values after rounding to 16 bits
                    k.apply(xt, out);
                    assertClose(k.kind() + " " + dt + " n=" + n, reference(held, null, rows, n), out.toFloatArray(), REL,
                            ABS);
                    k.apply(xt, mt, out);
                    assertClose(k.kind() + " " + dt + " masked n=" + n, reference(held, mask, rows, n),
                            out.toFloatArray(), REL, ABS);
                }
            }
        }
    }

    /** Heap memory (and any segment that is not plain off-heap memory) takes the general path, with a mask too. */
    @Test
    void heapSegmentsTakeTheGeneralPath() {
        for (int n : new int[] {7, 128, 300, 2048, 20000}) {
            int rows = 3;
            float[] x = normal(n + 5L, rows * n, 0, 3);
            float[] mask = uniform(n, n, -2, 0);
            float[] got = new float[rows * n];
            Arrays.fill(got, Float.NaN);
            Tensor xt = Tensor.wrap(MemorySegment.ofArray(x), DType.F32, rows, n);
            Tensor out = Tensor.wrap(MemorySegment.ofArray(got), DType.F32, rows, n);
            Softmax.vector().withThreads(2).apply(xt, out);
            assertClose("heap n=" + n, reference(x, null, rows, n), got, REL, ABS);
            Arrays.fill(got, Float.NaN);
            Tensor mt = Tensor.wrap(MemorySegment.ofArray(mask), DType.F32, n);
            Softmax.vector().apply(xt, mt, out);
            assertClose("heap, masked, n=" + n, reference(x, mask, rows, n), got, REL, ABS);
        }
    }

    @ParameterizedTest
    @MethodSource("impls")
    void inPlaceAndSlicedRows(Softmax k) {
        int rows = 5;
        int n = 70;
        float[] x = normal(12, rows * n, 1, 2);
        double[] want = reference(x, null, rows, n);
        try (Tensor xt = Tensor.of(x, rows, n)) {
            k.apply(xt, xt);
            assertClose("in place", want, xt.toFloatArray(), REL, ABS);
        }
        float[] wide = new float[rows * (n + 9)];
        for (int r = 0; r < rows; r++) {
            System.arraycopy(x, r * n, wide, r * (n + 9) + 9, n);
        }
        try (Tensor w = Tensor.of(wide, rows, n + 9); Tensor out = poisoned(rows, n)) {
            k.apply(w.slice(1, 9, n + 9), out);
            assertClose("sliced rows", want, out.toFloatArray(), REL, ABS);
        }
    }

    @Test
    void badInputIsRejectedWithTheArgumentNamed() {
        try (Tensor x = Tensor.of(normal(1, 12, 0, 1), 3, 4); Tensor out = poisoned(3, 4);
             Tensor m3 = Tensor.of(new float[3], 3); Tensor m2 = Tensor.of(new float[8], 2, 4);
             Tensor i32 = Tensor.allocate(DType.I32, 3, 4); Tensor out2 = poisoned(4, 3)) {
            Softmax k = Softmax.get();
            assertMessage(() -> k.apply(x, m3, out), "mask");
            assertMessage(() -> k.apply(x, m2, out), "do not divide");
            assertMessage(() -> k.apply(i32, out), "x");
            assertMessage(() -> k.apply(x, out2), "out");
            assertMessage(() -> k.apply(x, out, out), "share memory");
        }
    }

    /** ONNX Runtime's Softmax (opset 13, axis -1) on the same inputs. */
    @Test
    void agreesWithOnnxRuntime() throws Exception {
        int rows = 5;
        for (int n : new int[] {7, 128, 2048, 8192}) {
            float[] x = normal(40 + n, rows * n, 0, 5);
            byte[] model = TinyModel.node("Softmax", 13).input("X", rows, n).output("Y", rows, n)
                    .attr("axis", -1L).build();
            try (Tensor xt = Tensor.of(x, rows, n); Tensor ort = poisoned(rows, n); Tensor jlm = poisoned(rows, n);
                 OrtOp op = OrtOp.create(model, 1)) {
                op.run(Map.of("X", xt), Map.of("Y", ort));
                Softmax.get().apply(xt, jlm);
                double[] want = reference(x, null, rows, n);
                assertClose("onnxruntime n=" + n, want, ort.toFloatArray(), REL, ABS);
                assertClose("jlm n=" + n, want, jlm.toFloatArray(), REL, ABS);
            }
        }
    }
}
