package dev.jlm.prune.lasso;

import dev.jlm.core.DType;
import dev.jlm.core.JlmException;
import dev.jlm.core.Tensor;
import dev.jlm.simd.RowExecutor;
import dev.jlm.simd.l1.L1Kernels;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.TreeMap;

/**
 * A sparse regression problem in scikit-learn's scaling, ready for {@link LassoSolver}:
 *
 * <pre>
 *   (1 / (2n)) ||Y - X W - 1 b^T||_F^2 + alpha * (l1Ratio * Omega(W) + (1 - l1Ratio) / 2 * ||W||_F^2)
 * </pre>
 *
 * with {@code Omega} one of: the (optionally weighted) L1 norm {@code sum_j v_j |w_j|} (Lasso, elastic net,
 * optionally non-negative); the group norm {@code sum_g sqrt(|g|) ||w_g||_2} over disjoint groups (group
 * Lasso); the L2,1 norm {@code sum_j ||W_j||_2} of the rows of W when Y has several columns (multi-task
 * Lasso). The intercept {@code b} is unpenalized and present only with {@link Builder#fitIntercept}.
 *
 * <p>X is an F64 or F32 {@link Tensor}, either {@code [n, p]} row-major ({@link #builder(Tensor, Tensor)}) or
 * given by its columns as a {@code [p, n]} tensor ({@link #builderColumns(Tensor, Tensor)}, the layout the
 * solvers use; an F64 one without intercept is used in place, without a copy, and must then stay open as
 * long as this problem). Everything else is copied into memory this problem owns, in float64; close the
 * problem to free it. A built problem is immutable and may be solved from several threads at once.
 */
public final class LassoProblem implements AutoCloseable {
    static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** Which penalty {@code Omega} the problem has. */
    public enum Kind {
        /** Lasso / elastic net with the (optionally weighted, optionally non-negative) L1 norm. */
        LASSO,
        /** Group Lasso over disjoint groups. */
        GROUP,
        /** Multi-task Lasso: L2,1 norm over the rows of a {@code [p, T]} coefficient matrix. */
        MULTI_TASK
    }

