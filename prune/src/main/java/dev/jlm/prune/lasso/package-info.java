/**
 * Sparse regression with L1-type penalties on off-heap data: the Lasso, elastic net, weighted and
 * non-negative Lasso, group Lasso and multi-task (L2,1) Lasso, in scikit-learn's scaling.
 *
 * <p>Build a {@link dev.jlm.prune.lasso.LassoProblem} from X and y tensors, solve it with a
 * {@link dev.jlm.prune.lasso.LassoSolver} for one alpha or along a path; every
 * {@link dev.jlm.prune.lasso.Solution} carries its duality gap (scikit-learn's definition), iterations and
 * time. {@link dev.jlm.prune.lasso.LassoCV} picks alpha by k-fold cross-validation,
 * {@link dev.jlm.prune.lasso.Npy} reads and writes NumPy files, and {@link dev.jlm.prune.lasso.LassoRun} is the
 * {@code jlm lasso} command without its argument parsing. The hot loops live in {@code dev.jlm.simd.l1}.
 */
package dev.jlm.prune.lasso;
