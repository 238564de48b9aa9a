"""k-means++ seeding and Lloyd's k-means for ``init_params='k-means++'`` and ``'kmeans'``.

These give the two initialisations their starting points without calling
scikit-learn's KMeans, following its algorithms (greedy k-means++ with
``2 + log k`` local trials, Lloyd's iterations with its stopping rules) and
consuming the random stream as it does. Every pass over the data is a
kernel of :mod:`fastgmm._kernels.kmeans`, run for all problems at once
(``fit_many``); the per-problem NumPy arithmetic here runs element by
element on stacked arrays, so every problem gets exactly what it gets alone.
"""

from __future__ import annotations

import math

import numpy as np

from .._kernels.kmeans import Problems, lloyd_pass, nearest_pass
from .random import Streams


def choice_from_uniform(uniform, cumulative):
    """The indices that uniform draws in [0, 1) pick, in proportion to the
    increments of ``cumulative``."""
    idx = np.searchsorted(cumulative, uniform * cumulative[-1])
    return np.minimum(idx, len(cumulative) - 1)


def kmeans_plusplus_all(problems, n_clusters, streams):
    """Greedy k-means++ seeding (Arthur & Vassilvitskii, 2007) of every problem.

    Returns ``centers`` (m, k, d) float64 and ``indices`` (m, k), the row
    within its problem each centre was taken from. One launch per step
    serves all problems.
    """
    X, m = problems.X, problems.count
    d = X.shape[1]
    everyone = np.arange(m)
    n_local_trials = 2 + int(math.log(n_clusters))
    centers = np.empty((m, n_clusters, d))
    indices = np.empty((m, n_clusters), dtype=np.int64)
    for p in range(m):
        n, w = int(problems.sizes[p]), problems.weights(p)
        if w is None:
            indices[p, 0] = streams.draw(p, ("randint", n))
        else:
            indices[p, 0] = choice_from_uniform(streams.draw(p, ("uniform", 1)), np.cumsum(w))[0]
    centers[:, 0] = X[problems.offsets[:-1] + indices[:, 0]]
    closest = np.full(X.shape[0], np.inf)
    nearest_pass(problems, everyone, closest, centers[:, :1], True)
    ids = np.empty((m, n_local_trials), dtype=np.int64)
    for c in range(1, n_clusters):
        for p in range(m):
            n, w = int(problems.sizes[p]), problems.weights(p)
            near = closest[problems.rows(p)]
            cumulative = np.cumsum(near if w is None else near * w)
            if not cumulative[-1] > 0:
                # Every point coincides with a centre already: any row will do.
                ids[p] = streams.draw(p, ("randint", n, n_local_trials))
            else:
                ids[p] = choice_from_uniform(streams.draw(p, ("uniform", n_local_trials)),
                                             cumulative)
        candidates = np.ascontiguousarray(X[problems.offsets[:-1, None] + ids], dtype=np.float64)
        best = np.argmin(nearest_pass(problems, everyone, closest, candidates, False), axis=1)
        centers[:, c] = candidates[everyone, best]
        indices[:, c] = ids[everyone, best]
        nearest_pass(problems, everyone, closest, centers[:, c:c + 1], True)
    return centers, indices


def kmeans_all(problems, n_clusters, streams, max_iter=300, tol=1e-4):
    """Lloyd's k-means from a k-means++ start, as scikit-learn's KMeans(n_init=1), of every problem.

    A problem stops when its labels no longer change or its total squared
    centre shift falls below ``tol`` times its mean feature variance. Empty
    clusters move to the points farthest from their centres. Returns
    ``centers`` (m, k, d) and every row's label (rows of the shared array).
    """
    X, m = problems.X, problems.count
    d = X.shape[1]
    everyone = np.arange(m)
    centers, _ = kmeans_plusplus_all(problems, n_clusters, streams)
    # Each problem's variance, from a Lloyd pass about its first row (sums
    # relative to a data row keep their precision far from the origin).
    ref = np.ascontiguousarray(X[problems.offsets[:-1]], dtype=np.float64)[:, None]
    sums, weights, inertia, _ = lloyd_pass(problems, everyone, ref,
                                       np.full(X.shape[0], -1, np.int64), np.empty(X.shape[0]))
    tol_abs = np.empty(m)
    for p in range(m):
        mean = sums[p, 0] / weights[p, 0]
        tol_abs[p] = tol * (inertia[p] / weights[p, 0] - float(mean @ mean)) / d
    labels = np.full(X.shape[0], -1, dtype=np.int64)
    dist = np.empty(X.shape[0])
    active = everyone
    for it in range(max_iter):
        if len(active) == 0:
            break
        sums, weights, _, changed = lloyd_pass(problems, active, centers[active], labels, dist)
        shift = np.zeros_like(sums)
        nonempty = weights > 0
        shift[nonempty] = sums[nonempty] / weights[nonempty][:, None]
        has_empty = ~nonempty.all(axis=1)
        for i in np.flatnonzero(has_empty):
            p = active[i]
            empty = np.flatnonzero(weights[i] == 0)
            w = problems.weights(p)
            far_dist = dist[problems.rows(p)]
            if w is not None:  # only rows that carry weight may become a centre
                far_dist = np.where(w > 0, far_dist, -np.inf)
            far = np.argsort(-far_dist, kind="stable")[: len(empty)]
            shift[i, empty] = X[problems.offsets[p] + far] - centers[p, empty]
        centers[active] = centers[active] + shift
        unchanged = (changed == 0) & (it > 0)
        small = ((shift**2).reshape(len(active), -1).sum(axis=1) <= tol_abs[active]) & ~has_empty
        final = active[small & ~unchanged]
        if len(final):
            # One last assignment so labels match the final centres.
            lloyd_pass(problems, final, centers[final], labels, dist)
        active = active[~(unchanged | small)]
    return centers, labels


def kmeans_plusplus(X, n_clusters, rng, sample_weight=None):
    """:func:`kmeans_plusplus_all` of one problem, drawing from ``rng``: ``(centers, indices)``."""
    centers, indices = kmeans_plusplus_all(Problems.one(X, sample_weight), n_clusters,
                                           Streams(rng, None, 1))
    return centers[0], indices[0]


def kmeans(X, n_clusters, rng, sample_weight=None, max_iter=300, tol=1e-4):
    """:func:`kmeans_all` of one problem, drawing from ``rng``: ``(centers, labels)``."""
    centers, labels = kmeans_all(Problems.one(X, sample_weight), n_clusters,
                                 Streams(rng, None, 1), max_iter, tol)
    return centers[0], labels
