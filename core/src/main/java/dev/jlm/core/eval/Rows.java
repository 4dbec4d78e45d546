package dev.jlm.core.eval;

import dev.jlm.core.DType;
import dev.jlm.core.JlmException;
import dev.jlm.core.Tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * A tensor or a float array seen as {@code [rows, length]}: rows along the last axis, read one at a time
 * into a double buffer. Holds a contiguous copy when the tensor is a strided view; close it to free that.
 */
final class Rows implements AutoCloseable {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final long rows;
    private final int length;
    private final float[] array;
    private final Tensor tensor;      // contiguous, viewed as [rows, length]; null for arrays
    private final Tensor ownedCopy;   // non-null when a strided view had to be copied
    private final MemorySegment seg;

    private Rows(long rows, int length, float[] array, Tensor tensor, Tensor ownedCopy) {
        this.rows = rows;
        this.length = length;
        this.array = array;
        this.tensor = tensor;
        this.ownedCopy = ownedCopy;
        this.seg = tensor == null ? null : tensor.segment();
    }

    static Rows of(Tensor t, String what) {
        if (t.dtype().isPacked() || t.dtype() == DType.BOOL) {
            throw new JlmException.InvalidArgument(what + ": cannot compare values of type " + t.dtype());
        }
        long len = t.rank() == 0 ? 1 : t.dim(-1);
        if (len > Integer.MAX_VALUE - 8) {
            throw new JlmException.InvalidArgument(what + ": rows of " + len + " elements are too long");
        }
        long rows = len == 0 ? leading(t.shape()) : t.size() / len;
        Tensor copy = t.isContiguous() ? null : t.copy();
        try {
            Tensor base = copy != null ? copy : t;
            Tensor view = base.reshape(rows, len);
            return new Rows(rows, (int) len, null, view, copy);
        } catch (RuntimeException e) {
            if (copy != null) {
                copy.close();
            }
            throw e;
        }
    }

    static Rows of(float[] values, int length, String what) {
        if (length <= 0) {
            throw new JlmException.InvalidArgument(what + ": row length must be positive, not " + length);
        }
        if (values.length % length != 0) {
            throw new JlmException.InvalidArgument(what + ": " + values.length + " values do not split into rows of "
                    + length);
        }
        return new Rows(values.length / length, length, values, null, null);
    }

    private static long leading(long[] shape) {
        long n = 1;
        for (int i = 0; i < shape.length - 1; i++) {
            n *= shape[i];
        }
        return n;
    }

    long count() {
        return rows;
    }

    int length() {
        return length;
    }

    /** Reads row {@code r} into {@code dst[0, length)}. */
    void read(long r, double[] dst) {
        if (array != null) {
            int base = Math.toIntExact(r * length);
            for (int j = 0; j < length; j++) {
                dst[j] = array[base + j];
            }
            return;
        }
        long base = r * length;
        switch (tensor.dtype()) {
            case F32 -> {
                for (int j = 0; j < length; j++) {
                    dst[j] = seg.getAtIndex(F32, base + j);
                }
            }
            case F64 -> {
                for (int j = 0; j < length; j++) {
                    dst[j] = seg.getAtIndex(F64, base + j);
                }
            }
            case F16 -> {
                for (int j = 0; j < length; j++) {
                    dst[j] = Float.float16ToFloat(seg.getAtIndex(I16, base + j));
                }
            }
            case BF16 -> {
                for (int j = 0; j < length; j++) {
                    dst[j] = Float.intBitsToFloat((seg.getAtIndex(I16, base + j) & 0xffff) << 16);
                }
            }
            default -> {
                for (int j = 0; j < length; j++) {
                    dst[j] = tensor.getDouble(r, j);
                }
            }
        }
    }

    /** Checks that the other side has the same rows and row length; {@code shapeA/B} name them in the message. */
    void requireSameLayout(Rows other, String what, String layoutA, String layoutB) {
        if (rows != other.rows || length != other.length) {
            throw new JlmException.InvalidArgument(what + ": shapes differ, " + layoutA + " vs " + layoutB);
        }
    }

