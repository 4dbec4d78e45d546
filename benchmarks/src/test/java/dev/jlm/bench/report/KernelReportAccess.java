package dev.jlm.bench.report;

import java.io.IOException;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** Test access to the package-private report API from other test packages. */
public final class KernelReportAccess {
    private KernelReportAccess() {
    }

    public static List<String> sections(Path json) throws IOException {
        try (Reader r = Files.newBufferedReader(json)) {
            return KernelReport.rows(KernelReport.parse(r).results()).stream().map(KernelReport.Row::section)
                    .distinct().toList();
        }
    }

    public static String markdown(Path json) throws IOException {
        try (Reader r = Files.newBufferedReader(json)) {
            return KernelReport.markdown(KernelReport.parse(r), null);
        }
    }
}
