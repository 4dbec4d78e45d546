package dev.jlm.simd.activation;

import static dev.jlm.simd.testing.TestData.assertMessage;
import static dev.jlm.simd.testing.TestData.normal;
import static dev.jlm.simd.testing.TestData.poisoned;
import static dev.jlm.simd.testing.TestData.uniform;
import static dev.jlm.simd.testing.TestData.widths;
import static org.junit.jupiter.api.Assertions.fail;

import dev.jlm.core.DType;
import dev.jlm.core.Tensor;
import dev.jlm.simd.testing.OrtOp;
import dev.jlm.simd.testing.TestData;
import dev.jlm.simd.testing.TinyModel;
import java.util.Map;
import java.util.function.DoubleUnaryOperator;
import java.util.stream.Stream;
import org.apache.commons.math3.special.Erf;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Activations against double-precision references (erfc from Commons Math). Bound per element:
 * {@code |y - ref| <= 4e-6 |ref| + 1e-7 |x| + MIN_VALUE} - relative to the output, with slack relative to the input
 * for the far negative tail, where the output is tiny and its relative error follows that of the rounded input, and
 * one subnormal step for results below the float range.
 * NaN must map to NaN and infinities to what the formula gives in double.
 */
class ActivationsTest {
    static final double REL = 4e-6;
    static final double ABS_X = 1e-7;

    static Stream<Activations> impls() {
        return Stream.of(Activations.scalar(), Activations.vector());
    }

    static double silu(double x) {
        return x / (1 + Math.exp(-x));
    }

