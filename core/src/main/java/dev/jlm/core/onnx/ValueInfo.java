package dev.jlm.core.onnx;

import ai.onnx.proto.OnnxMl.TensorShapeProto;
import ai.onnx.proto.OnnxMl.TypeProto;
import ai.onnx.proto.OnnxMl.ValueInfoProto;
import dev.jlm.core.DType;

import java.util.Arrays;

/**
 * A graph input or output: its name, element type and shape. Dimensions that are symbolic or unknown
 * are -1 in {@link #shape()}, with the symbol (or null) at the same index of {@link #dimNames()}.
 *
 * @param name      the value's name
 * @param onnxType  the ONNX element type code (0 when the value is not a tensor or has no type)
 * @param dtype     the element type, or null when jlm does not handle it
 * @param shape     dimensions, -1 where not fixed; null when the shape is unknown
 * @param dimNames  symbolic dimension names, null entries for fixed or anonymous ones; null when the shape is unknown
 */
public record ValueInfo(String name, int onnxType, DType dtype, long[] shape, String[] dimNames) {

    static ValueInfo of(ValueInfoProto v) {
        TypeProto type = v.getType();
        if (!type.hasTensorType()) {
            return new ValueInfo(v.getName(), 0, null, null, null);
        }
        TypeProto.Tensor tt = type.getTensorType();
        int code = tt.getElemType();
        DType dt = DType.isSupportedOnnx(code) ? DType.fromOnnx(code) : null;
        if (!tt.hasShape()) {
            return new ValueInfo(v.getName(), code, dt, null, null);
        }
        TensorShapeProto shape = tt.getShape();
        long[] dims = new long[shape.getDimCount()];
        String[] names = new String[dims.length];
        for (int i = 0; i < dims.length; i++) {
            TensorShapeProto.Dimension d = shape.getDim(i);
            if (d.hasDimValue()) {
                dims[i] = d.getDimValue();
            } else {
                dims[i] = -1;
                names[i] = d.hasDimParam() && !d.getDimParam().isEmpty() ? d.getDimParam() : null;
            }
        }
        return new ValueInfo(v.getName(), code, dt, dims, names);
    }

    /** The element type as ONNX spells it (FLOAT, INT64, ...). */
    public String typeName() {
        return onnxType == 0 ? "?" : DType.onnxName(onnxType);
    }

    /** The shape as text, symbols by name: {@code [batch_size, sequence_length, 384]}. */
    public String shapeText() {
        if (shape == null) {
            return "[?]";
        }
        StringBuilder sb = new StringBuilder("[");
        for (int i = 0; i < shape.length; i++) {
            if (i > 0) {
                sb.append(", ");
            }
            sb.append(shape[i] >= 0 ? Long.toString(shape[i]) : dimNames[i] != null ? dimNames[i] : "?");
        }
        return sb.append(']').toString();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ValueInfo v && name.equals(v.name) && onnxType == v.onnxType
                && Arrays.equals(shape, v.shape) && Arrays.equals(dimNames, v.dimNames);
    }

    @Override
    public int hashCode() {
        return name.hashCode() * 31 + Arrays.hashCode(shape);
    }

    @Override
    public String toString() {
        return name + " " + typeName() + shapeText();
    }
}
