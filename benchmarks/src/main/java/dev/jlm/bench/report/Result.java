package dev.jlm.bench.report;

import java.util.Map;
import java.util.TreeMap;

/**
 * One JMH result: benchmark class (simple name), method, parameters, and the time per operation in microseconds
 * with its error (JMH's 99.9% half-width; NaN for a single iteration).
 */
record Result(String benchClass, String method, Map<String, String> params, double micros, double errorMicros) {
    Result {
        params = new TreeMap<>(params);
    }

    String param(String name) {
        return params.get(name);
    }

    /** The parameters that identify a comparison row: all but {@code impl}. */
    Map<String, String> key() {
        Map<String, String> k = new TreeMap<>(params);
        k.remove("impl");
        return k;
    }
}
