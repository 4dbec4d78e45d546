package dev.jlm.core.onnx;

import ai.onnx.proto.OnnxMl.AttributeProto;
import ai.onnx.proto.OnnxMl.GraphProto;
import ai.onnx.proto.OnnxMl.ModelProto;
import ai.onnx.proto.OnnxMl.NodeProto;
import ai.onnx.proto.OnnxMl.StringStringEntryProto;
import ai.onnx.proto.OnnxMl.TensorProto;
import com.google.protobuf.CodedOutputStream;
import com.google.protobuf.UnsafeByteOperations;
import dev.jlm.core.JlmException;
import dev.jlm.core.io.AtomicFiles;

import java.io.IOException;
import java.io.OutputStream;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Writes a model and, when asked or needed, its external data file: data first, then the model, each
 * through a temporary file and an atomic move; never over one of the source model's files.
 */
final class ModelWriter {
    /** Above this much inline tensor data, large tensors move to external data whatever the options say. */
    static final long INLINE_LIMIT = 1L << 30 | 1L << 29;
    /** Tensors from this size on start on a page boundary in the data file, so that a reader can map them. */
    private static final long PAGE_ALIGN_FROM = 64 * 1024;
    private static final int CHUNK = 1 << 28;

    private final OnnxModel source;
    private final List<MemorySegment> pending = new ArrayList<>();
    private final List<Long> pendingOffsets = new ArrayList<>();
    private long dataLength;
    private long threshold;
    private String dataFileName;

    ModelWriter(OnnxModel source) {
        this.source = source;
    }

    void write(ModelProto edited, Path target, SaveOptions options) {
        Path abs = target.toAbsolutePath().normalize();
        List<Path> inputs = source.files();
        AtomicFiles.refuseInputs(abs, inputs);

        threshold = options.externalThreshold();
        if (threshold < 0 && inlineBytes(edited.getGraph()) > INLINE_LIMIT) {
            threshold = 1 << 20;
        }
        dataFileName = options.externalFileName() != null ? options.externalFileName() : abs.getFileName() + ".data";
        ModelProto out = edited.toBuilder().setGraph(rewrite(edited.getGraph())).build();

        Path dataFile = abs.resolveSibling(dataFileName);
        boolean dataExisted = Files.exists(dataFile);
        if (!pending.isEmpty()) {
            AtomicFiles.refuseInputs(dataFile, inputs);
            AtomicFiles.write(dataFile, inputs, this::writeData);
        }
        try {
            AtomicFiles.write(abs, inputs, ch -> {
                OutputStream os = Channels.newOutputStream(ch);
                CodedOutputStream cos = CodedOutputStream.newInstance(os, 1 << 16);
                out.writeTo(cos);
                cos.flush();
            });
        } catch (RuntimeException e) {
            if (!pending.isEmpty() && !dataExisted) {
                try {
                    Files.deleteIfExists(dataFile);
                } catch (IOException ignored) {
                    // the model was not written; a stray data file is harmless
                }
            }
            throw e;
        }
    }

    private long inlineBytes(GraphProto g) {
        long total = 0;
        for (TensorProto t : g.getInitializerList()) {
            long b = TensorData.expectedBytes(t);
            total += Math.max(0, b);
        }
        return total;
    }

    private GraphProto rewrite(GraphProto g) {
        GraphProto.Builder b = g.toBuilder();
        for (int i = 0; i < b.getInitializerCount(); i++) {
            b.setInitializer(i, place(b.getInitializer(i)));
        }
        for (int i = 0; i < b.getNodeCount(); i++) {
            NodeProto n = b.getNode(i);
            if (hasSubgraph(n)) {
                NodeProto.Builder nb = n.toBuilder();
                for (int a = 0; a < nb.getAttributeCount(); a++) {
                    AttributeProto attr = nb.getAttribute(a);
                    if (attr.hasG() || attr.getGraphsCount() > 0) {
                        AttributeProto.Builder ab = attr.toBuilder();
                        if (attr.hasG()) {
                            ab.setG(rewrite(attr.getG()));
                        }
                        for (int k = 0; k < ab.getGraphsCount(); k++) {
                            ab.setGraphs(k, rewrite(ab.getGraphs(k)));
                        }
                        nb.setAttribute(a, ab);
                    }
                }
                b.setNode(i, nb);
            }
        }
        return b.build();
    }

    private static boolean hasSubgraph(NodeProto n) {
        for (AttributeProto a : n.getAttributeList()) {
            if (a.hasG() || a.getGraphsCount() > 0) {
                return true;
            }
        }
        return false;
    }

    /** Decides where a tensor's bytes go and returns the tensor as it must be written. */
    private TensorProto place(TensorProto t) {
        boolean external = t.getDataLocation() == TensorProto.DataLocation.EXTERNAL;
        if (!external && !t.hasRawData()) {
            return t; // typed fields: small by nature, kept as they are
        }
        long size = TensorData.expectedBytes(t);
        if (threshold >= 0 && size >= threshold) {
            MemorySegment bytes = external ? source.bytes(t) : MemorySegment.ofBuffer(t.getRawData().asReadOnlyByteBuffer());
            long align = bytes.byteSize() >= PAGE_ALIGN_FROM ? 4096 : 64;
            long offset = (dataLength + align - 1) / align * align;
            pending.add(bytes);
            pendingOffsets.add(offset);
            dataLength = offset + bytes.byteSize();
            return t.toBuilder()
                    .clearRawData()
                    .clearExternalData()
                    .setDataLocation(TensorProto.DataLocation.EXTERNAL)
                    .addExternalData(entry("location", dataFileName))
                    .addExternalData(entry("offset", Long.toString(offset)))
                    .addExternalData(entry("length", Long.toString(bytes.byteSize())))
                    .build();
        }
        if (external) {
            MemorySegment bytes = source.bytes(t);
            if (bytes.byteSize() > Integer.MAX_VALUE - 8) {
                throw new JlmException.InvalidArgument("tensor '" + t.getName() + "' (" + bytes.byteSize()
                        + " bytes) is too large to store inline; save with external data");
            }
            return t.toBuilder()
                    .clearExternalData()
                    .clearDataLocation()
                    .setRawData(UnsafeByteOperations.unsafeWrap(bytes.asByteBuffer()))
                    .build();
        }
        return t;
    }

    private static StringStringEntryProto entry(String k, String v) {
        return StringStringEntryProto.newBuilder().setKey(k).setValue(v).build();
    }

    private void writeData(FileChannel ch) throws IOException {
        long pos = 0;
        ByteBuffer zeros = ByteBuffer.allocateDirect(4096);
        for (int i = 0; i < pending.size(); i++) {
            long offset = pendingOffsets.get(i);
            while (pos < offset) {
                zeros.clear().limit((int) Math.min(4096, offset - pos));
                pos += ch.write(zeros);
            }
            MemorySegment seg = pending.get(i);
            for (long off = 0; off < seg.byteSize(); off += CHUNK) {
                ByteBuffer buf = seg.asSlice(off, Math.min(CHUNK, seg.byteSize() - off)).asByteBuffer();
                while (buf.hasRemaining()) {
                    pos += ch.write(buf);
                }
            }
        }
    }
}
