package dev.jlm.bench;

import dev.jlm.core.DType;
import dev.jlm.core.Tensor;
import dev.jlm.simd.attention.Attention;
import dev.jlm.simd.attention.AttentionOptions;
import dev.jlm.simd.attention.KvCache;
import dev.jlm.simd.testing.OrtOp;
import dev.jlm.simd.testing.TinyModel;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Attention, batch 1, F32. {@link #prefill}: causal self-attention over {@code shape = heads x kvHeads x seq x
 * headDim}. {@link #decode}: one new query per head against a KV cache of {@code seq} positions (ONNX Runtime gets
 * the same keys and values as plain inputs, the query non-causal, which is what a decode step computes). The ORT
 * peer is ONNX {@code Attention}, opset 23, on the same memory. The report counts prefill FLOPs as
 * {@code 4 * heads * seq^2 * headDim / 2} (causal: half the score matrix) and decode bytes as the cache read once.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsPrepend = {Bench.ADD_VECTOR, Bench.NATIVE})
public class AttentionBench {

    /** Causal prefill: q, k, v of the whole sequence. */
    @State(Scope.Benchmark)
    public static class Prefill {
        @Param({"jlm", "scalar", "ort"})
        public String impl;

        @Param({"1", "2"})
        public int threads;

        @Param({"32x32x128x64", "32x32x512x64", "32x32x2048x64", "32x32x128x128", "32x32x512x128", "32x32x2048x128",
                "32x8x128x64", "32x8x512x64", "32x8x2048x64", "32x8x128x128", "32x8x512x128", "32x8x2048x128"})
        public String shape;

        Tensor q;
        Tensor k;
        Tensor v;
        Tensor out;
        Attention kernel;
        AttentionOptions options = AttentionOptions.DEFAULT.withCausal(true);
        OrtOp session;
        OrtOp.Bound bound;

        @Setup(Level.Trial)
        public void setup() throws Exception {
            Bench.requireImpl(impl);
            long[] s = Bench.shape(shape);
            long h = s[0];
            long hkv = s[1];
            long seq = s[2];
            long d = s[3];
            q = Bench.random(1, 0, 1, 1, h, seq, d);
            k = Bench.random(2, 0, 1, 1, hkv, seq, d);
            v = Bench.random(3, 0, 1, 1, hkv, seq, d);
            out = Tensor.allocate(DType.F32, 1, h, seq, d);
            kernel = (impl.equals("scalar") ? Attention.scalar() : Attention.get()).withThreads(threads);
            if (impl.equals("ort")) {
                byte[] model = TinyModel.node("Attention", 23)
                        .input("Q", 1, h, seq, d).input("K", 1, hkv, seq, d).input("V", 1, hkv, seq, d)
                        .output("Y", 1, h, seq, d).attr("is_causal", 1L).build();
                session = OrtOp.create(model, threads);
                bound = session.bind(Map.of("Q", q, "K", k, "V", v), Map.of("Y", out));
            }
        }

        @TearDown(Level.Trial)
        public void tearDown() throws Exception {
            Bench.close(bound, session, q, k, v, out);
        }
    }

    /** New tokens' queries against a cache of random keys and values, and what runs them. */
    abstract static class CachedQueries {
        Tensor q;
        Tensor out;
        KvCache cache;
        Attention kernel;
        OrtOp session;
        OrtOp.Bound bound;

        /** q of {@code tokens} tokens against a cache of the shape's seq positions (heads x kvHeads x seq x headDim). */
        void setUp(String impl, int threads, String shape, int tokens) throws Exception {
            Bench.requireImpl(impl);
            long[] s = Bench.shape(shape);
            int h = (int) s[0];
            int hkv = (int) s[1];
            int seq = (int) s[2];
            int d = (int) s[3];
            q = Bench.random(1, 0, 1, 1, h, tokens, d);
            out = Tensor.allocate(DType.F32, 1, h, tokens, d);
            cache = KvCache.allocate(1, hkv, seq, d, DType.F32);
            try (Tensor k = Bench.random(2, 0, 1, 1, hkv, seq, d); Tensor v = Bench.random(3, 0, 1, 1, hkv, seq, d)) {
                cache.append(k, v);
            }
            kernel = (impl.equals("scalar") ? Attention.scalar() : Attention.get()).withThreads(threads);
            if (impl.equals("ort")) {
                byte[] model = TinyModel.node("Attention", 23)
                        .input("Q", 1, h, tokens, d).input("K", 1, hkv, seq, d).input("V", 1, hkv, seq, d)
                        .output("Y", 1, h, tokens, d).build();
                session = OrtOp.create(model, threads);
                // the cache holds exactly seq positions, so its memory is the K and V tensors
                bound = session.bind(Map.of("Q", q, "K", cache.keys(), "V", cache.values()), Map.of("Y", out));
            }
        }

        void close() throws Exception {
            Bench.close(bound, session, q, out, cache);
        }
    }

    /** One decode step: q of one token against {@code seq} cached positions. */
    @State(Scope.Benchmark)
    public static class Decode extends CachedQueries {
        @Param({"jlm", "scalar", "ort"})
        public String impl;

        @Param({"1", "2"})
        public int threads;

        @Param({"32x32x512x64", "32x32x2048x64", "32x32x8192x64", "32x32x512x128", "32x32x2048x128", "32x32x8192x128",
                "32x8x512x64", "32x8x2048x64", "32x8x8192x64", "32x8x512x128", "32x8x2048x128", "32x8x8192x128"})
        public String shape;

        @Setup(Level.Trial)
        public void setup() throws Exception {
            setUp(impl, threads, shape, 1);
        }

        @TearDown(Level.Trial)
        public void tearDown() throws Exception {
            close();
        }
    }

    /**
     * A few new tokens against {@code seq} cached positions (a speculative draft being verified, a prompt fed in
     * chunks): q of {@code tokens} tokens, non-causal so that ORT's {@code Attention} computes the same thing.
     */
    @State(Scope.Benchmark)
    public static class Draft extends CachedQueries {
        @Param({"jlm", "ort"})
        public String impl;

        @Param({"1", "2"})
        public int threads;

        @Param({"32x8x2048x64", "32x8x2048x128", "32x32x2048x128"})
        public String shape;

        @Param({"4", "12", "16"})
        public int tokens;

        @Setup(Level.Trial)
        public void setup() throws Exception {
            setUp(impl, threads, shape, tokens);
        }

        @TearDown(Level.Trial)
        public void tearDown() throws Exception {
            close();
        }
    }

    @Benchmark
    public void draft(Draft p) throws Exception {
        if (p.bound != null) {
            p.bound.run();
        } else {
            p.kernel.attend(p.cache, p.q, AttentionOptions.DEFAULT, p.out);
        }
    }

    @Benchmark
    public void prefill(Prefill p) throws Exception {
        if (p.bound != null) {
            p.bound.run();
        } else {
            p.kernel.apply(p.q, p.k, p.v, p.options, p.out);
        }
    }

    @Benchmark
    public void decode(Decode p) throws Exception {
        if (p.bound != null) {
            p.bound.run();
        } else {
            p.kernel.attend(p.cache, p.q, AttentionOptions.DEFAULT, p.out);
        }
    }
}
