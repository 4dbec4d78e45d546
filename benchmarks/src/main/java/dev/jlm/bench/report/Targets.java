package dev.jlm.bench.report;

import dev.jlm.bench.report.KernelReport.Row;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The speed targets of the first kernel issue, checked against a report's rows:
 * <ol>
 * <li>RMSNorm and LayerNorm, widths 2048 and 4096, 1/128/2048 rows, 1 and 2 threads: jlm/ORT >= 1.0;</li>
 * <li>the same at 2048 x 4096: at least 80% of the copy bandwidth at the same thread count;</li>
 * <li>softmax and RoPE: jlm/ORT >= 1.0 wherever ORT ran;</li>
 * <li>every op at a width of 2048 or more: jlm/scalar >= 4;</li>
 * <li>attention (issue 4): jlm/ORT >= 1.0 for every shape and thread count; decode against a cache of 8192
 * positions (beyond L2) at >= 70% of the copy bandwidth at the same thread count, and of the read-only bandwidth
 * (decode reads its cache and writes little). The prefill target (>= 50% of
 * one core's FMA peak per thread at seq 2048) needs the peak, which JMH does not measure: its GFLOP/s per thread
 * is listed for comparison by hand.</li>
 * </ol>
 * A target with no matching measurement is reported as unmeasured, never as met.
 */
final class Targets {
    private Targets() {
    }

    /** One target: how many rows it covers, which missed it, which lacked data. */
    record Outcome(String name, int met, List<String> missed, List<String> unmeasured) {
        String describe() {
            int total = met + missed.size() + unmeasured.size();
            if (total == 0) {
                return name + ": **unmeasured** (no matching results)";
            }
            StringBuilder sb = new StringBuilder(name).append(": ")
                    .append(missed.isEmpty() && unmeasured.isEmpty() ? "**met**" : "**not met**")
                    .append(" (").append(met).append(" of ").append(total).append(')');
            if (!missed.isEmpty()) {
                sb.append("; below target: ").append(String.join(", ", missed));
            }
            if (!unmeasured.isEmpty()) {
                sb.append("; unmeasured: ").append(String.join(", ", unmeasured));
            }
            return sb.toString();
        }
    }

    private static final Set<String> NORMS = Set.of("RmsNormBench.rmsNorm", "LayerNormBench.layerNorm");
    private static final Set<String> NORM_SHAPES = Set.of("1x2048", "128x2048", "2048x2048", "1x4096", "128x4096",
            "2048x4096");

    static List<Outcome> evaluate(List<Row> rows, Map<String, double[]> bandwidth) {
        return List.of(
                check("RMSNorm/LayerNorm jlm/ORT >= 1.0 (widths 2048/4096, 1/128/2048 rows, 1 and 2 threads)", rows,
                        r -> NORMS.contains(r.section()) && NORM_SHAPES.contains(r.key().get("shape")),
                        r -> r.jlmOverOrt(), 1.0, "x"),
                check("RMSNorm/LayerNorm at 2048x4096 >= 80% of copy bandwidth", rows,
                        r -> NORMS.contains(r.section()) && "2048x4096".equals(r.key().get("shape")),
                        r -> {
                            double[] bw = bandwidth.get(r.key().get("threads"));
                            return bw == null ? Double.NaN : 100 * r.jlmGbps() / bw[0];
                        }, 80.0, "%"),
                check("Softmax and RoPE jlm/ORT >= 1.0", rows,
                        r -> r.section().startsWith("SoftmaxBench.") || r.section().startsWith("RopeBench."),
                        r -> r.jlmOverOrt(), 1.0, "x"),
                // the ops of the first kernel issue; the attention runs compare with ONNX Runtime only
                check("jlm/scalar >= 4 on every op at width >= 2048", rows,
                        r -> !r.section().startsWith("AttentionBench.") && r.key().get("shape") != null
                                && Traffic.width(r.key().get("shape")) >= 2048,
                        r -> r.jlmOverScalar(), 4.0, "x"),
                check("Attention jlm/ORT >= 1.0 (prefill and decode, every shape, 1 and 2 threads)", rows,
                        r -> r.section().equals("AttentionBench.prefill") || r.section().equals("AttentionBench.decode"),
                        r -> r.jlmOverOrt(), 1.0, "x"),
                decodeShare("copy", 0, rows, bandwidth),
                // decode only reads: the read-only stream is its tighter ceiling (unmeasured in runs without it)
                decodeShare("read", 3, rows, bandwidth));
    }

    /** Decode against a cache of 8192 positions: at least 70% of the roofline's {@code column} at its thread count. */
    private static Outcome decodeShare(String roofline, int column, List<Row> rows, Map<String, double[]> bandwidth) {
        return check("Attention decode, cache of 8192 positions, >= 70% of " + roofline + " bandwidth", rows,
                r -> r.section().equals("AttentionBench.decode") && r.key().getOrDefault("shape", "")
                        .matches("\\d+x\\d+x8192x\\d+"),
                r -> {
                    double[] bw = bandwidth.get(r.key().get("threads"));
                    return bw == null ? Double.NaN : 100 * r.jlmGbps() / bw[column];
                }, 70.0, "%");
    }

    private interface Filter {
        boolean test(Row r);
    }

    private interface Metric {
        double of(Row r);
    }

    private static Outcome check(String name, List<Row> rows, Filter filter, Metric metric, double goal, String unit) {
        int met = 0;
        List<String> missed = new ArrayList<>();
        List<String> unmeasured = new ArrayList<>();
        for (Row r : rows) {
            if (!filter.test(r)) {
                continue;
            }
            double v = metric.of(r);
            String label = label(r);
            if (Double.isNaN(v)) {
                unmeasured.add(label);
            } else if (v >= goal) {
                met++;
            } else {
                missed.add(label + " (" + KernelReport.fmt(v, unit.equals("%") ? 0 : 2) + unit + ")");
            }
        }
        return new Outcome(name, met, missed, unmeasured);
    }

    private static String label(Row r) {
        String method = r.section().substring(r.section().indexOf('.') + 1);
        String extras = KernelReport.extras(r.key());
        return method + (extras.isEmpty() ? "" : " " + extras) + " " + r.key().getOrDefault("shape", "") + " t="
                + r.key().getOrDefault("threads", "?");
    }
}
