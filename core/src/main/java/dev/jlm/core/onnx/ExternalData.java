package dev.jlm.core.onnx;

import ai.onnx.proto.OnnxMl.StringStringEntryProto;
import ai.onnx.proto.OnnxMl.TensorProto;

/**
 * The external data reference of a tensor ({@code location}, {@code offset}, {@code length}); offset and
 * length are -1 when absent or not a number.
 */
record ExternalData(String location, long offset, long length, boolean malformed) {

    static ExternalData of(TensorProto t) {
        String location = null;
        long offset = 0;
        long length = -1;
        boolean malformed = false;
        for (StringStringEntryProto e : t.getExternalDataList()) {
            switch (e.getKey()) {
                case "location" -> location = e.getValue();
                case "offset" -> {
                    offset = parse(e.getValue());
                    malformed |= offset < 0;
                }
                case "length" -> {
                    length = parse(e.getValue());
                    malformed |= length < 0;
                }
                default -> {
                    // "checksum" and future keys: not needed to read the bytes
                }
            }
        }
        return new ExternalData(location, offset, length, malformed || location == null || location.isEmpty());
    }

    private static long parse(String s) {
        try {
            return Long.parseLong(s.trim());
        } catch (NumberFormatException e) {
            return -1;
        }
    }
}
