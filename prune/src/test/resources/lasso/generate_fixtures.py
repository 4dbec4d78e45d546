#!/usr/bin/python3
"""Reference solutions from scikit-learn for the jlm Lasso tests.

Run with Debian's python3-sklearn (apt-get install python3-sklearn):
    /usr/bin/python3 prune/src/test/resources/lasso/generate_fixtures.py prune/src/test/resources/lasso
The build never runs this; the generated .npy files are committed.
References are solved to tol 1e-12 (scikit-learn's relative duality gap) with a large iteration cap.
"""
import os
import sys

import numpy as np
import sklearn
from sklearn.datasets import load_diabetes
from sklearn.linear_model import ElasticNet, Lasso, MultiTaskLasso

TOL = 1e-12
MAX_ITER = 1_000_000
out = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))


def save(name, a):
    np.save(os.path.join(out, name + ".npy"), a)


def alpha_max(X, y, fit_intercept):
    if fit_intercept:
        X = X - X.mean(axis=0)
        y = y - y.mean(axis=0)
    c = X.T @ y
    if c.ndim == 2:
        return np.sqrt((c ** 2).sum(axis=1)).max() / X.shape[0]
    return np.abs(c).max() / X.shape[0]


def fit_path(model_factory, X, y, alphas):
    coefs, icpts, gaps = [], [], []
    for a in alphas:
        m = model_factory(a).fit(X, y)
        coefs.append(m.coef_.T.copy() if m.coef_.ndim == 2 else m.coef_.copy())
        icpts.append(np.atleast_1d(m.intercept_).astype(np.float64))
        gaps.append(float(np.max(m.dual_gap_)))
    return np.array(coefs), np.array(icpts), np.array(gaps)


def problem(name, X, y, fit_intercept, fractions, enet_ratio=None, positive=False, store=None):
    Xd = X.astype(np.float64)
    amax = alpha_max(Xd, y, fit_intercept)
    alphas = amax * np.asarray(fractions)
    save(name + "_X", X if store is None else store(X))
    save(name + "_y", y)
    save(name + "_alphas", alphas)
    coef, icpt, _ = fit_path(lambda a: Lasso(alpha=a, fit_intercept=fit_intercept, tol=TOL, max_iter=MAX_ITER,
                                             positive=positive), Xd, y, alphas)
    save(name + "_lasso_coef", coef)
    save(name + "_lasso_intercept", icpt)
    if enet_ratio is not None:
        coef, icpt, _ = fit_path(lambda a: ElasticNet(alpha=a, l1_ratio=enet_ratio, fit_intercept=fit_intercept,
                                                      tol=TOL, max_iter=MAX_ITER), Xd, y, alphas)
        save(name + "_enet_coef", coef)
        save(name + "_enet_intercept", icpt)


rng = np.random.RandomState(0)

# 1. diabetes (442 x 10, scikit-learn's scaled version), with intercept; C-order float64.
d = load_diabetes()
problem("diabetes", d.data.astype(np.float64), d.target.astype(np.float64), True,
        [0.5, 0.1, 0.01, 0.001], enet_ratio=0.5)

# 2. correlated n < p: Toeplitz(0.8) covariance, n=50, p=120, 8 true non-zeros; float32 X in Fortran order,
#    the reference computed on exactly those float32 values.
n, p = 50, 120
cov = 0.8 ** np.abs(np.subtract.outer(np.arange(p), np.arange(p)))
X = rng.multivariate_normal(np.zeros(p), cov, size=n).astype(np.float32)
beta = np.zeros(p)
beta[rng.choice(p, 8, replace=False)] = rng.randn(8) * 2
y = X.astype(np.float64) @ beta + 0.5 * rng.randn(n)
problem("correlated", X, y, False, [0.5, 0.2, 0.05], enet_ratio=0.7, store=np.asfortranarray)

# 3. tall n >> p: n=2000, p=20, intercept, C-order float64; also the non-negative Lasso.
n, p = 2000, 20
X = rng.randn(n, p) + 0.3 * rng.randn(n, 1)
beta = np.zeros(p)
beta[:6] = [3, -2, 1.5, 0, 0.8, -0.5]
y = X @ beta + 1.0 + rng.randn(n)
problem("tall", X, y, True, [0.3, 0.05, 0.005])
amax = alpha_max(X, y, True)
alphas = amax * np.array([0.3, 0.05, 0.005])
coef, icpt, _ = fit_path(lambda a: Lasso(alpha=a, fit_intercept=True, tol=TOL, max_iter=MAX_ITER, positive=True),
                         X, y, alphas)
save("tall_positive_coef", coef)
save("tall_positive_intercept", icpt)

# 4. weighted Lasso on the correlated data: min 1/(2n)||y - Xw||^2 + alpha sum v_j |w_j| equals the plain
#    Lasso on X / v with w = w' / v.
Xc = np.load(os.path.join(out, "correlated_X.npy")).astype(np.float64)
yc = np.load(os.path.join(out, "correlated_y.npy"))
v = rng.uniform(0.5, 2.0, size=Xc.shape[1])
save("correlated_weights", v)
alphas = np.load(os.path.join(out, "correlated_alphas.npy"))
coef, _, _ = fit_path(lambda a: Lasso(alpha=a, fit_intercept=False, tol=TOL, max_iter=MAX_ITER), Xc / v, yc, alphas)
save("correlated_weighted_coef", coef / v)

# 5. multi-task: n=60, p=30, T=4, intercept.
n, p, T = 60, 30, 4
X = rng.randn(n, p)
W = np.zeros((p, T))
W[:5] = rng.randn(5, T)
Y = X @ W + 0.3 * rng.randn(n, T)
amax = alpha_max(X, Y, True)
alphas = amax * np.array([0.5, 0.1, 0.02])
save("multitask_X", X)
save("multitask_y", Y)
save("multitask_alphas", alphas)
coef, icpt, _ = fit_path(lambda a: MultiTaskLasso(alpha=a, fit_intercept=True, tol=TOL, max_iter=MAX_ITER), X, Y, alphas)
save("multitask_coef", coef)        # [k, p, T]
save("multitask_intercept", icpt)   # [k, T]

print("scikit-learn", sklearn.__version__, "fixtures written to", out)
