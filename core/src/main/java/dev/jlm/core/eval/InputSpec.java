package dev.jlm.core.eval;

import dev.jlm.core.DType;
import dev.jlm.core.JlmException;

import java.util.Arrays;
import java.util.Objects;

/**
 * One input of a model's signature: its name, element type and shape. A negative dimension ({@code -1})
 * is not fixed by the model; {@code symbolicNames[i]} then holds the model's name for it ("batch_size",
 * "sequence_length") or null when the model gives none. Immutable: the arrays are copied in and out.
 *
 * @param name          the input's name as the model declares it
 * @param dtype         the element type
 * @param shape         dimensions; negative means not fixed (normalized to -1)
 * @param symbolicNames per dimension, the symbolic name of a dimension that is not fixed, else null;
 *                      pass null when there are none
 */
public record InputSpec(String name, DType dtype, long[] shape, String[] symbolicNames) {
    public InputSpec {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(dtype, "dtype");
        Objects.requireNonNull(shape, "shape");
        shape = shape.clone();
        for (int i = 0; i < shape.length; i++) {
            if (shape[i] < 0) {
                shape[i] = -1;
            }
        }
        if (symbolicNames == null) {
            symbolicNames = new String[shape.length];
        } else if (symbolicNames.length != shape.length) {
            throw new JlmException.InvalidArgument("input " + name + ": " + symbolicNames.length
                    + " symbolic dimension names for a shape of rank " + shape.length);
        } else {
            symbolicNames = symbolicNames.clone();
        }
    }

    /** An input whose dimensions all have a size or are unnamed when negative. */
    public InputSpec(String name, DType dtype, long... shape) {
        this(name, dtype, shape, null);
    }

    /** The shape, a copy; negative entries are -1 and not fixed. */
    @Override
    public long[] shape() {
        return shape.clone();
    }

    /** Per dimension the symbolic name or null; a copy. */
    @Override
    public String[] symbolicNames() {
        return symbolicNames.clone();
    }

    /** The symbolic name of dimension {@code axis}, or null. */
    public String symbolicName(int axis) {
        return symbolicNames[axis];
    }

    /** True when every dimension has a fixed size. */
    public boolean isFixed() {
        return Arrays.stream(shape).allMatch(d -> d >= 0);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof InputSpec s && name.equals(s.name) && dtype == s.dtype
                && Arrays.equals(shape, s.shape) && Arrays.equals(symbolicNames, s.symbolicNames);
    }

    @Override
    public int hashCode() {
        return Objects.hash(name, dtype, Arrays.hashCode(shape), Arrays.hashCode(symbolicNames));
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder(name).append(' ').append(dtype).append('[');
        for (int i = 0; i < shape.length; i++) {
            if (i > 0) {
                sb.append(", ");
            }
            sb.append(shape[i] >= 0 ? Long.toString(shape[i]) : symbolicNames[i] != null ? symbolicNames[i] : "?");
        }
        return sb.append(']').toString();
    }
}
