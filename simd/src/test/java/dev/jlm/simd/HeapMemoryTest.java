package dev.jlm.simd;

import static dev.jlm.simd.testing.TestData.normal;
import static dev.jlm.simd.testing.TestData.uniform;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.jlm.core.DType;
import dev.jlm.core.Tensor;
import dev.jlm.simd.activation.Activations;
import dev.jlm.simd.attention.Attention;
import dev.jlm.simd.attention.AttentionOptions;
import dev.jlm.simd.norm.LayerNorm;
import dev.jlm.simd.norm.RmsNorm;
import dev.jlm.simd.quant.QMatMul;
import dev.jlm.simd.quant.QuantizedMatrix;
import dev.jlm.simd.rope.Rope;
import dev.jlm.simd.rope.RopeTable;
import dev.jlm.simd.softmax.Softmax;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;

/**
 * Every kernel on tensors over heap memory (Java arrays) gives what it gives on off-heap memory. The fastest loops
 * are compiled for plain off-heap segments only (see {@code Segments}); heap memory must take a general path,
 * never an error and never wrong values. Shapes include rows of several vectors plus a tail, and several rows,
 * so that the multi-row paths are chosen; bound: 1e-5 relative to the largest output (the general paths may round
 * differently).
 */
class HeapMemoryTest {

    /** A heap copy of an F32 or U8 tensor, same shape. */
    private static Tensor heap(Tensor t) {
        long[] shape = t.shape();
        if (t.dtype() == DType.F32) {
            return Tensor.wrap(MemorySegment.ofArray(t.toFloatArray()), DType.F32, shape);
        }
        byte[] bytes = t.segment().toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
        return Tensor.wrap(MemorySegment.ofArray(bytes), t.dtype(), shape);
    }

    private static Tensor out(long... shape) {
        float[] poison = new float[(int) Arrays.stream(shape).reduce(1, (a, b) -> a * b)];
        Arrays.fill(poison, Float.NaN);
        return Tensor.wrap(MemorySegment.ofArray(poison), DType.F32, shape);
    }

    private static void assertSame(String what, Tensor offHeap, Tensor onHeap) {
        float[] want = offHeap.toFloatArray();
        float[] got = onHeap.toFloatArray();
        assertEquals(want.length, got.length, what);
        double scale = 0;
        for (float v : want) {
            scale = Math.max(scale, Math.abs(v));
        }
        for (int i = 0; i < want.length; i++) {
            assertEquals(want[i], got[i], 1e-5 * scale, what + ": element " + i);
        }
    }

    /** Runs op on off-heap inputs and outputs, then on heap copies of them, and compares the outputs. */
    private static void check(String what, Tensor[] inputs, long[][] outShapes, Consumer<Tensor[]> op) {
        Tensor[] native_ = new Tensor[inputs.length + outShapes.length];
        Tensor[] onHeap = new Tensor[inputs.length + outShapes.length];
        for (int i = 0; i < inputs.length; i++) {
            native_[i] = inputs[i];
            onHeap[i] = heap(inputs[i]);
        }
        for (int i = 0; i < outShapes.length; i++) {
            native_[inputs.length + i] = Tensor.allocate(DType.F32, outShapes[i]);
            onHeap[inputs.length + i] = out(outShapes[i]);
        }
        op.accept(native_);
        op.accept(onHeap);
        for (int i = 0; i < outShapes.length; i++) {
            assertSame(what + " output " + i, native_[inputs.length + i], onHeap[inputs.length + i]);
        }
    }

    private static Tensor f32(long seed, long... shape) {
        int n = (int) Arrays.stream(shape).reduce(1, (a, b) -> a * b);
        return Tensor.of(normal(seed, n, 0, 2), shape);
    }

    @Test
    void normsOnHeapMemory() {
        for (int n : new int[] {67, 384, 4099}) {
            int rows = 9;
            Tensor x = f32(1, rows, n);
            Tensor r = f32(2, rows, n);
            Tensor g = Tensor.of(uniform(3, n, 0.5, 1.5), n);
            Tensor b = Tensor.of(uniform(4, n, -1, 1), n);
            long[] s = {rows, n};
            check("RMSNorm n=" + n, new Tensor[] {x, g}, new long[][] {s},
                    t -> RmsNorm.vector().withThreads(2).apply(t[0], t[1], 1e-6f, t[2]));
            check("RMSNorm residual n=" + n, new Tensor[] {x, r, g}, new long[][] {s, s},
                    t -> RmsNorm.vector().withThreads(2).applyResidual(t[0], t[1], t[2], 1e-6f, t[3], t[4]));
            check("LayerNorm n=" + n, new Tensor[] {x, g, b}, new long[][] {s},
                    t -> LayerNorm.vector().withThreads(2).apply(t[0], t[1], t[2], 1e-5f, t[3]));
            check("LayerNorm residual n=" + n, new Tensor[] {x, r, g, b}, new long[][] {s, s},
                    t -> LayerNorm.vector().withThreads(2).applyResidual(t[0], t[1], t[2], t[3], 1e-5f, t[4], t[5]));
        }
    }

