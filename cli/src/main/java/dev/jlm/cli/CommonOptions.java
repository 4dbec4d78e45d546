package dev.jlm.cli;

import picocli.CommandLine.Option;

/** Options every command takes. */
final class CommonOptions {
    @Option(names = "--json", description = "Print the result as JSON on stdout (progress and warnings stay on stderr).")
    boolean json;

    @Option(names = "--debug", description = "Print stack traces of failures.")
    boolean debug;
}
