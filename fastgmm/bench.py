"""Side-by-side timing of fastgmm and scikit-learn (``fastgmm bench``).

Both libraries fit the same data from the *same* initial parameters with
``tol=0`` and ``n_init=1``, so they do exactly the same EM work. The time of
one iteration is ``(t(max_iter=B) - t(max_iter=A)) / (B - A)``: validation
and other fixed costs cancel. fastgmm's times are the best of ``--repeat``
runs, scikit-learn's too as long as its runs take less than 20 s.

The cases and goals are those of issues 6 and 14, plus ``bayes-main``: the
main case for ``BayesianGaussianMixture`` (issue 10), where both start from
the rows ``init_params='random_from_data'`` draws with ``random_state=0``
(the variational mixtures take no ``*_init``). Every case runs at three
centre scales (``--separations``: overlapping, middle, well separated
components) and in both dtypes (``--dtypes``), so a slowdown that only one
data shape or dtype hits (float32 responsibilities in the subnormal band on
Intel cores) shows up as a number next to the others; the ``f32 gain``
column is fastgmm's float64 time over its float32 time on the same data.
scikit-learn is timed at the separations of ``--sklearn-separations``
(default: 3 only, it is slow). ``--peers onedal`` adds Intel oneDAL's EM
(``daal4py.em_gmm`` from the ``scikit-learn-intelex`` package; full and
diagonal covariances only) from the same initial parameters, skipped with a
note when daal4py is not installed; ``--peers armadillo`` adds Armadillo's
``gmm_diag`` (diagonal case only, see ``fastgmm._armadillo``), skipped with
a note when ``g++`` or Armadillo is missing. Extra measurements
(``--extras``) on the main case: float32 vs float64, 1 vs N threads,
achieved GFLOP/s next to NumPy's matmul rate, k-means initialisation time,
import and first-fit time in fresh processes (warm and cold kernel cache,
the cold first fit of each covariance type, ``fastgmm warmup``), and the
peak memory of a fit above the size of ``X``.

Next to the per-iteration slopes every GaussianMixture row also times the
*default fit* once per library, the fit a user waits for:
``GaussianMixture(k, covariance_type=..., random_state=0).fit(X)`` with the
k-means initialisation and ``tol=1e-3``, wall time of the whole ``fit``, and
the iterations each ran (issue 23). Both start from the same k-means
labels, so both run the same iterations.

scikit-learn's speed depends on NumPy's BLAS. OpenBLAS reads
``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` when it is loaded, and a
forced core type can make it several times slower; the report prints the
kernel OpenBLAS chose (via threadpoolctl) and warns when either variable is
set. For a fair baseline run::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE fastgmm bench
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from ._blocks import CHUNK_ROWS

_BLAS_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
# Seconds after which scikit-learn's timing is not repeated.
_SKLEARN_BUDGET = 20.0
_EXTRAS = ("float32", "threads", "gflops", "kmeans", "startup", "coldstart", "memory")
_PEERS = ("onedal", "armadillo")
SEPARATIONS = (0.5, 3.0, 10.0)


@dataclass(frozen=True)
class Case:
    """One row of the comparison."""

    name: str
    n_samples: int
    n_features: int
    n_components: int
    covariance_type: str
    goal: float
    bayesian: bool = False  # BayesianGaussianMixture instead of GaussianMixture


CASES = (
    Case("low-dim", 1_000_000, 2, 8, "full", 30.0),
    Case("main", 1_000_000, 16, 16, "full", 30.0),
    Case("diag", 1_000_000, 16, 16, "diag", 15.0),
    Case("wide", 200_000, 64, 16, "full", 8.0),
    Case("tied", 1_000_000, 16, 16, "tied", 15.0),
    Case("spherical", 1_000_000, 16, 16, "spherical", 15.0),
    Case("bayes-main", 1_000_000, 16, 16, "full", 20.0, bayesian=True),
)
_CASES = {case.name: case for case in CASES}


# ------------------------------------------------------------------ data
def make_data(n_samples, n_features, n_components, dtype=np.float64, seed=0,
              separation=3.0):
    """The issue's test data: points = random centre + standard normal noise.

    ``rng = np.random.default_rng(seed)``, centres
    ``rng.normal(scale=separation, size=(k, d))``, labels ``rng.integers(0, k, n)``,
    then the noise. The noise is drawn a slice at a time straight into
    ``X`` (the same numbers as one big draw), so building ``X`` needs little
    more memory than ``X`` itself.
    """
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=separation, size=(n_components, n_features))
    labels = rng.integers(0, n_components, n_samples)
    X = np.empty((n_samples, n_features), dtype=dtype)
    step = 65_536
    for start in range(0, n_samples, step):
        stop = min(start + step, n_samples)
        noise = rng.standard_normal((stop - start, n_features))
        noise += centres[labels[start:stop]]
        X[start:stop] = noise
    return X


def initial_parameters(X, n_components, covariance_type, n_sub=20_000):
    """Shared starting point: a short scikit-learn fit on the first rows.

    Rows are in random order, so the first ``n_sub`` are a random subsample.
    Returns the ``weights_init``, ``means_init`` and ``precisions_init``
    keyword arguments (float64) that both libraries accept.
    """
    from sklearn.mixture import GaussianMixture

    sub = np.asarray(X[: min(n_sub, X.shape[0])], dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gm = GaussianMixture(n_components, covariance_type=covariance_type,
                             max_iter=5, random_state=0).fit(sub)
    return {"weights_init": gm.weights_, "means_init": gm.means_,
            "precisions_init": gm.precisions_}


# --------------------------------------------------------------- timing
def _fit(cls, X, case, init, max_iter):
    if case.bayesian:
        # No *_init in the variational mixtures: both start from the rows
        # that init_params='random_from_data' draws (fastgmm draws sklearn's).
        gm = cls(n_components=case.n_components, covariance_type=case.covariance_type,
                 max_iter=max_iter, tol=0, n_init=1, init_params="random_from_data",
                 random_state=0)
    else:
        gm = cls(case.n_components, covariance_type=case.covariance_type,
                 max_iter=max_iter, tol=0, n_init=1, **init)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: tol=0 never converges
        start = time.perf_counter()
        gm.fit(X)
        return time.perf_counter() - start, gm


def default_fit(cls, X, case):
    """Seconds and iterations of the fit a user runs: every parameter at its
    default (``init_params='kmeans'``, ``tol=1e-3``) but ``random_state=0``."""
    kwargs = dict(n_components=case.n_components, covariance_type=case.covariance_type,
                  random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        gm = cls(**kwargs).fit(X)
        return time.perf_counter() - start, gm.n_iter_


def _n_rows(case, scale):
    """``n`` scaled, but enough rows that no component's covariance is singular."""
    return max(int(case.n_samples * scale), 4 * case.n_components * (case.n_features + 1))


