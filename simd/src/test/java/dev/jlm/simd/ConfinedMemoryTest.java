package dev.jlm.simd;

import static dev.jlm.simd.testing.TestData.normal;
import static dev.jlm.simd.testing.TestData.uniform;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

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
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;

/**
 * Tensors in a confined arena may be touched by their owner thread only: a kernel asked for two threads must then
 * run the whole call on the calling thread instead of failing in a worker, and give the values it gives on shared
 * memory (the same bits: every row is computed the same way, split or not). Sizes are large enough that the call
 * would be split on shared memory.
 */
class ConfinedMemoryTest {

    private static Tensor f32(long seed, long... shape) {
        int n = (int) Arrays.stream(shape).reduce(1, (a, b) -> a * b);
        return Tensor.of(normal(seed, n, 0, 2), shape);
    }

    /** A copy of t in the given (confined) arena. */
    private static Tensor in(Arena arena, Tensor t) {
        Tensor c = Tensor.allocate(arena, t.dtype(), t.shape());
        MemorySegment.copy(t.segment(), 0, c.segment(), 0, t.segment().byteSize());
        return c;
    }

    /** Runs op on shared tensors, then on confined copies with confined outputs, and compares the outputs exactly. */
    private static void check(String what, Tensor[] inputs, long[][] outShapes, Consumer<Tensor[]> op) {
        Tensor[] shared = new Tensor[inputs.length + outShapes.length];
        for (int i = 0; i < inputs.length; i++) {
            shared[i] = inputs[i];
        }
        for (int i = 0; i < outShapes.length; i++) {
            shared[inputs.length + i] = Tensor.allocate(DType.F32, outShapes[i]);
        }
        op.accept(shared);
        try (Arena arena = Arena.ofConfined()) {
            Tensor[] confined = new Tensor[shared.length];
            for (int i = 0; i < inputs.length; i++) {
                confined[i] = in(arena, inputs[i]);
            }
            for (int i = 0; i < outShapes.length; i++) {
                confined[inputs.length + i] = Tensor.allocate(arena, DType.F32, outShapes[i]);
                confined[inputs.length + i].segment().fill((byte) 0x7f); // NaN-like poison
            }
            assertFalse(RowExecutor.shareable(confined[0].segment()));
            op.accept(confined);
            for (int i = 0; i < outShapes.length; i++) {
                assertArrayEquals(shared[inputs.length + i].toFloatArray(), confined[inputs.length + i].toFloatArray(),
                        what + " output " + i);
            }
        }
    }

    @Test
    void shareableTellsConfinedMemoryApart() {
        assertTrue(RowExecutor.shareable(MemorySegment.ofArray(new float[4]), null));
        try (Arena shared = Arena.ofShared(); Arena confined = Arena.ofConfined()) {
            assertTrue(RowExecutor.shareable(shared.allocate(16), Arena.global().allocate(16)));
            assertFalse(RowExecutor.shareable(shared.allocate(16), confined.allocate(16)));
            assertTrue(RowExecutor.chunks(64, 1 << 16, 2) > 1);
            assertTrue(RowExecutor.chunks(64, 1 << 16, 2, shared.allocate(16)) > 1);
            assertTrue(RowExecutor.chunks(64, 1 << 16, 2, confined.allocate(16)) == 1);
        }
    }

    @Test
    void normsOnConfinedMemory() {
        int rows = 64;
        int n = 4099;
        Tensor x = f32(1, rows, n);
        Tensor r = f32(2, rows, n);
        Tensor g = Tensor.of(uniform(3, n, 0.5, 1.5), n);
        Tensor b = Tensor.of(uniform(4, n, -1, 1), n);
        long[] s = {rows, n};
        check("RMSNorm", new Tensor[] {x, g}, new long[][] {s},
                t -> RmsNorm.vector().withThreads(2).apply(t[0], t[1], 1e-6f, t[2]));
        check("RMSNorm residual", new Tensor[] {x, r, g}, new long[][] {s, s},
                t -> RmsNorm.vector().withThreads(2).applyResidual(t[0], t[1], t[2], 1e-6f, t[3], t[4]));
        check("LayerNorm", new Tensor[] {x, g, b}, new long[][] {s},
                t -> LayerNorm.vector().withThreads(2).apply(t[0], t[1], t[2], 1e-5f, t[3]));
    }

    @Test
    void softmaxActivationsAndRopeOnConfinedMemory() {
        Tensor x = f32(5, 64, 2051);
        Tensor m = Tensor.of(uniform(6, 2051, -3, 0), 2051);
        long[] s = {64, 2051};
        check("softmax", new Tensor[] {x}, new long[][] {s}, t -> Softmax.vector().withThreads(2).apply(t[0], t[1]));
        check("masked softmax", new Tensor[] {x, m}, new long[][] {s},
                t -> Softmax.vector().withThreads(2).apply(t[0], t[1], t[2]));
        Tensor row = f32(7, 1, 300_000);
        check("one long softmax row", new Tensor[] {row}, new long[][] {{1, 300_000}},
                t -> Softmax.vector().withThreads(2).apply(t[0], t[1]));
        check("SwiGLU", new Tensor[] {x, x}, new long[][] {s},
                t -> Activations.vector().withThreads(2).swiglu(t[0], t[1], t[2]));
        RopeTable table = RopeTable.of(64, 10000, 512);
        Tensor q = f32(8, 256, 4, 64);
        check("RoPE", new Tensor[] {q}, new long[][] {{256, 4, 64}},
                t -> Rope.vector().withThreads(2).apply(t[0], table, Rope.Layout.values()[0], 17, t[1]));
    }

    @Test
    void attentionAndQuantizedMatMulOnConfinedMemory() {
        Tensor q = f32(9, 1, 8, 256, 64);
        Tensor k = f32(10, 1, 2, 256, 64);
        Tensor v = f32(11, 1, 2, 256, 64);
        check("attention", new Tensor[] {q, k, v}, new long[][] {{1, 8, 256, 64}},
                t -> Attention.vector().withThreads(2).apply(t[0], t[1], t[2],
                        AttentionOptions.DEFAULT.withCausal(true), t[3]));
        int n = 40;
        int kk = 256;
        try (QuantizedMatrix w = QuantizedMatrix.allocate(4, 32, n, kk, DType.F32, true);
             Arena arena = Arena.ofConfined()) {
            dev.jlm.simd.testing.TestData.randomize(w, 12);
            QuantizedMatrix confined = QuantizedMatrix.wrap(4, 32, n, kk, in(arena, w.data()), in(arena, w.scales()),
                    in(arena, w.zeroPoints()));
            for (int m : new int[] {1, 3, 40}) {
                Tensor a = f32(14, m, kk);
                try (Tensor y = Tensor.allocate(DType.F32, m, n)) {
                    QMatMul.vector().multiply(a, w, null, y, 2);
                    Tensor yc = Tensor.allocate(arena, DType.F32, m, n);
                    QMatMul.vector().multiply(in(arena, a), confined, null, yc, 2);
                    assertArrayEquals(y.toFloatArray(), yc.toFloatArray(), "QMatMul M=" + m);
                    Tensor ys = Tensor.allocate(arena, DType.F32, m, n);
                    QMatMul.scalar().multiply(in(arena, a), confined, null, ys, 2);
                }
            }
        }
    }
}
