package dev.jlm.simd.internal;

import dev.jlm.core.DType;
import dev.jlm.core.JlmException;
import dev.jlm.core.Tensor;

/**
 * Row geometry of a tensor seen as {@code rows x cols} with {@code cols} the last axis, and the argument checks
 * every kernel makes. A tensor qualifies when its last axis is contiguous and its rows are evenly spaced (any
 * contiguous tensor, and views such as a slice of the last axis); the spacing is {@link #rowStride}.
 * Nothing here allocates for contiguous tensors, so kernels can call it on every call.
 */
public final class Rows {
    private Rows() {
    }

    /** Length of the last axis; a rank-0 tensor is one row of one element. */
    public static int cols(Tensor t, String what) {
        if (t.rank() == 0) {
            return 1;
        }
        long c = t.dim(-1);
        if (c > Integer.MAX_VALUE - 64) {
            throw new JlmException.InvalidArgument(what + ": last axis of " + c + " elements is too long for a row kernel");
        }
        return (int) c;
    }

    /** Number of rows of {@code cols} elements. */
    public static long rows(Tensor t, int cols) {
        return cols == 0 ? 0 : t.size() / cols;
    }

    /**
     * Elements from the start of one row to the start of the next.
     *
     * @throws JlmException.InvalidArgument when the last axis is strided or the rows are not evenly spaced
     */
    public static long rowStride(Tensor t, String what) {
        int rank = t.rank();
        if (rank == 0) {
            return 1;
        }
        long cols = t.dim(-1);
        if (t.isContiguous()) {
            return cols;
        }
        long[] shape = t.shape();
        long[] strides = t.strides();
        if (cols > 1 && strides[rank - 1] != 1) {
            throw new JlmException.InvalidArgument(what + ": a view with a strided last axis (" + t
                    + ") is not supported here; copy it first");
        }
        if (rank == 1) {
            return cols;
        }
        long stride = -1;
        // Walk the outer axes from the inside out; each must step over a whole number of inner rows.
        long expected = -1;
        for (int i = rank - 2; i >= 0; i--) {
            if (shape[i] == 1) {
                continue;
            }
            if (stride < 0) {
                stride = strides[i];
                expected = strides[i] * shape[i];
            } else if (strides[i] != expected) {
                throw new JlmException.InvalidArgument(what + ": rows of the view " + t
                        + " are not evenly spaced; copy it first");
            } else {
                expected = strides[i] * shape[i];
            }
        }
        if (stride < 0) {
            return cols;
        }
        if (stride < cols) {
            throw new JlmException.InvalidArgument(what + ": rows of the view " + t + " overlap; copy it first");
        }
        return stride;
    }

    /** Requires an F32 tensor. */
    public static void requireF32(Tensor t, String what) {
        if (t.dtype() != DType.F32) {
            throw new JlmException.InvalidArgument(what + ": expected F32 but got " + t.dtype());
        }
    }

    /** Requires a float input the kernels read directly: F32, F16 or BF16. */
    public static void requireFloatInput(Tensor t, String what) {
        DType d = t.dtype();
        if (d != DType.F32 && d != DType.F16 && d != DType.BF16) {
            throw new JlmException.InvalidArgument(what + ": expected F32, F16 or BF16 but got " + d);
        }
    }

    /** Requires equal shapes, without allocating. */
    public static void requireSameShape(Tensor a, String aName, Tensor b, String bName) {
        boolean same = a.rank() == b.rank();
        for (int i = 0; same && i < a.rank(); i++) {
            same = a.dim(i) == b.dim(i);
        }
        if (!same) {
            throw new JlmException.InvalidArgument(bName + " " + b + " must have the shape of " + aName + " " + a);
        }
    }

    /** Requires a rank-1 tensor of {@code cols} elements (gamma, beta). */
    public static void requireVector(Tensor t, String what, int cols, Tensor x) {
        if (t.rank() != 1 || t.dim(0) != cols) {
            throw new JlmException.InvalidArgument(what + " " + t + " must be a vector of " + cols
                    + " elements, the last axis of " + x);
        }
        if (!t.isContiguous()) {
            throw new JlmException.InvalidArgument(what + ": a non-contiguous view is not supported here; copy it first");
        }
    }

    /** Requires a finite, positive epsilon. */
    public static void requireEps(float eps) {
        if (!(eps > 0f) || Float.isInfinite(eps)) {
            throw new JlmException.InvalidArgument("eps must be a positive finite number, not " + eps);
        }
    }

    /**
     * Allows {@code out} to be exactly {@code in} (same memory, dtype and row spacing: an in-place call) or
     * disjoint from it; rejects a partial overlap, which would read elements already overwritten.
     */
    public static void requireNoPartialOverlap(Tensor in, String inName, long inStride, Tensor out, String outName,
                                               long outStride) {
        if (!overlaps(in, out)) {
            return;
        }
        boolean same = in.segment().address() == out.segment().address() && in.dtype() == out.dtype()
                && inStride == outStride;
        if (!same) {
            throw new JlmException.InvalidArgument(outName + " " + out + " partly overlaps " + inName + " " + in
                    + "; use the same tensor (in place) or separate memory");
        }
    }

    /** Requires that two outputs do not share memory. */
    public static void requireDisjoint(Tensor a, String aName, Tensor b, String bName) {
        if (overlaps(a, b)) {
            throw new JlmException.InvalidArgument(aName + " and " + bName + " must not share memory");
        }
    }

    /** True when the memory spans of two tensors overlap. */
    public static boolean overlaps(Tensor a, Tensor b) {
        var sa = a.segment();
        var sb = b.segment();
        if (sa.byteSize() == 0 || sb.byteSize() == 0 || sa.isNative() != sb.isNative()) {
            return false;
        }
        if (sa.isNative()) {
            long a0 = sa.address();
            long b0 = sb.address();
            return a0 < b0 + sb.byteSize() && b0 < a0 + sa.byteSize();
        }
        return sa.asOverlappingSlice(sb).isPresent();
    }
}