def per_iteration(cls, X, case, init, iters, repeat=1, budget=np.inf):
    """Seconds per EM iteration by the difference of two fits, and the longer fit.

    Runs ``max_iter=A`` and ``max_iter=B`` alternately ``repeat`` times, or
    fewer once ``budget`` seconds are spent, and takes the best time of each.
    The difference is divided by the iterations the two fits really ran
    (their ``n_iter_``), not by ``B - A``: oneDAL stops once an iteration
    leaves its goal function exactly unchanged, even with a threshold of 0,
    which on well-separated data happens after 3 iterations. NaN when the
    fits ran the same number of iterations.
    """
    a, b = iters
    best_a = best_b = np.inf
    model = None
    start = time.perf_counter()
    for _ in range(repeat):
        t_a, short = _fit(cls, X, case, init, a)
        t_b, model = _fit(cls, X, case, init, b)
        best_a, best_b = min(best_a, t_a), min(best_b, t_b)
        ran_a, ran_b = getattr(short, "n_iter_", a), getattr(model, "n_iter_", b)
        if time.perf_counter() - start > budget:
            break
    # On a busy machine, or with tiny data, noise can swamp the difference.
    diff = best_b - best_a
    ran = ran_b - ran_a
    return (diff / ran if diff > 0 and ran > 0 else float("nan")), model


class _numba_threads:
    """``numba.set_num_threads`` for a block, restored in ``finally``."""

    def __init__(self, n):
        self.n = n

    def __enter__(self):
        import numba

        self.previous = numba.get_num_threads()
        numba.set_num_threads(self.n)

    def __exit__(self, *exc):
        import numba

        numba.set_num_threads(self.previous)


