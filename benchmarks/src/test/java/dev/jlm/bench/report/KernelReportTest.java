package dev.jlm.bench.report;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.StringReader;
import java.util.List;
import org.junit.jupiter.api.Test;

class KernelReportTest {
    /** A JMH-shaped result; times in us/op. */
    static String run(String benchmark, String params, double score, int warmup) {
        return "{\"jmhVersion\":\"1.37\",\"benchmark\":\"dev.jlm.bench." + benchmark + "\",\"mode\":\"avgt\","
                + "\"jdkVersion\":\"25\",\"vmName\":\"OpenJDK\",\"jvmArgs\":[\"--add-modules=jdk.incubator.vector\"],"
                + "\"warmupIterations\":" + warmup + ",\"warmupTime\":\"1 s\",\"measurementIterations\":5,"
                + "\"measurementTime\":\"1 s\",\"params\":{" + params + "},"
                + "\"primaryMetric\":{\"score\":" + score + ",\"scoreError\":1.0,\"scoreUnit\":\"us/op\"}}";
    }

    static final String JSON = "[" + String.join(",", List.of(
            // 256 MiB copy in 20 ms: 2 * 268435456 B / 20000 us = 26.8 GB/s
            run("RooflineBench.copy", "\"threads\":\"1\",\"sizeMiB\":\"256\"", 20000, 3),
            run("RooflineBench.triad", "\"threads\":\"1\",\"sizeMiB\":\"256\"", 30000, 3),
            run("RooflineBench.copyTwoStreams", "\"threads\":\"1\",\"sizeMiB\":\"256\"", 16000, 3),
            // 2048x4096 RMSNorm: 8 * 8388608 + 4 * 4096 B = 67125248 B
            run("RmsNormBench.rmsNorm", "\"impl\":\"jlm\",\"threads\":\"1\",\"shape\":\"2048x4096\"", 3000, 3),
            run("RmsNormBench.rmsNorm", "\"impl\":\"ort\",\"threads\":\"1\",\"shape\":\"2048x4096\"", 4500, 3),
            run("RmsNormBench.rmsNorm", "\"impl\":\"scalar\",\"threads\":\"1\",\"shape\":\"2048x4096\"", 9000, 3),
            run("SoftmaxBench.softmax", "\"impl\":\"jlm\",\"threads\":\"1\",\"shape\":\"32x2048\"", 20, 3),
            run("SoftmaxBench.softmax", "\"impl\":\"ort\",\"threads\":\"1\",\"shape\":\"32x2048\"", 10, 3))) + "]";

    @Test
    void ratiosBandwidthAndTargets() {
        KernelReport.Parsed p = KernelReport.parse(new StringReader(JSON));
        assertFalse(p.smoke());
        List<KernelReport.Row> rows = KernelReport.rows(p.results());
        assertEquals(2, rows.size());
        KernelReport.Row rms = rows.get(0);
        assertEquals("RmsNormBench.rmsNorm", rms.section());
        assertEquals(1.5, rms.jlmOverOrt(), 1e-12);
        assertEquals(3.0, rms.jlmOverScalar(), 1e-12);
        assertEquals(67125248 / 3000.0 / 1e3, rms.jlmGbps(), 1e-9);
        double copy = KernelReport.roofline(p.results()).get("1")[0];
        assertEquals(2.0 * 268435456 / 20000 / 1e3, copy, 1e-9);
        double copyTwo = KernelReport.roofline(p.results()).get("1")[2];
        assertEquals(2.0 * 268435456 / 16000 / 1e3, copyTwo, 1e-9);

        String md = KernelReport.markdown(p, "test machine");
        assertTrue(md.contains("| 1 | 26.8 | 26.8 | 33.6 | n/a |"), md);
        assertTrue(md.contains("| 2048x4096 | 1 | 3000.0 ± 1.00 | 4500.0 ± 1.00 | 9000.0 ± 1.00 | 1.50 | 3.0 | 22.4 | 83 |"),
                md);
        assertTrue(md.contains("RMSNorm/LayerNorm at 2048x4096 >= 80% of copy bandwidth: **met** (1 of 1)"), md);
        assertTrue(md.contains("Softmax and RoPE jlm/ORT >= 1.0: **not met** (0 of 1); below target: softmax 32x2048 t=1"
                + " (0.50x)"), md);
        assertTrue(md.contains("jlm/scalar >= 4 on every op at width >= 2048: **not met** (0 of 2)"), md);
        assertTrue(md.contains("softmax 32x2048 t=1"), "the softmax row lacks a scalar time: reported as unmeasured");
    }