    /**
     * Per row, whether it takes part: the mask has the tensor's shape without its last axis (for token rows of
     * {@code [batch, seq, hidden]} the attention mask {@code [batch, seq]}); a row takes part where the mask is
     * not zero. Null mask: every row.
     */
    static boolean[] mask(Tensor mask, long[] dataShape, long rows, String what) {
        if (mask == null) {
            return null;
        }
        long[] expected = dataShape.length == 0 ? new long[0] : Arrays.copyOf(dataShape, dataShape.length - 1);
        if (!Arrays.equals(mask.shape(), expected)) {
            throw new JlmException.InvalidArgument(what + ": mask shape " + Arrays.toString(mask.shape())
                    + " does not match " + Arrays.toString(dataShape) + " without its last axis");
        }
        return maskValues(mask, rows, what);
    }

    static boolean[] mask(long[] mask, long rows, String what) {
        if (mask == null) {
            return null;
        }
        if (mask.length != rows) {
            throw new JlmException.InvalidArgument(what + ": mask has " + mask.length + " entries for " + rows + " rows");
        }
        boolean[] m = new boolean[mask.length];
        for (int i = 0; i < m.length; i++) {
            m[i] = mask[i] != 0;
        }
        return m;
    }

    static boolean[] maskValues(Tensor mask, long rows, String what) {
        if (mask.size() != rows) {
            throw new JlmException.InvalidArgument(what + ": mask has " + mask.size() + " entries for " + rows + " rows");
        }
        if (rows > Integer.MAX_VALUE - 8) {
            throw new JlmException.InvalidArgument(what + ": too many rows for a mask");
        }
        boolean[] m = new boolean[(int) rows];
        if (mask.dtype().isPacked()) {
            throw new JlmException.InvalidArgument(what + ": mask of packed type " + mask.dtype());
        }
        Tensor copy = mask.isContiguous() ? null : mask.copy();
        try {
            Tensor flat = (copy != null ? copy : mask).reshape(rows);
            for (int i = 0; i < m.length; i++) {
                m[i] = flat.getDouble(i) != 0;
            }
        } finally {
            if (copy != null) {
                copy.close();
            }
        }
        return m;
    }

    @Override
    public void close() {
        if (ownedCopy != null) {
            ownedCopy.close();
        }
    }

    /** Receives the rows of a reference and a candidate and which rows count (null: all). */
    @FunctionalInterface
    interface PairSink {
        void accept(Rows reference, Rows candidate, boolean[] mask);
    }

    /** Checks that two tensors have the same shape, then hands their rows and the mask's selection to {@code sink}. */
    static void pair(Tensor reference, Tensor candidate, Tensor mask, String what, PairSink sink) {
        long[] sa = reference.shape();
        long[] sb = candidate.shape();
        if (!Arrays.equals(sa, sb)) {
            throw new JlmException.InvalidArgument(what + ": shapes differ, " + Arrays.toString(sa) + " vs "
                    + Arrays.toString(sb));
        }
        try (Rows a = of(reference, what + " (reference)"); Rows b = of(candidate, what + " (candidate)")) {
            sink.accept(a, b, mask(mask, sa, a.count(), what));
        }
    }

    /** The same for rows of {@code rowLength} values in two arrays of equal length. */
    static void pair(float[] reference, float[] candidate, int rowLength, long[] rowMask, String what, PairSink sink) {
        if (reference.length != candidate.length) {
            throw new JlmException.InvalidArgument(what + ": lengths differ, " + reference.length + " vs " + candidate.length);
        }
        Rows a = of(reference, rowLength, what + " (reference)");
        Rows b = of(candidate, rowLength, what + " (candidate)");
        sink.accept(a, b, mask(rowMask, a.count(), what));
    }
}