def _estimators(case):
    """``(scikit-learn's class, fastgmm's class)`` for a case."""
    if case.bayesian:
        from sklearn.mixture import BayesianGaussianMixture as Sk

        from fastgmm import BayesianGaussianMixture as Fast
    else:
        from sklearn.mixture import GaussianMixture as Sk

        from fastgmm import GaussianMixture as Fast
    return Sk, Fast


def _warm_fastgmm(X, case, init):
    """Compile (or load from cache) the kernels before anything is timed.

    More than one chunk of rows, so that the parallel drivers compile too.
    """
    _fit(_estimators(case)[1], X[:3 * CHUNK_ROWS], case, init, 1)


def _rel(a, b):
    return abs(a - b) / max(abs(b), 1e-300)


def _max_rel_param_diff(gm, ref):
    """Largest ``max|p - p_ref| / max|p_ref|`` over weights, means and covariances."""
    worst = 0.0
    for name in ("weights_", "means_", "covariances_"):
        p = np.asarray(getattr(gm, name), dtype=np.float64)
        q = np.asarray(getattr(ref, name), dtype=np.float64)
        worst = max(worst, float(np.max(np.abs(p - q)) / max(np.max(np.abs(q)), 1e-300)))
    return worst


class _OneDAL:
    """Intel oneDAL's EM (``daal4py.em_gmm``) behind the ``per_iteration`` interface.

    Started from the same weights, means and covariances, run for exactly
    ``max_iter`` iterations (``accuracyThreshold=0``) on all threads.
    """

    storage = {"full": "full", "diag": "diagonal"}

    def __init__(self, n_components, covariance_type, max_iter, tol, n_init, weights_init,
                 means_init, precisions_init):
        self.k, self.cov, self.max_iter = n_components, covariance_type, max_iter
        self.weights, self.means, self.precisions = weights_init, means_init, precisions_init

    def fit(self, X):
        import daal4py

        fptype = "float" if X.dtype == np.float32 else "double"
        covs = np.linalg.inv(self.precisions) if self.cov == "full" else 1.0 / self.precisions
        algo = daal4py.em_gmm(nComponents=self.k, maxIterations=self.max_iter,
                              accuracyThreshold=0.0, fptype=fptype,
                              covarianceStorage=self.storage[self.cov])
        result = algo.compute(X, np.asarray(self.weights, X.dtype)[None],
                              np.asarray(self.means, X.dtype),
                              [np.asarray(c, X.dtype)[None] if self.cov == "diag"
                               else np.asarray(c, X.dtype) for c in covs])
        self.lower_bound_ = float(np.ravel(result.goalFunction)[0]) / X.shape[0]
        self.n_iter_ = int(np.ravel(result.nIterations)[0])
        return self


def peer_available(name):
    """Whether an optional peer library can be imported."""
    if name == "onedal":
        import importlib.util

        return importlib.util.find_spec("daal4py") is not None
    if name == "armadillo":
        from fastgmm import _armadillo

        return _armadillo.available()[0]
    raise ValueError(name)


def _peer_hint(name):
    """How to install a missing peer, for the skip note."""
    if name == "armadillo":
        from fastgmm import _armadillo

        return f"Armadillo: {_armadillo.available()[1]}; {_armadillo.INSTALL_HINT}"
    return "oneDAL: pip install scikit-learn-intelex"


