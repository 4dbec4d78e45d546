package dev.jlm.simd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlm.core.DType;
import dev.jlm.core.Simd;
import dev.jlm.core.Tensor;
import dev.jlm.core.convert.Conversions;
import dev.jlm.simd.activation.Activations;
import dev.jlm.simd.attention.Attention;
import dev.jlm.simd.l1.L1Kernels;
import dev.jlm.simd.norm.LayerNorm;
import dev.jlm.simd.norm.RmsNorm;
import dev.jlm.simd.quant.BlockKernel;
import dev.jlm.simd.quant.QMatMul;
import dev.jlm.simd.rope.Rope;
import dev.jlm.simd.rope.RopeTable;
import dev.jlm.simd.softmax.Softmax;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Where the JVM's vectors are narrower than 128 bits (here forced with -XX:MaxVectorSize=8) the kernels fall back
 * to their scalar references: every kernel's default instance must load and run there, and forcing the Vector API
 * must be refused with a clear message. Each case runs in a JVM of its own ({@link #main}).
 */
class ScalarFallbackTest {

    /** The child JVM: every default kernel on a small input, then "ok" and the SIMD mode. */
    public static void main(String[] args) {
        float[] v = new float[64];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) Math.sin(i);
        }
        try (Tensor x = Tensor.of(v, 4, 16); Tensor y = Tensor.allocate(DType.F32, 4, 16);
             Tensor g = Tensor.of(new float[16], 16)) {
            Softmax.get().apply(x, y);
            RmsNorm.get().apply(x, g, 1e-5f, y);
            LayerNorm.get().apply(x, g, null, 1e-5f, y);
            Activations.get().silu(x, y);
            L1Kernels.get().sumSquares(x.segment(), 0, 8);
            Attention.get();
            QMatMul.get();
            BlockKernel.get();
            Rope.get().apply(x.reshape(4, 2, 8), RopeTable.of(8, 10000, 16), Rope.Layout.HALF_SPLIT, 0, x.reshape(4, 2, 8));
            try (Tensor h = Tensor.allocate(DType.F16, 64)) {
                Conversions.f32ToF16(x.segment(), 0, h.segment(), 0, 64);
                Conversions.f16ToF32(h.segment(), 0, y.segment(), 0, 64);
            }
        }
        System.out.println("ok " + Simd.describe());
    }

    private static String[] child(String simd) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-XX:MaxVectorSize=8",
                "-Djlm.simd=" + simd, "-cp", System.getProperty("java.class.path"), ScalarFallbackTest.class.getName()));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        return new String[] {Integer.toString(p.waitFor()), out};
    }

    @Test
    void kernelsRunOnTheirScalarReferencesWhereVectorsAreNarrow() throws Exception {
        String[] r = child("auto");
        assertEquals("0", r[0], r[1]);
        assertTrue(r[1].contains("ok scalar"), r[1]);
    }

    @Test
    void forcingTheVectorApiOnNarrowVectorsIsRefused() throws Exception {
        String[] r = child("vector");
        assertTrue(!r[0].equals("0") && r[1].contains("-Djlm.simd=vector needs vectors of at least 128 bits"), r[1]);
    }
}
