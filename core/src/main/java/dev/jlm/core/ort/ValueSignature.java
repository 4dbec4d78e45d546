package dev.jlm.core.ort;

import dev.jlm.core.DType;

import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * The declared type of one model input or output: its name, element type and shape, where a dimension that
 * is not fixed is -1 and {@link #dimNames()} holds its symbolic name ({@code "batch_size"}), or {@code ""}
 * for a fixed or anonymous dimension. Immutable; {@link #shape()} returns a copy.
 *
 * @param name     the value's name in the graph
 * @param dtype    the element type
 * @param shape    the dimensions, -1 where not fixed
 * @param dimNames one name per dimension, {@code ""} where there is none
 */
public record ValueSignature(String name, DType dtype, long[] shape, List<String> dimNames) {
    public ValueSignature {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(dtype, "dtype");
        shape = shape.clone();
        for (int i = 0; i < shape.length; i++) {
            if (shape[i] < 0) {
                shape[i] = -1;
            }
        }
        dimNames = List.copyOf(dimNames);
        if (dimNames.size() != shape.length) {
            throw new dev.jlm.core.JlmException.InvalidArgument("value " + name + ": one dim name per dimension needed: " + Arrays.toString(shape) + " vs " + dimNames);
        }
    }

    /** A signature whose free dimensions (-1) have no names. */
    public static ValueSignature of(String name, DType dtype, long... shape) {
        return new ValueSignature(name, dtype, shape, java.util.Collections.nCopies(shape.length, ""));
    }

    /** The name of dimension {@code axis}, or null when it has none. */
    public String dimName(int axis) {
        String n = dimNames.get(axis);
        return n.isEmpty() ? null : n;
    }

    /** The dimensions, -1 where not fixed; a copy. */
    @Override
    public long[] shape() {
        return shape.clone();
    }

    public int rank() {
        return shape.length;
    }

    /** True when every dimension is fixed. */
    public boolean isFixed() {
        return Arrays.stream(shape).allMatch(d -> d >= 0);
    }

    /** Like {@code I64[batch_size, sequence_length]} or {@code F32[batch_size, sequence_length, 384]}; {@code ?} for an anonymous free dimension. */
    public String describe() {
        StringBuilder sb = new StringBuilder().append(dtype).append('[');
        for (int i = 0; i < shape.length; i++) {
            if (i > 0) {
                sb.append(", ");
            }
            sb.append(shape[i] >= 0 ? Long.toString(shape[i]) : dimNames.get(i).isEmpty() ? "?" : dimNames.get(i));
        }
        return sb.append(']').toString();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ValueSignature v && name.equals(v.name) && dtype == v.dtype
                && Arrays.equals(shape, v.shape) && dimNames.equals(v.dimNames);
    }

    @Override
    public int hashCode() {
        return Objects.hash(name, dtype, Arrays.hashCode(shape), dimNames);
    }

    @Override
    public String toString() {
        return name + ": " + describe();
    }
}