def compare_case(case, scale, iters, repeat, threads, separation=3.0, dtype="float64",
                 with_sklearn=True, peers=()):
    """Time fastgmm (and scikit-learn, and peers) on one case, separation and dtype.

    Every library gets the same data and the same initial parameters;
    returns a dict row of the table (NaN where a library was not timed).
    """
    from threadpoolctl import threadpool_limits

    SkGaussianMixture, GaussianMixture = _estimators(case)
    n = _n_rows(case, scale)
    X = make_data(n, case.n_features, case.n_components, separation=separation)
    init = {} if case.bayesian else initial_parameters(X, case.n_components,
                                                        case.covariance_type)
    X = X.astype(dtype, copy=False)
    t_sk = ll_diff = float("nan")
    fit_sk = iters_sk = float("nan")
    with _numba_threads(threads):
        _warm_fastgmm(X, case, init)
        t_fg, fg = per_iteration(GaussianMixture, X, case, init, iters, repeat)
        fit_fg, iters_fg = (float("nan"),) * 2 if case.bayesian else default_fit(
            GaussianMixture, X, case)
    if with_sklearn:
        with threadpool_limits(limits=threads, user_api="blas"):
            # scikit-learn is repeated only while it is cheap.
            t_sk, sk = per_iteration(SkGaussianMixture, X, case, init, iters, repeat,
                                     budget=_SKLEARN_BUDGET)
            if not case.bayesian:
                fit_sk, iters_sk = default_fit(SkGaussianMixture, X, case)
        ll_diff = _rel(fg.lower_bound_, sk.lower_bound_)
    t_dal = float("nan")
    if "onedal" in peers and not case.bayesian and case.covariance_type in _OneDAL.storage:
        import daal4py

        daal4py.daalinit(threads)
        t_dal, _ = per_iteration(_OneDAL, X, case, init, iters, repeat)
    t_arma = arma_ll = float("nan")
    if "armadillo" in peers and not case.bayesian and case.covariance_type == "diag":
        from fastgmm import _armadillo

        t_arma, arma = _armadillo.per_iteration(X, init, iters, repeat, threads)
        # Both after B iterations from the same start: mean log-likelihood of X.
        arma_ll = _rel(arma["avg_log_p"], fg.score(X))
    return {"case": case.name, "separation": separation, "dtype": np.dtype(dtype).name,
            "n": n, "d": case.n_features, "k": case.n_components,
            "covariance": case.covariance_type, "sklearn_s": t_sk, "fastgmm_s": t_fg,
            "speedup": t_sk / t_fg, "goal": case.goal, "onedal_s": t_dal,
            "vs_onedal": t_dal / t_fg, "armadillo_s": t_arma, "vs_armadillo": t_arma / t_fg,
            "armadillo_ll_rel_diff": arma_ll, "f32_gain": float("nan"),
            "ll_rel_diff": ll_diff, "fit_fastgmm_s": fit_fg, "fit_sklearn_s": fit_sk,
            "fit_iters": f"{iters_fg}/{iters_sk}", "fit_speedup": fit_sk / fit_fg}


def add_float32_gains(rows):
    """Fill ``f32_gain`` (float64 time / float32 time) on the float32 rows."""
    f64 = {(r["case"], r["separation"]): r["fastgmm_s"] for r in rows
           if r["dtype"] == "float64"}
    for r in rows:
        key = (r["case"], r["separation"])
        if r["dtype"] == "float32" and key in f64:
            r["f32_gain"] = f64[key] / r["fastgmm_s"]
    return rows


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


# ------------------------------------------------------------ subprocess
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
    for name, code, runs in (("fits", _FIRST_FIT_CODE, ("full", "tied", "diag", "spherical")),
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
    n = _n_rows(case, scale)
    d, k = case.n_features, case.n_components
    init = initial_parameters(make_data(20_000, d, k), k, case.covariance_type)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "init.npz")
        np.savez(path, **init)
        out = _run_child(_MEMORY_CODE, (n, d, k, path))
    out["nk_mb"] = n * k * 8 / 2**20
    return out


# ---------------------------------------------------------------- extras
def run_extras(names, case, scale, iters, repeat, threads, log):
    """Extra measurements on ``case``; a list of ``(what, value)`` rows."""
    from fastgmm import GaussianMixture

    rows = []

    def add(what, value):
        rows.append((what, value))
        log(f"  {what}: {value}")

    n = _n_rows(case, scale)
    need_data = {"float32", "threads", "gflops", "kmeans"} & set(names)
    if need_data:
        X = make_data(n, case.n_features, case.n_components)
        init = initial_parameters(X, case.n_components, case.covariance_type)
        with _numba_threads(threads):
            _warm_fastgmm(X, case, init)
            t64, gm64 = per_iteration(GaussianMixture, X, case, init, iters, repeat)
    if "float32" in names:
        X32 = X.astype(np.float32)
        with _numba_threads(threads):
            _warm_fastgmm(X32, case, init)
            t32, gm32 = per_iteration(GaussianMixture, X32, case, init, iters, repeat)
        del X32
        add("float32 vs float64: s/iter", f"{t32:.4f} vs {t64:.4f} "
            f"({t64 / t32:.2f}x faster in float32)")
        add("float32 vs float64: max relative parameter difference",
            f"{_max_rel_param_diff(gm32, gm64):.1e}")
        add("float32 vs float64: lower_bound_ relative difference",
            f"{_rel(gm32.lower_bound_, gm64.lower_bound_):.1e}")
    if "threads" in names:
        with _numba_threads(1):
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
        with _numba_threads(threads):
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


