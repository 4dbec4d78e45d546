package dev.jlm.bench;

import dev.jlm.core.Simd;
import dev.jlm.simd.RowExecutor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.concurrent.TimeUnit;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;
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
 * Memory bandwidth measured in the same run as the kernels, so that every kernel can be quoted as a fraction of
 * it: STREAM-style {@link #copy} ({@code a = b}) and {@link #triad} ({@code a = b + s * c}) over off-heap F32
 * arrays much larger than the last-level cache, with the Vector API loads and plain stores the kernels use,
 * split over {@code threads} threads by the kernels' own {@link RowExecutor}, and a read-only stream ({@link #read}).
 * The report counts bytes read plus bytes written (2 x size for copy, 3 x size for triad, size for read), the same
 * way it counts kernel traffic.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsPrepend = {Bench.ADD_VECTOR, Bench.NATIVE})
public class RooflineBench {
    private static final VectorSpecies<Float> F = Simd.FLOAT;
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final long BLOCK = 1 << 16;   // floats per piece of work
    private static final Class<?> NATIVE = MemorySegment.ofAddress(0).getClass();

    @Param({"1", "2"})
    public int threads;

    /** Size of each array in MiB. */
    @Param({"256"})
    public int sizeMiB;

    private Arena arena;
    private MemorySegment a;
    private MemorySegment b;
    private MemorySegment c;
    private long floats;
    private float[] sums;

    @Setup(Level.Trial)
    public void setup() {
        arena = Arena.ofShared();
        long bytes = (long) sizeMiB << 20;
        floats = bytes / 4;
        a = arena.allocate(bytes, 64);
        b = arena.allocate(bytes, 64);
        c = arena.allocate(bytes, 64);
        sums = new float[(int) (floats / BLOCK)];
        for (long i = 0; i < floats; i++) {   // touch every page; values are irrelevant but finite
            a.setAtIndex(F32, i, 0f);
            b.setAtIndex(F32, i, i & 1023);
            c.setAtIndex(F32, i, 1f);
        }
    }

    @Benchmark
    public void copy() {
        long blocks = floats / BLOCK;
        RowExecutor.run(threads, blocks, (from, to) -> copy(a, b, from * BLOCK * 4, to * BLOCK * 4));
    }

    /**
     * The same copy with each piece cut in two halves copied side by side: two read and two write streams, as the
     * RMSNorm and LayerNorm row loops run, for comparison with the one-stream {@link #copy} the targets quote.
     */
    @Benchmark
    public void copyTwoStreams() {
        long blocks = floats / BLOCK;
        RowExecutor.run(threads, blocks, (from, to) -> copyTwo(a, b, from * BLOCK * 4, to * BLOCK * 4));
    }

    /**
     * Reads b once (a sum, four vector accumulators per piece): the ceiling of a kernel that only reads, such as a
     * decode step's matrix-vector product over weights that come from memory. Counted as size bytes.
     */
    @Benchmark
    public float read() {
        long blocks = floats / BLOCK;
        RowExecutor.run(threads, blocks, (from, to) -> {
            for (long p = from; p < to; p++) {
                sums[(int) p] = read(b, p * BLOCK * 4, (p + 1) * BLOCK * 4);
            }
        });
        float total = 0;
        for (int p = 0; p < blocks; p++) {
            total += sums[p];
        }
        return total;
    }

    @Benchmark
    public void triad() {
        long blocks = floats / BLOCK;
        RowExecutor.run(threads, blocks, (from, to) -> triad(a, b, c, from * BLOCK * 4, to * BLOCK * 4));
    }

    /**
     * a = b over bytes [from, end). The class test lets the JIT compile the loop for plain off-heap segments, as
     * the kernels' loops are (dev.jlm.simd.internal.Segments): without it the copy reloads the segments' bounds
     * and liveness after every store and measured 14 instead of 21-23 GB/s here in one process.
     */
    private static void copy(MemorySegment a, MemorySegment b, long from, long end) {
        if (a.getClass() != NATIVE || b.getClass() != NATIVE) {
            throw new IllegalStateException("off-heap arrays expected");
        }
        for (long o = from; o < end; o += F.vectorByteSize()) {
            FloatVector.fromMemorySegment(F, b, o, ByteOrder.LITTLE_ENDIAN).intoMemorySegment(a, o, ByteOrder.LITTLE_ENDIAN);
        }
    }

    /** a = b over bytes [from, end), its two halves side by side (an odd last vector copied alone). */
    private static void copyTwo(MemorySegment a, MemorySegment b, long from, long end) {
        if (a.getClass() != NATIVE || b.getClass() != NATIVE) {
            throw new IllegalStateException("off-heap arrays expected");
        }
        long v = F.vectorByteSize();
        long half = (end - from) / (2 * v) * v;
        for (long o = from; o < from + half; o += v) {
            FloatVector.fromMemorySegment(F, b, o, ByteOrder.LITTLE_ENDIAN).intoMemorySegment(a, o, ByteOrder.LITTLE_ENDIAN);
            FloatVector.fromMemorySegment(F, b, o + half, ByteOrder.LITTLE_ENDIAN)
                    .intoMemorySegment(a, o + half, ByteOrder.LITTLE_ENDIAN);
        }
        copy(a, b, from + 2 * half, end);
    }

    /** The sum of b over bytes [from, end) (a multiple of four vectors), compiled as {@link #copy} is. */
    private static float read(MemorySegment b, long from, long end) {
        if (b.getClass() != NATIVE) {
            throw new IllegalStateException("off-heap arrays expected");
        }
        long v = F.vectorByteSize();
        FloatVector s0 = FloatVector.zero(F);
        FloatVector s1 = s0;
        FloatVector s2 = s0;
        FloatVector s3 = s0;
        for (long o = from; o < end; o += 4 * v) {
            s0 = s0.add(FloatVector.fromMemorySegment(F, b, o, ByteOrder.LITTLE_ENDIAN));
            s1 = s1.add(FloatVector.fromMemorySegment(F, b, o + v, ByteOrder.LITTLE_ENDIAN));
            s2 = s2.add(FloatVector.fromMemorySegment(F, b, o + 2 * v, ByteOrder.LITTLE_ENDIAN));
            s3 = s3.add(FloatVector.fromMemorySegment(F, b, o + 3 * v, ByteOrder.LITTLE_ENDIAN));
        }
        return s0.add(s1).add(s2.add(s3)).reduceLanes(VectorOperators.ADD);
    }

    /** a = 3 c + b over bytes [from, end), compiled as {@link #copy} is. */
    private static void triad(MemorySegment a, MemorySegment b, MemorySegment c, long from, long end) {
        if (a.getClass() != NATIVE || b.getClass() != NATIVE || c.getClass() != NATIVE) {
            throw new IllegalStateException("off-heap arrays expected");
        }
        for (long o = from; o < end; o += F.vectorByteSize()) {
            FloatVector bv = FloatVector.fromMemorySegment(F, b, o, ByteOrder.LITTLE_ENDIAN);
            FloatVector cv = FloatVector.fromMemorySegment(F, c, o, ByteOrder.LITTLE_ENDIAN);
            cv.fma(FloatVector.broadcast(F, 3f), bv).intoMemorySegment(a, o, ByteOrder.LITTLE_ENDIAN);
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        arena.close();
    }
}