    @Test
    void softmaxAndActivationsOnHeapMemory() {
        for (int n : new int[] {7, 100, 300, 2051, 20000}) {
            int rows = 5;
            Tensor x = f32(5, rows, n);
            Tensor m = Tensor.of(uniform(6, n, -3, 0), n);
            long[] s = {rows, n};
            check("softmax n=" + n, new Tensor[] {x}, new long[][] {s},
                    t -> Softmax.vector().withThreads(2).apply(t[0], t[1]));
            check("masked softmax n=" + n, new Tensor[] {x, m}, new long[][] {s},
                    t -> Softmax.vector().withThreads(2).apply(t[0], t[1], t[2]));
            check("SiLU n=" + n, new Tensor[] {x}, new long[][] {s}, t -> Activations.vector().silu(t[0], t[1]));
            check("GELU n=" + n, new Tensor[] {x}, new long[][] {s}, t -> Activations.vector().geluErf(t[0], t[1]));
            check("SwiGLU n=" + n, new Tensor[] {x, x}, new long[][] {s},
                    t -> Activations.vector().swiglu(t[0], t[1], t[2]));
        }
    }

    @Test
    void ropeOnHeapMemory() {
        RopeTable table = RopeTable.of(64, 10000, 512);
        for (Rope.Layout layout : Rope.Layout.values()) {
            Tensor x = f32(7, 5, 4, 64);
            check("RoPE " + layout, new Tensor[] {x}, new long[][] {{5, 4, 64}},
                    t -> Rope.vector().withThreads(2).apply(t[0], table, layout, 17, t[1]));
        }
    }

    @Test
    void attentionOnHeapMemory() {
        for (int seq : new int[] {1, 37}) {
            Tensor q = f32(8, 1, 8, seq, 64);
            Tensor k = f32(9, 1, 2, seq, 64);
            Tensor v = f32(10, 1, 2, seq, 64);
            check("attention seq=" + seq, new Tensor[] {q, k, v}, new long[][] {{1, 8, seq, 64}},
                    t -> Attention.vector().withThreads(2).apply(t[0], t[1], t[2],
                            AttentionOptions.DEFAULT.withCausal(true), t[3]));
        }
    }

    @Test
    void quantizedMatMulOnHeapMemory() {
        int n = 40;
        int k = 256;
        try (QuantizedMatrix w = QuantizedMatrix.allocate(4, 32, n, k, DType.F32, true)) {
            dev.jlm.simd.testing.TestData.randomize(w, 11);
            QuantizedMatrix onHeap = QuantizedMatrix.wrap(4, 32, n, k, heap(w.data()), heap(w.scales()),
                    heap(w.zeroPoints()));
            for (int m : new int[] {1, 3, 40}) {
                Tensor a = f32(13, m, k);
                float[] want = new float[m * n];
                try (Tensor y = Tensor.allocate(DType.F32, m, n)) {
                    QMatMul.vector().multiply(a, w, null, y, 2);
                    want = y.toFloatArray();
                }
                Tensor y = out(m, n);
                QMatMul.vector().multiply(heap(a), onHeap, null, y, 2);
                assertSame("QMatMul M=" + m, Tensor.of(want, m, n), y);
            }
        }
    }

    @Test
    void l1KernelsOnHeapMemory() {
        int n = 1003;
        double[] x = new double[n];
        double[] y = new double[n];
        java.util.Random random = new java.util.Random(15);
        for (int i = 0; i < n; i++) {
            x[i] = random.nextGaussian();
            y[i] = random.nextGaussian();
        }
        dev.jlm.simd.l1.L1Kernels k = dev.jlm.simd.l1.L1Kernels.vector();
        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
            MemorySegment xo = arena.allocate(8L * n, 8).copyFrom(MemorySegment.ofArray(x));
            MemorySegment yo = arena.allocate(8L * n, 8).copyFrom(MemorySegment.ofArray(y));
            MemorySegment xh = MemorySegment.ofArray(x.clone());
            MemorySegment yh = MemorySegment.ofArray(y.clone());
            double scale = Math.sqrt(k.dot(xo, 0, xo, 0, n) * k.dot(yo, 0, yo, 0, n));
            assertEquals(k.dot(xo, 0, yo, 0, n), k.dot(xh, 0, yh, 0, n), 1e-12 * scale, "dot");
            assertEquals(k.axpyDot(0.7, xo, 0, yo, 0, xo, 0, n), k.axpyDot(0.7, xh, 0, yh, 0, xh, 0, n),
                    1e-12 * scale, "axpyDot");
            k.axpy(-0.3, xo, 0, yo, 0, n);
            k.axpy(-0.3, xh, 0, yh, 0, n);
            for (int i = 0; i < n; i++) {
                assertEquals(yo.getAtIndex(java.lang.foreign.ValueLayout.JAVA_DOUBLE, i),
                        yh.getAtIndex(java.lang.foreign.ValueLayout.JAVA_DOUBLE, i), 1e-12, "axpy " + i);
            }
        }
    }

    @Test
    void heapCopiesAreWhatTheyCopy() {
        Tensor x = f32(14, 3, 5);
        assertArrayEquals(x.toFloatArray(), heap(x).toFloatArray());
    }
}