# ---------------------------------------------------------------- report
def machine_info():
    """CPU, versions and the BLAS kernel, for the report header."""
    import numba
    import sklearn
    from threadpoolctl import threadpool_info

    import fastgmm

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    blas = [f"{os.path.basename(i.get('filepath', '?'))} ({i.get('internal_api')} "
            f"{i.get('version')}): kernel {i.get('architecture', '?')}, "
            f"{i.get('num_threads')} threads"
            for i in threadpool_info() if i.get("user_api") == "blas"]
    env = {name: os.environ.get(name) for name in _BLAS_ENV}
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "numpy": np.__version__, "scikit-learn": sklearn.__version__,
            "numba": numba.__version__, "fastgmm": fastgmm.__version__,
            "blas": "; ".join(blas) or "unknown",
            "blas_env": ", ".join(f"{k}={v}" for k, v in env.items() if v) or "unset",
            "load": _loadavg()}


def _loadavg():
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "?"


_HEAD = ("case", "sep", "dtype", "n", "d", "k", "covariance", "sklearn s/iter",
         "fastgmm s/iter", "speedup", "goal", "oneDAL s/iter", "vs oneDAL",
         "Armadillo s/iter", "vs Armadillo", "f32 gain",
         "lower_bound_ rel. diff", "default fit: sklearn s", "fastgmm s", "speedup",
         "iterations")
# vs oneDAL, vs Armadillo and float32 over float64 (issue 14).
ONEDAL_GOAL = 1.3
ARMADILLO_GOAL = 5.0
FLOAT32_GOAL = 1.5


def _ratio_cell(value, goal):
    if not np.isfinite(value):
        return "-"
    return f"{value:.2f}x ({'ok' if value >= goal else 'below'})"


def _cells(row):
    speedup = row["speedup"]
    if np.isnan(row["sklearn_s"]):
        met, speedup_cell = "-", "-"
    elif not np.isfinite(speedup):  # a timing difference lost in noise
        met, speedup_cell = "?", "noise"
    else:
        met = "ok" if speedup >= row["goal"] else "below"
        speedup_cell = f"{speedup:.1f}x"
    sk = row["sklearn_s"]
    dal = row["onedal_s"]
    return (row["case"], f"{row['separation']:g}", row["dtype"], f"{row['n']:,}",
            str(row["d"]), str(row["k"]), row["covariance"],
            "-" if np.isnan(sk) else f"{sk:.3f}", f"{row['fastgmm_s']:.4f}", speedup_cell,
            f">= {row['goal']:g}x ({met})", "-" if np.isnan(dal) else f"{dal:.4f}",
            _ratio_cell(row["vs_onedal"], ONEDAL_GOAL),
            "-" if np.isnan(row["armadillo_s"]) else f"{row['armadillo_s']:.4f}",
            _ratio_cell(row["vs_armadillo"], ARMADILLO_GOAL),
            _ratio_cell(row["f32_gain"], FLOAT32_GOAL),
            "-" if np.isnan(row["ll_rel_diff"]) else f"{row['ll_rel_diff']:.1e}",
            _seconds(row.get("fit_sklearn_s")), _seconds(row.get("fit_fastgmm_s")),
            "-" if not np.isfinite(row.get("fit_speedup", np.nan))
            else f"{row['fit_speedup']:.1f}x", row.get("fit_iters", "-"))


def _seconds(value):
    return "-" if value is None or not np.isfinite(value) else f"{value:.3f}"


_WIDTHS = (10, 4, 8, 10, 3, 3, 10, 14, 14, 8, 16, 13, 13, 16, 13, 13, 22, 22, 10, 8, 10)


def format_text(rows, header=True):
    """Fixed-width text table (rows printed one at a time line up)."""
    table = ([_HEAD] if header else []) + [_cells(r) for r in rows]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, _WIDTHS)).rstrip()
                     for line in table)


