"""``fastgmm bench --extras``: measurements beyond the table, on the main case.

float32 against float64, one thread against all, the achieved GFLOP/s next
to NumPy's matmul rate, the k-means initialisation's share of a fit, and,
in fresh processes (code run with ``python -c``), the import and first-fit
times (warm and cold kernel cache, ``fastgmm warmup``) and the peak memory
of a fit above the size of ``X``. ``missing`` (:func:`missing_value_rows`)
is a table of its own: the cost of missing values per EM iteration.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from functools import partial

import numpy as np

from .._kernels.layout import CHUNK_ROWS, COVARIANCE_TYPES
from .cases import initial_parameters, make_data, n_rows, with_missing
from .timing import max_rel_param_diff, numba_threads, per_iteration, rel, warm_fastgmm

EXTRAS = ("float32", "threads", "gflops", "kmeans", "startup", "coldstart", "memory",
          "missing")

# Issue 24's bounds on the time per EM iteration with missing values over
# the time on the same data complete, by covariance type.
MISSING_GOALS = {"full": 3.0, "diag": 1.5}


def matmul_gflops(size=2048, repeat=3):
    """NumPy's float64 matmul rate (GFLOP/s) on a square product, best of ``repeat``."""
    rng = np.random.default_rng(0)
    A = rng.standard_normal((size, size))
    B = rng.standard_normal((size, size))
    A @ B
    best = min(_timed(lambda: A @ B) for _ in range(repeat))
    return 2.0 * size**3 / best / 1e9


def _timed(func):
    start = time.perf_counter()
    func()
    return time.perf_counter() - start


def full_flops(n, k, d):
    """Nominal floating-point operations of one full-covariance EM iteration.

    About ``1.5 n k d^2`` multiply-adds (the triangular projection of the
    E-step and the triangular scatter of the statistics, plus the
    differences and weighting), counted as two operations each.
    """
    return 2 * 1.5 * n * k * d * d


def _child_env(**extra):
    """Environment for a fresh interpreter that imports this same fastgmm."""
    import fastgmm

    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(fastgmm.__file__)))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    env.update(extra)
    return env


