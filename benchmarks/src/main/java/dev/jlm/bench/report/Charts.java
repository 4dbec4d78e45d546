package dev.jlm.bench.report;

import dev.jlm.bench.report.KernelReport.Row;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * One SVG bar chart per benchmark method: for every row, jlm/ORT and jlm/scalar throughput ratios on a log
 * scale, with the line at 1 (parity). Plain SVG text, viewable in a browser or on GitHub.
 */
final class Charts {
    private Charts() {
    }

    /** File name to SVG text. */
    static Map<String, String> svgs(List<Result> results) {
        Map<String, List<Row>> bySection = new LinkedHashMap<>();
        for (Row r : KernelReport.rows(results)) {
            bySection.computeIfAbsent(r.section(), k -> new ArrayList<>()).add(r);
        }
        Map<String, String> out = new LinkedHashMap<>();
        bySection.forEach((section, rows) -> out.put(section + ".svg", chart(section, rows)));
        return out;
    }

    private static String chart(String title, List<Row> rows) {
        int labelW = 300;
        int plotW = 420;
        int barH = 9;
        int rowH = 2 * barH + 8;
        int top = 40;
        int height = top + rows.size() * rowH + 40;
        double lo = Math.log10(0.1);
        double hi = Math.log10(100);
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\""
                + " font-family=\"sans-serif\" font-size=\"11\">\n", labelW + plotW + 20, height));
        sb.append("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
        sb.append(String.format(Locale.ROOT, "<text x=\"10\" y=\"18\" font-size=\"14\">%s: throughput ratio"
                + " (log scale)</text>\n", esc(title)));
        sb.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"24\" width=\"10\" height=\"8\" fill=\"#1f77b4\"/>"
                + "<text x=\"%d\" y=\"32\">jlm/ORT</text><rect x=\"%d\" y=\"24\" width=\"10\" height=\"8\""
                + " fill=\"#ff7f0e\"/><text x=\"%d\" y=\"32\">jlm/scalar</text>\n", labelW, labelW + 14, labelW + 80,
                labelW + 94));
        for (double tick : new double[] {0.1, 0.5, 1, 2, 4, 10, 100}) {
            double x = labelW + plotW * (Math.log10(tick) - lo) / (hi - lo);
            sb.append(String.format(Locale.ROOT, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"%s\"/>"
                    + "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%s</text>\n", x, top - 4, x,
                    height - 30, tick == 1 ? "black" : "#ddd", x, height - 16, fmtTick(tick)));
        }
        int y = top;
        for (Row r : rows) {
            String extras = KernelReport.extras(r.key());
            String label = (extras.isEmpty() ? "" : extras + " ") + r.key().getOrDefault("shape", "") + " t="
                    + r.key().getOrDefault("threads", "?");
            sb.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%s</text>\n",
                    labelW - 6, y + barH + 4, esc(label)));
            bar(sb, r.jlmOverOrt(), labelW, plotW, lo, hi, y, barH, "#1f77b4");
            bar(sb, r.jlmOverScalar(), labelW, plotW, lo, hi, y + barH, barH, "#ff7f0e");
            y += rowH;
        }
        return sb.append("</svg>\n").toString();
    }

    private static void bar(StringBuilder sb, double ratio, int x0, int w, double lo, double hi, int y, int h,
                            String color) {
        if (Double.isNaN(ratio) || ratio <= 0) {
            sb.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" fill=\"#999\">n/a</text>\n", x0 + 2, y + h));
            return;
        }
        double v = Math.max(lo, Math.min(hi, Math.log10(ratio)));
        double x = x0 + w * (v - lo) / (hi - lo);
        sb.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"%d\" width=\"%.1f\" height=\"%d\" fill=\"%s\">"
                + "<title>%.2f</title></rect>\n", x0, y, Math.max(1, x - x0), h - 1, color, ratio));
    }

    private static String fmtTick(double t) {
        return t < 1 ? String.valueOf(t) : String.valueOf((int) t);
    }

    private static String esc(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;");
    }
}
