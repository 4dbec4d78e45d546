package dev.jlm.cli;

/** Entry point of the {@code jlm} command line. */
public final class Main {
    private Main() {
    }

    public static void main(String[] args) {
        System.out.println("jlm");
    }
}
