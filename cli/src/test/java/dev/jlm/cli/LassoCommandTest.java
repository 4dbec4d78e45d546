package dev.jlm.cli;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;

import static dev.jlm.cli.CliTest.jlm;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@code jlm lasso} on the diabetes fixture that prune's tests check against scikit-learn. */
class LassoCommandTest {
    static final Path FIXTURES = Path.of("..", "prune", "src", "test", "resources", "lasso");

    @Test
    void solvesAPathAndWritesTheCoefficients(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("coef.npy");
        CliTest.Run r = jlm("lasso", "--x", FIXTURES.resolve("diabetes_X.npy").toString(), "--y",
                FIXTURES.resolve("diabetes_y.npy").toString(), "--path", "8", "--eps", "0.01", "--tol", "1e-10",
                "--out", out.toString(), "--json");
        assertEquals(0, r.code(), r.err());
        JsonObject o = JsonParser.parseString(r.out()).getAsJsonObject();
        assertEquals(8, o.getAsJsonArray("alphas").size());
        o.getAsJsonArray("relativeGaps").forEach(g -> assertTrue(g.getAsDouble() <= 1e-10, "gap " + g));
        // 8 alphas x 10 features of float64 after the .npy header
        assertTrue(Files.size(out) >= 8 * 10 * 8);
    }

    @Test
    void badInputIsOneLine(@TempDir Path dir) {
        Path out = dir.resolve("coef.npy");
        CliTest.Run missing = jlm("lasso", "--x", dir.resolve("none.npy").toString(), "--y",
                FIXTURES.resolve("diabetes_y.npy").toString(), "--alpha", "1", "--out", out.toString());
        assertEquals(1, missing.code());
        assertEquals(1, missing.err().strip().lines().count(), missing.err());
        assertFalse(Files.exists(out), "no output on failure");
        assertEquals(1, jlm("lasso", "--x", FIXTURES.resolve("diabetes_X.npy").toString(), "--y",
                FIXTURES.resolve("diabetes_y.npy").toString(), "--alpha", "1", "--solver", "magic", "--out", out.toString()).code());
        assertEquals(2, jlm("lasso", "--alpha", "1").code());
    }
}
