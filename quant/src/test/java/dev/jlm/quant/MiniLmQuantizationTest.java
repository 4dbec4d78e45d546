package dev.jlm.quant;

import dev.jlm.core.onnx.OnnxModel;
import dev.jlm.core.testing.TestModels;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * all-MiniLM-L6-v2, quantized and run in ONNX Runtime: sentence embeddings (mean pooling, batch 1) on the
 * sentences file against the float model's. Bounds are the measured figures (docs/quantization.md) less a margin.
 */
class MiniLmQuantizationTest {
    static long[][] tokens;
    static float[][] reference;

    @BeforeAll
    static void embedReference() throws Exception {
        List<String> sentences = Embeddings.sentences(Integer.MAX_VALUE);
        tokens = Embeddings.tokenize(sentences);
        reference = Embeddings.embed(TestModels.miniLm(), tokens);
    }

    static double[] quantizeAndCompare(QuantizeOptions o, Path out, long maxBytes) throws Exception {
        QuantizeReport r;
        try (OnnxModel m = OnnxModel.load(TestModels.miniLm())) {
            r = ModelQuantizer.quantize(m, out, o, null);
        }
        assertTrue(Files.size(out) <= maxBytes, out + " is " + Files.size(out) + " bytes");
        assertEquals(Files.size(out), r.bytesAfter());
        return Embeddings.compare(reference, Embeddings.embed(out, tokens));
    }

    @Test
    void w4DataFreeStaysClose(@TempDir Path dir) throws Exception {
        double[] c = quantizeAndCompare(QuantizeOptions.w4(), dir.resolve("w4.onnx"), 16_000_000);
        // measured: mean 0.978, min 0.951 (mse, block 16, asym, embedding tables 4-bit block 128)
        assertTrue(c[0] >= 0.975, "mean cosine " + c[0]);
        assertTrue(c[1] >= 0.94, "min cosine " + c[1]);
    }

    @Test
    void w8IsNearlyLossless(@TempDir Path dir) throws Exception {
        double[] c = quantizeAndCompare(QuantizeOptions.w8(), dir.resolve("w8.onnx"), 70_000_000);
        assertTrue(c[0] >= 0.999, "mean cosine " + c[0]);
        assertTrue(c[1] >= 0.998, "min cosine " + c[1]);
    }

    @Test
    @Tag("slow")
    void w4GptqReachesTheQualityTarget(@TempDir Path dir) throws Exception {
        QuantizeOptions o = QuantizeOptions.w4().withMethod(Method.GPTQ, Calibration.of(TestModels.sentences(), TestModels.miniLmTokenizer()));
        QuantizeReport r;
        Path out = dir.resolve("gptq.onnx");
        try (OnnxModel m = OnnxModel.load(TestModels.miniLm())) {
            r = ModelQuantizer.quantize(m, out, o, null);
        }
        assertTrue(r.bytesAfter() <= 16_000_000, "size " + r.bytesAfter());
        float[][] got = Embeddings.embed(out, tokens);
        // held out: the sentences after the 128 it calibrated on; measured 0.9925
        int cut = 128;
        double[] held = Embeddings.compare(java.util.Arrays.copyOfRange(reference, cut, reference.length),
                java.util.Arrays.copyOfRange(got, cut, got.length));
        assertTrue(held[0] >= 0.99, "mean cosine on held-out sentences " + held[0]);
    }

    @Test
    @Tag("slow")
    void w4GptqOnRandomTokensBeatsTheDataFreeSearch(@TempDir Path dir) throws Exception {
        QuantizeOptions o = QuantizeOptions.w4().withMethod(Method.GPTQ, Calibration.random(TestModels.miniLmTokenizer()));
        double[] c = quantizeAndCompare(o, dir.resolve("gptq-random.onnx"), 16_000_000);
        // measured: mean 0.985 (the data-free mse search: 0.978)
        assertTrue(c[0] >= 0.982, "mean cosine " + c[0]);
    }
}
