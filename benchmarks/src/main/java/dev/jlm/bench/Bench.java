package dev.jlm.bench;

import dev.jlm.core.DType;
import dev.jlm.core.JlmException;
import dev.jlm.core.Tensor;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Shared pieces of the kernel benchmarks. Conventions (the report relies on them): one class per op named
 * {@code <Op>Bench}; {@code @Param impl} in {@code jlm} (the start-up choice, {@code -Djlm.simd}), {@code scalar}
 * (the scalar reference) and {@code ort} (ONNX Runtime running a one-node model of the op on the same memory);
 * {@code @Param threads} in 1 and 2; shapes as {@code "rows x cols"} strings such as {@code 128x4096}.
 */
final class Bench {
    /** JVM flags every fork needs: the Vector API and native access (FFM, ONNX Runtime). */
    static final String ADD_VECTOR = "--add-modules=jdk.incubator.vector";
    static final String NATIVE = "--enable-native-access=ALL-UNNAMED";

    private Bench() {
    }

    /** "128x4096" to {128, 4096}. */
    static long[] shape(String s) {
        String[] parts = s.split("x");
        long[] d = new long[parts.length];
        for (int i = 0; i < parts.length; i++) {
            d[i] = Long.parseLong(parts[i].trim());
        }
        return d;
    }

    /** A tensor of normal(mean, sd) values from a fixed seed. */
    static Tensor random(long seed, double mean, double sd, long... shape) {
        Tensor t = Tensor.allocate(DType.F32, shape);
        SplittableRandom r = new SplittableRandom(seed);
        long n = t.size();
        for (long i = 0; i < n; i++) {
            // Sum of uniforms: near-normal, fast, enough for benchmark data.
            double g = r.nextDouble() + r.nextDouble() + r.nextDouble() - 1.5;
            t.segment().setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED, i, (float) (mean + 2 * sd * g));
        }
        return t;
    }

    /**
     * {@link #random(long, double, double, long...)} stored as {@code dtype} (F32, F16 or BF16, rounded to nearest),
     * for the kernels' 16-bit input paths; ONNX Runtime's one-node models here take F32 only.
     */
    static Tensor random(String dtype, String impl, long seed, double mean, double sd, long... shape) {
        DType t = DType.valueOf(dtype);
        Tensor f = random(seed, mean, sd, shape);
        if (t == DType.F32) {
            return f;
        }
        if (impl.equals("ort")) {
            f.close();
            throw new JlmException.InvalidArgument("impl ort runs F32 inputs only; use -p impl=jlm,scalar with -p dtype="
                    + dtype);
        }
        float[] v = f.toFloatArray();
        f.close();
        Tensor out = Tensor.allocate(t, shape);
        Tensor flat = out.reshape(out.size());
        for (int i = 0; i < v.length; i++) {
            flat.setDouble(v[i], i);
        }
        return out;
    }

    /** Fails setup on an impl name the benchmark does not know (a typo in -p impl=...). */
    static void requireImpl(String impl) {
        if (!Arrays.asList("jlm", "scalar", "ort").contains(impl)) {
            throw new JlmException.InvalidArgument("impl must be jlm, scalar or ort, not " + impl);
        }
    }

    /** Closes what is not null, in order. */
    static void close(AutoCloseable... resources) throws Exception {
        Exception first = null;
        for (AutoCloseable c : resources) {
            if (c != null) {
                try {
                    c.close();
                } catch (Exception e) {
                    first = first == null ? e : first;
                }
            }
        }
        if (first != null) {
            throw first;
        }
    }
}
