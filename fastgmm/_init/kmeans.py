"""k-means++ seeding and Lloyd's k-means for ``init_params='k-means++'`` and ``'kmeans'``.

These give the two initialisations scikit-learn's own starting points
without calling its KMeans: the seeds of ``kmeans_plusplus`` and the labels
of ``KMeans(n_init=1)`` for the same random state (the same draws in the same
order, Lloyd's iterations with its stopping rule and empty-cluster
relocation), Lloyd's iterations accelerated by exact bounds
(:mod:`fastgmm._kernels.lloyd`). Every pass over the data is a
kernel of :mod:`fastgmm._kernels.kmeans`, run for all problems at once
(``fit_many``); the per-problem NumPy arithmetic here runs element by
element on stacked arrays, so every problem gets exactly what it gets alone.
"""

from __future__ import annotations

import math

import numpy as np

from .._kernels import lloyd as _lloyd
from .._kernels.kmeans import Problems, first_row, lloyd_pass, pick_rows, seed_pass
from .._kernels.layout import readonly
from .._kernels.threads import launch
from .random import Streams


def first_seed(rng_uniform, sample_weight, n, dtype):
    """The row scikit-learn's k-means++ starts from, given its one uniform draw.

    ``RandomState.choice(n, p=w / w.sum())`` with the weights in the data's
    dtype (unit weights without ``sample_weight``), as ``_kmeans_plusplus``
    calls it: the cumulative sum of ``p`` in float64, normalised by its last
    value, searched on the right. The same operations in the same order
    (:func:`~fastgmm._kernels.kmeans.first_row`), so the row is the one
    scikit-learn picks from the same draw.
    """
    if sample_weight is None:
        # Unit weights: every p is 1 / n in the data's dtype; the sum of n
        # ones is n exactly below 2**24 (float32), else NumPy's own sum.
        total = (dtype.type(n) if n <= 2**24
                 else np.ones(n, dtype=dtype).sum())
        p = np.ones(1, dtype=dtype) / total
    else:
        w = np.asarray(sample_weight).astype(dtype, copy=False)
        p = w / w.sum()
        if not (np.isfinite(p).all() and (p >= 0).all()):
            cdf = np.cumsum(p, dtype=np.float64)
            cdf /= cdf[-1]
            return int(min(np.searchsorted(cdf, rng_uniform, side="right"), n - 1))
    return int(first_row(np.ascontiguousarray(p), n, float(rng_uniform)))


def kmeans_plusplus_all(problems, n_clusters, streams):
    """scikit-learn's greedy k-means++ seeding (``kmeans_plusplus``) of every problem.

    Each problem draws from its own stream exactly what
    ``sklearn.cluster.kmeans_plusplus`` draws from a ``RandomState``: one
    uniform for the first centre (weighted by the sample weights), then per
    centre ``2 + int(log k)`` uniforms scaled by the current potential,
    the candidates they land on in the weighted cumulative potential, and the
    candidate that leaves the least potential. The sums that decide the
    draws are scikit-learn's: cumulative sums in the data's dtype, and the
    potentials of :func:`_potentials`; distances are computed directly
    (``|x - c|^2``), so only draws that fall within rounding of a boundary,
    or candidates whose potentials tie to rounding, can differ from
    scikit-learn's.

    Returns ``centers`` (m, k, d) float64 and ``indices`` (m, k), the row
    within its problem each centre was taken from. One launch per round
    serves all problems and reads the data once. Besides the data it holds
    ``2 + int(log k)`` values per row in the data's dtype: the distances each
    candidate of a round leaves, the chosen one's being those the next round
    starts from (scikit-learn holds one row more).
    """
    X, m = problems.X, problems.count
    d = X.shape[1]
    dtype = X.dtype
    proto = np.zeros(1, dtype=dtype)
    everyone = np.arange(m)
    n_local_trials = 2 + int(math.log(n_clusters))
    centers = np.empty((m, n_clusters, d))
    indices = np.empty((m, n_clusters), dtype=np.int64)
    for p in range(m):
        u = float(streams.draw(p, ("uniform", 1))[0])
        indices[p, 0] = first_seed(u, problems.weights(p), int(problems.sizes[p]), dtype)
    centers[:, 0] = X[problems.offsets[:-1] + indices[:, 0]]
    # Rows of squared distances to the nearest centre once each candidate
    # of a round joins, one value per data row: scikit-learn's n x trials
    # array, reused. Row j is candidate j's (pool[:, rows] is the array
    # scikit-learn multiplies by the weights); the chosen candidate's row
    # holds the nearest distances the next round starts from (pool[near[p]]).
    # Held in the data's dtype, as scikit-learn holds them: a float32
    # distance is rounded once, where the pass stores it.
    pool = np.empty((n_local_trials, X.shape[0]), dtype=dtype)
    pool[0] = np.inf
    near = np.zeros(m, dtype=np.int64)
    into = np.tile(np.arange(n_local_trials, dtype=np.int64), (m, 1))
    weights = []
    for p in range(m):
        w = problems.weights(p)
        weights.append(np.empty(0, dtype) if w is None
                       else np.ascontiguousarray(w).astype(dtype, copy=False))
    # The weights the float32 potentials are multiplied by (unit ones too).
    factors = [w if len(w) or dtype == np.float64 else np.ones(int(size), dtype)
               for w, size in zip(weights, problems.sizes)]
    # The potential each draw is scaled by (the first centre's distances
    # folded into row 0).
    sums = seed_pass(problems, everyone, pool, near, near[:, None], centers[:, :1])
    potential = _potentials(problems, pool, 1, sums, factors)[:, 0]
    ids = np.empty((m, n_local_trials), dtype=np.int64)
    for c in range(1, n_clusters):
        for p in range(m):
            targets = streams.draw(p, ("uniform", n_local_trials)) * potential[p]
            ids[p] = pick_rows(pool[near[p], problems.rows(p)], weights[p],
                               np.ascontiguousarray(targets, dtype=np.float64), proto)
        candidates = X[problems.offsets[:-1, None] + ids]
        sums = seed_pass(problems, everyone, pool, near, into, candidates)
        pots = _potentials(problems, pool, n_local_trials, sums, factors)
        best = np.argmin(pots, axis=1)
        potential = pots[everyone, best]
        centers[:, c] = candidates[everyone, best]
        indices[:, c] = ids[everyone, best]
        near = best
    return centers, indices


