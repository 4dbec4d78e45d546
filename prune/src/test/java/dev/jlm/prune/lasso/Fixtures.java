package dev.jlm.prune.lasso;

import dev.jlm.core.DType;
import dev.jlm.core.Tensor;
import java.net.URISyntaxException;
import java.nio.file.Path;

/** The scikit-learn reference fixtures under src/test/resources/lasso. */
final class Fixtures {
    private Fixtures() {
    }

    static Path path(String name) {
        try {
            return Path.of(Fixtures.class.getResource("/lasso/" + name + ".npy").toURI());
        } catch (URISyntaxException | NullPointerException e) {
            throw new IllegalStateException("missing fixture " + name, e);
        }
    }

    static Npy.NpyArray read(String name) {
        return Npy.read(path(name));
    }

    static double[] doubles(String name) {
        try (Npy.NpyArray a = read(name)) {
            return a.toDoubleArray();
        }
    }

    /** A problem built from fixture X (either order) and y. */
    static LassoProblem.Builder builder(Npy.NpyArray x, Npy.NpyArray y) {
        return x.fortranOrder() ? LassoProblem.builderColumns(x.data(), y.data()) : LassoProblem.builder(x.data(), y.data());
    }

    /** A row-major F64 tensor from values. */
    static Tensor f64(double[] v, long... shape) {
        Tensor t = Tensor.allocate(DType.F64, shape);
        for (int i = 0; i < v.length; i++) {
            t.segment().setAtIndex(LassoProblem.F64, i, v[i]);
        }
        return t;
    }
}
