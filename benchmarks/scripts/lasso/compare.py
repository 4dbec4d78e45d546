#!/usr/bin/python3
"""Times scikit-learn's lasso_path and R glmnet against jlm on LassoBench's problems and prints the ratios.

Needs Debian's python3-sklearn and r-cran-glmnet (apt-get install python3-sklearn r-cran-glmnet) and a built
benchmarks/target/benchmarks.jar (./mvnw -B -q install -DskipTests). Run from the repository root:

    /usr/bin/python3 benchmarks/scripts/lasso/compare.py [--repeats 3] [--problems toeplitz,independent]

Every implementation solves the same data (written by dev.jlm.bench.lasso.LassoBenchData from a fixed seed):
the 20-alpha path to 1% of alpha_max, no intercept (the data are centered). Each timing is the best of
--repeats runs after one warm-up run, wall clock around the solve only, data already in memory, one thread
(OMP/OpenBLAS threads pinned to 1) unless a row says otherwise. The relative duality gap of every solution is
recomputed here with scikit-learn's definition (gap / ||y||^2), whatever the library's own stopping rule.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"

import numpy as np  # noqa: E402  (after the thread pinning)
import sklearn  # noqa: E402
from sklearn.linear_model import lasso_path  # noqa: E402

R_SCRIPT = r"""
suppressMessages(library(glmnet))
args <- commandArgs(trailingOnly = TRUE)
dir <- args[1]; name <- args[2]; n <- as.integer(args[3]); p <- as.integer(args[4])
repeats <- as.integer(args[5]); thresh <- as.numeric(args[6]); tag <- args[7]
rd <- function(f, k) readBin(file.path(dir, f), "double", n = k, size = 8, endian = "little")
X <- matrix(rd(paste0(name, "_X.bin"), n * p), nrow = n, ncol = p)
y <- rd(paste0(name, "_y.bin"), n)
alphas <- rd(paste0(name, "_alphas.bin"), 20)
run <- function() glmnet(X, y, family = "gaussian", lambda = alphas, standardize = FALSE, intercept = FALSE,
                         thresh = thresh, maxit = 10000000)
fit <- run()
best <- Inf
for (i in seq_len(repeats)) {
  t0 <- proc.time()[["elapsed"]]
  fit <- run()
  best <- min(best, proc.time()[["elapsed"]] - t0)
}
B <- as.matrix(coef(fit))[-1, , drop = FALSE]   # p x nlambda, intercept row dropped
writeBin(as.vector(B), file.path(dir, paste0(name, "_glmnet_", tag, ".bin")), size = 8, endian = "little")
cat(sprintf("%.6f %s\n", best, as.character(packageVersion("glmnet"))))
"""


def rel_gaps(X, y, alphas, coefs):
    """scikit-learn's duality gap (Lasso, no intercept) divided by ||y||^2, for each row of coefs."""
    n = X.shape[0]
    yy = float(y @ y)
    out = []
    for a, w in zip(alphas, coefs):
        r = y - X @ w
        l1 = a * n
        dn = np.max(np.abs(X.T @ r))
        s = l1 / dn if dn > l1 else 1.0
        rn2 = float(r @ r)
        gap = 0.5 * rn2 * (1 + s * s) + l1 * np.abs(w).sum() - s * float(r @ y)
        out.append(gap / yy)
    return np.array(out)


