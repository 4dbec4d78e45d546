package dev.jlm.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jlm.bench.report.KernelReportAccess;
import java.nio.file.Path;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.openjdk.jmh.results.format.ResultFormatType;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;

/**
 * Every kernel benchmark runs once, in this JVM, on its smallest shapes, for every impl including ONNX Runtime,
 * and the report generator reads the result: a check that the suite works, not a measurement (nothing here
 * looks at the times).
 */
class BenchmarkSmokeTest {
    @Test
    void everyBenchmarkRunsAndTheReportReadsIt(@TempDir Path dir) throws Exception {
        String[][] plan = {   // benchmark class, its smallest shapes
            {"RmsNormBench", "1x2048"}, {"LayerNormBench", "1x2048"}, {"SoftmaxBench", "1x32000"},
            {"RopeBench", "1x32x128"}, {"ActivationBench", "128x1536"}, {"RooflineBench", null}};
        // Nothing is measured here, so another JMH run on the machine (which holds JMH's lock) is no reason to stop.
        System.setProperty("jmh.ignoreLock", "true");
        Set<String> sections = new TreeSet<>();
        for (String[] p : plan) {
            Path json = dir.resolve(p[0] + ".json");
            OptionsBuilder o = new OptionsBuilder();
            o.include("dev.jlm.bench." + p[0] + ".")
                    .forks(0)
                    .warmupIterations(0)
                    .measurementIterations(1)
                    .measurementTime(TimeValue.milliseconds(5))
                    .param("threads", "2")
                    .shouldFailOnError(true)
                    .resultFormat(ResultFormatType.JSON)
                    .result(json.toString());
            if (p[1] != null) {
                o.param("shape", p[1]);
            } else {
                o.param("sizeMiB", "4");
            }
            new Runner(o.build()).run();
            sections.addAll(KernelReportAccess.sections(json));
            String md = KernelReportAccess.markdown(json);
            assertTrue(md.contains("Smoke run"), "a run without warmup is flagged as such");
            if (p[1] == null) {
                assertTrue(!md.contains("| n/a | n/a | n/a |"), "the roofline ran:\n" + md);
            } else {
                assertEquals(0, countNa(md), "jlm, ORT and scalar all ran for " + p[0] + ":\n" + md);
            }
        }
        assertEquals(Set.of("ActivationBench.activation", "LayerNormBench.layerNorm", "LayerNormBench.layerNormResidual",
                "RmsNormBench.rmsNorm", "RmsNormBench.rmsNormResidual", "RopeBench.rope", "SoftmaxBench.softmax"),
                sections);
    }

    /** n/a cells in the kernel tables (the roofline table is absent in a single-benchmark run and skipped). */
    private static int countNa(String md) {
        int n = 0;
        boolean inKernelTable = false;
        for (String line : md.lines().toList()) {
            if (line.startsWith("### ")) {
                inKernelTable = line.contains("Bench.");
            } else if (inKernelTable && line.startsWith("| ")) {
                // the last column (% of copy) is n/a without a roofline in the same file
                String cells = line.substring(0, line.lastIndexOf("|", line.length() - 2));
                n += cells.split("n/a", -1).length - 1;
            }
        }
        return n;
    }
}
