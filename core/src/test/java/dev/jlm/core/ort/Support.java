package dev.jlm.core.ort;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OnnxValue;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.jlm.core.DType;
import dev.jlm.core.Tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.FloatBuffer;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

/** Shared helpers of the ort tests: random tensors, MiniLM inputs, and the same run through ONNX Runtime's own API. */
final class Support {
    private Support() {
    }

    static Tensor randomF32(Random r, long... shape) {
        Tensor t = Tensor.allocate(DType.F32, shape);
        MemorySegment s = t.segment();
        for (long i = 0; i < t.size(); i++) {
            s.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i, (float) r.nextGaussian());
        }
        return t;
    }

    /** Random bytes, except BOOL which gets 0 or 1. */
    static Tensor randomBits(Random r, DType dtype, long... shape) {
        Tensor t = Tensor.allocate(dtype, shape);
        MemorySegment s = t.segment();
        for (long i = 0; i < s.byteSize(); i++) {
            s.set(ValueLayout.JAVA_BYTE, i, dtype == DType.BOOL ? (byte) r.nextInt(2) : (byte) r.nextInt());
        }
        return t;
    }

    static Tensor longs(long[][] values) {
        Tensor t = Tensor.allocate(DType.I64, values.length, values[0].length);
        for (int i = 0; i < values.length; i++) {
            for (int j = 0; j < values[i].length; j++) {
                t.setDouble(values[i][j], i, j);
            }
        }
        return t;
    }

    /** Token ids, a mask with padding at the end of later rows, and random token types, for MiniLM. */
    static long[][][] miniLmArrays(Random r, int batch, int seq) {
        long[][] ids = new long[batch][seq];
        long[][] mask = new long[batch][seq];
        long[][] types = new long[batch][seq];
        for (int b = 0; b < batch; b++) {
            int len = Math.max(2, seq - b * 3);
            for (int s = 0; s < seq; s++) {
                ids[b][s] = s == 0 ? 101 : s == len - 1 ? 102 : s < len ? 1000 + r.nextInt(29000) : 0;
                mask[b][s] = s < len ? 1 : 0;
                types[b][s] = r.nextInt(2);
            }
        }
        return new long[][][] {ids, mask, types};
    }

    static Map<String, Tensor> miniLmInputs(long[][][] arrays) {
        Map<String, Tensor> m = new LinkedHashMap<>();
        m.put("input_ids", longs(arrays[0]));
        m.put("attention_mask", longs(arrays[1]));
        m.put("token_type_ids", longs(arrays[2]));
        return m;
    }

    static void closeAll(Map<String, Tensor> m) {
        m.values().forEach(Tensor::close);
    }

    /** MiniLM through ONNX Runtime's own Java API (Java arrays in, FloatBuffer out), default session options. */
    static float[] miniLmDirect(OrtSession session, long[][][] arrays) throws OrtException {
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (OnnxTensor ids = OnnxTensor.createTensor(env, arrays[0]);
             OnnxTensor mask = OnnxTensor.createTensor(env, arrays[1]);
             OnnxTensor types = OnnxTensor.createTensor(env, arrays[2]);
             OrtSession.Result r = session.run(Map.of("input_ids", ids, "attention_mask", mask, "token_type_ids", types))) {
            return floats((OnnxTensor) r.get("last_hidden_state").orElseThrow());
        }
    }

    static float[] floats(OnnxValue v) {
        FloatBuffer fb = ((OnnxTensor) v).getFloatBuffer();
        float[] out = new float[fb.remaining()];
        fb.get(out);
        return out;
    }

    static byte[] bytes(Tensor t) {
        return t.segment().toArray(ValueLayout.JAVA_BYTE);
    }

    /** Same dtype, shape and bytes. */
    static void assertSameTensor(Tensor expected, Tensor actual, String what) {
        assertEquals(expected.dtype(), actual.dtype(), what + ": dtype");
        assertArrayEquals(expected.shape(), actual.shape(), what + ": shape");
        Tensor e = expected.isContiguous() ? expected : expected.copy();
        try {
            byte[] eb = bytes(e);
            byte[] ab = bytes(actual);
            if (!Arrays.equals(eb, ab)) {
                fail(what + ": bytes differ");
            }
        } finally {
            if (e != expected) {
                e.close();
            }
        }
    }

    /** Checks the floats are finite and not all alike, so that an all-zero or NaN result cannot pass. */
    static void assertInformative(float[] v, String what) {
        double min = Double.POSITIVE_INFINITY;
        double max = Double.NEGATIVE_INFINITY;
        for (float f : v) {
            if (!Float.isFinite(f)) {
                fail(what + ": non-finite value " + f);
            }
            min = Math.min(min, f);
            max = Math.max(max, f);
        }
        if (!(max - min > 1e-3)) {
            fail(what + ": values are (nearly) constant: [" + min + ", " + max + "]");
        }
    }
}
