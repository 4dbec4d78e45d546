package dev.jlm.quant;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.jlm.core.testing.TestModels;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import org.junit.jupiter.api.Assumptions;
import java.util.List;
import java.util.Map;

/** Sentence embeddings (mean pooling over the attention mask) of a MiniLM-style model run in ONNX Runtime. */
final class Embeddings {
    private Embeddings() {
    }

    /** The evaluation sentences, or the first {@code limit} of them. */
    static List<String> sentences(int limit) {
        Path p = TestModels.sentences();
        // The shared sentences live beside the checkout (as in CI); without them these tests are skipped, not failed.
        Assumptions.assumeTrue(p != null, "the sentences file ../shared/data/sentences-dev.txt is missing");
        try {
            return Files.readAllLines(p).stream().map(String::strip).filter(s -> !s.isEmpty()).limit(limit).toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static long[][] tokenize(List<String> sentences) {
        try (HuggingFaceTokenizer tok = HuggingFaceTokenizer.newInstance(TestModels.miniLmTokenizer())) {
            long[][] out = new long[sentences.size() * 3][];
            for (int i = 0; i < sentences.size(); i++) {
                Encoding e = tok.encode(sentences.get(i));
                out[3 * i] = e.getIds();
                out[3 * i + 1] = e.getAttentionMask();
                out[3 * i + 2] = e.getTypeIds();
            }
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** One embedding per sentence (batch 1, so no padding enters the comparison). */
    static float[][] embed(Path model, long[][] tokens) throws OrtException {
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        int count = tokens.length / 3;
        float[][] out = new float[count][];
        try (OrtSession.SessionOptions opts = new OrtSession.SessionOptions()) {
            opts.setIntraOpNumThreads(1);
            try (OrtSession s = env.createSession(model.toString(), opts)) {
                for (int i = 0; i < count; i++) {
                    long[] ids = tokens[3 * i];
                    long[] shape = {1, ids.length};
                    Map<String, OnnxTensor> in = new HashMap<>();
                    try (OnnxTensor a = OnnxTensor.createTensor(env, java.nio.LongBuffer.wrap(ids), shape);
                         OnnxTensor b = OnnxTensor.createTensor(env, java.nio.LongBuffer.wrap(tokens[3 * i + 1]), shape);
                         OnnxTensor c = OnnxTensor.createTensor(env, java.nio.LongBuffer.wrap(tokens[3 * i + 2]), shape)) {
                        in.put("input_ids", a);
                        in.put("attention_mask", b);
                        in.put("token_type_ids", c);
                        try (OrtSession.Result r = s.run(in)) {
                            float[][][] h = (float[][][]) r.get(0).getValue();
                            out[i] = meanPool(h[0], tokens[3 * i + 1]);
                        }
                    }
                }
            }
        }
        return out;
    }

    static float[] meanPool(float[][] hidden, long[] mask) {
        float[] out = new float[hidden[0].length];
        int n = 0;
        for (int t = 0; t < hidden.length; t++) {
            if (mask[t] != 0) {
                n++;
                for (int j = 0; j < out.length; j++) {
                    out[j] += hidden[t][j];
                }
            }
        }
        for (int j = 0; j < out.length; j++) {
            out[j] /= Math.max(1, n);
        }
        return out;
    }

    static double cosine(float[] a, float[] b) {
        double ab = 0;
        double aa = 0;
        double bb = 0;
        for (int i = 0; i < a.length; i++) {
            ab += (double) a[i] * b[i];
            aa += (double) a[i] * a[i];
            bb += (double) b[i] * b[i];
        }
        return ab / Math.sqrt(aa * bb);
    }

    /** {mean, min} cosine between two sets of embeddings. */
    static double[] compare(float[][] a, float[][] b) {
        double sum = 0;
        double min = 1;
        for (int i = 0; i < a.length; i++) {
            double c = cosine(a[i], b[i]);
            sum += c;
            min = Math.min(min, c);
        }
        return new double[]{sum / a.length, min};
    }
}