def _run_child(code, args=(), env=None, timeout=1800):
    proc = subprocess.run([sys.executable, "-c", code, *map(str, args)],
                          capture_output=True, text=True,
                          env=env or _child_env(), timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark subprocess failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


_IMPORT_CODE = """
import json, time
t0 = time.perf_counter()
import numba, sklearn.base
t1 = time.perf_counter()
import fastgmm
t2 = time.perf_counter()
print(json.dumps({"base": t1 - t0, "fastgmm": t2 - t1}))
"""

_FIRST_FIT_CODE = """
import json, sys, time, warnings
import numpy as np
import fastgmm
kind = sys.argv[1] if len(sys.argv) > 1 else "full"
X = np.random.default_rng(0).normal(size=(2000, 4))
warnings.simplefilter("ignore")
t0 = time.perf_counter()
fastgmm.GaussianMixture(3, covariance_type=kind, random_state=0, max_iter=20).fit(X)
print(json.dumps({"fit": time.perf_counter() - t0}))
"""

_WARMUP_CODE = """
import json, time
import fastgmm
t0 = time.perf_counter()
fastgmm.warmup()
print(json.dumps({"warmup": time.perf_counter() - t0}))
"""

_MEMORY_CODE = """
import json, resource, sys, warnings
import numpy as np
from fastgmm import GaussianMixture
from fastgmm.bench import make_data

def status_mb(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024

n, d, k = (int(v) for v in sys.argv[1:4])
init = dict(np.load(sys.argv[4]))
warnings.simplefilter("ignore")
GaussianMixture(k, max_iter=1, tol=0, **init).fit(make_data(4 * k + 4096, d, k))
X = make_data(n, d, k)
before = status_mb("VmRSS")
try:  # reset the peak (VmHWM) to the current RSS (Linux >= 4.0)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    reset = True
except OSError:
    reset = False
GaussianMixture(k, max_iter=3, tol=0, **init).fit(X)
peak = status_mb("VmHWM") if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"x_mb": X.nbytes / 2**20, "extra_mb": peak - before, "reset": reset}))
"""


def startup_times(runs=5):
    """Median import time of fastgmm above numba + sklearn.base, and first fit."""
    imports = [_run_child(_IMPORT_CODE) for _ in range(runs)]
    _run_child(_FIRST_FIT_CODE)  # make sure the on-disk cache is warm
    fits = [_run_child(_FIRST_FIT_CODE)["fit"] for _ in range(max(1, runs // 2))]
    return {"import_base_s": float(np.median([r["base"] for r in imports])),
            "import_fastgmm_s": float(np.median([r["fastgmm"] for r in imports])),
            "first_fit_warm_s": float(np.median(fits))}


def cold_start_times():
    """Cold-cache start-up in fresh processes, each kind compiling only its own kernels.

    In one empty cache: the first small float64 fit of ``full`` (which also
    compiles the k-means kernels), then the first fit of each other kind.
    In another empty cache: ``fastgmm.warmup()`` for every kind and dtype.
    """
    times = {}
    for name, code, runs in (("fits", _FIRST_FIT_CODE, COVARIANCE_TYPES),
                             ("warmup", _WARMUP_CODE, (None,))):
        cache = tempfile.mkdtemp(prefix="fastgmm-cold-cache-")
        try:
            env = _child_env(NUMBA_CACHE_DIR=cache)
            for kind in runs:
                out = _run_child(code, () if kind is None else (kind,), env=env)
                times[kind or name] = out["fit" if kind else "warmup"]
        finally:
            shutil.rmtree(cache, ignore_errors=True)
    return times


def fit_memory(case, scale):
    """Peak RSS of a fit above the RSS before it (fresh process), and size of X."""
    n = n_rows(case, scale)
    d, k = case.n_features, case.n_components
    init = initial_parameters(make_data(20_000, d, k), k, case.covariance_type)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "init.npz")
        np.savez(path, **init)
        out = _run_child(_MEMORY_CODE, (n, d, k, path))
    out["nk_mb"] = n * k * 8 / 2**20
    return out


def run_extras(names, case, scale, iters, repeat, threads, log):
    """Extra measurements on ``case``; a list of ``(what, value)`` rows."""
    from fastgmm import GaussianMixture

    rows = []

    def add(what, value):
        rows.append((what, value))
        log(f"  {what}: {value}")

    n = n_rows(case, scale)
    need_data = {"float32", "threads", "gflops", "kmeans"} & set(names)
    if need_data:
        X = make_data(n, case.n_features, case.n_components)
        init = initial_parameters(X, case.n_components, case.covariance_type)
        with numba_threads(threads):
            warm_fastgmm(X, case, init)
            t64, gm64 = per_iteration(GaussianMixture, X, case, init, iters, repeat)
    if "float32" in names:
        X32 = X.astype(np.float32)
        with numba_threads(threads):
            warm_fastgmm(X32, case, init)
            t32, gm32 = per_iteration(GaussianMixture, X32, case, init, iters, repeat)
        del X32
        add("float32 vs float64: s/iter", f"{t32:.4f} vs {t64:.4f} "
            f"({t64 / t32:.2f}x faster in float32)")
        add("float32 vs float64: max relative parameter difference",
            f"{max_rel_param_diff(gm32, gm64):.1e}")
        add("float32 vs float64: lower_bound_ relative difference",
            f"{rel(gm32.lower_bound_, gm64.lower_bound_):.1e}")
    if "threads" in names:
        with numba_threads(1):
            t1, _ = per_iteration(GaussianMixture, X, case, init, iters, repeat)
        add(f"1 vs {threads} threads: s/iter",
            f"{t1:.4f} vs {t64:.4f} ({t1 / t64:.2f}x speed-up)")
    if "gflops" in names:
        rate = full_flops(n, case.n_components, case.n_features) / t64 / 1e9
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=threads, user_api="blas"):
            peak = matmul_gflops()
        add("achieved GFLOP/s (nominal 1.5 n k d^2 multiply-adds per iteration)",
            f"{rate:.1f} ({100 * rate / peak:.0f}% of NumPy float64 matmul "
            f"{peak:.1f} GFLOP/s)")
    if "kmeans" in names:
        with numba_threads(threads):
            # Warm the parallel k-means kernels (more than one chunk of rows),
            # not only the serial ones, so that no compilation is timed.
            GaussianMixture(case.n_components, max_iter=0,
                            random_state=0).fit(X[:3 * CHUNK_ROWS])
            t_init = _timed(lambda: GaussianMixture(case.n_components, max_iter=0,
                                                    random_state=0).fit(X))
        add("k-means init: s, fraction of a 100-iteration fit",
            f"{t_init:.3f} s, {100 * t_init / (t_init + 100 * t64):.1f}%")
        add("k-means init in EM iterations of the same fit (goal <= 2)",
            f"{t_init / t64:.1f}")
    if "startup" in names:
        s = startup_times()
        add("import fastgmm above numba + sklearn.base (median of 5)",
            f"{1000 * s['import_fastgmm_s']:.0f} ms (numba + sklearn.base: "
            f"{1000 * s['import_base_s']:.0f} ms)")
        add("first small fit in a fresh process, warm cache",
            f"{s['first_fit_warm_s']:.2f} s")
    if "coldstart" in names:
        cold = cold_start_times()
        add("cold first full fit, float64 (empty kernel cache)", f"{cold['full']:.1f} s")
        for kind in ("tied", "diag", "spherical"):
            add(f"cold first {kind} fit (after the full one)", f"{cold[kind]:.1f} s")
        add("fastgmm warmup, every kind and dtype (empty cache)", f"{cold['warmup']:.1f} s")
    if "memory" in names:
        m = fit_memory(case, scale)
        add("peak memory of a fit above RSS before it",
            f"{m['extra_mb']:.0f} MB = {m['extra_mb'] / m['x_mb']:.2f} x size of X "
            f"({m['x_mb']:.0f} MB; one n x k float64 array: {m['nk_mb']:.0f} MB)")
    return rows


def missing_value_rows(case, scale, iters, repeat, threads, dtypes):
    """Seconds per EM iteration with missing values, as rows of their own table.

    For each dtype and each covariance type of :data:`MISSING_GOALS`, on
    ``case``'s data (scaled like the table's): the per-iteration time
    (:func:`~fastgmm.bench.timing.per_iteration`: two fits of fixed work,
    ``tol=0``, from the same initial parameters) of ``nan_policy='marginalize'``
    fits of (a) the complete data, (b) the same data with 10% of the entries
    missing at random and (c) with 30% of the rows missing the same 4 columns
    (:func:`~fastgmm.bench.cases.with_missing`), and the ratios (b)/(a) and
    (c)/(a) next to their goal. A generator: each row as soon as it is measured.
    """
    from fastgmm import GaussianMixture

    marginalize = partial(GaussianMixture, nan_policy="marginalize")
    n = n_rows(case, scale)
    X = make_data(n, case.n_features, case.n_components)
    inits = {cov: initial_parameters(X, case.n_components, cov) for cov in MISSING_GOALS}
    for dtype in dtypes:
        data = {"complete": X.astype(dtype, copy=False)}
        for pattern in ("scattered", "block"):
            data[pattern] = with_missing(data["complete"], pattern)
        for cov, goal in MISSING_GOALS.items():
            kind = replace(case, covariance_type=cov)
            seconds = {}
            with numba_threads(threads):
                for pattern, Xp in data.items():
                    # The missing-value kernels this pattern takes compile here.
                    warm_fastgmm(Xp, kind, inits[cov], marginalize)
                    seconds[pattern], _ = per_iteration(marginalize, Xp, kind, inits[cov],
                                                        iters, repeat)
            yield {"covariance": cov, "dtype": np.dtype(dtype).name, "n": n,
                   "d": case.n_features, "k": case.n_components,
                   "complete_s": seconds["complete"], "scattered_s": seconds["scattered"],
                   "scattered_ratio": seconds["scattered"] / seconds["complete"],
                   "block_s": seconds["block"],
                   "block_ratio": seconds["block"] / seconds["complete"], "goal": goal}
        del data
