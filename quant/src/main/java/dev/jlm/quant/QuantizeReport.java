package dev.jlm.quant;

import java.nio.file.Path;
import java.util.List;

/**
 * What a {@link ModelQuantizer} run did.
 *
 * @param output          the file written, or null when nothing was (no quantizable weight)
 * @param layers          every quantized weight, in graph order
 * @param skipped         every candidate weight left in float, with the reason
 * @param notes           one-line remarks (already-quantized nodes, domains added)
 * @param bytesBefore     size of the input model's files
 * @param bytesAfter      size of the output's files (0 when nothing was written)
 * @param elapsedNanos    wall time of the whole run
 */
public record QuantizeReport(Path output, List<Layer> layers, List<Skipped> skipped, List<String> notes,
                             long bytesBefore, long bytesAfter, long elapsedNanos) {
    /**
     * One quantized weight.
     *
     * @param weight        the initializer's name
     * @param nodes         the nodes that use it (all rewritten)
     * @param op            the op type of those nodes
     * @param rows          first dimension of the weight as stored
     * @param cols          second dimension
     * @param bits          4 or 8
     * @param blockSize     the block size used (the chosen one under auto)
     * @param symmetric     without zero points
     * @param relativeError {@code ||W - dequant(Q)||_F / ||W||_F}
     * @param bytesBefore   bytes of the float weight
     * @param bytesAfter    bytes of codes, scales and zero points
     */
    public record Layer(String weight, List<String> nodes, String op, long rows, long cols, int bits, int blockSize,
                        boolean symmetric, double relativeError, long bytesBefore, long bytesAfter) {
    }

    /**
     * A candidate weight left as it was.
     *
     * @param weight the initializer's name
     * @param node   the first node using it
     * @param reason why it was left
     */
    public record Skipped(String weight, String node, String reason) {
    }

    /** True when an output model was written. */
    public boolean written() {
        return output != null;
    }

    /** Bytes of all quantized weights before. */
    public long weightBytesBefore() {
        return layers.stream().mapToLong(Layer::bytesBefore).sum();
    }

    /** Bytes of all quantized weights after. */
    public long weightBytesAfter() {
        return layers.stream().mapToLong(Layer::bytesAfter).sum();
    }
}
