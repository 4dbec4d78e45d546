package dev.jlm.prune.lasso;

import dev.jlm.core.DType;
import dev.jlm.core.JlmException;
import dev.jlm.core.Simd;
import dev.jlm.core.Tensor;
import dev.jlm.core.io.AtomicFiles;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * The whole of {@code jlm lasso}, minus the argument parsing: reads X and y (and optional alphas and groups)
 * from {@code .npy} files, solves one alpha or a path, writes the coefficients as {@code .npy}
 * ({@code [p]} or {@code [p, T]} for one alpha, {@code [nAlphas, p]} or {@code [nAlphas, p, T]} for a path) and
 * returns the solutions with a JSON summary (alphas, nnz, duality gaps, iterations, seconds).
 */
public final class LassoRun {
    private LassoRun() {
    }

    /**
     * Parsed options. Exactly one of {@code alpha}, {@code alphasFile} or {@code pathAlphas} chooses the
     * alphas; with none, a path of 100 alphas down to {@code eps * alphaMax} is solved (scikit-learn's default).
     *
     * @param x            X.npy: float32/float64, [n, p], C or Fortran order (Fortran is read without a transpose)
     * @param y            Y.npy: float32/float64, [n] or [n, T]
     * @param alpha        one alpha, or null
     * @param alphasFile   a 1-D .npy of alphas, or null
     * @param pathAlphas   number of alphas of a geometric path, or null
     * @param eps          the path's smallest alpha as a fraction of alphaMax
     * @param l1Ratio      elastic-net mixing in (0, 1]
     * @param groups       a 1-D .npy of integer group ids per feature (group Lasso), or null
     * @param fitIntercept fit an unpenalized intercept
     * @param positive     non-negative coefficients
     * @param solver       solver options (tol, algorithm, threads, ...)
     * @param out          where the coefficients go, or null to write nothing
     */
    public record Options(Path x, Path y, Double alpha, Path alphasFile, Integer pathAlphas, double eps, double l1Ratio,
                          Path groups, boolean fitIntercept, boolean positive, SolverOptions solver, Path out) {
        /** Defaults: a 100-alpha path to 1e-3, Lasso, no intercept, default solver options. */
        public static Options of(Path x, Path y, Path out) {
            return new Options(x, y, null, null, null, 1e-3, 1.0, null, false, false, SolverOptions.defaults(), out);
        }
    }

    /**
     * The outcome.
     *
     * @param path the solutions (one entry for a single alpha)
     * @param json the summary, one JSON object
     */
    public record Result(LassoPath path, String json) {
    }

    /** Runs it. Errors are {@link JlmException}s naming the file or option at fault. */
    public static Result run(Options o) {
        int choices = (o.alpha() != null ? 1 : 0) + (o.alphasFile() != null ? 1 : 0) + (o.pathAlphas() != null ? 1 : 0);
        if (choices > 1) {
            throw new JlmException.InvalidArgument("give only one of --alpha, --alphas and --path");
        }
        try (Npy.NpyArray xa = Npy.read(o.x()); Npy.NpyArray ya = Npy.read(o.y())) {
            if (xa.shape().length != 2) {
                throw new JlmException.InvalidArgument(o.x() + ": X must be 2-D, got shape " + java.util.Arrays.toString(xa.shape()));
            }
            requireFloat(xa, o.x());
            requireFloat(ya, o.y());
            Tensor yt = ya.data();
            Tensor yCopy = null;
            if (ya.fortranOrder() && ya.shape().length == 2) {
                yCopy = Tensor.allocate(DType.F64, ya.shape());
                double[] v = ya.toDoubleArray();
                for (int i = 0; i < v.length; i++) {
                    yCopy.segment().setAtIndex(LassoProblem.F64, i, v[i]);
                }
                yt = yCopy;
            }
            try {
                if (ya.shape().length < 1 || ya.shape()[0] != xa.shape()[0]) {
                    throw new JlmException.InvalidArgument(o.y() + ": y has shape " + java.util.Arrays.toString(ya.shape())
                            + " but X (" + o.x() + ") has " + xa.shape()[0] + " samples");
                }
                LassoProblem.Builder b = xa.fortranOrder()
                        ? LassoProblem.builderColumns(xa.data(), yt) : LassoProblem.builder(xa.data(), yt);
                // the build on the solver's threads too: --threads is the run's one thread count
                b.fitIntercept(o.fitIntercept()).l1Ratio(o.l1Ratio()).positive(o.positive()).threads(o.solver().threads());
                if (o.groups() != null) {
                    b.groups(readGroups(o.groups(), (int) xa.shape()[1]));
                }
                long built = System.nanoTime();
                try (LassoProblem pb = b.build(); LassoSolver solver = new LassoSolver(o.solver())) {
                    double buildSeconds = (System.nanoTime() - built) / 1e9;
                    boolean single = o.alpha() != null;
                    double[] alphas;
                    if (single) {
                        alphas = new double[] {o.alpha()};
                    } else if (o.alphasFile() != null) {
                        try (Npy.NpyArray aa = Npy.read(o.alphasFile())) {
                            if (aa.shape().length != 1 || aa.shape()[0] < 1) {
                                throw new JlmException.InvalidArgument(o.alphasFile() + ": alphas must be a non-empty 1-D array");
                            }
                            alphas = aa.toDoubleArray();
                        }
                    } else {
                        alphas = LassoSolver.alphaGrid(pb, o.pathAlphas() == null ? 100 : o.pathAlphas(), o.eps());
                    }
                    LassoPath path = solver.path(pb, alphas);
                    if (o.out() != null) {
                        double[] coef = path.coefMatrix();
                        long p = pb.features();
                        long t = pb.tasks();
                        long[] shape;
                        if (single) {
                            shape = t == 1 ? new long[] {p} : new long[] {p, t};
                        } else {
                            shape = t == 1 ? new long[] {alphas.length, p} : new long[] {alphas.length, p, t};
                        }
                        AtomicFiles.refuseInputs(o.out(), java.util.Arrays.asList(o.x(), o.y(), o.alphasFile(), o.groups()));
                        Npy.writeF64(o.out(), coef, shape);
                    }
                    return new Result(path, json(pb, path, o, buildSeconds));
                }
            } finally {
                if (yCopy != null) {
                    yCopy.close();
                }
            }
        }
    }

