"""Seconds per EM iteration of fastgmm, scikit-learn and the peers, from the same start.

Both libraries fit the same data from the *same* initial parameters with
``tol=0`` and ``n_init=1``, so they do exactly the same EM work. The time of
one iteration is ``(t(max_iter=B) - t(max_iter=A))`` divided by the
iterations run between the two fits: validation and other fixed costs
cancel.
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from .._kernels.layout import CHUNK_ROWS
from .cases import initial_parameters, make_data, n_rows
from .peers import onedal

# Seconds after which scikit-learn's timing is not repeated.
_SKLEARN_BUDGET = 20.0


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


class numba_threads:
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


def estimators(case):
    """``(scikit-learn's class, fastgmm's class)`` for a case."""
    if case.bayesian:
        from sklearn.mixture import BayesianGaussianMixture as Sk

        from fastgmm import BayesianGaussianMixture as Fast
    else:
        from sklearn.mixture import GaussianMixture as Sk

        from fastgmm import GaussianMixture as Fast
    return Sk, Fast


def warm_fastgmm(X, case, init, cls=None):
    """Compile (or load from cache) the kernels before anything is timed.

    More than one chunk of rows, so that the parallel drivers compile too.
    ``cls`` is the estimator to warm (default: fastgmm's for ``case``).
    """
    _fit(cls or estimators(case)[1], X[:3 * CHUNK_ROWS], case, init, 1)


def rel(a, b):
    return abs(a - b) / max(abs(b), 1e-300)


def max_rel_param_diff(gm, ref):
    """Largest ``max|p - p_ref| / max|p_ref|`` over weights, means and covariances."""
    worst = 0.0
    for name in ("weights_", "means_", "covariances_"):
        p = np.asarray(getattr(gm, name), dtype=np.float64)
        q = np.asarray(getattr(ref, name), dtype=np.float64)
        worst = max(worst, float(np.max(np.abs(p - q)) / max(np.max(np.abs(q)), 1e-300)))
    return worst


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


def compare_case(case, scale, iters, repeat, threads, separation=3.0, dtype="float64",
                 with_sklearn=True, peers=()):
    """Time fastgmm (and scikit-learn, and peers) on one case, separation and dtype.

    Every library gets the same data and the same initial parameters;
    returns a dict row of the table (NaN where a library was not timed).
    """
    from threadpoolctl import threadpool_limits

    SkGaussianMixture, GaussianMixture = estimators(case)
    n = n_rows(case, scale)
    X = make_data(n, case.n_features, case.n_components, separation=separation)
    init = {} if case.bayesian else initial_parameters(X, case.n_components,
                                                        case.covariance_type)
    X = X.astype(dtype, copy=False)
    t_sk = ll_diff = float("nan")
    fit_sk = iters_sk = float("nan")
    with numba_threads(threads):
        warm_fastgmm(X, case, init)
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
        ll_diff = rel(fg.lower_bound_, sk.lower_bound_)
    t_dal = fit_dal = iters_dal = float("nan")
    if "onedal" in peers and not case.bayesian and case.covariance_type in onedal.OneDAL.storage:
        import daal4py

        daal4py.daalinit(threads)
        t_dal, _ = per_iteration(onedal.OneDAL, X, case, init, iters, repeat)
        fit_dal, iters_dal = onedal.default_fit(X, case.n_components, case.covariance_type)
    t_arma = arma_ll = float("nan")
    if "armadillo" in peers and not case.bayesian and case.covariance_type == "diag":
        from .peers import armadillo

        t_arma, arma = armadillo.seconds_per_iteration(X, init, iters, repeat, threads)
        # Both after B iterations from the same start: mean log-likelihood of X.
        arma_ll = rel(arma["avg_log_p"], fg.score(X))
    return {"case": case.name, "separation": separation, "dtype": np.dtype(dtype).name,
            "n": n, "d": case.n_features, "k": case.n_components,
            "covariance": case.covariance_type, "sklearn_s": t_sk, "fastgmm_s": t_fg,
            "speedup": t_sk / t_fg, "goal": case.goal, "onedal_s": t_dal,
            "vs_onedal": t_dal / t_fg, "armadillo_s": t_arma, "vs_armadillo": t_arma / t_fg,
            "armadillo_ll_rel_diff": arma_ll, "f32_gain": float("nan"),
            "ll_rel_diff": ll_diff, "fit_fastgmm_s": fit_fg, "fit_sklearn_s": fit_sk,
            "fit_iters": f"{iters_fg}/{iters_sk}", "fit_speedup": fit_sk / fit_fg,
            "fit_onedal_s": fit_dal, "fit_onedal_iters": iters_dal,
            "fit_vs_onedal": fit_dal / fit_fg}


def add_float32_gains(rows):
    """Fill ``f32_gain`` (float64 time / float32 time) on the float32 rows."""
    f64 = {(r["case"], r["separation"]): r["fastgmm_s"] for r in rows
           if r["dtype"] == "float64"}
    for r in rows:
        key = (r["case"], r["separation"])
        if r["dtype"] == "float32" and key in f64:
            r["f32_gain"] = f64[key] / r["fastgmm_s"]
    return rows
