"""Initial responsibilities -> their statistics, for each ``init_params``.

As in scikit-learn, initialisation picks responsibilities (k-means labels,
k-means++ seeds, random rows, or random soft assignments); the estimator
runs its M-step on their statistics. Responsibilities are produced a
bounded slice of rows at a time, so nothing of size ``n x k`` is ever held.
"""

from __future__ import annotations

import numpy as np

from ._blocks import CHUNK_ROWS, KIND_CODES
from ._kernels import resp_stats_pass, s2_shape
from ._kmeans import kmeans, kmeans_plusplus
from ._model import Stats
from ._threads import KERNEL_LOCK

_SLICE_ROWS = 16 * CHUNK_ROWS


def _contiguous(X, start, stop):
    return np.ascontiguousarray(np.asarray(X[start:stop]))


def _stats_from_resp(X, sample_weight, make_resp, shift, covariance_type):
    """Statistics for responsibilities produced slice by slice by ``make_resp``."""
    n, d = X.shape
    k = shift.shape[0]
    kind = KIND_CODES[covariance_type]
    s2 = s2_shape(kind, k, d)
    shift = np.ascontiguousarray(shift, dtype=X.dtype)
    center = np.ascontiguousarray(shift[0])
    empty_w = np.empty(0, dtype=X.dtype)
    total = None
    for start in range(0, n, _SLICE_ROWS):
        stop = min(start + _SLICE_ROWS, n)
        R = np.ascontiguousarray(make_resp(start, stop), dtype=X.dtype)
        w = empty_w if sample_weight is None else _contiguous(sample_weight, start, stop)
        block = _contiguous(X, start, stop)
        with KERNEL_LOCK:
            N, S1, S2, wsum = resp_stats_pass(block, w, R, kind, shift, center, s2[0], s2[2])
        part = Stats(N, S1, S2, 0.0, wsum, shift.astype(np.float64),
                     center.astype(np.float64))
        total = part if total is None else total + part
    return total


def _one_hot(labels, k):
    def make(start, stop):
        block = labels[start:stop]
        R = np.zeros((stop - start, k))
        hit = block >= 0
        R[np.flatnonzero(hit), block[hit]] = 1.0
        return R
    return make


def _one_hot_rows(indices, k):
    """Responsibility 1 of component j at row ``indices[j]``, 0 elsewhere (no n-sized array)."""
    indices = np.asarray(indices, dtype=np.int64)

    def make(start, stop):
        R = np.zeros((stop - start, k))
        hit = np.flatnonzero((indices >= start) & (indices < stop))
        R[indices[hit] - start, hit] = 1.0
        return R
    return make


def _random_resp(rng, k, sample_weight):
    """Uniform random responsibilities, drawn only for rows that carry weight.

    Skipping zero-weight rows keeps the draws of the other rows exactly those
    of a fit without the zero-weight rows.
    """
    def make(start, stop):
        if sample_weight is None:
            rows = slice(None)
            count = stop - start
        else:
            rows = np.flatnonzero(np.asarray(sample_weight[start:stop]) > 0)
            count = len(rows)
        R = np.zeros((stop - start, k))
        draws = rng.uniform(size=(count, k))
        R[rows] = draws / draws.sum(axis=1)[:, None]
        return R
    return make


def _random_rows(rng, n, k, sample_weight):
    """``k`` distinct rows uniformly at random, among the rows that carry weight."""
    if sample_weight is not None:
        positive = np.flatnonzero(np.asarray(sample_weight) > 0)
        if k <= len(positive) < n:
            return positive[rng.choice(len(positive), size=k, replace=False)]
    return rng.choice(n, size=k, replace=False)


def initial_stats(X, sample_weight, n_components, covariance_type, init_params, rng) -> Stats:
    """Statistics of the initial responsibilities chosen by ``init_params``.

    An estimator turns them into its initial parameters with its M-step
    (scikit-learn initialises both of its mixtures this way).

    Parameters
    ----------
    X : ndarray or memmap of shape (n_samples, n_features)
    sample_weight : ndarray of shape (n_samples,) or None
    n_components : int
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data'}
    rng : numpy.random.RandomState

    A chunked source (see :func:`fastgmm._engine.accumulate`) initialises
    itself through its ``initial_stats`` method.
    """
    chunked = getattr(X, "initial_stats", None)
    if chunked is not None:
        return chunked(sample_weight, n_components, covariance_type, init_params, rng)
    n, d = X.shape
    k = n_components
    ref = np.asarray(X[0], dtype=np.float64)
    if init_params == "kmeans":
        centers, labels = kmeans(X, k, rng, sample_weight)
        make, shift = _one_hot(labels, k), centers
    elif init_params == "random":
        make = _random_resp(rng, k, sample_weight)
        shift = np.repeat(ref[None], k, axis=0)
    else:
        if init_params == "k-means++":
            _, indices = kmeans_plusplus(X, k, rng, sample_weight)
        else:  # random_from_data
            indices = _random_rows(rng, n, k, sample_weight)
        make = _one_hot_rows(indices, k)
        shift = np.asarray(X[indices], dtype=np.float64)
    return _stats_from_resp(X, sample_weight, make, shift, covariance_type)
