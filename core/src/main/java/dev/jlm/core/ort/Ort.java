package dev.jlm.core.ort;

import ai.onnxruntime.OnnxJavaType;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtLoggingLevel;
import ai.onnxruntime.OrtProvider;
import ai.onnxruntime.TensorInfo;
import dev.jlm.core.DType;
import dev.jlm.core.JlmException;

import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.reflect.Method;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.regex.Pattern;

/** What every class of this package shares with ONNX Runtime's Java API: the environment, type mapping, errors. */
final class Ort {
    private Ort() {
    }

    /** The process-wide ONNX Runtime environment, created on first use (ONNX Runtime allows only one per process). */
    static OrtEnvironment env() {
        return EnvHolder.ENV;
    }

    private static final class EnvHolder {
        static final OrtEnvironment ENV = load();

        private static OrtEnvironment load() {
            if (ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) {
                // jlm tensors are little-endian and ONNX Runtime reads native order; no copy could save that cheaply.
                throw new JlmException.Unsupported("ONNX Runtime from jlm needs a little-endian platform");
            }
            try {
                return OrtEnvironment.getEnvironment(logLevel(System.getProperty("jlm.ort.log", "fatal")), "jlm");
            } catch (RuntimeException | LinkageError e) {
                throw new JlmException.Unsupported("the ONNX Runtime native library could not be loaded: " + e.getMessage(), e);
            }
        }
    }

    /**
     * ONNX Runtime's own log threshold, from {@code -Djlm.ort.log=verbose|info|warning|error|fatal}. The default
     * is {@code fatal}: every failure jlm cares about reaches the caller as an exception or a warning carrying
     * ONNX Runtime's reason, so its log lines on stderr would only repeat them (a failed CUDA probe under
     * {@link Device#AUTO}, for one). Raise it to debug ONNX Runtime itself.
     */
    private static OrtLoggingLevel logLevel(String name) {
        return switch (name.strip().toLowerCase(java.util.Locale.ROOT)) {
            case "verbose" -> OrtLoggingLevel.ORT_LOGGING_LEVEL_VERBOSE;
            case "info" -> OrtLoggingLevel.ORT_LOGGING_LEVEL_INFO;
            case "warning" -> OrtLoggingLevel.ORT_LOGGING_LEVEL_WARNING;
            case "error" -> OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR;
            case "fatal" -> OrtLoggingLevel.ORT_LOGGING_LEVEL_FATAL;
            default -> throw new JlmException.InvalidArgument("-Djlm.ort.log must be verbose, info, warning, error or fatal, not '" + name + "'");
        };
    }

    /** True when this ONNX Runtime build carries the CUDA execution provider (the onnxruntime_gpu artifact). */
    static boolean hasCudaProvider() {
        env();
        return OrtEnvironment.getAvailableProviders().contains(OrtProvider.CUDA);
    }

    /** ONNX Runtime's Java element type for a jlm dtype, or null where the Java API has none (U16, U32, U64, 4-bit). */
    static OnnxJavaType javaType(DType t) {
        return switch (t) {
            case F32 -> OnnxJavaType.FLOAT;
            case F16 -> OnnxJavaType.FLOAT16;
            case BF16 -> OnnxJavaType.BFLOAT16;
            case F64 -> OnnxJavaType.DOUBLE;
            case I8 -> OnnxJavaType.INT8;
            case U8 -> OnnxJavaType.UINT8;
            case I16 -> OnnxJavaType.INT16;
            case I32 -> OnnxJavaType.INT32;
            case I64 -> OnnxJavaType.INT64;
            case BOOL -> OnnxJavaType.BOOL;
            case U16, U32, U64, I4, U4 -> null;
        };
    }

    /**
     * The jlm dtype of an ONNX Runtime element type, or null for types jlm lacks (string, complex, float8).
     * Mapped by name: the Java enum's numeric values are not the ONNX data type codes.
     */
    static DType dtype(TensorInfo.OnnxTensorType t) {
        return switch (t) {
            case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT -> DType.F32;
            case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16 -> DType.F16;
            case ONNX_TENSOR_ELEMENT_DATA_TYPE_BFLOAT16 -> DType.BF16;
            case ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE -> DType.F64;
            case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT8 -> DType.I8;
            case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8 -> DType.U8;
            case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT16 -> DType.I16;
            case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT16 -> DType.U16;
            case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32 -> DType.I32;
            case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT32 -> DType.U32;
            case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64 -> DType.I64;
            case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT64 -> DType.U64;
            case ONNX_TENSOR_ELEMENT_DATA_TYPE_BOOL -> DType.BOOL;
            default -> null;
        };
    }

    /** The ONNX spelling of an ONNX Runtime element type, for messages ({@code STRING}, {@code FLOAT8E4M3FN}). */
    static String onnxName(TensorInfo.OnnxTensorType t) {
        return t.name().replace("ONNX_TENSOR_ELEMENT_DATA_TYPE_", "");
    }

    private static final Pattern PREFIX = Pattern.compile("^Error code - (\\w+) - message: ");
    private static final Pattern SOURCE = Pattern.compile("\\S*onnxruntime_src\\S*:\\d+ .*?\\[ONNXRuntimeError\\] : \\d+ : \\w+ : ");

    /** ONNX Runtime's message on one line, without its source-file noise, with its error code at the end. */
    static String reason(OrtException e) {
        String m = e.getMessage() == null ? "" : e.getMessage();
        String code = e.getCode() == null ? "" : e.getCode().name();
        var matcher = PREFIX.matcher(m);
        if (matcher.find()) {
            code = matcher.group(1);
            m = m.substring(matcher.end());
        }
        m = SOURCE.matcher(m).replaceAll("");
        m = m.replaceAll("\\s+", " ").strip();
        return code.isEmpty() ? m : m + " [" + code + "]";
    }

    /** An ONNX Runtime failure as a one-line jlm error naming the model and the operation. */
    static JlmException.Backend backend(String model, String operation, OrtException e) {
        return new JlmException.Backend("model " + model + ": " + operation + " failed in ONNX Runtime: " + reason(e), e);
    }

    // The public accessors of OnnxTensor copy into a heap buffer; its private getBuffer() wraps ONNX Runtime's
    // own memory in a direct buffer, which lets an output reach a jlm tensor in one copy. Reflection is allowed
    // because ONNX Runtime's jar is on the class path or an automatic module (open either way); if a later
    // release removes the method, the public (two-copy) path is used.
    private static final MethodHandle RAW_BUFFER = rawBufferHandle();

    private static MethodHandle rawBufferHandle() {
        try {
            Method m = OnnxTensor.class.getDeclaredMethod("getBuffer");
            if (m.getReturnType() != ByteBuffer.class) {
                return null;
            }
            m.setAccessible(true);
            return MethodHandles.lookup().unreflect(m);
        } catch (ReflectiveOperationException | RuntimeException e) {
            return null;
        }
    }

    /** The bytes of an ONNX Runtime tensor in native order: its own memory when possible, else a heap copy. */
    static ByteBuffer bytes(OnnxTensor t) {
        if (RAW_BUFFER != null) {
            try {
                return ((ByteBuffer) RAW_BUFFER.invokeExact(t)).order(ByteOrder.nativeOrder());
            } catch (RuntimeException | Error e) {
                throw e;
            } catch (Throwable e) {
                throw new IllegalStateException(e);
            }
        }
        return t.getByteBuffer();
    }

    /** True when outputs are read straight from ONNX Runtime's memory (one copy), for tests. */
    static boolean readsOutputsInOneCopy() {
        return RAW_BUFFER != null;
    }
}