    static double geluTanh(double x) {
        double u = Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x);
        return x / (1 + Math.exp(-2 * u));   // == 0.5 x (1 + tanh u), without the cancellation
    }

    static double geluErf(double x) {
        if (Double.isNaN(x)) {
            return x;
        }
        return 0.5 * x * Erf.erfc(-x / Math.sqrt(2));
    }

    interface Op {
        void run(Activations k, Tensor x, Tensor out);
    }

    record Case(String name, Op op, DoubleUnaryOperator ref) {
    }

    static final Case[] UNARY = {
        new Case("silu", Activations::silu, ActivationsTest::silu),
        new Case("geluTanh", Activations::geluTanh, ActivationsTest::geluTanh),
        new Case("geluErf", Activations::geluErf, ActivationsTest::geluErf)};

    static void assertActivation(String what, float[] x, double[] want, float[] got) {
        for (int i = 0; i < x.length; i++) {
            double w = want[i];
            float g = got[i];
            boolean ok;
            if (Double.isNaN(w) || Float.isNaN(g)) {
                ok = Double.isNaN(w) && Float.isNaN(g);
            } else if (Double.isInfinite(w) || Float.isInfinite(g)) {
                ok = w == g;
            } else {
                ok = Math.abs(g - w) <= REL * Math.abs(w) + ABS_X * Math.abs(x[i]) + Float.MIN_VALUE;
            }
            if (!ok) {
                fail(what + ": f(" + x[i] + ") is " + g + ", expected " + w);
            }
        }
    }

    static double[] apply(DoubleUnaryOperator f, float[] x) {
        double[] y = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            y[i] = f.applyAsDouble(x[i]);
        }
        return y;
    }

    @ParameterizedTest
    @MethodSource("impls")
    void unaryActivationsAtEveryWidth(Activations k) {
        for (Case c : UNARY) {
            for (int n : widths()) {
                int rows = 2;
                float[] x = normal(n, rows * n, 0, 3);
                try (Tensor xt = Tensor.of(x, rows, n); Tensor out = poisoned(rows, n)) {
                    c.op.run(k, xt, out);
                    assertActivation(k.kind() + " " + c.name + " n=" + n, x, apply(c.ref, x), out.toFloatArray());
                }
            }
        }
    }

    @ParameterizedTest
    @MethodSource("impls")
    void tailsAndSpecialValues(Activations k) {
        float[] x = uniform(17, 4000, -30, 30);
        float[] special = {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 0f, -0f, 1e-30f, -1e-30f,
            Float.MIN_VALUE, 88.5f, -88.5f, 104f, -104f, 200f, -200f, 1e20f, -1e20f, 9f, -9f, 0.5f, -0.5f};
        System.arraycopy(special, 0, x, 0, special.length);
        System.arraycopy(special, 0, x, 1000, special.length);   // again at a vector lane, not only in a tail
        for (Case c : UNARY) {
            try (Tensor xt = Tensor.of(x, 4000); Tensor out = poisoned(4000)) {
                c.op.run(k, xt, out);
                assertActivation(k.kind() + " " + c.name + " tails", x, apply(c.ref, x), out.toFloatArray());
            }
        }
    }

    @ParameterizedTest
    @MethodSource("impls")
    void swigluOnTheHalvesOfAFusedProjection(Activations k) {
        for (int ff : new int[] {1, 13, 16, 100, 2048}) {
            int rows = 3;
            float[] fused = normal(ff, rows * 2 * ff, 0, 2);
            float[] gate = new float[rows * ff];
            double[] want = new double[rows * ff];
            for (int r = 0; r < rows; r++) {
                for (int i = 0; i < ff; i++) {
                    gate[r * ff + i] = fused[r * 2 * ff + i];
                    want[r * ff + i] = silu(fused[r * 2 * ff + i]) * fused[r * 2 * ff + ff + i];
                }
            }
            try (Tensor t = Tensor.of(fused, rows, 2L * ff); Tensor out = poisoned(rows, ff)) {
                k.swiglu(t.slice(1, 0, ff), t.slice(1, ff, 2L * ff), out);
                assertActivation(k.kind() + " swiglu ff=" + ff, gate, want, out.toFloatArray());
            }
        }
    }

    @ParameterizedTest
    @MethodSource("impls")
    void sixteenBitInputsAndInPlace(Activations k) {
        // 4099: several pieces of the F32 scratch the vector kernel converts 16-bit rows into, and a tail
        for (int n : new int[] {300, 4099}) {
            for (DType dt : new DType[] {DType.BF16, DType.F16}) {
                float[] x = normal(3, n, 0, 3);
                float[] u = normal(4, n, 0, 1);
                try (Tensor xt = TestData.of(dt, x, n); Tensor ut = TestData.of(dt, u, n); Tensor uf = Tensor.of(u, n);
                     Tensor out = poisoned(n)) {
                    k.geluErf(xt, out);
                    assertActivation(k.kind() + " geluErf " + dt, x, apply(ActivationsTest::geluErf, x),
                            out.toFloatArray());
                    k.geluTanh(xt, out);
                    assertActivation(k.kind() + " geluTanh " + dt, x, apply(ActivationsTest::geluTanh, x),
                            out.toFloatArray());
                    k.silu(xt, out);
                    assertActivation(k.kind() + " silu " + dt, x, apply(ActivationsTest::silu, x), out.toFloatArray());
                    double[] want = new double[n];
                    for (int i = 0; i < n; i++) {
                        want[i] = silu(x[i]) * u[i];
                    }
                    k.swiglu(xt, ut, out);
                    assertActivation(k.kind() + " swiglu " + dt, x, want, out.toFloatArray());
                    k.swiglu(xt, uf, out);
                    assertActivation(k.kind() + " swiglu " + dt + " gate, F32 up", x, want, out.toFloatArray());
                }
            }
        }
        int n = 300;
        float[] x = normal(5, n, 0, 3);
        try (Tensor xt = Tensor.of(x, n)) {
            k.silu(xt, xt);
            assertActivation(k.kind() + " silu in place", x, apply(ActivationsTest::silu, x), xt.toFloatArray());
        }
    }

    @Test
    void badInputIsRejectedWithTheArgumentNamed() {
        try (Tensor x = Tensor.of(new float[12], 3, 4); Tensor out = poisoned(4, 3); Tensor up = Tensor.of(new float[4], 4);
             Tensor i8 = Tensor.allocate(DType.I8, 3, 4); Tensor ok = poisoned(3, 4)) {
            Activations k = Activations.get();
            assertMessage(() -> k.silu(x, out), "out");
            assertMessage(() -> k.geluErf(i8, ok), "x");
            assertMessage(() -> k.swiglu(x, up, ok), "up");
            assertMessage(() -> k.swiglu(i8, x, ok), "gate");
            assertMessage(() -> k.swiglu(x, null, ok), "up");
        }
    }

    /** ONNX Runtime's Gelu (opset 20, both forms) and QuickGelu with alpha 1 (= SiLU) on the same inputs. */
    @Test
    void agreesWithOnnxRuntime() throws Exception {
        int rows = 4;
        int n = 1000;
        float[] x = normal(99, rows * n, 0, 3);
        Object[][] cases = {
            {TinyModel.node("Gelu", 20).attr("approximate", "none"), UNARY[2]},
            {TinyModel.node("Gelu", 20).attr("approximate", "tanh"), UNARY[1]},
            {TinyModel.node("com.microsoft", "QuickGelu", 1).attr("alpha", 1.0f), UNARY[0]}};
        for (Object[] c : cases) {
            Case op = (Case) c[1];
            byte[] model = ((TinyModel) c[0]).input("X", rows, n).output("Y", rows, n).build();
            try (Tensor xt = Tensor.of(x, rows, n); Tensor ort = poisoned(rows, n); Tensor jlm = poisoned(rows, n);
                 OrtOp session = OrtOp.create(model, 1)) {
                session.run(Map.of("X", xt), Map.of("Y", ort));
                op.op.run(Activations.get(), xt, jlm);
                double[] want = apply(op.ref, x);
                assertActivation("onnxruntime " + op.name, x, want, ort.toFloatArray());
                assertActivation("jlm " + op.name, x, want, jlm.toFloatArray());
            }
        }
    }
}
