package dev.jlm.quant;

import dev.jlm.core.DType;
import dev.jlm.core.JlmException;
import dev.jlm.core.Tensor;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.stream.IntStream;

/**
 * Accumulates {@code H = X^T X} of one layer input over calibration batches, in float, without keeping X:
 * rows are taken in chunks and each chunk's contribution added tile by tile, so H stays in cache while a chunk
 * streams through it. Only rows whose attention mask is set count when the mask lines up with the rows.
 */
public final class Hessians {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final int CHUNK = 64;
    private static final int TILE = 512;

    private final int k;
    private final float[] h;
    private long rows;

    /** An empty accumulator for inputs of width {@code k}. */
    public Hessians(int k) {
        this.k = k;
        this.h = new float[k * k];
    }

    public int width() {
        return k;
    }

    /** Rows accumulated so far. */
    public long rows() {
        return rows;
    }

    /** Bytes an accumulator of width k takes. */
    public static long bytes(long k) {
        return 4 * k * k;
    }

    /**
     * Adds the rows of {@code x} (F32, last dimension K); {@code mask}, when non-null and of as many elements as
     * x has rows, selects the rows that count (non-zero).
     */
    public void add(Tensor x, Tensor mask) {
        if (x.dtype() != DType.F32 || x.dim(-1) != k) {
            throw new JlmException.InvalidArgument("calibration value " + x + " does not end in K=" + k);
        }
        MemorySegment s = x.segment();
        long total = x.size() / k;
        boolean useMask = mask != null && mask.size() == total;
        float[] chunk = new float[CHUNK * k];
        int filled = 0;
        for (long r = 0; r < total; r++) {
            if (useMask && mask.getDouble(unflatten(mask, r)) == 0) {
                continue;
            }
            MemorySegment.copy(s, F32, r * 4L * k, chunk, filled * k, k);
            if (++filled == CHUNK) {
                accumulate(chunk, filled);
                filled = 0;
            }
        }
        if (filled > 0) {
            accumulate(chunk, filled);
        }
    }

    private static long[] unflatten(Tensor t, long flat) {
        long[] shape = t.shape();
        long[] idx = new long[shape.length];
        for (int i = shape.length - 1; i >= 0; i--) {
            idx[i] = flat % shape[i];
            flat /= shape[i];
        }
        return idx;
    }

    /** H[i, j] += sum_r x_r[i] x_r[j] for j >= i, tile by tile; mirrored in {@link #matrix()}. */
    private void accumulate(float[] x, int count) {
        rows += count;
        int tiles = (k + TILE - 1) / TILE;
        IntStream.range(0, k).parallel().forEach(i -> {
            for (int t = i / TILE; t < tiles; t++) {
                int from = Math.max(i, t * TILE);
                int to = Math.min(k, (t + 1) * TILE);
                int row = i * k;
                for (int r = 0; r < count; r++) {
                    float a = x[r * k + i];
                    if (a == 0f) {
                        continue;
                    }
                    FloatVector av = FloatVector.broadcast(S, a);
                    int j = from;
                    int bound = from + S.loopBound(to - from);
                    int xo = r * k;
                    for (; j < bound; j += S.length()) {
                        FloatVector.fromArray(S, x, xo + j).fma(av, FloatVector.fromArray(S, h, row + j)).intoArray(h, row + j);
                    }
                    for (; j < to; j++) {
                        h[row + j] += a * x[xo + j];
                    }
                }
            }
        });
    }

    /** The full symmetric H (a copy), row-major {@code K x K}. */
    public float[] matrix() {
        float[] out = h.clone();
        for (int i = 0; i < k; i++) {
            for (int j = 0; j < i; j++) {
                out[i * k + j] = out[j * k + i];
            }
        }
        return out;
    }

    /** Adds another accumulator of the same width (a weight read by two nodes with different inputs). */
    public void addAll(Hessians other) {
        if (other.k != k) {
            throw new JlmException.InvalidArgument("cannot add a Hessian of width " + other.k + " to one of width " + k);
        }
        for (int i = 0; i < h.length; i++) {
            h[i] += other.h[i];
        }
        rows += other.rows;
    }
}