def _potentials(problems, pool, trials, sums, factors):
    """The potentials of a round's candidates in the data's dtype, as scikit-learn computes them.

    Row ``j < trials`` of ``pool`` holds the nearest distances candidate
    ``j`` leaves, ``sums`` the pass's float64 sums of them, weighted;
    ``factors[p]`` are problem ``p``'s weights (ones without weights).
    For float64 data the potentials are those sums: their rounding is far
    below one row's share of the potential, so a draw scaled by them lands
    on scikit-learn's row. A float32 potential is scikit-learn's float32
    matrix product of the distances (candidates x rows; the first centre's
    one row times a vector) with the weights. Its rounding depends on how
    the BLAS blocks the sum and on a million rows exceeds a row's share, so
    a potential summed another way sends every draw after the first to
    other rows; the same product of the same numbers gives the same bits.
    """
    dtype = pool.dtype
    if dtype == np.float64:
        return sums
    out = np.empty(sums.shape, dtype=dtype)
    for p in range(problems.count):
        dist, w = pool[:trials, problems.rows(p)], factors[p]
        out[p] = dist @ w if trials == 1 else (dist @ w.reshape(-1, 1))[:, 0]
    return out


def _mean_and_tolerance(problems, tol):
    """Each problem's mean row and scikit-learn's ``tol * mean(var(X, axis=0))``.

    The variance is unweighted, as scikit-learn's ``_tolerance`` takes it,
    and comes from one pass about the problem's first row (sums relative to
    a data row keep their precision far from the origin).
    """
    X, m = problems.X, problems.count
    d = X.shape[1]
    unweighted = Problems(X, None, problems.offsets, [False] * m)
    first = np.ascontiguousarray(X[problems.offsets[:-1]], dtype=np.float64)[:, None]
    sums, counts, inertia, _ = lloyd_pass(unweighted, np.arange(m), first,
                                      np.full(X.shape[0], -1, np.int64), np.empty(X.shape[0]))
    mean = sums[:, 0] / counts
    variance = inertia / counts[:, 0] - np.einsum("pa,pa->p", mean, mean)
    return first[:, 0] + mean, tol * np.maximum(variance, 0.0) / d