@dataclass
class Report:
    info: dict
    settings: dict
    rows: list = field(default_factory=list)
    extras: list = field(default_factory=list)

    def markdown(self):
        i, s = self.info, self.settings
        lines = [
            f"Machine: {i['cpu']}, {i['cores']} cores; Python {i['python']}, "
            f"NumPy {i['numpy']}, scikit-learn {i['scikit-learn']}, Numba {i['numba']}, "
            f"fastgmm {i['fastgmm']}.",
            f"BLAS: {i['blas']}; OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE: {i['blas_env']}. "
            f"Load average (1, 5, 15 min) at start: {i['load']}, at end: "
            f"{i.get('load_end', '?')}.",
            f"Per iteration = (t(max_iter={s['iters'][1]}) - t(max_iter={s['iters'][0]}))"
            f" / (iterations run between them: {s['iters'][1] - s['iters'][0]}, fewer for"
            " oneDAL where it stops early), same initial parameters, tol=0, "
            f"{s['threads']} threads for all; scale {s['scale']:g}; fastgmm best of "
            f"{s['repeat']}. sep = centre scale of the data; f32 gain = fastgmm float64 "
            f"s/iter / float32 s/iter on the same data (goal >= {FLOAT32_GOAL:g}x); "
            f"vs oneDAL = oneDAL s/iter / fastgmm s/iter (goal >= {ONEDAL_GOAL:g}x); "
            f"vs Armadillo = Armadillo gmm_diag s/iter / fastgmm s/iter (goal >= "
            f"{ARMADILLO_GOAL:g}x). Default fit = the whole fit a user runs, "
            "GaussianMixture(k, covariance_type=..., random_state=0).fit(X) with every "
            "other parameter at its default (k-means init, tol=1e-3), once each, wall "
            "time; iterations = fastgmm's/scikit-learn's n_iter_."
            + (f" {s['peer_note']}" if s.get("peer_note") else ""),
            "",
            "| " + " | ".join(_HEAD) + " |",
            "|" + "|".join("---" for _ in _HEAD) + "|",
        ]
        lines += ["| " + " | ".join(_cells(r)) + " |" for r in self.rows]
        if self.extras:
            lines += ["", "| main case | measured |", "|---|---|"]
            lines += [f"| {what} | {value} |" for what, value in self.extras]
        return "\n".join(lines) + "\n"

    def png(self, path):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        rows = [r for r in self.rows if np.isfinite(r["speedup"])]
        names = [f"{r['case']}\n{r['dtype']}\nsep {r['separation']:g}" for r in rows]
        x = np.arange(len(names))
        fig, ax = plt.subplots(figsize=(1.3 * len(names) + 2, 4))
        ax.bar(x, [r["speedup"] for r in rows], 0.6, label="measured speedup",
               color=["tab:green" if r["speedup"] >= r["goal"] else "tab:orange"
                      for r in rows])
        ax.scatter(x, [r["goal"] for r in rows], marker="_", s=900, color="black",
                   zorder=3, label="goal")
        ax.set_xticks(x, names)
        ax.set_ylabel("speedup over scikit-learn (per EM iteration)")
        ax.set_title(f"fastgmm vs scikit-learn, {self.info['cores']} cores")
        ax.legend()
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        plt.close(fig)


