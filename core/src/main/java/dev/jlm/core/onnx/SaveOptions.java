package dev.jlm.core.onnx;

/**
 * How {@link OnnxModel#save} lays out tensor data.
 *
 * @param externalThreshold tensors of at least this many bytes go to an external data file; -1 keeps every
 *                          tensor inline (jlm still moves large tensors out when the inline model would pass
 *                          protobuf's 2 GiB limit)
 * @param externalFileName  the data file's name, in the target's directory; null for {@code <model file>.data}
 */
public record SaveOptions(long externalThreshold, String externalFileName) {
    /** Everything inline when it fits. */
    public static final SaveOptions DEFAULTS = new SaveOptions(-1, null);

    /** Tensors of 1 KiB and more in {@code <model file>.data}, as ONNX's own tools do for large models. */
    public static SaveOptions externalData() {
        return new SaveOptions(1024, null);
    }

    public SaveOptions {
        if (externalFileName != null && (externalFileName.isBlank() || externalFileName.contains("/")
                || externalFileName.contains("\\") || externalFileName.equals("..") || externalFileName.equals("."))) {
            throw new IllegalArgumentException("external data file name must be a plain file name: '" + externalFileName + "'");
        }
    }

    /** True when tensors may go to external data. */
    public boolean usesExternalData() {
        return externalThreshold >= 0;
    }
}