    @Test
    void decodeAgainstCopyAndReadBandwidth() {
        // 32x8x8192x128 decode reads 4 * 128 * (2 * 32 + 2 * 8 * 8192) B = 67141632 B; in 2000 us: 33.6 GB/s
        String json = "[" + String.join(",", List.of(
                run("RooflineBench.copy", "\"threads\":\"1\",\"sizeMiB\":\"256\"", 20000, 3),   // 26.8 GB/s
                run("RooflineBench.read", "\"threads\":\"1\",\"sizeMiB\":\"256\"", 4000, 3),    // 67.1 GB/s
                run("AttentionBench.decode", "\"impl\":\"jlm\",\"threads\":\"1\",\"shape\":\"32x8x8192x128\"", 2000, 3),
                run("AttentionBench.decode", "\"impl\":\"ort\",\"threads\":\"1\",\"shape\":\"32x8x8192x128\"", 4000, 3)))
                + "]";
        KernelReport.Parsed p = KernelReport.parse(new StringReader(json));
        assertEquals(268435456 / 4000.0 / 1e3, KernelReport.roofline(p.results()).get("1")[3], 1e-9);
        String md = KernelReport.markdown(p, null);
        assertTrue(md.contains("| 1 | 26.8 | n/a | n/a | 67.1 |"), md);
        assertTrue(md.contains("cache of 8192 positions, >= 70% of copy bandwidth: **met** (1 of 1)"), md);
        assertTrue(md.contains("cache of 8192 positions, >= 70% of read bandwidth: **not met** (0 of 1); below target: "
                + "decode 32x8x8192x128 t=1 (50%)"), md);
        // attention runs have no scalar time and are not counted against the jlm/scalar target
        assertTrue(md.contains("jlm/scalar >= 4 on every op at width >= 2048: **unmeasured**"), md);
    }

    @Test
    void smokeRunsAreFlagged() {
        String smoke = "[" + run("SoftmaxBench.softmax", "\"impl\":\"jlm\",\"threads\":\"1\",\"shape\":\"1x32000\"", 5, 0)
                + "]";
        KernelReport.Parsed p = KernelReport.parse(new StringReader(smoke));
        assertTrue(p.smoke());
        assertTrue(KernelReport.markdown(p, null).contains("Smoke run"));
    }

    @Test
    void spliceReplacesOnlyBetweenTheMarkers() {
        String doc = "head\n" + KernelReport.BEGIN + "\nold table\n" + KernelReport.END + "\ntail\n";
        String out = KernelReport.splice(doc, "new table\n");
        assertEquals("head\n" + KernelReport.BEGIN + "\nnew table\n" + KernelReport.END + "\ntail\n", out);
        assertThrows(IllegalArgumentException.class, () -> KernelReport.splice("no markers", "x"));
    }

    @Test
    void throughputUnitsBecomeMicrosPerOp() {
        assertEquals(2.0, KernelReport.toMicrosPerOp(0.5, "ops/us"), 1e-12);
        assertEquals(1000.0, KernelReport.toMicrosPerOp(1.0, "ms/op"), 1e-12);
        assertEquals(0.5, KernelReport.toMicrosPerOp(500, "ns/op"), 1e-12);
    }

    @Test
    void chartsOnePerMethod() {
        var svgs = Charts.svgs(KernelReport.parse(new StringReader(JSON)).results());
        assertEquals(List.of("RmsNormBench.rmsNorm.svg", "SoftmaxBench.softmax.svg"), List.copyOf(svgs.keySet()));
        assertTrue(svgs.get("RmsNormBench.rmsNorm.svg").startsWith("<svg"));
    }
}
