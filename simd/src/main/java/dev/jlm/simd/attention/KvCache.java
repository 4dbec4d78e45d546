package dev.jlm.simd.attention;

import dev.jlm.core.DType;
import dev.jlm.core.JlmException;
import dev.jlm.core.Tensor;
import dev.jlm.core.convert.Conversions;
import dev.jlm.simd.internal.Lanes;
import dev.jlm.simd.internal.Rows;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * The keys and values of one attention layer for decoding: {@code [batch, kvHeads, maxSeq, headDim]} each,
 * allocated once off-heap (F32, F16 or BF16) and filled by {@link #append}; {@link Attention#attend} reads the
 * first {@link #length()} positions. Close it to free the memory.
 *
 * <p>Not thread-safe for writers: one thread appends, and attention calls must not overlap an append.
 */
public final class KvCache implements AutoCloseable {
    private final Arena arena;
    private final Tensor keys;
    private final Tensor values;
    private final int batch;
    private final int kvHeads;
    private final int maxSeq;
    private final int headDim;
    private int length;

    private KvCache(Arena arena, Tensor keys, Tensor values, int batch, int kvHeads, int maxSeq, int headDim) {
        this.arena = arena;
        this.keys = keys;
        this.values = values;
        this.batch = batch;
        this.kvHeads = kvHeads;
        this.maxSeq = maxSeq;
        this.headDim = headDim;
    }

    /**
     * A cache for {@code maxSeq} positions.
     *
     * @throws JlmException.InvalidArgument for a non-positive size or a dtype other than F32, F16, BF16
     */
    public static KvCache allocate(int batch, int kvHeads, int maxSeq, int headDim, DType dtype) {
        if (batch < 1 || kvHeads < 1 || maxSeq < 1 || headDim < 1) {
            throw new JlmException.InvalidArgument("KV cache sizes must be positive: batch " + batch + ", kvHeads "
                    + kvHeads + ", maxSeq " + maxSeq + ", headDim " + headDim);
        }
        if (dtype != DType.F32 && dtype != DType.F16 && dtype != DType.BF16) {
            throw new JlmException.InvalidArgument("KV cache dtype must be F32, F16 or BF16, not " + dtype);
        }
        Arena arena = Arena.ofShared();
        try {
            Tensor k = Tensor.allocate(arena, dtype, batch, kvHeads, maxSeq, headDim);
            Tensor v = Tensor.allocate(arena, dtype, batch, kvHeads, maxSeq, headDim);
            return new KvCache(arena, k, v, batch, kvHeads, maxSeq, headDim);
        } catch (RuntimeException | Error e) {
            arena.close();
            throw e;
        }
    }

    /**
     * Appends {@code n} positions: {@code k} and {@code v} are {@code [batch, kvHeads, n, headDim]}, F32, F16 or
     * BF16, contiguous; they are converted to the cache's dtype.
     *
     * @throws JlmException.InvalidArgument when the shapes do not fit or the cache would exceed {@code maxSeq}
     */
    public void append(Tensor k, Tensor v) {
        check(k, "k");
        check(v, "v");
        Rows.requireSameShape(k, "k", v, "v");
        long n = k.dim(2);
        if (length + n > maxSeq) {
            throw new JlmException.InvalidArgument("KV cache holds " + length + " of " + maxSeq
                    + " positions; appending " + n + " more would exceed it");
        }
        copyIn(k, keys);
        copyIn(v, values);
        length += (int) n;
    }

    private void check(Tensor t, String what) {
        if (t == null) {
            throw new JlmException.InvalidArgument(what + " must not be null");
        }
        Rows.requireFloatInput(t, what);
        if (t.rank() != 4 || t.dim(0) != batch || t.dim(1) != kvHeads || t.dim(3) != headDim) {
            throw new JlmException.InvalidArgument(what + " " + t + " must be [" + batch + ", " + kvHeads
                    + ", n, " + headDim + "] to fit the KV cache");
        }
        if (!t.isContiguous()) {
            throw new JlmException.InvalidArgument(what + ": a non-contiguous view is not supported here; copy it first");
        }
    }

    /** Each (batch, head) block of n rows lands after the positions already held. */
    private void copyIn(Tensor src, Tensor dst) {
        long n = src.dim(2);
        long block = n * headDim;
        DType st = src.dtype();
        DType dt = dst.dtype();
        MemorySegment s = src.segment();
        MemorySegment d = dst.segment();
        for (long bh = 0; bh < (long) batch * kvHeads; bh++) {
            long si = bh * block;
            long di = (bh * maxSeq + length) * headDim;
            if (st == dt) {
                long es = dt.bits() / 8;
                MemorySegment.copy(s, si * es, d, di * es, block * es);
            } else if (st == DType.F32 && dt == DType.F16) {
                Conversions.f32ToF16(s, si, d, di, block);
            } else if (st == DType.F32 && dt == DType.BF16) {
                Conversions.f32ToBf16(s, si, d, di, block);
            } else {
                for (long i = 0; i < block; i++) {
                    float f = Lanes.get(st, s, si + i);
                    switch (dt) {
                        case F32 -> d.set(Lanes.F32, (di + i) * 4, f);
                        case F16 -> d.set(Lanes.I16, (di + i) * 2, Conversions.f32ToF16(f));
                        default -> d.set(Lanes.I16, (di + i) * 2, Conversions.f32ToBf16(f));
                    }
                }
            }
        }
    }

    /** Forgets every position (the memory stays allocated). */
    public void clear() {
        length = 0;
    }

    /**
     * Keeps the first {@code length} positions, e.g. to roll back rejected speculative tokens.
     *
     * @throws JlmException.InvalidArgument when {@code length} is negative or beyond the current length
     */
    public void truncate(int length) {
        if (length < 0 || length > this.length) {
            throw new JlmException.InvalidArgument("KV cache cannot be truncated to " + length + " positions; it holds "
                    + this.length);
        }
        this.length = length;
    }

    /** Positions held. */
    public int length() {
        return length;
    }

    public int maxSeq() {
        return maxSeq;
    }

    public int batch() {
        return batch;
    }

    public int kvHeads() {
        return kvHeads;
    }

    public int headDim() {
        return headDim;
    }

    public DType dtype() {
        return keys.dtype();
    }

    /** The key memory, {@code [batch, kvHeads, maxSeq, headDim]} (a view; valid until {@link #close()}). */
    public Tensor keys() {
        return keys;
    }

    /** The value memory, {@code [batch, kvHeads, maxSeq, headDim]} (a view; valid until {@link #close()}). */
    public Tensor values() {
        return values;
    }

    @Override
    public void close() {
        if (arena.scope().isAlive()) {
            arena.close();
        }
    }

    @Override
    public String toString() {
        return "KvCache[" + batch + "x" + kvHeads + "x" + maxSeq + "x" + headDim + " " + dtype() + ", length " + length
                + "]";
    }
}
