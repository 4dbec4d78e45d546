package dev.jlm.cli;

import java.io.Console;
import java.io.PrintWriter;
import java.util.Locale;

/**
 * A one-line progress bar on stderr, redrawn in place; silent when stderr is not a terminal (pipes, CI logs),
 * so that captured output holds only results.
 */
final class ProgressBar implements AutoCloseable {
    private static final int WIDTH = 30;
    private final PrintWriter err;
    private final String label;
    private final boolean enabled;
    private final long start = System.nanoTime();
    private boolean drawn;

    ProgressBar(PrintWriter err, String label) {
        this.err = err;
        this.label = label;
        Console c = System.console();
        this.enabled = c != null && c.isTerminal() && System.getenv("CI") == null;
    }

    void update(long done, long total) {
        if (!enabled || total <= 0) {
            return;
        }
        int filled = (int) (WIDTH * Math.min(done, total) / total);
        double secs = (System.nanoTime() - start) / 1e9;
        err.print(String.format(Locale.ROOT, "\r%s [%s%s] %d/%d %.1fs", label, "#".repeat(filled),
                ".".repeat(WIDTH - filled), done, total, secs));
        err.flush();
        drawn = true;
    }

    @Override
    public void close() {
        if (drawn) {
            err.print("\r" + " ".repeat(label.length() + WIDTH + 30) + "\r");
            err.flush();
        }
    }
}