    final Kind kind;
    final int n;
    final int p;
    final int tasks;
    final Arena arena;
    /** X column-major (column j at j * n), centered when fitIntercept. */
    final MemorySegment x;
    /** Y column-major (task t at t * n), centered when fitIntercept. */
    final MemorySegment y;
    final double[] colNorm2;
    /**
     * For a large Lasso X (more than {@link #SHADOW_MIN} elements): a 16-bit integer copy, column-major, with one
     * scale per column ({@code x_j ~ scale_j q_j}, {@code scale_j = max_i |x_ij| / 32767}), and per column a bound
     * {@code err_j} such that {@code |x_j . r - scale_j fl(q_j . r)| <= err_j ||r||}.
     */
    final MemorySegment x16;
    final double[] x16Scale;
    final double[] x16Error;
    /**
     * With the 16-bit copy, an 8-bit one ({@code x_j ~ scale8_j q8_j}, {@code scale8_j = max_i |x_ij| / 127}) with
     * the same kind of bound {@code |x_j . r - scale8_j fl(q8_j . r)| <= err8_j ||r||}: a cheaper first pass of the
     * certificate while the threshold is far above the correlations (early along a path).
     */
    final MemorySegment x8;
    final double[] x8Scale;
    final double[] x8Error;
    /** The absolute part of the 8-bit product's error (r's elements below float's normal range). */
    final double[] x8Floor;
    /** {@code scale_j^2 ||q_j||^2}: the squared norm of the 16-bit column, for coordinate descent on the copy. */
    final double[] x16Norm2;
    static final java.lang.foreign.ValueLayout.OfShort I16 =
            java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN);
    final double[] xMean;
    final double[] yMean;
    final double yNorm2;
    final double l1Ratio;
    final boolean fitIntercept;
    final boolean positive;
    /** Penalty weight per feature (LASSO) or per group (GROUP); null means all 1 (LASSO) or sqrt(|g|). */
    final double[] weights;
    /** GROUP only: the features of each group, and each group's penalty weight. */
    final int[][] groups;
    final double[] groupWeights;
    final int[] groupIds;

    /** X larger than this (elements; 4 MB in float64, past the private caches) gets a 16-bit shadow. */
    static final long SHADOW_MIN = 1L << 19;

    private LassoProblem(Builder b, Arena arena, MemorySegment x, MemorySegment y, int n, int p, int tasks,
                         double[] colNorm2, double[] xMean, double[] yMean, double yNorm2, int[][] groups,
                         double[] groupWeights, Shadow shadow) {
        x16 = shadow == null ? null : shadow.x16;
        x16Scale = shadow == null ? null : shadow.x16Scale;
        x16Error = shadow == null ? null : shadow.x16Error;
        x16Norm2 = shadow == null ? null : shadow.x16Norm2;
        x8 = shadow == null ? null : shadow.x8;
        x8Scale = shadow == null ? null : shadow.x8Scale;
        x8Error = shadow == null ? null : shadow.x8Error;
        x8Floor = shadow == null ? null : shadow.x8Floor;
        this.kind = b.groups != null ? Kind.GROUP : (tasks > 1 ? Kind.MULTI_TASK : Kind.LASSO);
        this.arena = arena;
        this.x = x;
        this.y = y;
        this.n = n;
        this.p = p;
        this.tasks = tasks;
        this.colNorm2 = colNorm2;
        this.xMean = xMean;
        this.yMean = yMean;
        this.yNorm2 = yNorm2;
        this.l1Ratio = b.l1Ratio;
        this.fitIntercept = b.fitIntercept;
        this.positive = b.positive;
        this.weights = b.weights == null ? null : b.weights.clone();
        this.groups = groups;
        this.groupWeights = groupWeights;
        this.groupIds = b.groups == null ? null : b.groups.clone();
    }

    /** A builder for X as a row-major {@code [n, p]} tensor and y as {@code [n]} or {@code [n, T]}. */
    public static Builder builder(Tensor x, Tensor y) {
        return new Builder(x, y, false);
    }

    /** A builder for X given by its columns: a {@code [p, n]} tensor whose row j is column j of X. */
    public static Builder builderColumns(Tensor xColumns, Tensor y) {
        return new Builder(xColumns, y, true);
    }

    /** Rows (samples). */
    public int samples() {
        return n;
    }

    /** Columns (features). */
    public int features() {
        return p;
    }

    /** Columns of Y (1 unless multi-task). */
    public int tasks() {
        return tasks;
    }

    public Kind kind() {
        return kind;
    }

    public double l1Ratio() {
        return l1Ratio;
    }

    public boolean fitIntercept() {
        return fitIntercept;
    }

    public boolean positive() {
        return positive;
    }

    /**
     * The minimizer of one coordinate's problem with gradient term z, threshold thr and curvature denom: the soft
     * threshold of z at thr over denom, or its positive part for a fit with non-negative coefficients.
     */
    double coordinate(double z, double thr, double denom) {
        return (positive ? Math.max(z - thr, 0) : L1Kernels.softThreshold(z, thr)) / denom;
    }

    /**
     * The smallest alpha at which all coefficients are zero: {@code max_j |x_j^T y| / (n l1Ratio v_j)} (on the
     * centered data with an intercept; the norm of each group or row for group and multi-task problems).
     */
    public double alphaMax() {
        double[] c = new double[p * tasks];
        for (int t = 0; t < tasks; t++) {
            for (int j = 0; j < p; j++) {
                double s = 0;
                for (int i = 0; i < n; i++) {
                    s += x.getAtIndex(F64, (long) j * n + i) * y.getAtIndex(F64, (long) t * n + i);
                }
                c[j * tasks + t] = s;
            }
        }
        return Duality.dualNorm(this, c) / (n * l1Ratio);
    }

    /** Frees the memory this problem owns. Idempotent. */
    @Override
    public void close() {
        if (arena.scope().isAlive()) {
            arena.close();
        }
    }

    /** The 16-bit and 8-bit copies of X and their per-column scales and error bounds, filled column by column. */
    private static final class Shadow {
        final int n;
        final MemorySegment x16;
        final double[] x16Scale;
        final double[] x16Error;
        final double[] x16Norm2;
        final MemorySegment x8;
        final double[] x8Scale;
        final double[] x8Error;
        final double[] x8Floor;
        final double i8Error;

        Shadow(Arena arena, int n, int p) {
            this.n = n;
            x16 = arena.allocate(2L * n * p, 64);
            x16Scale = new double[p];
            x16Error = new double[p];
            x16Norm2 = new double[p];
            x8 = arena.allocate((long) n * p, 64);
            x8Scale = new double[p];
            x8Error = new double[p];
            x8Floor = new double[p];
            i8Error = L1Kernels.get().i8ProductError(n); // the 8-bit product's relative rounding, same for all columns
        }

        /** Column j of x (centred, squared norm nrmX): its codes, scales and bounds. */
        void column(L1Kernels k, MemorySegment x, int j, double nrmX, double[] stats) {
            long base = (long) j * n;
            double max = k.maxAbs(x, base, n);
            double scale = max / 32767;
            double scale8 = max / 127;
            // codes rint(x / scale) (by the inverse scale), sums of squared residuals and codes
            k.quantizeColumn(x, base, n, scale, x16, base, scale8, x8, base, stats);
            double err = stats[0];
            double nrmQ = stats[1];
            double err8 = stats[2];
            double nrmQ8 = stats[3];
            // The sums of squares are rounded in some order: at most n 2^-53 of their value each, which the
            // factors below cover together with the square roots' own rounding.
            double pad = 1 + 1e-12 + n * 0x1p-52;
            x16Scale[j] = scale;
            x16Norm2[j] = scale * scale * nrmQ;
            x8Scale[j] = scale8;
            // ||x_j - scale8 q_j|| as for 16 bits, and the arithmetic of the 8-bit product (float32 in the
            // vector kernels): sum |q_i r_i| <= ||q_j|| ||r||.
            x8Error[j] = (Math.sqrt(err8) + 0x1p-52 * Math.sqrt(nrmX)) * pad + i8Error * scale8 * Math.sqrt(nrmQ8) * pad;
            x8Floor[j] = scale8 * n * 0x1p-142;
            // ||x_j - scale q_j|| (plus the rounding of computing it), and the rounding of the product
            // q_j . r in double: at most n 2^-53 sum |q_i r_i|, with room for the final scaling.
            x16Error[j] = (Math.sqrt(err) + 0x1p-52 * Math.sqrt(nrmX)) * pad + 0x1p-50 * n * scale * Math.sqrt(nrmQ);
        }
    }

    /** Builder of a {@link LassoProblem}; not thread-safe. */
    public static final class Builder {
        private final Tensor xIn;
        private final Tensor yIn;
        private final boolean columns;
        private boolean fitIntercept;
        private double l1Ratio = 1.0;
        private double[] weights;
        private int[] groups;
        private boolean positive;
        private int threads = RowExecutor.cores();

        private Builder(Tensor x, Tensor y, boolean columns) {
            this.xIn = x;
            this.yIn = y;
            this.columns = columns;
        }

        /** Fits an unpenalized intercept (centers X and y, as scikit-learn does). Default false. */
        public Builder fitIntercept(boolean v) {
            this.fitIntercept = v;
            return this;
        }

        /** The elastic-net mixing, in (0, 1]; 1 (the default) is the Lasso. */
        public Builder l1Ratio(double v) {
            if (!(v > 0 && v <= 1)) {
                throw new JlmException.InvalidArgument("l1Ratio must be in (0, 1], not " + v);
            }
            this.l1Ratio = v;
            return this;
        }

        /** Per-feature penalty weights {@code v_j >= 0} (weighted Lasso; 0 leaves a feature unpenalized). */
        public Builder penaltyWeights(double[] v) {
            this.weights = v == null ? null : v.clone();
            return this;
        }

        /** Group id ({@code >= 0}) of every feature: makes this a group Lasso. */
        public Builder groups(int[] g) {
            this.groups = g == null ? null : g.clone();
            return this;
        }

        /** Constrains the coefficients to be non-negative (Lasso and elastic net only). */
        public Builder positive(boolean v) {
            this.positive = v;
            return this;
        }

        /**
         * Threads {@link #build} may use for a large X (its columns split over the kernels' shared executor);
         * default: the cores.
         */
        public Builder threads(int v) {
            if (v < 1) {
                throw new JlmException.InvalidArgument("threads must be >= 1, not " + v);
            }
            this.threads = v;
            return this;
        }

        /** Checks everything and copies the data. */
        public LassoProblem build() {
            if (xIn.rank() != 2) {
                throw new JlmException.InvalidArgument("X must be 2-D, got " + xIn);
            }
            if (xIn.dtype() != DType.F32 && xIn.dtype() != DType.F64) {
                throw new JlmException.InvalidArgument("X must be float32 or float64, got " + xIn.dtype());
            }
            if (yIn.dtype() != DType.F32 && yIn.dtype() != DType.F64) {
                throw new JlmException.InvalidArgument("y must be float32 or float64, got " + yIn.dtype());
            }
            long nl = columns ? xIn.dim(1) : xIn.dim(0);
            long pl = columns ? xIn.dim(0) : xIn.dim(1);
            if (nl < 1 || pl < 1) {
                throw new JlmException.InvalidArgument("X is empty: " + nl + " samples, " + pl + " features");
            }
            if (nl > Integer.MAX_VALUE - 64 || pl > Integer.MAX_VALUE - 64) {
                throw new JlmException.InvalidArgument("X is too large: " + nl + " x " + pl);
            }
            int n = (int) nl;
            int p = (int) pl;
            int tasks;
            if (yIn.rank() == 1) {
                tasks = 1;
            } else if (yIn.rank() == 2) {
                tasks = (int) yIn.dim(1);
            } else {
                throw new JlmException.InvalidArgument("y must be 1-D or 2-D, got " + yIn);
            }
            if (yIn.dim(0) != n) {
                throw new JlmException.InvalidArgument("y has " + yIn.dim(0) + " rows but X has " + n + " samples");
            }
            if (tasks < 1) {
                throw new JlmException.InvalidArgument("y has no columns");
            }
            if (weights != null) {
                if (weights.length != p) {
                    throw new JlmException.InvalidArgument("penalty weights: " + weights.length + " values for " + p + " features");
                }
                for (double w : weights) {
                    if (!(w >= 0) || Double.isInfinite(w)) {
                        throw new JlmException.InvalidArgument("penalty weights must be finite and >= 0, got " + w);
                    }
                }
                if (groups != null || tasks > 1) {
                    throw new JlmException.Unsupported("penalty weights are supported for the (single-task) Lasso only");
                }
            }
            if (positive && (groups != null || tasks > 1)) {
                throw new JlmException.Unsupported("positive is supported for the (single-task) Lasso only");
            }
            if (groups != null && tasks > 1) {
                throw new JlmException.Unsupported("group Lasso with several tasks is not supported");
            }
            int[][] groupList = null;
            double[] groupWeights = null;
            if (groups != null) {
                if (groups.length != p) {
                    throw new JlmException.InvalidArgument("groups: " + groups.length + " ids for " + p + " features");
                }
                TreeMap<Integer, List<Integer>> byId = new TreeMap<>();
                for (int j = 0; j < p; j++) {
                    if (groups[j] < 0) {
                        throw new JlmException.InvalidArgument("groups: negative id " + groups[j] + " for feature " + j);
                    }
                    byId.computeIfAbsent(groups[j], k -> new ArrayList<>()).add(j);
                }
                groupList = new int[byId.size()][];
                groupWeights = new double[byId.size()];
                int g = 0;
                for (List<Integer> members : byId.values()) {
                    groupList[g] = members.stream().mapToInt(Integer::intValue).toArray();
                    groupWeights[g] = Math.sqrt(members.size());
                    g++;
                }
            }

            Arena arena = Arena.ofShared();
            try {
                MemorySegment xs;
                // In place only when the solvers' worker threads may read it (not memory of a confined arena).
                boolean inPlace = columns && xIn.dtype() == DType.F64 && xIn.isContiguous() && !fitIntercept
                        && RowExecutor.shareable(xIn.segment());
                if (inPlace) {
                    xs = xIn.segment();
                } else {
                    xs = arena.allocate(8L * n * p, 64);
                    copyColumns(xIn, columns, n, p, xs, threads);
                }
                MemorySegment ys = arena.allocate(8L * n * tasks, 64);
                for (int i = 0; i < n; i++) {
                    for (int t = 0; t < tasks; t++) {
                        double v = yIn.rank() == 1 ? yIn.getDouble(i) : yIn.getDouble(i, t);
                        if (!Double.isFinite(v)) {
                            throw new JlmException.InvalidArgument("y has a non-finite value " + v + " at row " + i);
                        }
                        ys.setAtIndex(F64, (long) t * n + i, v);
                    }
                }
                double[] xMean = fitIntercept ? new double[p] : null;
                double[] yMean = new double[tasks];
                if (fitIntercept) {
                    for (int t = 0; t < tasks; t++) {
                        yMean[t] = center(ys, (long) t * n, n);
                    }
                }
                double[] norms = new double[p];
                L1Kernels kernels = L1Kernels.get();
                Shadow shadow = groups == null && tasks == 1 && (long) n * p >= SHADOW_MIN ? new Shadow(arena, n, p) : null;
                try (Arena scratch = Arena.ofShared()) {
                    MemorySegment ones = fitIntercept ? scratch.allocate(8L * n, 64) : null;
                    for (int i = 0; fitIntercept && i < n; i++) {
                        ones.setAtIndex(F64, i, 1.0);
                    }
                    // Column by column, each read from memory once and then from the cache: the check for
                    // non-finite values, the centring, the norm, the 16-bit and 8-bit codes.
                    RowExecutor.run(RowExecutor.chunks(p, n, threads), p, (from, to) -> {
                        double[] stats = new double[4];
                        for (int j = (int) from; j < to; j++) {
                            long base = (long) j * n;
                            if (!Double.isFinite(kernels.maxAbs(xs, base, n))) {
                                throw nonFinite(xs, base, n, j);
                            }
                            if (fitIntercept) {
                                double mean = kernels.dot(xs, base, ones, 0, n) / n;
                                kernels.axpy(-mean, ones, 0, xs, base, n);
                                xMean[j] = mean;
                            }
                            double sq = kernels.sumSquares(xs, base, n);
                            if (!Double.isFinite(sq)) {
                                throw new JlmException.InvalidArgument("X column " + j
                                        + " is too large: the sum of its squares overflows float64");
                            }
                            norms[j] = sq;
                            if (shadow != null) {
                                shadow.column(kernels, xs, j, sq, stats);
                            }
                        }
                    });
                }
                double yn = 0;
                for (long i = 0; i < (long) n * tasks; i++) {
                    double v = ys.getAtIndex(F64, i);
                    yn += v * v;
                }
                return new LassoProblem(this, arena, xs, ys, n, p, tasks, norms, xMean, yMean, yn, groupList, groupWeights,
                        shadow);
            } catch (RuntimeException | Error e) {
                arena.close();
                throw e;
            }
        }

        private static double center(MemorySegment m, long base, int n) {
            double s = 0;
            for (int i = 0; i < n; i++) {
                s += m.getAtIndex(F64, base + i);
            }
            double mean = s / n;
            for (int i = 0; i < n; i++) {
                m.setAtIndex(F64, base + i, m.getAtIndex(F64, base + i) - mean);
            }
            return mean;
        }

        /** The error for column j (n values from base), which holds a NaN or an infinity: the first one named. */
        private static JlmException nonFinite(MemorySegment x, long base, int n, int j) {
            for (int i = 0; i < n; i++) {
                double v = x.getAtIndex(F64, base + i);
                if (!Double.isFinite(v)) {
                    return new JlmException.InvalidArgument("X has a non-finite value " + v + " at sample " + i
                            + ", feature " + j);
                }
            }
            return new JlmException.InvalidArgument("X has a non-finite value in feature " + j);
        }

        /**
         * X into {@code out} by columns, as float64. The values are checked (non-finite ones refused) afterwards,
         * column by column, except on the element-by-element path for strided tensors.
         */
        private static void copyColumns(Tensor t, boolean columns, int n, int p, MemorySegment out, int threads) {
            boolean f64 = t.dtype() == DType.F64;
            if (t.isContiguous()) {
                MemorySegment src = t.segment();
                if (columns && f64) {
                    MemorySegment.copy(src, 0, out, 0, 8L * n * p);
                } else if (columns) {
                    for (long k = 0; k < (long) n * p; k++) {
                        out.setAtIndex(F64, k, src.getAtIndex(LassoSolver.F32, k));
                    }
                } else {
                    // Transposed in tiles of 32 x 32 (8 KB of each side, both in the L1 cache), the tiles' columns
                    // split over the threads.
                    final int tile = 32;
                    int blocks = (p + tile - 1) / tile;
                    RowExecutor.run(RowExecutor.chunks(blocks, (long) n * tile, threads, src), blocks, (from, to) -> {
                        for (int j0 = (int) from * tile; j0 < Math.min(p, (int) to * tile); j0 += tile) {
                            int j1 = Math.min(p, j0 + tile);
                            for (int i0 = 0; i0 < n; i0 += tile) {
                                int i1 = Math.min(n, i0 + tile);
                                for (int j = j0; j < j1; j++) {
                                    long o = (long) j * n;
                                    if (f64) {
                                        for (int i = i0; i < i1; i++) {
                                            out.setAtIndex(F64, o + i, src.getAtIndex(F64, (long) i * p + j));
                                        }
                                    } else {
                                        for (int i = i0; i < i1; i++) {
                                            out.setAtIndex(F64, o + i, src.getAtIndex(LassoSolver.F32, (long) i * p + j));
                                        }
                                    }
                                }
                            }
                        }
                    });
                }
                return;
            }
            for (int i = 0; i < n; i++) {
                for (int j = 0; j < p; j++) {
                    double v = columns ? t.getDouble(j, i) : t.getDouble(i, j);
                    if (!Double.isFinite(v)) {
                        throw new JlmException.InvalidArgument("X has a non-finite value " + v + " at sample " + i
                                + ", feature " + j);
                    }
                    out.setAtIndex(F64, (long) j * n + i, v);
                }
            }
        }
    }

    @Override
    public String toString() {
        return "LassoProblem[" + kind + " n=" + n + " p=" + p + (tasks > 1 ? " tasks=" + tasks : "")
                + (groups != null ? " groups=" + groups.length : "") + " l1Ratio=" + l1Ratio
                + (fitIntercept ? " intercept" : "") + (positive ? " positive" : "")
                + (weights != null ? " weights=" + Arrays.stream(weights).filter(w -> w != 1).count() + "!=1" : "") + "]";
    }
}
