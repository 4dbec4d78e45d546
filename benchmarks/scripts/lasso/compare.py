#!/usr/bin/python3
"""Times scikit-learn's lasso_path and R glmnet against jlm on LassoBench's problems and prints the ratios.

Needs Debian's python3-sklearn and r-cran-glmnet (apt-get install python3-sklearn r-cran-glmnet) and a built
benchmarks/target/benchmarks.jar (./mvnw -B -q install -DskipTests). Run from the repository root:

    /usr/bin/python3 benchmarks/scripts/lasso/compare.py [--repeats 3] [--problems toeplitz,independent]

Both wall time and process CPU time are printed: on a shared machine the CPU time is the steadier one.
Every implementation solves the same data (written by dev.jlm.bench.lasso.LassoBenchData from a fixed seed):
the 20-alpha path to 1% of alpha_max, no intercept (the data are centered). Each timing is the best of
--repeats runs after a warm-up (one run for scikit-learn and glmnet; at least 3 paths and 6 seconds for the JVM,
whose very first path, mostly interpreted, is shown on a row of its own), wall clock around the solve only, data
already in memory (for jlm also with the problem's one-time build added: its own rows), one thread (OMP/OpenBLAS threads pinned to 1) unless a row says otherwise. The relative
duality gap of every solution is recomputed here with scikit-learn's definition (gap / ||y||^2), whatever the library's own stopping rule.
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
bestcpu <- Inf
for (i in seq_len(repeats)) {
  t0 <- proc.time()
  fit <- run()
  t1 <- proc.time()
  best <- min(best, t1[["elapsed"]] - t0[["elapsed"]])
  bestcpu <- min(bestcpu, t1[["user.self"]] + t1[["sys.self"]] - t0[["user.self"]] - t0[["sys.self"]])
}
B <- as.matrix(coef(fit))[-1, , drop = FALSE]   # p x nlambda, intercept row dropped
writeBin(as.vector(B), file.path(dir, paste0(name, "_glmnet_", tag, ".bin")), size = 8, endian = "little")
cat(sprintf("%.6f %.6f %s\n", best, bestcpu, as.character(packageVersion("glmnet"))))
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
          f"best of {args.repeats} after a warm-up (JVM: at least 3 paths and 6 s); tol {args.tol:g}")
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
            label = f"{threads} thread{'s' if threads > 1 else ''}"
            res[f"jlm ({label})"] = (j["best_s"], j["best_cpu_s"], rel_gaps(X, y, alphas, coefs).max(), coefs)
            # The problem's build (norms, 16-bit and 8-bit copies of a large X) happens once per X; scikit-learn's
            # and glmnet's timed calls include their own preparation, so this row is the one-X comparison.
            res[f"jlm ({label}, build + path)"] = (j["build_best_s"] + j["best_s"], j["build_best_cpu_s"] + j["best_cpu_s"],
                                                   res[f"jlm ({label})"][2], coefs)
            if threads == 1:
                first = j["first_s"]
        # The very first path of a fresh JVM (interpreter and lower compiler tiers): what a one-shot run pays.
        res["jlm (1 thread, first path of a fresh JVM)"] = (first, float("nan"), res["jlm (1 thread)"][2], res["jlm (1 thread)"][3])
        ref = res["jlm (1 thread)"][3]
        # scikit-learn, its default precompute ('auto': the Gram matrix when n > p).
        run = lambda: lasso_path(X, y, alphas=alphas, tol=args.tol, max_iter=1_000_000)[1].T
        coefs = run()
        best = np.inf
        best_cpu = np.inf
        for _ in range(args.repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            coefs = run()
            best = min(best, time.perf_counter() - t0)
            best_cpu = min(best_cpu, time.process_time() - c0)
        res[f"scikit-learn {sklearn.__version__}"] = (best, best_cpu, rel_gaps(X, y, alphas, coefs).max(), coefs)
        # glmnet: its own stopping rule (thresh 1e-7, the default) and a tight one.
        if have_r:
            X.T.astype("<f8").tofile(os.path.join(work, name + "_X.bin"))  # column-major bytes
            y.astype("<f8").tofile(os.path.join(work, name + "_y.bin"))
            alphas.astype("<f8").tofile(os.path.join(work, name + "_alphas.bin"))
            for tag, thresh in (("default", 1e-7), ("tight", 1e-14)):
                out = subprocess.run(["Rscript", r_file, work, name, str(n), str(p), str(args.repeats), str(thresh), tag],
                                     check=True, capture_output=True, text=True).stdout.split()
                secs, cpu, ver = float(out[-3]), float(out[-2]), out[-1]
                B = np.fromfile(os.path.join(work, f"{name}_glmnet_{tag}.bin"), dtype="<f8").reshape(len(alphas), p)
                res[f"glmnet {ver} thresh={thresh:g}"] = (secs, cpu, rel_gaps(X, y, alphas, B).max(), B)
        base, base_cpu = res["jlm (1 thread)"][0], res["jlm (1 thread)"][1]
        scale = np.abs(ref).max()
        for impl, (secs, cpu, gap, coefs) in res.items():
            diff = np.abs(coefs - ref).max() / scale
            rows.append((name, impl, secs, cpu, gap, secs / base, cpu / base_cpu, diff))
    print()
    print("| problem | implementation | wall s | cpu s | max relative gap | wall / jlm 1 thread | cpu / jlm 1 thread "
          "| max coef diff vs jlm |")
    print("|---|---|---|---|---|---|---|---|")
    for name, impl, secs, cpu, gap, ratio, cratio, diff in rows:
        cpu_s, cratio_s = ("n/a", "n/a") if np.isnan(cpu) else (f"{cpu:.4f}", f"{cratio:.2f}")
        print(f"| {name} | {impl} | {secs:.4f} | {cpu_s} | {gap:.1e} | {ratio:.2f} | {cratio_s} | {diff:.1e} |")
    print()
    print("cpu s: CPU time of the solving thread for jlm with 1 thread, of all the JVM's Java threads (the solver's pool "
          "included, not the JIT compiler and GC threads) with 2; "
          "of the process for Python and R (single-threaded BLAS). The steadier measure on a loaded machine. "
          "Ratios > 1 mean slower than jlm with 1 thread.")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
