package dev.jlm.core.onnx;

import ai.onnx.proto.OnnxMl.TensorProto;
import dev.jlm.core.DType;
import dev.jlm.core.JlmException;
import dev.jlm.core.Tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/** Reads the bytes of a {@link TensorProto} wherever the format put them: raw, external, or typed fields. */
final class TensorData {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private TensorData() {
    }

    static long[] dims(TensorProto t) {
        long[] d = new long[t.getDimsCount()];
        for (int i = 0; i < d.length; i++) {
            d[i] = t.getDims(i);
        }
        return d;
    }

    /** Element count, or -1 on a negative dimension or overflow. */
    static long elements(TensorProto t) {
        long n = 1;
        for (long d : t.getDimsList()) {
            if (d < 0) {
                return -1;
            }
            try {
                n = Math.multiplyExact(n, d);
            } catch (ArithmeticException e) {
                return -1;
            }
        }
        return n;
    }

    /** Bits per element of any ONNX tensor type with a fixed width, or -1 (UNDEFINED, STRING, unknown codes). */
    static int bitsOf(int onnxCode) {
        if (DType.isSupportedOnnx(onnxCode)) {
            return DType.fromOnnx(onnxCode).bits();
        }
        return switch (onnxCode) {
            case 14 -> 64;                 // COMPLEX64
            case 15 -> 128;                // COMPLEX128
            case 17, 18, 19, 20, 24 -> 8;  // FLOAT8 variants, FLOAT8E8M0
            case 23, 25, 26 -> 4;          // FLOAT4E2M1 and later 4-bit codes
            default -> -1;
        };
    }

    static long expectedBytes(TensorProto t) {
        int bits = bitsOf(t.getDataType());
        long n = elements(t);
        return bits < 0 || n < 0 ? -1 : (n * bits + 7) / 8;
    }

    /** The stored bytes of a raw or external tensor (read-only); typed-field tensors are encoded into the model's arena. */
    static MemorySegment bytes(TensorProto t, OnnxModel model) {
        if (t.getDataLocation() == TensorProto.DataLocation.EXTERNAL) {
            ExternalData ed = ExternalData.of(t);
            MemorySegment file = model.externalFile(ed.location());
            long length = ed.length() >= 0 ? ed.length() : expectedBytes(t);
            if (ed.offset() + length > file.byteSize()) {
                throw new JlmException.InvalidModel(model.name() + ": external data of '" + t.getName() + "' ends at byte "
                        + (ed.offset() + length) + " but " + ed.location() + " has only " + file.byteSize());
            }
            return file.asSlice(ed.offset(), length);
        }
        if (t.hasRawData()) {
            return MemorySegment.ofBuffer(t.getRawData().asReadOnlyByteBuffer());
        }
        return toTensor(t, model).segment();
    }

    static Tensor toTensor(TensorProto t, OnnxModel model) {
        DType dtype = OnnxModel.dtypeOf(t, model.name());
        long[] dims = dims(t);
        if (t.getDataLocation() == TensorProto.DataLocation.EXTERNAL || t.hasRawData()) {
            MemorySegment seg = bytes(t, model);
            if (seg.byteSize() != dtype.byteSize(elements(t))) {
                throw new JlmException.InvalidModel(model.name() + ": tensor '" + t.getName() + "' has " + seg.byteSize()
                        + " bytes of data but " + dtype + java.util.Arrays.toString(dims) + " needs " + dtype.byteSize(elements(t)));
            }
            return Tensor.wrap(seg.isReadOnly() ? seg : seg.asReadOnly(), dtype, dims);
        }
        Tensor out = Tensor.allocate(model.arena(), dtype, dims);
        MemorySegment s = out.segment();
        long n = out.size();
        switch (dtype) {
            case F32 -> {
                check(t, t.getFloatDataCount(), n, model);
                for (int i = 0; i < n; i++) {
                    s.set(F32, 4L * i, t.getFloatData(i));
                }
            }
            case F64 -> {
                check(t, t.getDoubleDataCount(), n, model);
                for (int i = 0; i < n; i++) {
                    s.set(F64, 8L * i, t.getDoubleData(i));
                }
            }
            case I64 -> {
                check(t, t.getInt64DataCount(), n, model);
                for (int i = 0; i < n; i++) {
                    s.set(I64, 8L * i, t.getInt64Data(i));
                }
            }
            case U32 -> {
                check(t, t.getUint64DataCount(), n, model);
                for (int i = 0; i < n; i++) {
                    s.set(I32, 4L * i, (int) t.getUint64Data(i));
                }
            }
            case U64 -> {
                check(t, t.getUint64DataCount(), n, model);
                for (int i = 0; i < n; i++) {
                    s.set(I64, 8L * i, t.getUint64Data(i));
                }
            }
            case I32 -> {
                check(t, t.getInt32DataCount(), n, model);
                for (int i = 0; i < n; i++) {
                    s.set(I32, 4L * i, t.getInt32Data(i));
                }
            }
            case I16, U16, F16, BF16 -> {
                check(t, t.getInt32DataCount(), n, model);
                for (int i = 0; i < n; i++) {
                    s.set(I16, 2L * i, (short) t.getInt32Data(i));
                }
            }
            case I8, U8, BOOL -> {
                check(t, t.getInt32DataCount(), n, model);
                for (int i = 0; i < n; i++) {
                    s.set(ValueLayout.JAVA_BYTE, i, (byte) t.getInt32Data(i));
                }
            }
            case I4, U4 -> {
                long packed = (n + 1) / 2;
                check(t, t.getInt32DataCount(), packed, model);
                for (int i = 0; i < packed; i++) {
                    s.set(ValueLayout.JAVA_BYTE, i, (byte) t.getInt32Data(i));
                }
            }
        }
        return Tensor.wrap(s.asReadOnly(), dtype, dims);
    }

    /** Number of typed-field entries the tensor carries, for validation; -1 when it has no typed data of its type. */
    static long typedCount(TensorProto t) {
        int code = t.getDataType();
        return switch (code) {
            case 1 -> t.getFloatDataCount();
            case 11 -> t.getDoubleDataCount();
            case 7 -> t.getInt64DataCount();
            case 12, 13 -> t.getUint64DataCount();
            case 8 -> t.getStringDataCount();
            case 14 -> t.getFloatDataCount() / 2;
            case 15 -> t.getDoubleDataCount() / 2;
            case 21, 22, 23 -> t.getInt32DataCount() * 2L;
            default -> t.getInt32DataCount();
        };
    }

    private static void check(TensorProto t, long have, long want, OnnxModel model) {
        if (have != want) {
            throw new JlmException.InvalidModel(model.name() + ": tensor '" + t.getName() + "' holds " + have
                    + " values but its dims need " + want);
        }
    }
}