def _parse_args(argv):
    p = argparse.ArgumentParser(
        prog="fastgmm bench",
        description="Compare fastgmm with scikit-learn per EM iteration (issue 6). "
                    "For a fair baseline unset OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE: "
                    "env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE fastgmm bench")
    p.add_argument("--cases", default=",".join(_CASES),
                   help="comma-separated cases (default: all of %(default)s)")
    p.add_argument("--scale", type=float, default=1.0,
                   help="multiply every n by this, e.g. 0.1 for a quick run")
    p.add_argument("--iters", default="2,7",
                   help="A,B: per iteration = (t(B) - t(A)) / (B - A) (default %(default)s)")
    p.add_argument("--repeat", type=int, default=3,
                   help="runs per timing, best kept (scikit-learn: only while a run "
                        "takes < 20 s)")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                   help="threads for both libraries (default: all cores)")
    p.add_argument("--separations", default=",".join(f"{v:g}" for v in SEPARATIONS),
                   help="centre scales of the data (default: %(default)s)")
    p.add_argument("--sklearn-separations", default="3",
                   help="separations at which scikit-learn is timed too; 'all' or 'none' "
                        "(default: %(default)s)")
    p.add_argument("--dtypes", default="float64,float32",
                   help="dtypes of the data (default: %(default)s)")
    p.add_argument("--peers", default="",
                   help=f"comma-separated optional peers from {','.join(_PEERS)} "
                        "(skipped with a note when not installed; armadillo: diag "
                        "case only)")
    p.add_argument("--extras", default="all",
                   help=f"comma-separated extra measurements on the main case, from "
                        f"{','.join(_EXTRAS)}; 'all' or 'none'")
    p.add_argument("--markdown", help="also write the report as Markdown to this file")
    p.add_argument("--png", help="also draw speedups vs goals to this PNG file")
    args = p.parse_args(argv)
    args.cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [c for c in args.cases if c not in _CASES]
    if unknown:
        p.error(f"unknown case(s) {unknown}; choose from {list(_CASES)}")
    args.iters = tuple(int(v) for v in args.iters.split(","))
    if len(args.iters) != 2 or not 0 < args.iters[0] < args.iters[1]:
        p.error(f"--iters must be A,B with 0 < A < B, got {args.iters}")
    extras = {"all": list(_EXTRAS), "none": []}.get(args.extras)
    if extras is None:
        extras = [e.strip() for e in args.extras.split(",") if e.strip()]
        bad = [e for e in extras if e not in _EXTRAS]
        if bad:
            p.error(f"unknown extra(s) {bad}; choose from {list(_EXTRAS)}")
    args.extras = extras
    try:
        args.separations = [float(v) for v in args.separations.split(",") if v.strip()]
        args.sklearn_separations = (
            args.separations if args.sklearn_separations == "all" else
            [] if args.sklearn_separations == "none" else
            [float(v) for v in args.sklearn_separations.split(",") if v.strip()])
    except ValueError:
        p.error("--separations and --sklearn-separations take numbers, e.g. 0.5,3,10")
    args.dtypes = [d.strip() for d in args.dtypes.split(",") if d.strip()]
    if not args.dtypes or any(d not in ("float64", "float32") for d in args.dtypes):
        p.error(f"--dtypes takes float64 and/or float32, got {args.dtypes}")
    args.peers = [q.strip() for q in args.peers.split(",") if q.strip()]
    bad = [q for q in args.peers if q not in _PEERS]
    if bad:
        p.error(f"unknown peer(s) {bad}; choose from {list(_PEERS)}")
    if args.scale <= 0:
        p.error(f"--scale must be positive, got {args.scale}")
    return args


def main(argv=None):
    """Run the comparison; print the table and write the optional files.

    ``fastgmm bench many ...`` runs the ``fit_many`` comparison instead
    (:mod:`fastgmm._bench_many`).
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["many"]:
        from ._bench_many import main as many_main

        return many_main(argv[1:])
    args = _parse_args(argv)

    def log(msg):
        print(msg, flush=True)

    info = machine_info()
    peers = [q for q in args.peers if peer_available(q)]
    missing = [q for q in args.peers if q not in peers]
    note = (f"Peer(s) {', '.join(missing)} skipped: not installed "
            f"({'; '.join(_peer_hint(q) for q in missing)})." if missing else "")
    report = Report(info, {"iters": args.iters, "threads": args.threads,
                           "scale": args.scale, "repeat": args.repeat, "peer_note": note})
    if note:
        log(f"note: {note}")
    log(f"{info['cpu']}, {info['cores']} cores; BLAS: {info['blas']}")
    if info["blas_env"] != "unset":
        log(f"warning: {info['blas_env']} is set and may slow scikit-learn's BLAS; "
            "for a fair baseline run: env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "
            "fastgmm bench")
    log("")
    log(format_text([]))
    for name in args.cases:
        for separation in args.separations:
            for dtype in args.dtypes:
                row = compare_case(_CASES[name], args.scale, args.iters, args.repeat,
                                   args.threads, separation, dtype,
                                   with_sklearn=separation in args.sklearn_separations,
                                   peers=peers)
                report.rows.append(row)
                add_float32_gains(report.rows)
                log(format_text([row], header=False))
                if np.isfinite(row["armadillo_ll_rel_diff"]):
                    log(f"  Armadillo's mean log-likelihood after at most {args.iters[1]}"
                        f" iterations vs fastgmm's after {args.iters[1]}:"
                        f" {row['armadillo_ll_rel_diff']:.1e} relative")
    if args.extras:
        log("")
        log("main case:")
        report.extras = run_extras(args.extras, _CASES["main"], args.scale, args.iters,
                                   args.repeat, args.threads, log)
    info["load_end"] = _loadavg()
    log(f"load average at start: {info['load']}, at end: {info['load_end']}")
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(report.markdown())
    if args.png:
        report.png(args.png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
