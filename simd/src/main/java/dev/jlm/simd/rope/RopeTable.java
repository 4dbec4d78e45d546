package dev.jlm.simd.rope;

import dev.jlm.core.DType;
import dev.jlm.core.JlmException;
import dev.jlm.core.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The cos and sin tables of rotary position embedding for one {@code (rotaryDim, base, maxPositions)}:
 * {@code cos[p][i] = cos(p * base^(-2i / rotaryDim))} (and sin), {@code p < maxPositions}, {@code i < rotaryDim / 2},
 * computed in double and stored as F32 off-heap.
 *
 * <p>{@link #of} returns one shared table per key for the life of the JVM (a model asks for the same table in
 * every layer and every call), so tables are immutable and safe to share between threads; their memory is
 * freed only when the table becomes unreachable. The layout the interleaved kernel wants (each cos twice, sin
 * with alternating sign) is derived on first use.
 */
public final class RopeTable {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ConcurrentHashMap<Key, RopeTable> CACHE = new ConcurrentHashMap<>();

    private record Key(int rotaryDim, double base, int maxPositions) {
    }

    private final int rotaryDim;
    private final double base;
    private final int maxPositions;
    private final Arena arena;
    private final MemorySegment cos;
    private final MemorySegment sin;
    private volatile MemorySegment[] pairs;

    private RopeTable(int rotaryDim, double base, int maxPositions) {
        this.rotaryDim = rotaryDim;
        this.base = base;
        this.maxPositions = maxPositions;
        this.arena = Arena.ofAuto();
        int half = rotaryDim / 2;
        long bytes = (long) maxPositions * half * 4;
        this.cos = arena.allocate(Math.max(4, bytes), 64).asSlice(0, bytes);
        this.sin = arena.allocate(Math.max(4, bytes), 64).asSlice(0, bytes);
        double[] invFreq = new double[half];
        for (int i = 0; i < half; i++) {
            invFreq[i] = Math.pow(base, -2.0 * i / rotaryDim);
        }
        for (long p = 0; p < maxPositions; p++) {
            for (int i = 0; i < half; i++) {
                double a = p * invFreq[i];
                long at = (p * half + i) * 4;
                cos.set(F32, at, (float) Math.cos(a));
                sin.set(F32, at, (float) Math.sin(a));
            }
        }
    }

    /**
     * The shared table for these parameters.
     *
     * @param rotaryDim    rotated dimensions of each head (the head size, or less for partial rotary); even, positive
     * @param base         the frequency base (10000 in most models, 500000 in Llama 3); finite and above 1
     * @param maxPositions positions covered: every {@code offset + token} must stay below it
     * @throws JlmException.InvalidArgument for parameters outside those ranges
     */
    public static RopeTable of(int rotaryDim, double base, int maxPositions) {
        if (rotaryDim <= 0 || (rotaryDim & 1) != 0) {
            throw new JlmException.InvalidArgument("rope rotaryDim must be even and positive, not " + rotaryDim);
        }
        if (!(base > 1.0) || Double.isInfinite(base)) {
            throw new JlmException.InvalidArgument("rope base must be a finite number above 1, not " + base);
        }
        if (maxPositions <= 0 || (long) maxPositions * rotaryDim > (1L << 31)) {
            throw new JlmException.InvalidArgument("rope maxPositions must be positive and the table at most 2^31"
                    + " values, not " + maxPositions + " x " + rotaryDim);
        }
        return CACHE.computeIfAbsent(new Key(rotaryDim, base, maxPositions),
                k -> new RopeTable(k.rotaryDim, k.base, k.maxPositions));
    }

    public int rotaryDim() {
        return rotaryDim;
    }

    public double base() {
        return base;
    }

    public int maxPositions() {
        return maxPositions;
    }

    /** The cos table as an F32 view {@code [maxPositions, rotaryDim / 2]} (ONNX {@code cos_cache}); do not write to it. */
    public Tensor cos() {
        return Tensor.wrap(cos, DType.F32, maxPositions, rotaryDim / 2);
    }

    /** The sin table as an F32 view {@code [maxPositions, rotaryDim / 2]} (ONNX {@code sin_cache}); do not write to it. */
    public Tensor sin() {
        return Tensor.wrap(sin, DType.F32, maxPositions, rotaryDim / 2);
    }

    MemorySegment cosSegment() {
        return cos;
    }

    MemorySegment sinSegment() {
        return sin;
    }

    /**
     * {cos2, sinSigned}, each {@code [maxPositions, rotaryDim]}: {@code cos2[p][2i] = cos2[p][2i+1] = cos[p][i]},
     * {@code sinSigned[p][2i] = -sin[p][i]}, {@code sinSigned[p][2i+1] = sin[p][i]}, so that the interleaved rotation
     * is {@code x * cos2 + swapPairs(x) * sinSigned}.
     */
    MemorySegment[] pairs() {
        MemorySegment[] p = pairs;
        if (p == null) {
            synchronized (this) {
                p = pairs;
                if (p == null) {
                    p = buildPairs();
                    pairs = p;
                }
            }
        }
        return p;
    }

    private MemorySegment[] buildPairs() {
        int half = rotaryDim / 2;
        long bytes = (long) maxPositions * rotaryDim * 4;
        MemorySegment c2 = arena.allocate(bytes, 64);
        MemorySegment s2 = arena.allocate(bytes, 64);
        for (long p = 0; p < maxPositions; p++) {
            for (int i = 0; i < half; i++) {
                float c = cos.get(F32, (p * half + i) * 4);
                float s = sin.get(F32, (p * half + i) * 4);
                long at = (p * rotaryDim + 2L * i) * 4;
                c2.set(F32, at, c);
                c2.set(F32, at + 4, c);
                s2.set(F32, at, -s);
                s2.set(F32, at + 4, s);
            }
        }
        return new MemorySegment[] {c2, s2};
    }

    @Override
    public String toString() {
        return "RopeTable[rotaryDim=" + rotaryDim + ", base=" + base + ", maxPositions=" + maxPositions + "]";
    }
}