def find_java(repo):
    out = subprocess.run(["sh", "-c", ". bin/jdk-env >/dev/null && echo \"$JAVA_HOME\""], cwd=repo,
                         capture_output=True, text=True)
    home = out.stdout.strip()
    if out.returncode != 0 or not home:
        sys.exit("no JDK >= 22 found (bin/jdk-env): " + out.stderr.strip())
    return os.path.join(home, "bin", "java")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--problems", default="toeplitz,independent")
    ap.add_argument("--tol", type=float, default=1e-8)
    ap.add_argument("--jar", default="benchmarks/target/benchmarks.jar")
    ap.add_argument("--keep", help="keep the generated data in this folder")
    args = ap.parse_args()
    repo = os.getcwd()
    if not os.path.exists(args.jar):
        sys.exit(args.jar + " is missing: run ./mvnw -B -q install -DskipTests first")
    java = find_java(repo)
    jvm = [java, "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-Xmx8g",
           "-cp", args.jar, "dev.jlm.bench.lasso.LassoBenchData"]
    work = args.keep or tempfile.mkdtemp(prefix="lasso-bench-")
    os.makedirs(work, exist_ok=True)
    subprocess.run(jvm + ["write", work], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    have_r = shutil.which("Rscript") is not None
    r_file = os.path.join(work, "glmnet_time.R")
    with open(r_file, "w") as f:
        f.write(R_SCRIPT)
    load = os.getloadavg()
    print(f"scikit-learn {sklearn.__version__}, numpy {np.__version__}; load average {load[0]:.2f} {load[1]:.2f}; "
          f"best of {args.repeats} after a warm-up; tol {args.tol:g}")
    rows = []
    for name in args.problems.split(","):
        XT = np.load(os.path.join(work, name + "_XT.npy"))
        X = XT.T  # Fortran-ordered [n, p], what scikit-learn and glmnet want
        y = np.load(os.path.join(work, name + "_y.npy"))
        alphas = np.load(os.path.join(work, name + "_alphas.npy"))
        n, p = X.shape
        res = {}
        # jlm, 1 and 2 threads.
        for threads in (1, 2):
            out = subprocess.run(jvm + ["time", work, name, str(threads), str(args.repeats), str(args.tol)],
                                 check=True, capture_output=True, text=True).stdout
            j = json.loads(out.strip().splitlines()[-1])
            coefs = np.load(os.path.join(work, name + "_jlm_coef.npy"))
            res[f"jlm ({threads} thread{'s' if threads > 1 else ''})"] = (j["best_s"], rel_gaps(X, y, alphas, coefs).max(), coefs)
        ref = res["jlm (1 thread)"][2]
        # scikit-learn, its default precompute ('auto': the Gram matrix when n > p).
        run = lambda: lasso_path(X, y, alphas=alphas, tol=args.tol, max_iter=1_000_000)[1].T
        coefs = run()
        best = np.inf
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            coefs = run()
            best = min(best, time.perf_counter() - t0)
        res[f"scikit-learn {sklearn.__version__}"] = (best, rel_gaps(X, y, alphas, coefs).max(), coefs)
        # glmnet: its own stopping rule (thresh 1e-7, the default) and a tight one.
        if have_r:
            X.T.astype("<f8").tofile(os.path.join(work, name + "_X.bin"))  # column-major bytes
            y.astype("<f8").tofile(os.path.join(work, name + "_y.bin"))
            alphas.astype("<f8").tofile(os.path.join(work, name + "_alphas.bin"))
            for tag, thresh in (("default", 1e-7), ("tight", 1e-14)):
                out = subprocess.run(["Rscript", r_file, work, name, str(n), str(p), str(args.repeats), str(thresh), tag],
                                     check=True, capture_output=True, text=True).stdout.split()
                secs, ver = float(out[-2]), out[-1]
                B = np.fromfile(os.path.join(work, f"{name}_glmnet_{tag}.bin"), dtype="<f8").reshape(len(alphas), p)
                res[f"glmnet {ver} thresh={thresh:g}"] = (secs, rel_gaps(X, y, alphas, B).max(), B)
        base = res["jlm (1 thread)"][0]
        scale = np.abs(ref).max()
        for impl, (secs, gap, coefs) in res.items():
            diff = np.abs(coefs - ref).max() / scale
            rows.append((name, impl, secs, gap, secs / base, diff))
    print()
    print(f"| problem | implementation | path seconds | max relative gap | time / jlm 1 thread | max coef diff vs jlm |")
    print("|---|---|---|---|---|---|")
    for name, impl, secs, gap, ratio, diff in rows:
        print(f"| {name} | {impl} | {secs:.4f} | {gap:.1e} | {ratio:.2f} | {diff:.1e} |")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
