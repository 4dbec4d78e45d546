package dev.jlm.bench;

import dev.jlm.core.Simd;
import dev.jlm.simd.RowExecutor;
import java.util.concurrent.TimeUnit;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * The machine's fp32 fused multiply-add peak as the Vector API reaches it, the compute ceiling beside
 * {@link RooflineBench}'s memory ceiling: each of {@code threads} threads runs twelve independent chains of
 * {@link #ITERATIONS} vector FMAs (enough chains to cover the FMA latency on two pipes). GFLOP/s =
 * threads x 12 x ITERATIONS x 2 x lanes / time.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsPrepend = {Bench.ADD_VECTOR, Bench.NATIVE})
public class FmaPeakBench {
    static final int ITERATIONS = 1 << 16;
    private static final VectorSpecies<Float> F = Simd.FLOAT;

    @Param({"1", "2"})
    public int threads;

    @Benchmark
    public float fma() {
        float[] out = new float[threads];
        RowExecutor.run(threads, threads, (from, to) -> {
            for (long t = from; t < to; t++) {
                out[(int) t] = chains((int) t);
            }
        });
        float s = 0;
        for (float v : out) {
            s += v;
        }
        return s;
    }

    /** Twelve chains in registers; the result depends on every FMA, so none is dead code. */
    private static float chains(int seed) {
        FloatVector m = FloatVector.broadcast(F, 0.9999999f);
        FloatVector c = FloatVector.broadcast(F, 1e-7f * (seed + 1));
        FloatVector a0 = FloatVector.broadcast(F, 0.1f);
        FloatVector a1 = FloatVector.broadcast(F, 0.2f);
        FloatVector a2 = FloatVector.broadcast(F, 0.3f);
        FloatVector a3 = FloatVector.broadcast(F, 0.4f);
        FloatVector a4 = FloatVector.broadcast(F, 0.5f);
        FloatVector a5 = FloatVector.broadcast(F, 0.6f);
        FloatVector a6 = FloatVector.broadcast(F, 0.7f);
        FloatVector a7 = FloatVector.broadcast(F, 0.8f);
        FloatVector a8 = FloatVector.broadcast(F, 0.9f);
        FloatVector a9 = FloatVector.broadcast(F, 1.0f);
        FloatVector a10 = FloatVector.broadcast(F, 1.1f);
        FloatVector a11 = FloatVector.broadcast(F, 1.2f);
        for (int i = 0; i < ITERATIONS; i++) {
            a0 = a0.fma(m, c);
            a1 = a1.fma(m, c);
            a2 = a2.fma(m, c);
            a3 = a3.fma(m, c);
            a4 = a4.fma(m, c);
            a5 = a5.fma(m, c);
            a6 = a6.fma(m, c);
            a7 = a7.fma(m, c);
            a8 = a8.fma(m, c);
            a9 = a9.fma(m, c);
            a10 = a10.fma(m, c);
            a11 = a11.fma(m, c);
        }
        return a0.add(a1).add(a2.add(a3)).add(a4.add(a5).add(a6.add(a7))).add(a8.add(a9).add(a10.add(a11)))
                .reduceLanes(VectorOperators.ADD);
    }
}
