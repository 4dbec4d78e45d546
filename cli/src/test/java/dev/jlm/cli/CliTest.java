package dev.jlm.cli;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.jlm.core.testing.TestModels;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The command line as a user meets it: output, exit codes, error lines. */
class CliTest {
    record Run(int code, String out, String err) {
    }

    static Run jlm(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = Main.run(args, new PrintWriter(out), new PrintWriter(err));
        return new Run(code, out.toString(), err.toString());
    }

    @Test
    void inspectTellsWhatTheModelIsMadeOf() {
        Run r = jlm("inspect", TestModels.miniLm().toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("input_ids INT64[batch_size, sequence_length]"), r.out());
        assertTrue(r.out().contains("last_hidden_state FLOAT[batch_size, sequence_length, 384]"), r.out());
        assertTrue(r.out().contains("36 MatMul"), r.out());
        assertTrue(r.out().contains("IR version"), r.out());
    }

    @Test
    void inspectJsonIsMachineReadable() {
        Run r = jlm("inspect", "--json", TestModels.miniLmInt8().toString());
        assertEquals(0, r.code(), r.err());
        JsonObject o = JsonParser.parseString(r.out()).getAsJsonObject();
        assertTrue(o.get("parameters").getAsLong() > 20_000_000L);
        assertTrue(o.getAsJsonObject("operators").has("MatMulInteger") || o.getAsJsonObject("operators").has("DynamicQuantizeLinear"),
                "the int8 sibling uses integer matmuls: " + o.getAsJsonObject("operators"));
        assertTrue(o.getAsJsonObject("byType").has("I8") || o.getAsJsonObject("byType").has("U8"));
    }

    @Test
    void inspectWithoutArgumentUsesTheDefaultModel() {
        Run r = jlm("inspect");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("all-minilm-l6-v2.onnx"), r.out());
    }

    @Test
    void failuresAreOneLineWithExitCodeOne(@TempDir Path dir) throws Exception {
        Run missing = jlm("inspect", dir.resolve("nope.onnx").toString());
        assertEquals(1, missing.code());
        assertEquals("jlm: " + dir.resolve("nope.onnx") + ": no such file", missing.err().strip());
        assertTrue(missing.out().isEmpty());

        Path junk = dir.resolve("junk.onnx");
        Files.write(junk, new byte[]{1, 2, 3, 4, 5, 6, 7});
        Run bad = jlm("inspect", junk.toString());
        assertEquals(1, bad.code());
        assertEquals(1, bad.err().strip().lines().count(), bad.err());
        assertTrue(bad.err().contains("not a valid ONNX protobuf"), bad.err());
        assertFalse(bad.err().contains("\tat "), "no stack trace without --debug");

        Run debug = jlm("inspect", "--debug", junk.toString());
        assertEquals(1, debug.code());
        assertTrue(debug.err().contains("\tat "), "stack trace with --debug");
    }

    @Test
    void usageErrorsExitWithTwo() {
        assertEquals(2, jlm("inspect", "--no-such-option").code());
        assertEquals(2, jlm("no-such-command").code());
        assertEquals(2, jlm("inspect", "a.onnx", "b.onnx").code());
        Run help = jlm("inspect", "--help");
        assertEquals(0, help.code());
        assertTrue(help.out().contains("--json"));
    }
}
