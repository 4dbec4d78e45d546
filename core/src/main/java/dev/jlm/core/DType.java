package dev.jlm.core;

/**
 * Element types of a {@link Tensor}. Each knows its width in bits and its ONNX {@code TensorProto.DataType}
 * code. The 4-bit types are packed two per byte, the element with the even index in the low nibble
 * (the ONNX and MatMulNBits convention).
 */
public enum DType {
    F32(32, 1),
    F16(16, 10),
    BF16(16, 16),
    F64(64, 11),
    I8(8, 3),
    U8(8, 2),
    I16(16, 5),
    U16(16, 4),
    I32(32, 6),
    U32(32, 12),
    I64(64, 7),
    U64(64, 13),
    BOOL(8, 9),
    I4(4, 22),
    U4(4, 21);

    private final int bits;
    private final int onnxCode;

    DType(int bits, int onnxCode) {
        this.bits = bits;
        this.onnxCode = onnxCode;
    }

    /** Width of one element in bits (4 for the packed types). */
    public int bits() {
        return bits;
    }

    /** The ONNX {@code TensorProto.DataType} code. */
    public int onnxCode() {
        return onnxCode;
    }

    /** True for the float types (F32, F16, BF16, F64). */
    public boolean isFloat() {
        return this == F32 || this == F16 || this == BF16 || this == F64;
    }

    /** True for the 4-bit types, which pack two elements per byte. */
    public boolean isPacked() {
        return bits < 8;
    }

    /** Bytes needed for {@code elements} elements, rounded up to whole bytes for the packed types. */
    public long byteSize(long elements) {
        return (elements * bits + 7) / 8;
    }

    /**
     * The type with this ONNX code.
     *
     * @throws JlmException.Unsupported for codes jlm does not handle (strings, complex, float8, unknown)
     */
    public static DType fromOnnx(int code) {
        for (DType t : values()) {
            if (t.onnxCode == code) {
                return t;
            }
        }
        throw new JlmException.Unsupported("unsupported ONNX data type " + code + " (" + onnxName(code) + ")");
    }

    /** True if {@link #fromOnnx(int)} accepts the code. */
    public static boolean isSupportedOnnx(int code) {
        for (DType t : values()) {
            if (t.onnxCode == code) {
                return true;
            }
        }
        return false;
    }

    /** The ONNX spelling of a data type code, for messages. */
    public static String onnxName(int code) {
        return switch (code) {
            case 0 -> "UNDEFINED";
            case 1 -> "FLOAT";
            case 2 -> "UINT8";
            case 3 -> "INT8";
            case 4 -> "UINT16";
            case 5 -> "INT16";
            case 6 -> "INT32";
            case 7 -> "INT64";
            case 8 -> "STRING";
            case 9 -> "BOOL";
            case 10 -> "FLOAT16";
            case 11 -> "DOUBLE";
            case 12 -> "UINT32";
            case 13 -> "UINT64";
            case 14 -> "COMPLEX64";
            case 15 -> "COMPLEX128";
            case 16 -> "BFLOAT16";
            case 17 -> "FLOAT8E4M3FN";
            case 18 -> "FLOAT8E4M3FNUZ";
            case 19 -> "FLOAT8E5M2";
            case 20 -> "FLOAT8E5M2FNUZ";
            case 21 -> "UINT4";
            case 22 -> "INT4";
            case 23 -> "FLOAT4E2M1";
            default -> "unknown";
        };
    }
}
