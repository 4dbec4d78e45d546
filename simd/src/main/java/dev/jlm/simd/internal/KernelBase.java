package dev.jlm.simd.internal;

import dev.jlm.core.JlmException;

/**
 * What every kernel implementation shares: whether it is the Vector API or the scalar one, and how many
 * threads a call may use. Immutable; {@link #withThreads} returns a copy.
 *
 * @param <T> the implementation type
 */
public abstract class KernelBase<T extends KernelBase<T>> {
    /** True for the Vector API implementation, false for the scalar reference. */
    protected final boolean vector;
    /** The most threads one call may use. */
    protected final int threads;

    protected KernelBase(boolean vector, int threads) {
        this.vector = vector;
        this.threads = threads;
    }

    /** {@code "vector"} or {@code "scalar"}. */
    public String kind() {
        return vector ? "vector" : "scalar";
    }

    /** The most threads one call may use. */
    public int threads() {
        return threads;
    }

    /** This implementation limited to {@code threads} threads per call. */
    @SuppressWarnings("unchecked")
    public T withThreads(int threads) {
        if (threads < 1) {
            throw new JlmException.InvalidArgument("threads must be at least 1, not " + threads);
        }
        return threads == this.threads ? (T) this : copy(threads);
    }

    /** A copy with another thread limit. */
    protected abstract T copy(int threads);

    /** The kernel's name in {@link #toString()}. */
    protected abstract String name();

    @Override
    public String toString() {
        return name() + "[" + kind() + ", threads=" + threads + "]";
    }
}