def _relocate(problems, p, centers, labels, S, W, count, ref):
    """Move problem ``p``'s empty clusters onto its rows farthest from their centres.

    scikit-learn's ``_relocate_empty_clusters_dense``, step for step: the
    squared distances of the rows to their (old) centres in the data's
    dtype, the farthest rows in the order ``numpy.argpartition`` gives, each
    row's weight taken from its cluster's sums and given to an empty one
    (the row keeps its label until the next assignment). Nothing moves when
    every row sits on its centre.
    """
    X = problems.X
    rows = problems.rows(p)
    empty = np.flatnonzero(count[p] == 0)
    lab = labels[rows]
    old = centers[p].astype(X.dtype)
    n = lab.shape[0]
    step = 1 << 16
    dist = np.concatenate([((np.asarray(X[rows][i:i + step]) - old[lab[i:i + step]]) ** 2)
                           .sum(axis=1) for i in range(0, n, step)])
    if dist.max() == 0:
        return
    far = np.argpartition(dist, -len(empty))[:-len(empty) - 1:-1]
    w = problems.weights(p)
    for e, f in zip(empty, far):
        weight = 1.0 if w is None else float(w[f])
        x = np.asarray(X[problems.offsets[p] + f], dtype=np.float64) - ref[p]
        o = lab[f]
        S[p, o] -= weight * x
        W[p, o] -= weight
        count[p, o] -= 1 if weight > 0 else 0
        S[p, e] = weight * x
        W[p, e] = weight
        count[p, e] = 1 if weight > 0 else 0


def lloyd_all(problems, centers, max_iter=300, tol=1e-4):
    """scikit-learn's Lloyd iterations (``KMeans(n_init=1)`` from ``centers``) of every problem.

    Returns the final ``centers`` (m, k, d) and every row's label (rows of
    the shared array); see :mod:`fastgmm._kernels.lloyd`.
    """
    X, m = problems.X, problems.count
    n = X.shape[0]
    k, d = centers.shape[1], centers.shape[2]
    ref, tol_abs = _mean_and_tolerance(problems, tol)
    centers = np.ascontiguousarray(centers, dtype=np.float64).copy()
    tasks, slots = problems.tasks(np.arange(m))
    labels = np.full(n, -1, dtype=np.int64)
    # Hamerly's bounds, one pair per row; none where every distance is computed.
    bounded = n if d > _lloyd.BRUTE_FEATURES else 0
    upper, lower = np.empty(bounded), np.empty(bounded)
    S, W = np.zeros((m, k, d)), np.zeros((m, k))
    count = np.zeros((m, k), dtype=np.int64)
    move, half = np.zeros((m, k)), np.zeros((m, k))
    maxmove = np.zeros((m, 3))
    maxmove[:, 2] = -1
    fresh = np.zeros(m, dtype=np.int64)
    changed = np.zeros(m, dtype=np.int64)
    n_iter = np.zeros(m, dtype=np.int64)
    state = np.full(m, _lloyd.RUNNING, dtype=np.int64)
    # Bounds are widened by more than the relative rounding of a distance.
    slack = 8.0 * (d + 4) * np.finfo(np.float64).eps
    args = (problems.X, problems.sw, tasks, slots, readonly(ref), centers, labels, upper,
            lower, S, W, count, move, half, maxmove, fresh, changed, n_iter, state,
            readonly(tol_abs), max_iter, slack)
    while launch(_lloyd.run_parallel, _lloyd.run_serial, len(tasks), *args) == 1:
        for p in np.flatnonzero(state == _lloyd.RELOCATE):
            _relocate(problems, p, centers, labels, S, W, count, ref)
            fresh[p] = 1
            _lloyd.finish_one(p, centers, ref, S, W, count, move, half, maxmove, changed,
                              n_iter, state, tol_abs, max_iter, slack)
    return centers, labels


def kmeans_all(problems, n_clusters, streams, max_iter=300, tol=1e-4):
    """Lloyd's k-means from a k-means++ start, as scikit-learn's KMeans(n_init=1), of every problem.

    The seeds are :func:`kmeans_plusplus_all`'s (scikit-learn's), the
    iterations :func:`lloyd_all`'s. Returns ``centers`` (m, k, d) and every
    row's label (rows of the shared array).
    """
    centers, _ = kmeans_plusplus_all(problems, n_clusters, streams)
    return lloyd_all(problems, centers, max_iter, tol)


def cluster_shifts(X, labels, centers):
    """A row of each cluster (its first), or its centre if it has none: the
    shifts of the statistics of k-means labels.

    A cluster of identical rows then has its sums about one of them, exactly
    0, so its mean and zero spread come out exact, as scikit-learn's
    ``resp^T X / nk`` gives them (a centre from the Lloyd sums is that row
    only to rounding).
    """
    k = centers.shape[0]
    first = np.full(k, -1, dtype=np.int64)
    hit = labels >= 0
    first[labels[hit][::-1]] = np.flatnonzero(hit)[::-1]
    shifts = np.array(centers, dtype=np.float64)
    has = first >= 0
    shifts[has] = X[first[has]]
    return shifts


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
