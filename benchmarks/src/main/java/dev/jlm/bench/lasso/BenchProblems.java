package dev.jlm.bench.lasso;

import dev.jlm.core.DType;
import dev.jlm.core.Tensor;
import dev.jlm.prune.lasso.LassoProblem;
import dev.jlm.prune.lasso.Npy;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.Random;

/**
 * The benchmark problems, generated from a fixed seed so that every implementation (jlm, Tribuo, Smile,
 * scikit-learn and glmnet through the script) solves exactly the same data:
 * <ul>
 *   <li>{@code toeplitz}: n=200, p=5000, rows with Toeplitz(0.5) correlation (AR(1) across features), 20 true
 *       non-zeros (alternating +-1, evenly spaced), noise sigma 1;</li>
 *   <li>{@code independent}: n=10000, p=1000, independent Gaussian features, 50 true non-zeros, noise sigma 1.</li>
 * </ul>
 * Every column is centered and scaled to sample standard deviation 1 and y is centered, so that the peers
 * that center or standardize internally (Tribuo, Smile) solve the same problem as the others without an
 * intercept. The path is 20 alphas from alphaMax = ||X^T y||_inf / n down to 1% of it, geometrically.
 */
public final class BenchProblems {
    static final long SEED = 42;
    static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private BenchProblems() {
    }

    /**
     * One problem.
     *
     * @param name   the problem's name
     * @param n      samples
     * @param p      features
     * @param xt     X by columns: column j at {@code j * n}
     * @param y      the target
     * @param alphas the path
     */
    public record Problem(String name, int n, int p, double[] xt, double[] y, double[] alphas) {
        /** X as a {@code [p, n]} F64 tensor (its rows are the columns of X); caller closes it. */
        public Tensor columns() {
            Tensor t = Tensor.allocate(DType.F64, p, n);
            java.lang.foreign.MemorySegment.copy(xt, 0, t.segment(), F64, 0, xt.length);
            return t;
        }

        /** y as an F64 tensor; caller closes it. */
        public Tensor target() {
            Tensor t = Tensor.allocate(DType.F64, n);
            java.lang.foreign.MemorySegment.copy(y, 0, t.segment(), F64, 0, y.length);
            return t;
        }
    }

    /** The problem called {@code name} ({@code toeplitz} or {@code independent}). */
    public static Problem get(String name) {
        return switch (name) {
            case "toeplitz" -> make(name, 200, 5000, 20, 0.5);
            case "independent" -> make(name, 10_000, 1000, 50, 0.0);
            default -> throw new IllegalArgumentException("unknown problem " + name + " (toeplitz or independent)");
        };
    }

    private static Problem make(String name, int n, int p, int k, double rho) {
        Random rnd = new Random(SEED);
        double[] xt = new double[n * p];
        double s = Math.sqrt(1 - rho * rho);
        for (int i = 0; i < n; i++) {
            double prev = rnd.nextGaussian();
            xt[i] = prev;
            for (int j = 1; j < p; j++) {
                prev = rho * prev + s * rnd.nextGaussian();
                xt[j * n + i] = prev;
            }
        }
        for (int j = 0; j < p; j++) {
            double m = 0;
            for (int i = 0; i < n; i++) {
                m += xt[j * n + i];
            }
            m /= n;
            double v = 0;
            for (int i = 0; i < n; i++) {
                xt[j * n + i] -= m;
                v += xt[j * n + i] * xt[j * n + i];
            }
            double sd = Math.sqrt(v / (n - 1));
            for (int i = 0; i < n; i++) {
                xt[j * n + i] /= sd;
            }
        }
        double[] y = new double[n];
        for (int q = 0; q < k; q++) {
            int j = (int) ((long) q * p / k);
            double b = q % 2 == 0 ? 1 : -1;
            for (int i = 0; i < n; i++) {
                y[i] += b * xt[j * n + i];
            }
        }
        double my = 0;
        for (int i = 0; i < n; i++) {
            y[i] += rnd.nextGaussian();
            my += y[i];
        }
        my /= n;
        for (int i = 0; i < n; i++) {
            y[i] -= my;
        }
        double amax = 0;
        for (int j = 0; j < p; j++) {
            double c = 0;
            for (int i = 0; i < n; i++) {
                c += xt[j * n + i] * y[i];
            }
            amax = Math.max(amax, Math.abs(c) / n);
        }
        double[] alphas = new double[20];
        for (int a = 0; a < 20; a++) {
            alphas[a] = amax * Math.pow(0.01, a / 19.0);
        }
        return new Problem(name, n, p, xt, y, alphas);
    }

    /** Writes {@code <name>_XT.npy} ([p, n], X by columns), {@code <name>_y.npy} and {@code <name>_alphas.npy}. */
    public static void write(Problem pr, Path dir) {
        Npy.writeF64(dir.resolve(pr.name() + "_XT.npy"), pr.xt(), pr.p(), pr.n());
        Npy.writeF64(dir.resolve(pr.name() + "_y.npy"), pr.y(), pr.n());
        Npy.writeF64(dir.resolve(pr.name() + "_alphas.npy"), pr.alphas(), pr.alphas().length);
    }

    /**
     * The jlm problem for it (no intercept: the data are centered), built on {@code threads} threads. Closes nothing
     * it does not own.
     */
    public static LassoProblem problem(Tensor columns, Tensor y, int threads) {
        return LassoProblem.builderColumns(columns, y).threads(threads).build();
    }
}
