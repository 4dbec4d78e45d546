package dev.jlm.core.eval;

import com.google.gson.stream.JsonWriter;

import java.io.IOException;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.function.Function;

/**
 * The comparison of a candidate model (e.g. compressed) with its reference (the original) on the same
 * inputs: per model its file size and latency, per output the figures of {@link TensorMetrics} and, where
 * they apply, of {@link EmbeddingMetrics} and {@link DistributionMetrics}. Printed with {@link #toTable()},
 * serialized with {@link #toJson()}. Immutable.
 *
 * @param reference the reference model
 * @param candidate the candidate model
 * @param outputs   per compared output, in the order to print
 * @param notes     settings worth reporting (seed, input source, batch size), printed in insertion order;
 *                  keys must not be null, values may be
 */
public record ModelComparison(ModelInfo reference, ModelInfo candidate, List<OutputComparison> outputs,
                              Map<String, String> notes) {
    public ModelComparison {
        Objects.requireNonNull(reference, "reference");
        Objects.requireNonNull(candidate, "candidate");
        outputs = List.copyOf(outputs);
        notes = notes == null ? Map.of() : Collections.unmodifiableMap(new LinkedHashMap<>(notes));
        notes.keySet().forEach(k -> Objects.requireNonNull(k, "note key"));
    }

    /**
     * One model of the comparison.
     *
     * @param label     how to name it (usually its file name)
     * @param fileBytes size of its files in bytes (external data included), or -1 when unknown
     * @param latency   latency per batch, or null when not measured
     */
    public record ModelInfo(String label, long fileBytes, LatencySummary latency) {
        public ModelInfo {
            Objects.requireNonNull(label, "label");
        }
    }

    /**
     * The figures of one output.
     *
     * @param name         the output's name
     * @param tensor       row and element figures (always present)
     * @param embedding    sentence-embedding figures for token states, or null
     * @param distribution distribution figures for logits or probabilities, or null
     */
    public record OutputComparison(String name, TensorMetrics.Result tensor, EmbeddingMetrics.Result embedding,
                                   DistributionMetrics.Result distribution) {
        public OutputComparison {
            Objects.requireNonNull(name, "name");
            Objects.requireNonNull(tensor, "tensor");
        }
    }

    /** Candidate size over reference size, or NaN when either is unknown. */
    public double sizeRatio() {
        return reference.fileBytes > 0 && candidate.fileBytes >= 0
                ? (double) candidate.fileBytes / reference.fileBytes : Double.NaN;
    }

    /** Reference p50 latency over candidate p50 latency (above 1: the candidate is faster), or NaN. */
    public double p50Speedup() {
        return reference.latency != null && candidate.latency != null && candidate.latency.p50Nanos() > 0
                ? (double) reference.latency.p50Nanos() / candidate.latency.p50Nanos() : Double.NaN;
    }

    // ---- plain text -------------------------------------------------------------------------------

    /**
     * Aligned plain text: a table of the two models, a table with one column per output, then the notes.
     * Figures that do not apply print as "-"; NaN prints as NaN.
     */
    public String toTable() {
        List<String[]> models = new ArrayList<>();
        models.add(new String[] {"", "reference", "candidate"});
        models.add(new String[] {"model", clean(reference.label), clean(candidate.label)});
        models.add(new String[] {"file size", size(reference.fileBytes), size(candidate.fileBytes)});
        String[][] lat = {{"latency p50", "p50"}, {"latency p90", "p90"}, {"latency p99", "p99"},
                {"latency mean", "mean"}};
        for (String[] l : lat) {
            models.add(new String[] {l[0], millis(reference.latency, l[1]), millis(candidate.latency, l[1])});
        }
        models.add(new String[] {"latency samples", samples(reference.latency), samples(candidate.latency)});
        StringBuilder sb = new StringBuilder();
        table(sb, models);
        sb.append(String.format(Locale.ROOT, "size ratio (candidate/reference): %s%n",
                Double.isNaN(sizeRatio()) ? "-" : String.format(Locale.ROOT, "%.3f", sizeRatio())));
        sb.append(String.format(Locale.ROOT, "p50 speed-up (reference/candidate): %s%n",
                Double.isNaN(p50Speedup()) ? "-" : String.format(Locale.ROOT, "%.2fx", p50Speedup())));

        if (!outputs.isEmpty()) {
            sb.append(System.lineSeparator());
            List<String[]> rows = new ArrayList<>();
            String[] head = new String[outputs.size() + 1];
            head[0] = "output";
            for (int i = 0; i < outputs.size(); i++) {
                head[i + 1] = clean(outputs.get(i).name);
            }
            rows.add(head);
            rows.add(row("rows", o -> Long.toString(o.tensor.rows())));
            rows.add(row("cosine mean", o -> cos(o.tensor.meanCosine())));
            rows.add(row("cosine min", o -> cos(o.tensor.minCosine())));
            rows.add(row("max abs error", o -> err(o.tensor.maxAbsError())));
            rows.add(row("mean abs error", o -> err(o.tensor.meanAbsError())));
            rows.add(row("relative L2 error", o -> err(o.tensor.relativeL2Error())));
            if (outputs.stream().anyMatch(o -> o.embedding != null)) {
                rows.add(row("sentences", o -> o.embedding == null ? "-" : Long.toString(o.embedding.sentences())));
                rows.add(row("sentence cosine mean", o -> o.embedding == null ? "-" : cos(o.embedding.meanCosine())));
                rows.add(row("sentence cosine min", o -> o.embedding == null ? "-" : cos(o.embedding.minCosine())));
            }
            if (outputs.stream().anyMatch(o -> o.distribution != null)) {
                rows.add(row("KL(P||Q) nats", o -> o.distribution == null ? "-" : err(o.distribution.forwardKl())));
                rows.add(row("KL(Q||P) nats", o -> o.distribution == null ? "-" : err(o.distribution.reverseKl())));
                rows.add(row("JS nats", o -> o.distribution == null ? "-" : err(o.distribution.jensenShannon())));
                rows.add(row("top-1 agreement", o -> o.distribution == null ? "-"
                        : String.format(Locale.ROOT, "%.4f", o.distribution.top1Agreement())));
            }
            table(sb, rows);
        }
        if (!notes.isEmpty()) {
            sb.append(System.lineSeparator());
            int w = notes.keySet().stream().mapToInt(k -> clean(k).length()).max().orElse(0);
            notes.forEach((k, v) -> sb.append(pad(clean(k) + ":", w + 2)).append(clean(v)).append(System.lineSeparator()));
        }
        return sb.toString();
    }

    private String[] row(String label, Function<OutputComparison, String> cell) {
        String[] r = new String[outputs.size() + 1];
        r[0] = label;
        for (int i = 0; i < outputs.size(); i++) {
            r[i + 1] = cell.apply(outputs.get(i));
        }
        return r;
    }

    private static void table(StringBuilder sb, List<String[]> rows) {
        int cols = rows.getFirst().length;
        int[] width = new int[cols];
        for (String[] r : rows) {
            for (int c = 0; c < cols; c++) {
                width[c] = Math.max(width[c], r[c].length());
            }
        }
        for (String[] r : rows) {
            StringBuilder line = new StringBuilder();
            for (int c = 0; c < cols; c++) {
                line.append(c == cols - 1 ? r[c] : pad(r[c], width[c] + 2));
            }
            sb.append(line.toString().stripTrailing()).append(System.lineSeparator());
        }
    }

    private static String pad(String s, int width) {
        return s.length() >= width ? s : s + " ".repeat(width - s.length());
    }

    /** Control characters would break the alignment; JSON keeps the exact text. */
    private static String clean(String s) {
        return s.replaceAll("\\p{Cntrl}", " ");
    }

    private static String size(long bytes) {
        if (bytes < 0) {
            return "-";
        }
        return bytes < 1024 * 1024 ? String.format(Locale.ROOT, "%d B", bytes)
                : String.format(Locale.ROOT, "%.2f MiB", bytes / (1024.0 * 1024.0));
    }

    private static String millis(LatencySummary l, String which) {
        if (l == null) {
            return "-";
        }
        double ns = switch (which) {
            case "p50" -> l.p50Nanos();
            case "p90" -> l.p90Nanos();
            case "p99" -> l.p99Nanos();
            default -> l.meanNanos();
        };
        return String.format(Locale.ROOT, "%.3f ms", ns / 1e6);
    }

    private static String samples(LatencySummary l) {
        return l == null ? "-" : Integer.toString(l.count());
    }

    private static String cos(double v) {
        return String.format(Locale.ROOT, "%.6f", v);
    }

    private static String err(double v) {
        return String.format(Locale.ROOT, "%.4g", v);
    }

    // ---- JSON -------------------------------------------------------------------------------------

    /**
     * The comparison as a JSON object (indented, UTF-8 text): {@code reference} and {@code candidate} with
     * {@code label}, {@code fileBytes} and {@code latency} (nanoseconds), {@code sizeRatio},
     * {@code p50Speedup}, {@code outputs} (one object per output with the record components of
     * {@link TensorMetrics.Result}, plus {@code sentenceEmbedding} and {@code distribution} objects or null)
     * and {@code notes}. Unknown values are null; JSON has no NaN or infinities, so non-finite figures are
     * written as the strings "NaN", "Infinity" and "-Infinity".
     */
    public String toJson() {
        StringWriter out = new StringWriter();
        try (JsonWriter w = new JsonWriter(out)) {
            w.setIndent("  ");
            w.beginObject();
            model(w.name("reference"), reference);
            model(w.name("candidate"), candidate);
            number(w.name("sizeRatio"), sizeRatio(), true);
            number(w.name("p50Speedup"), p50Speedup(), true);
            w.name("outputs").beginArray();
            for (OutputComparison o : outputs) {
                TensorMetrics.Result t = o.tensor;
                w.beginObject();
                w.name("name").value(o.name);
                w.name("rows").value(t.rows());
                w.name("elements").value(t.elements());
                number(w.name("meanCosine"), t.meanCosine(), false);
                number(w.name("minCosine"), t.minCosine(), false);
                number(w.name("maxAbsError"), t.maxAbsError(), false);
                number(w.name("meanAbsError"), t.meanAbsError(), false);
                number(w.name("relativeL2Error"), t.relativeL2Error(), false);
                w.name("sentenceEmbedding");
                if (o.embedding == null) {
                    w.nullValue();
                } else {
                    w.beginObject();
                    w.name("sentences").value(o.embedding.sentences());
                    number(w.name("meanCosine"), o.embedding.meanCosine(), false);
                    number(w.name("minCosine"), o.embedding.minCosine(), false);
                    w.endObject();
                }
                w.name("distribution");
                if (o.distribution == null) {
                    w.nullValue();
                } else {
                    DistributionMetrics.Result d = o.distribution;
                    w.beginObject();
                    w.name("rows").value(d.rows());
                    number(w.name("forwardKl"), d.forwardKl(), false);
                    number(w.name("reverseKl"), d.reverseKl(), false);
                    number(w.name("jensenShannon"), d.jensenShannon(), false);
                    number(w.name("top1Agreement"), d.top1Agreement(), false);
                    w.endObject();
                }
                w.endObject();
            }
            w.endArray();
            w.name("notes").beginObject();
            for (Map.Entry<String, String> e : notes.entrySet()) {
                w.name(e.getKey());
                if (e.getValue() == null) {
                    w.nullValue();
                } else {
                    w.value(e.getValue());
                }
            }
            w.endObject();
            w.endObject();
        } catch (IOException e) {
            throw new UncheckedIOException(e); // a StringWriter does not fail
        }
        return out.toString();
    }

    private static void model(JsonWriter w, ModelInfo m) throws IOException {
        w.beginObject();
        w.name("label").value(m.label);
        w.name("fileBytes");
        if (m.fileBytes < 0) {
            w.nullValue();
        } else {
            w.value(m.fileBytes);
        }
        w.name("latency");
        LatencySummary l = m.latency;
        if (l == null) {
            w.nullValue();
        } else {
            w.beginObject();
            w.name("count").value(l.count());
            number(w.name("meanNanos"), l.meanNanos(), false);
            w.name("minNanos").value(l.minNanos());
            w.name("p50Nanos").value(l.p50Nanos());
            w.name("p90Nanos").value(l.p90Nanos());
            w.name("p99Nanos").value(l.p99Nanos());
            w.name("maxNanos").value(l.maxNanos());
            w.endObject();
        }
        w.endObject();
    }

    /** A finite number as a number; NaN as null when it means "unknown", else as a string. */
    private static void number(JsonWriter w, double v, boolean nanIsUnknown) throws IOException {
        if (Double.isFinite(v)) {
            w.value(v);
        } else if (Double.isNaN(v) && nanIsUnknown) {
            w.nullValue();
        } else {
            w.value(Double.isNaN(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity");
        }
    }
}
