"""The ``fastgmm demo``: fit a known mixture and measure how well it is recovered.

A random but well-separated full-covariance mixture is drawn, ``n_samples``
points are sampled from it block by block straight into the output array
(float32 or float64), the points are fitted with
:class:`~fastgmm.GaussianMixture`, the fitted components are matched to the
true ones by a Hungarian assignment on the means, and the largest absolute
errors of the weights, means and covariances are reported.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from time import perf_counter

import numpy as np

from ._em.progress import on_iteration
from .mixture import GaussianMixture

# Rows drawn from the generator at once (bounds the temporary arrays).
_DRAW_ROWS = 65536


@dataclass(frozen=True)
class TrueMixture:
    """Parameters of a full-covariance Gaussian mixture."""

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray


@dataclass(frozen=True)
class DemoResult:
    """What :func:`run` measured (errors are max abs over matched components)."""

    n_samples: int
    n_features: int
    n_components: int
    dtype: str
    x_bytes: int
    sample_time: float
    fit_time: float
    iteration_time: float
    n_iter: int
    converged: bool
    loglik_fitted: float
    loglik_true: float
    error_weights: float
    error_means: float
    error_covariances: float


def make_mixture(n_components: int, n_features: int, rng: np.random.Generator) -> TrueMixture:
    """A random mixture whose components are far apart relative to their spread.

    Covariances have random orientations and eigenvalues in [0.25, 2];
    weights lie within a factor of 2 of each other. Means are drawn in a
    cube and kept at least ``2 sqrt(1.125 k d)`` apart, which makes the
    clusters separate enough that k-means++ seeding finds one per cluster.
    """
    k, d = n_components, n_features
    min_distance = 2.0 * np.sqrt(1.125 * k * d)
    half_side = min_distance * max(1.0, k ** (1.0 / d))
    means = np.empty((k, d))
    for j in range(k):
        for _ in range(1000):
            means[j] = rng.uniform(-half_side, half_side, size=d)
            if j == 0 or np.min(np.linalg.norm(means[:j] - means[j], axis=1)) >= min_distance:
                break
    covariances = np.empty((k, d, d))
    for j in range(k):
        q, r = np.linalg.qr(rng.standard_normal((d, d)))
        q *= np.sign(np.diagonal(r))
        covariances[j] = (q * rng.uniform(0.25, 2.0, size=d)) @ q.T
    weights = rng.uniform(1.0, 2.0, size=k)
    return TrueMixture(weights / weights.sum(), means, covariances)


def sample_mixture(truth: TrueMixture, n_samples: int, rng: np.random.Generator,
                   dtype=np.float64) -> np.ndarray:
    """``n_samples`` rows drawn from ``truth`` into one array, ``_DRAW_ROWS`` at a time."""
    k, d = truth.means.shape
    X = np.empty((n_samples, d), dtype=dtype)
    labels = rng.choice(k, size=n_samples, p=truth.weights)
    for j in range(k):
        rows = np.flatnonzero(labels == j)
        factor = np.linalg.cholesky(truth.covariances[j])
        for start in range(0, rows.size, _DRAW_ROWS):
            drawn = rows[start:start + _DRAW_ROWS]
            X[drawn] = rng.standard_normal((drawn.size, d)) @ factor.T + truth.means[j]
    return X


def match_components(true_means: np.ndarray, fitted_means: np.ndarray) -> np.ndarray:
    """``order`` such that ``fitted_means[order[j]]`` is matched to ``true_means[j]``.

    Hungarian assignment (:func:`scipy.optimize.linear_sum_assignment`) on the
    squared distances between means.
    """
    from scipy.optimize import linear_sum_assignment

    cost = ((true_means[:, None, :] - fitted_means[None, :, :]) ** 2).sum(axis=-1)
    rows, cols = linear_sum_assignment(cost)
    return cols[np.argsort(rows)]


def parameter_errors(truth: TrueMixture, model: GaussianMixture) -> tuple[float, float, float]:
    """Max abs errors of weights, means and covariances after matching components."""
    order = match_components(truth.means, np.asarray(model.means_, dtype=np.float64))
    weights = np.asarray(model.weights_, dtype=np.float64)[order]
    means = np.asarray(model.means_, dtype=np.float64)[order]
    covariances = np.asarray(model.covariances_, dtype=np.float64)[order]
    return (float(np.max(np.abs(weights - truth.weights))),
            float(np.max(np.abs(means - truth.means))),
            float(np.max(np.abs(covariances - truth.covariances))))


def true_loglik(truth: TrueMixture, X: np.ndarray) -> float:
    """Mean log-likelihood of ``X`` under the true parameters."""
    k = truth.weights.shape[0]
    gm = GaussianMixture(k, weights_init=truth.weights, means_init=truth.means,
                         precisions_init=np.linalg.inv(truth.covariances), max_iter=0)
    return gm.fit(X).score(X)


def run(n_samples: int = 1_000_000, n_components: int = 16, n_features: int = 16,
        seed: int = 0, dtype=np.float64, *, max_iter: int = 100, tol: float = 1e-3,
        n_init: int = 1,
        iteration_hook: Callable[[int, float, float], None] | None = None) -> DemoResult:
    """Sample a known mixture, fit it and compare the fit with the truth.

    Parameters
    ----------
    n_samples, n_components, n_features : int
        Size of the problem.
    seed : int
        Seeds the true mixture, the sample and the fit.
    dtype : {numpy.float32, numpy.float64}
        dtype of the sampled data (float32 halves the memory).
    max_iter, tol, n_init
        Passed to :class:`~fastgmm.GaussianMixture`.
    iteration_hook : callable, default=None
        Called as ``hook(n_iter, lower_bound, change)`` after each EM
        iteration (progress display).

    Returns
    -------
    DemoResult
    """
    rng = np.random.default_rng(seed)
    truth = make_mixture(n_components, n_features, rng)
    start = perf_counter()
    X = sample_mixture(truth, n_samples, rng, dtype)
    sample_time = perf_counter() - start
    gm = GaussianMixture(n_components, covariance_type="full", max_iter=max_iter, tol=tol,
                         n_init=n_init, random_state=seed)
    stamps: list[float] = []

    def record(event):
        stamps.append(perf_counter())
        if iteration_hook is not None:
            iteration_hook(event.n_iter, event.lower_bound, event.change)

    start = perf_counter()
    with on_iteration(record):
        gm.fit(X)
    fit_time = perf_counter() - start
    # Mean time of an EM iteration after the first (the first one follows the init).
    iteration_time = ((stamps[-1] - stamps[0]) / (len(stamps) - 1) if len(stamps) > 1
                      else float("nan"))
    errors = parameter_errors(truth, gm)
    return DemoResult(n_samples, n_features, n_components, np.dtype(dtype).name, X.nbytes,
                      sample_time, fit_time, iteration_time, int(gm.n_iter_),
                      bool(gm.converged_),
                      float(gm.score(X)), true_loglik(truth, X), *errors)