    private static void requireFloat(Npy.NpyArray a, Path file) {
        DType d = a.data().dtype();
        if (d != DType.F32 && d != DType.F64) {
            throw new JlmException.InvalidArgument(file + ": expected float32 or float64, got " + d);
        }
    }

    private static int[] readGroups(Path file, int p) {
        try (Npy.NpyArray g = Npy.read(file)) {
            if (g.shape().length != 1 || g.shape()[0] != p) {
                throw new JlmException.InvalidArgument(file + ": groups must be 1-D with one id per feature (" + p + "), got shape "
                        + java.util.Arrays.toString(g.shape()));
            }
            double[] v = g.toDoubleArray();
            int[] out = new int[p];
            for (int j = 0; j < p; j++) {
                if (v[j] != Math.rint(v[j]) || v[j] < 0 || v[j] > Integer.MAX_VALUE) {
                    throw new JlmException.InvalidArgument(file + ": group id " + v[j] + " of feature " + j
                            + " is not a non-negative integer");
                }
                out[j] = (int) v[j];
            }
            return out;
        }
    }

    /** The JSON summary (camelCase keys, one array entry per alpha); non-finite numbers are written as null. */
    static String json(LassoProblem pb, LassoPath path, Options o, double buildSeconds) {
        List<Solution> s = path.solutions();
        JsonObject j = new JsonObject();
        j.addProperty("samples", pb.samples());
        j.addProperty("features", pb.features());
        j.addProperty("tasks", pb.tasks());
        j.addProperty("kind", pb.kind().name().toLowerCase(Locale.ROOT));
        j.add("l1Ratio", num(pb.l1Ratio()));
        j.addProperty("fitIntercept", pb.fitIntercept());
        j.add("tol", num(o.solver().tol()));
        j.addProperty("simd", Simd.describe());
        j.addProperty("threads", o.solver().threads());
        j.add("algorithm", array(s, x -> new JsonPrimitive(x.algorithm())));
        j.add("alphas", array(s, x -> num(x.alpha())));
        j.add("nnz", array(s, x -> new JsonPrimitive(x.nnz())));
        j.add("relativeGaps", array(s, x -> num(x.relativeGap())));
        j.add("dualityGaps", array(s, x -> num(x.dualityGap())));
        j.add("objectives", array(s, x -> num(x.objective())));
        j.add("iterations", array(s, x -> new JsonPrimitive(x.iterations())));
        j.add("seconds", array(s, x -> num(x.seconds())));
        j.add("converged", array(s, x -> new JsonPrimitive(x.converged())));
        j.add("intercepts", array(s, x -> {
            JsonArray a = new JsonArray();
            for (double v : x.intercept()) {
                a.add(num(v));
            }
            return a;
        }));
        j.add("totalSeconds", num(path.seconds()));
        // the problem's build (checks, centring, norms, the 16-bit and 8-bit copies of a large X), before the solve
        j.add("buildSeconds", num(buildSeconds));
        return new GsonBuilder().serializeNulls().create().toJson(j);
    }

    private static JsonElement num(double v) {
        return Double.isFinite(v) ? new JsonPrimitive(v) : JsonNull.INSTANCE;
    }

    private static JsonArray array(List<Solution> s, java.util.function.Function<Solution, JsonElement> f) {
        JsonArray a = new JsonArray();
        s.forEach(x -> a.add(f.apply(x)));
        return a;
    }
}
