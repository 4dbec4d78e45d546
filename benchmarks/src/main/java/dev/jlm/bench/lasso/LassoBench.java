package dev.jlm.bench.lasso;

import dev.jlm.core.Tensor;
import dev.jlm.prune.lasso.LassoPath;
import dev.jlm.prune.lasso.LassoProblem;
import dev.jlm.prune.lasso.LassoSolver;
import dev.jlm.prune.lasso.SolverOptions;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.tribuo.MutableDataset;
import org.tribuo.impl.ArrayExample;
import org.tribuo.provenance.SimpleDataSourceProvenance;
import org.tribuo.regression.RegressionFactory;
import org.tribuo.regression.Regressor;
import org.tribuo.regression.slm.ElasticNetCDTrainer;
import org.tribuo.regression.slm.SparseLinearModel;
import org.tribuo.math.la.SparseVector;
import org.tribuo.math.la.VectorTuple;
import smile.data.DataFrame;
import smile.data.formula.Formula;
import smile.regression.LASSO;
import smile.regression.LinearModel;

/**
 * A Lasso path (20 alphas down to 1% of alphaMax, {@link BenchProblems}) solved to a relative duality gap of
 * 1e-8 (scikit-learn's definition), by jlm and by the Java peers on the same data:
 * <ul>
 *   <li>{@code jlm}: {@link LassoSolver#path}, warm starts, {@code threads} threads for the X^T r products;</li>
 *   <li>{@code tribuo}: Tribuo 4.3.2 {@code ElasticNetCDTrainer} (l1Ratio 1, tolerance 1e-8 on the same gap),
 *       one model per alpha (it has no path or warm start), single-threaded whatever {@code threads} says;</li>
 *   <li>{@code smile}: Smile 2.6.0 {@code LASSO} (interior point; lambda = 2 n alpha on the standardized data,
 *       which is the same problem here; its tolerance 1e-8 is on its own relative gap), one fit per alpha.</li>
 * </ul>
 * After each trial the largest relative duality gap of the last path is recomputed by jlm's certificate and
 * printed, so that a fast peer that stopped early shows it.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
// prepended, so that -jvmArgsAppend on the command line adds to them instead of replacing them
@Fork(value = 1, jvmArgsPrepend = {"--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-Xmx8g"})
public class LassoBench {
    static final double TOL = 1e-8;
    /** Held so that the level set on it is not lost with a collected logger. */
    private static final java.util.logging.Logger TRIBUO_LOG = java.util.logging.Logger.getLogger("org.tribuo");

    @Param({"toeplitz", "independent"})
    public String problem;

    @Param({"jlm", "tribuo", "smile"})
    public String impl;

    @Param({"1", "2"})
    public int threads;

    BenchProblems.Problem data;
    private Tensor columns;
    private Tensor target;
    LassoProblem pb;
    LassoSolver solver;
    MutableDataset<Regressor> tribuoData;
    DataFrame smileData;
    private double[][] last;

    @Setup(Level.Trial)
    public void setup() {
        data = BenchProblems.get(problem);
        columns = data.columns();
        target = data.target();
        pb = BenchProblems.problem(columns, target, threads);
        solver = new LassoSolver(SolverOptions.defaults().withTol(TOL).withThreads(threads));
        int n = data.n();
        int p = data.p();
        switch (impl) {
            case "jlm" -> { }
            case "tribuo" -> {
                // Tribuo logs every solve at INFO; keep the benchmark's output readable.
                TRIBUO_LOG.setLevel(java.util.logging.Level.WARNING);
                RegressionFactory rf = new RegressionFactory();
                tribuoData = new MutableDataset<>(new SimpleDataSourceProvenance("lasso-bench-" + problem, rf), rf);
                String[] names = featureNames(p);
                for (int i = 0; i < n; i++) {
                    double[] row = new double[p];
                    for (int j = 0; j < p; j++) {
                        row[j] = data.xt()[j * n + i];
                    }
                    tribuoData.add(new ArrayExample<>(new Regressor("y", data.y()[i]), names, row));
                }
            }
            case "smile" -> {
                double[][] rows = new double[n][p + 1];
                for (int i = 0; i < n; i++) {
                    for (int j = 0; j < p; j++) {
                        rows[i][j] = data.xt()[j * n + i];
                    }
                    rows[i][p] = data.y()[i];
                }
                String[] names = new String[p + 1];
                System.arraycopy(featureNames(p), 0, names, 0, p);
                names[p] = "y";
                smileData = DataFrame.of(rows, names);
            }
            default -> throw new IllegalArgumentException("impl must be jlm, tribuo or smile, not " + impl);
        }
    }

    static String[] featureNames(int p) {
        String[] names = new String[p];
        for (int j = 0; j < p; j++) {
            names[j] = String.format("f%05d", j);
        }
        return names;
    }

    /** Coefficients of one peer fit at {@code alpha} (impl tribuo or smile). */
    double[] peerFit(double alpha) {
        if (impl.equals("tribuo")) {
            ElasticNetCDTrainer t = new ElasticNetCDTrainer(alpha, 1.0, TOL, 1_000_000, false, 1L);
            return tribuoCoef((SparseLinearModel) t.train(tribuoData), data.p());
        }
        LinearModel m = LASSO.fit(Formula.lhs("y"), smileData, 2 * data.n() * alpha, TOL, 1000);
        return m.coefficients().clone();
    }

    @Benchmark
    public double[][] path() {
        double[] alphas = data.alphas();
        double[][] coef = new double[alphas.length][];
        switch (impl) {
            case "jlm" -> {
                LassoPath path = solver.path(pb, alphas);
                for (int a = 0; a < alphas.length; a++) {
                    coef[a] = path.solutions().get(a).coef();
                }
            }
            default -> {
                for (int a = 0; a < alphas.length; a++) {
                    coef[a] = peerFit(alphas[a]);
                }
            }
        }
        last = coef;
        return coef;
    }

    static double[] tribuoCoef(SparseLinearModel m, int p) {
        double[] w = new double[p];
        Map<String, SparseVector> weights = m.getWeights();
        SparseVector v = weights.values().iterator().next();
        var fmap = m.getFeatureIDMap();
        for (VectorTuple t : v) {
            if (t.index < p) {
                String name = fmap.get(t.index).getName();
                w[Integer.parseInt(name.substring(1))] = t.value;
            }
        }
        return w;
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        if (last != null) {
            double worst = 0;
            List<String> gaps = new ArrayList<>();
            for (int a = 0; a < last.length; a++) {
                double g = solver.relativeGap(pb, data.alphas()[a], last[a]);
                worst = Math.max(worst, g);
                gaps.add(String.format("%.1e", g));
            }
            System.err.println("[lasso-bench] " + impl + " " + problem + " threads=" + threads
                    + " max relative duality gap " + String.format("%.2e", worst) + " per alpha " + gaps);
        }
        solver.close();
        pb.close();
        columns.close();
        target.close();
    }
}
