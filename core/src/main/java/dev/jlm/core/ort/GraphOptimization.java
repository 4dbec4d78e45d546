package dev.jlm.core.ort;

import ai.onnxruntime.OrtSession;

/**
 * How much ONNX Runtime rewrites the graph before running it: nothing, constant folding and redundant-node
 * removal ({@code BASIC}), plus fusions such as attention and layer norm ({@code EXTENDED}), plus layout
 * changes ({@code ALL}, ONNX Runtime's default).
 */
public enum GraphOptimization {
    NONE(OrtSession.SessionOptions.OptLevel.NO_OPT),
    BASIC(OrtSession.SessionOptions.OptLevel.BASIC_OPT),
    EXTENDED(OrtSession.SessionOptions.OptLevel.EXTENDED_OPT),
    ALL(OrtSession.SessionOptions.OptLevel.ALL_OPT);

    private final OrtSession.SessionOptions.OptLevel ort;

    GraphOptimization(OrtSession.SessionOptions.OptLevel ort) {
        this.ort = ort;
    }

    OrtSession.SessionOptions.OptLevel ort() {
        return ort;
    }
}
