package dev.jlm.bench.report;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * Turns the JMH JSON of the kernel suite into markdown: memory bandwidth from {@code RooflineBench}, then per
 * benchmark method one row per (parameters but impl) with the times of {@code jlm}, {@code ort} and {@code scalar},
 * the throughput ratios jlm/ORT and jlm/scalar, jlm's bandwidth ({@link Traffic}) and its share of the copy
 * bandwidth measured at the same thread count, and finally the targets of the kernel issue, met or not.
 *
 * <pre>
 * java -cp benchmarks.jar dev.jlm.bench.report.KernelReport results.json [more.json ...] [--out table.md]
 *      [--splice docs/benchmarks.md] [--charts dir] [--machine "one line about the machine"]
 * </pre>
 * Several JSON files (say one JMH run per benchmark class) are read as one run.
 * {@code --splice} replaces the text between {@code <!-- kernel-results:begin -->} and
 * {@code <!-- kernel-results:end -->} in that file.
 */
public final class KernelReport {
    static final String BEGIN = "<!-- kernel-results:begin -->";
    static final String END = "<!-- kernel-results:end -->";

    private KernelReport() {
    }

    public static void main(String[] args) throws IOException {
        if (args.length < 1) {
            System.err.println("usage: KernelReport results.json [more.json ...] [--out table.md] [--splice doc.md]"
                    + " [--charts dir] [--machine text]");
            System.exit(2);
        }
        List<Path> jsons = new ArrayList<>();
        Path out = null;
        Path splice = null;
        Path charts = null;
        String machine = null;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (!a.startsWith("--")) {
                jsons.add(Path.of(a));
                continue;
            }
            if (i + 1 >= args.length) {
                System.err.println("missing value after " + a);
                System.exit(2);
            }
            switch (a) {
                case "--out" -> out = Path.of(args[++i]);
                case "--splice" -> splice = Path.of(args[++i]);
                case "--charts" -> charts = Path.of(args[++i]);
                case "--machine" -> machine = args[++i];
                default -> {
                    System.err.println("unknown option " + a);
                    System.exit(2);
                }
            }
        }
        Parsed parsed = null;
        for (Path json : jsons) {
            try (Reader r = Files.newBufferedReader(json, StandardCharsets.UTF_8)) {
                Parsed p = parse(r);
                parsed = parsed == null ? p : parsed.merge(p);
            }
        }
        if (parsed == null) {
            System.err.println("no JMH JSON file given");
            System.exit(2);
        }
        String md = markdown(parsed, machine);
        if (charts != null) {
            Files.createDirectories(charts);
            for (var e : Charts.svgs(parsed.results()).entrySet()) {
                Files.writeString(charts.resolve(e.getKey()), e.getValue(), StandardCharsets.UTF_8);
            }
        }
        if (out != null) {
            Files.writeString(out, md, StandardCharsets.UTF_8);
        }
        if (splice != null) {
            Files.writeString(splice, splice(Files.readString(splice, StandardCharsets.UTF_8), md),
                    StandardCharsets.UTF_8);
        }
        if (out == null && splice == null) {
            System.out.print(md);
        }
    }

    /** What a JMH JSON file says: the results and the JVM that produced them. */
    record Parsed(List<Result> results, String jdk, String jvmArgs, boolean smoke) {
        Parsed merge(Parsed o) {
            List<Result> all = new ArrayList<>(results);
            all.addAll(o.results);
            return new Parsed(all, jdk.isEmpty() ? o.jdk : jdk, jvmArgs.isEmpty() ? o.jvmArgs : jvmArgs, smoke || o.smoke);
        }
    }

    /** Reads JMH's JSON output ({@code -rf json}); average-time and throughput modes are both turned into µs/op. */
    static Parsed parse(Reader json) {
        JsonArray runs = JsonParser.parseReader(json).getAsJsonArray();
        List<Result> results = new ArrayList<>();
        String jdk = "";
        String jvmArgs = "";
        boolean smoke = false;
        for (JsonElement e : runs) {
            JsonObject o = e.getAsJsonObject();
            // No warmup, or measuring for less than a second: the JIT may not even have compiled the kernel.
            if ((o.has("warmupIterations") && o.get("warmupIterations").getAsInt() == 0)
                    || (o.has("measurementTime") && !o.get("measurementTime").getAsString().endsWith(" s"))) {
                smoke = true;
            }
            String full = o.get("benchmark").getAsString();
            String[] parts = full.split("\\.");
            String method = parts[parts.length - 1];
            String cls = parts[parts.length - 2];
            Map<String, String> params = new TreeMap<>();
            if (o.has("params")) {
                for (var p : o.getAsJsonObject("params").entrySet()) {
                    params.put(p.getKey(), p.getValue().getAsString());
                }
            }
            JsonObject m = o.getAsJsonObject("primaryMetric");
            double score = m.get("score").getAsDouble();
            double err = m.has("scoreError") && m.get("scoreError").isJsonPrimitive()
                    && m.get("scoreError").getAsJsonPrimitive().isNumber() ? m.get("scoreError").getAsDouble() : Double.NaN;
            String unit = m.get("scoreUnit").getAsString();
            double perOp = toMicrosPerOp(score, unit);
            double errPerOp = Double.isNaN(err) ? Double.NaN : Math.abs(perOp * err / score);
            results.add(new Result(cls, method, params, perOp, errPerOp));
            if (o.has("jdkVersion")) {
                jdk = o.get("jdkVersion").getAsString() + (o.has("vmName") ? " " + o.get("vmName").getAsString() : "");
            }
            if (o.has("jvmArgs")) {
                List<String> a = new ArrayList<>();
                o.getAsJsonArray("jvmArgs").forEach(x -> a.add(x.getAsString()));
                jvmArgs = String.join(" ", a);
            }
        }
        return new Parsed(results, jdk, jvmArgs, smoke);
    }

    static double toMicrosPerOp(double score, String unit) {
        return switch (unit) {
            case "ns/op" -> score / 1e3;
            case "us/op" -> score;
            case "ms/op" -> score * 1e3;
            case "s/op" -> score * 1e6;
            case "ops/ns" -> 1e-3 / score;
            case "ops/us" -> 1 / score;
            case "ops/ms" -> 1e3 / score;
            case "ops/s" -> 1e6 / score;
            default -> throw new IllegalArgumentException("unknown JMH unit " + unit);
        };
    }

    /** One comparison row: the results of the three impls for one parameter set. */
    record Row(String section, Map<String, String> key, Result jlm, Result ort, Result scalar) {
        double jlmOverOrt() {
            return jlm == null || ort == null ? Double.NaN : ort.micros() / jlm.micros();
        }

        double jlmOverScalar() {
            return jlm == null || scalar == null ? Double.NaN : scalar.micros() / jlm.micros();
        }

        double jlmGbps() {
            return jlm == null ? Double.NaN : Traffic.bytes(jlm) / jlm.micros() / 1e3;
        }

        double jlmGflops() {
            return jlm == null ? Double.NaN : Traffic.flops(jlm) / jlm.micros() / 1e3;
        }

        double ortGflops() {
            return ort == null ? Double.NaN : Traffic.flops(ort) / ort.micros() / 1e3;
        }

        /** Whether the op has a FLOP count (attention): its table gains GFLOP/s columns. */
        boolean computeBound() {
            Result any = jlm != null ? jlm : ort != null ? ort : scalar;
            return any != null && !Double.isNaN(Traffic.flops(any));
        }
    }

    static List<Row> rows(List<Result> results) {
        Map<String, Map<Map<String, String>, Result[]>> bySection = new TreeMap<>();
        for (Result r : results) {
            if (r.benchClass().equals("RooflineBench") || r.param("impl") == null) {
                continue;
            }
            Result[] slot = bySection.computeIfAbsent(r.benchClass() + "." + r.method(), k -> new LinkedHashMap<>())
                    .computeIfAbsent(r.key(), k -> new Result[3]);
            switch (r.param("impl")) {
                case "jlm" -> slot[0] = r;
                case "ort" -> slot[1] = r;
                case "scalar" -> slot[2] = r;
                default -> { }
            }
        }
        List<Row> rows = new ArrayList<>();
        for (var s : bySection.entrySet()) {
            List<Row> section = new ArrayList<>();
            for (var k : s.getValue().entrySet()) {
                Result[] v = k.getValue();
                section.add(new Row(s.getKey(), k.getKey(), v[0], v[1], v[2]));
            }
            section.sort(Comparator.comparing((Row r) -> extras(r.key()))
                    .thenComparingDouble(r -> elements(r.key().get("shape")))
                    .thenComparing(r -> r.key().getOrDefault("shape", ""))
                    .thenComparing(r -> r.key().getOrDefault("threads", "")));
            rows.addAll(section);
        }
        return rows;
    }

    /** Copy, triad, two-stream copy and read-only GB/s per thread count. */
    static Map<String, double[]> roofline(List<Result> results) {
        Map<String, double[]> bw = new TreeMap<>();
        for (Result r : results) {
            if (!r.benchClass().equals("RooflineBench")) {
                continue;
            }
            int column = List.of("copy", "triad", "copyTwoStreams", "read").indexOf(r.method());
            if (column < 0) {
                continue;
            }
            double[] v = bw.computeIfAbsent(r.param("threads"), k -> new double[] {Double.NaN, Double.NaN, Double.NaN, Double.NaN});
            v[column] = Traffic.bytes(r) / r.micros() / 1e3;
        }
        return bw;
    }

    static String markdown(Parsed p, String machine) {
        StringBuilder sb = new StringBuilder();
        sb.append("Generated by `dev.jlm.bench.report.KernelReport` from JMH results");
        if (!p.jdk().isEmpty()) {
            sb.append(" (JDK ").append(p.jdk()).append(')');
        }
        sb.append(".\n");
        if (p.smoke()) {
            sb.append("\n**Smoke run (no warmup or sub-second iterations): these numbers show that the benchmarks run,"
                    + " they are not measurements.**\n\n");
        }
        if (machine != null && !machine.isBlank()) {
            sb.append("Machine: ").append(machine.strip()).append(".\n");
        }
        if (!p.jvmArgs().isEmpty()) {
            sb.append("Fork JVM flags: `").append(p.jvmArgs()).append("`.\n");
        }
        sb.append("\nTimes are JMH average time per operation in µs (± the 99.9% error where JMH gives one). "
                + "Ratios are throughput ratios (the other's time divided by jlm's): above 1 means jlm is faster. "
                + "GB/s counts bytes read plus bytes written once; % of copy compares that with the copy bandwidth "
                + "measured in the same run at the same thread count (inputs that fit in cache can exceed 100%).\n\n");

        Map<String, double[]> bw = roofline(p.results());
        sb.append("### Memory bandwidth (RooflineBench)\n\n| threads | copy GB/s | triad GB/s | two-stream copy GB/s "
                + "| read GB/s |\n|---:|---:|---:|---:|---:|\n");
        if (bw.isEmpty()) {
            sb.append("| n/a | n/a | n/a | n/a | n/a |\n");
        }
        bw.forEach((t, v) -> sb.append("| ").append(t).append(" | ").append(fmt(v[0], 1)).append(" | ")
                .append(fmt(v[1], 1)).append(" | ").append(fmt(v[2], 1)).append(" | ").append(fmt(v[3], 1))
                .append(" |\n"));

        List<Row> rows = rows(p.results());
        String section = null;
        for (Row r : rows) {
            if (!r.section().equals(section)) {
                section = r.section();
                sb.append("\n### ").append(section).append("\n\n");
                if (r.computeBound()) {
                    sb.append("Shape: heads x kvHeads x seq x headDim. GFLOP/s count 4 * headDim per (query, key) pair,"
                            + " half the pairs for causal prefill.\n\n");
                }
                sb.append("| params | shape | threads | jlm µs | ORT µs | scalar µs | jlm/ORT | jlm/scalar | jlm GB/s "
                        + "| % of copy |").append(r.computeBound() ? " jlm GFLOP/s | ORT GFLOP/s |" : "")
                        .append("\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
                        .append(r.computeBound() ? "---:|---:|" : "").append('\n');
            }
            double[] copy = bw.get(r.key().get("threads"));
            double pct = copy == null ? Double.NaN : 100 * r.jlmGbps() / copy[0];
            sb.append("| ").append(extras(r.key()).isEmpty() ? "" : extras(r.key()))
                    .append(" | ").append(r.key().getOrDefault("shape", ""))
                    .append(" | ").append(r.key().getOrDefault("threads", ""))
                    .append(" | ").append(time(r.jlm()))
                    .append(" | ").append(time(r.ort()))
                    .append(" | ").append(time(r.scalar()))
                    .append(" | ").append(fmt(r.jlmOverOrt(), 2))
                    .append(" | ").append(fmt(r.jlmOverScalar(), 1))
                    .append(" | ").append(fmt(r.jlmGbps(), 1))
                    .append(" | ").append(fmt(pct, 0))
                    .append(r.computeBound() ? " | " + fmt(r.jlmGflops(), 1) + " | " + fmt(r.ortGflops(), 1) : "")
                    .append(" |\n");
        }
        sb.append("\n### Targets\n\n");
        for (Targets.Outcome o : Targets.evaluate(rows, bw)) {
            sb.append("- ").append(o.describe()).append('\n');
        }
        return sb.toString();
    }

    /** Replaces the text between the markers; fails if the document has none. */
    static String splice(String doc, String content) {
        int b = doc.indexOf(BEGIN);
        int e = doc.indexOf(END);
        if (b < 0 || e < b) {
            throw new IllegalArgumentException("the document has no " + BEGIN + " ... " + END + " section");
        }
        return doc.substring(0, b + BEGIN.length()) + "\n" + content + doc.substring(e);
    }

    /** Parameters other than shape and threads (op, layout, ...), as "name=value" joined. */
    static String extras(Map<String, String> key) {
        StringBuilder sb = new StringBuilder();
        key.forEach((k, v) -> {
            if (!k.equals("shape") && !k.equals("threads")) {
                sb.append(sb.isEmpty() ? "" : " ").append(k).append('=').append(v);
            }
        });
        return sb.toString();
    }

    static double elements(String shape) {
        if (shape == null) {
            return 0;
        }
        double n = 1;
        for (long d : Traffic.shape(shape)) {
            n *= d;
        }
        return n;
    }

    private static String time(Result r) {
        if (r == null) {
            return "n/a";
        }
        String t = fmt(r.micros(), r.micros() < 10 ? 2 : 1);
        return Double.isNaN(r.errorMicros()) ? t : t + " ± " + fmt(r.errorMicros(), r.errorMicros() < 10 ? 2 : 1);
    }

    static String fmt(double v, int decimals) {
        return Double.isNaN(v) || Double.isInfinite(v) ? "n/a" : String.format(Locale.ROOT, "%." + decimals + "f", v);
    }
}
