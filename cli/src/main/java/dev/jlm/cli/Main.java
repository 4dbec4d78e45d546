package dev.jlm.cli;

import dev.jlm.core.JlmException;
import picocli.CommandLine;
import picocli.CommandLine.Command;

import java.io.PrintWriter;
import java.util.Arrays;

/**
 * The {@code jlm} command line: a picocli command per job. Exit codes: 0 success, 1 failure (one line on
 * stderr, the stack trace only with {@code --debug}), 2 usage error.
 */
@Command(name = "jlm",
        mixinStandardHelpOptions = true,
        versionProvider = BuildInfo.class,
        description = "Run, inspect and compress transformer models in ONNX format.",
        subcommands = {InspectCommand.class, EvalCommand.class, QuantizeCommand.class, LassoCommand.class, CommandLine.HelpCommand.class})
public final class Main {
    /** Exit code of a failed command. */
    public static final int FAILURE = 1;
    /** Exit code of a command line that does not parse. */
    public static final int USAGE = 2;

    public static void main(String[] args) {
        System.exit(run(args, new PrintWriter(System.out, true), new PrintWriter(System.err, true)));
    }

    /** Runs the command line with the given streams; returns the exit code (for tests and embedding). */
    public static int run(String[] args, PrintWriter out, PrintWriter err) {
        boolean debug = Arrays.asList(args).contains("--debug");
        CommandLine cl = new CommandLine(new Main());
        cl.setOut(out);
        cl.setErr(err);
        cl.setParameterExceptionHandler((ex, a) -> {
            err.println("jlm: " + ex.getMessage());
            CommandLine.UnmatchedArgumentException.printSuggestions(ex, err);
            err.println("Try '" + ex.getCommandLine().getCommandSpec().qualifiedName() + " --help' for usage.");
            return USAGE;
        });
        cl.setExecutionExceptionHandler((ex, c, parsed) -> {
            if (ex instanceof JlmException) {
                err.println("jlm: " + ex.getMessage());
            } else {
                err.println("jlm: internal error: " + ex + (debug ? "" : " (run with --debug for details)"));
            }
            if (debug) {
                ex.printStackTrace(err);
            }
            return FAILURE;
        });
        int code = cl.execute(args);
        out.flush();
        err.flush();
        return code;
    }
}
