"""Initialisation over a partitioned source, in bounded memory: k-means||, races.

Every pass here is one task per partition of a
:class:`~fastgmm._data.source.PartitionedSource` (a large ``numpy.memmap``
read ``PARTITION_ROWS`` rows at a time, or the chunks of a Dask array on
the workers), so memory is set by the partition size, ``k`` and ``d``,
not by the number of rows. Each task is a pure function of its partition
and its arguments (random numbers come from a seed per pass and
partition).

``'kmeans'`` and ``'k-means++'`` use k-means|| (Bahmani et al., "Scalable
k-means++", VLDB 2012):

1. one pass draws a first centre with probability proportional to its
   sample weight (an exponential race: the row with the least
   ``Exp(1) / w_i`` wins), keeping the next ``k - 1`` winners in reserve;
2. ``_KMEANS_ROUNDS`` passes each add every row independently with
   probability ``min(1, l w_i d_i^2 / phi)`` (``l = 2 k`` oversampling,
   ``d_i`` the distance to the nearest candidate, ``phi = sum_i w_i d_i^2``).
   A partition does not know ``phi`` while it runs, so it returns the rows with
   ``u_i / (w_i d_i^2) < l / phi_partition`` (a superset, about ``l`` rows) and
   the caller keeps those below ``l / phi``;
3. one pass weights each candidate by the sample weight of the rows nearest
   to it; weighted k-means++ (``'k-means++'``) or k-means++ and Lloyd
   (``'kmeans'``) run on the few candidates;
4. for ``'kmeans'``, Lloyd iterations continue on the whole data set, one
   pass each, from per-partition sums about the current centres, until the
   squared centre shift falls below ``1e-4`` of the mean feature variance.

``'random_from_data'`` draws ``k`` rows uniformly (an unweighted race among
rows with positive weight) and ``'random'`` draws responsibilities per
partition. :func:`far_row`, the same race weighted by the squared distance to
the nearest mean, draws the row a collapsed component is re-seeded at
(:mod:`fastgmm._em.reseed`), for arrays and memmaps too.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .._data.source import PartitionedSource, nonfinite_error, sum_in_order
from .._model.stats import leave_unassigned
from .resp import (every_row_stats, labelled, random_resp, seed_row_stats, stats_from_resp,
                   total_weight)

_KMEANS_ROUNDS = 5
_OVERSAMPLING = 2.0
# Distributed Lloyd iterations, as the in-memory k-means.
_LLOYD_MAX_ITER = 300
_LLOYD_TOL = 1e-4
_SEED_MAX = 2**31 - 1


def _smallest(values, m):
    """Positions of the ``m`` smallest values, ascending (ties by position)."""
    if m <= 0:
        return np.empty(0, dtype=np.int64)
    if m < len(values):
        values_m = np.partition(values, m - 1)[m - 1]
        candidates = np.flatnonzero(values <= values_m)
    else:
        candidates = np.arange(len(values))
    return candidates[np.argsort(values[candidates], kind="stable")][:m]


def _float64_weights(w):
    return np.empty(0) if w is None else np.ascontiguousarray(w, dtype=np.float64)


def _assign(X, w, centers):
    """``lloyd_step`` of one partition: nearest-centre labels, squared distances, sums."""
    from .._kernels.kmeans import lloyd_step  # loaded on first use, see _data.arrays

    n = X.shape[0]
    labels = np.full(n, -1, dtype=np.int64)
    dist = np.empty(n)
    sums, weights, inertia, _ = lloyd_step(X, _float64_weights(w),
                                           np.ascontiguousarray(centers, dtype=np.float64),
                                           labels, dist)
    return labels, dist, sums, weights, inertia



def _task_race(X, w, index, start, args):
    """The ``k`` rows with the smallest ``Exp(1) / w_i``: keys, row numbers,
    rows, their weights, and the partition's total weight.

    Unweighted (``'random_from_data'``), the key is ``Exp(1)`` for every row
    with a positive weight: a uniform draw among them.
    """
    seed, k, weighted = args
    n = X.shape[0]
    keys = np.random.default_rng([seed, 0, index]).standard_exponential(n)
    if w is not None:
        w = np.asarray(w, dtype=np.float64)
        with np.errstate(divide="ignore"):
            keys = np.where(w > 0, keys / w if weighted else keys, np.inf)
    top = _smallest(keys, k)
    row_weights = np.ones(len(top)) if w is None else w[top]
    return (keys[top], start + top, np.asarray(X[top], dtype=np.float64), row_weights,
            np.array([total_weight(w, n)]))


def _task_oversample(X, w, index, start, args):
    """One k-means|| round: ``phi`` of the partition and the rows it may contribute
    (their keys, row numbers, values and weights)."""
    seed, round_, centers, ell = args
    X = np.ascontiguousarray(X)
    _, dist, sums, weights, phi = _assign(X, w, centers)
    mass = dist if w is None else dist * np.asarray(w, dtype=np.float64)
    u = np.random.default_rng([seed, round_, index]).random(X.shape[0])
    picked = np.empty(0, dtype=np.int64)
    if phi > 0:
        with np.errstate(divide="ignore", invalid="ignore"):
            picked = np.flatnonzero(u < (ell / phi) * mass)
    keys = u[picked] / mass[picked]
    row_weights = np.ones(len(picked)) if w is None else np.asarray(w)[picked]
    return (phi, sums, weights, keys, start + picked, np.asarray(X[picked], dtype=np.float64),
            row_weights)


def _task_lloyd(X, w, index, start, args):
    """Per-centre sums about the centres, weights, and the farthest weighted rows."""
    centers, n_far = args
    X = np.ascontiguousarray(X)
    _, dist, sums, weights, inertia = _assign(X, w, centers)
    if w is not None:
        dist = np.where(np.asarray(w) > 0, dist, -np.inf)
    far = _smallest(-dist, n_far)
    return sums, weights, inertia, dist[far], np.asarray(X[far], dtype=np.float64)


def _task_far_race(X, w, index, start, args):
    """The partition's row with the least ``Exp(1) / (w_i d_i^2)`` (``d_i``: to the
    nearest centre)."""
    seed, draw, centers = args
    X = np.ascontiguousarray(X)
    _, dist, _, _, _ = _assign(X, w, centers)
    mass = dist if w is None else dist * np.asarray(w, dtype=np.float64)
    keys = np.random.default_rng([seed, draw, index]).standard_exponential(X.shape[0])
    with np.errstate(divide="ignore", invalid="ignore"):
        keys = np.where(mass > 0, keys / mass, np.inf)
    i = int(np.argmin(keys))
    return float(keys[i]), start + i, np.asarray(X[i], dtype=np.float64)


def _task_init_stats(X, w, index, start, args):
    """Statistics of one partition for initial responsibilities (see ``_stats_pass``)."""
    mode, payload, shift, covariance_type, seed = args
    X = np.ascontiguousarray(X)
    k = shift.shape[0]
    if mode == "every":
        return every_row_stats(X, w, shift[0])
    if mode == "nearest":
        make = labelled(_assign(X, w, payload)[0])
    else:  # random
        make = random_resp(np.random.default_rng([seed, index]), k, w)
    return stats_from_resp(X, w, make, shift, covariance_type)



def _race(data, k, seed, weighted):
    """The ``k`` winners of a race over all rows: their row numbers, rows and
    weights, and the total weight of all rows (added in partition order)."""
    parts = data.map(_task_race, seed, k, weighted)
    keys, index, rows, row_weights, totals = (np.concatenate(p) for p in zip(*parts))
    order = np.argsort(keys, kind="stable")[:k]
    return index[order], rows[order], row_weights[order], float(sum(totals.tolist()))


def far_row(data, centers, seed, draw):
    """One row drawn with probability proportional to ``w_i d_i^2``, or None.

    ``d_i`` is the distance of row ``i`` to the nearest of ``centers``: the
    draw of k-means++ seeding, done as one exponential race over the partitions
    (each partition returns its least key, the least of those wins), so it holds
    one partition's distances at a time. ``(seed, draw)`` and the partition index
    seed the keys. Returns ``(row number, row as float64)``; None when every
    row with weight sits on a centre.
    """
    parts = data.map(_task_far_race, seed, draw, np.ascontiguousarray(centers, dtype=np.float64))
    best = int(np.argmin([p[0] for p in parts]))  # ties: the first partition
    if not np.isfinite(parts[best][0]):
        return None
    return parts[best][1], parts[best][2]


class Candidates(NamedTuple):
    """k-means|| candidates: the rows, their row numbers and sample weights,
    the weight nearest to each, the sum of the feature variances (for
    Lloyd's tolerance) and the total weight of the data."""

    rows: np.ndarray
    index: np.ndarray
    row_weights: np.ndarray
    cluster_weight: np.ndarray
    variance: float
    total_weight: float


def _kmeans_parallel(data, k, seed):
    """:class:`Candidates` of k-means|| seeding.

    A round brings about ``l`` rows per partition to the client.
    """
    ell = _OVERSAMPLING * k
    reserve_index, reserve_rows, reserve_weights, total = _race(data, k, seed, weighted=True)
    index, rows, row_weights = reserve_index[:1], reserve_rows[:1], reserve_weights[:1]
    variance = None
    for round_ in range(1, _KMEANS_ROUNDS + 1):
        parts = data.map(_task_oversample, seed, round_, rows, ell)
        phi = sum(p[0] for p in parts)
        if not np.isfinite(phi):
            raise nonfinite_error(data, parts, lambda p: p[0])
        if variance is None:
            # Round 1 measures distances to the single first centre.
            w_total = sum(p[2][0] for p in parts)
            s1 = sum_in_order([p[1][0] for p in parts]) / w_total
            variance = max(phi / w_total - float(s1 @ s1), 0.0)
        if phi <= 0:
            break
        keys = np.concatenate([p[3] for p in parts])
        keep = keys < ell / phi
        index = np.concatenate([index, np.concatenate([p[4] for p in parts])[keep]])
        rows = np.vstack([rows, np.vstack([p[5] for p in parts])[keep]])
        row_weights = np.concatenate([row_weights,
                                      np.concatenate([p[6] for p in parts])[keep]])
    if len(index) < k:
        # Fewer distinct candidates than components: add race winners.
        extra = ~np.isin(reserve_index, index)
        index = np.concatenate([index, reserve_index[extra]])[:k]
        rows = np.vstack([rows, reserve_rows[extra]])[:k]
        row_weights = np.concatenate([row_weights, reserve_weights[extra]])[:k]
    parts = data.map(_task_lloyd, rows, 0)
    cluster_weight = sum_in_order([p[1] for p in parts])
    return Candidates(rows, index, row_weights, cluster_weight, variance, total)


def _distributed_lloyd(data, centers, tol):
    """Lloyd iterations over every partition from ``centers``; returns the final centres."""
    k = centers.shape[0]
    for _ in range(_LLOYD_MAX_ITER):
        parts = data.map(_task_lloyd, centers, k)
        sums = sum_in_order([p[0] for p in parts])
        weights = sum_in_order([p[1] for p in parts])
        if not np.isfinite(sum(p[2] for p in parts)):
            raise nonfinite_error(data, parts, lambda p: p[2])
        shift = np.zeros_like(centers)
        nonempty = weights > 0
        shift[nonempty] = sums[nonempty] / weights[nonempty, None]
        empty = np.flatnonzero(~nonempty)
        if len(empty):
            far_dist = np.concatenate([p[3] for p in parts])
            far_rows = np.vstack([p[4] for p in parts])
            far = np.argsort(-far_dist, kind="stable")[: len(empty)]
            shift[empty[: len(far)]] = far_rows[far] - centers[empty[: len(far)]]
        centers = centers + shift
        if (shift**2).sum() <= tol and not len(empty):
            break
    return centers


def _stats_pass(data, mode, payload, shift, covariance_type, seed=0):
    parts = data.map(_task_init_stats, mode, payload, shift, covariance_type, seed)
    return sum_in_order(parts)


def partitioned_initial_stats(data: PartitionedSource, n_components, covariance_type,
                              init_params, rng):
    """Statistics of the chosen initial responsibilities, partition by partition."""
    from .kmeans import kmeans, kmeans_plusplus  # loaded on first use, see _data.arrays

    k = n_components
    seed = int(rng.randint(_SEED_MAX))
    if init_params in ("kmeans", "k-means++"):
        found = _kmeans_parallel(data, k, seed)
        if init_params == "kmeans":
            centers, _ = kmeans(found.rows, k, rng, found.cluster_weight)
            tol = _LLOYD_TOL * found.variance / data.shape[1]
            centers = _distributed_lloyd(data, centers, tol)
            stats = _stats_pass(data, "nearest", centers, centers, covariance_type)
        else:
            # Only the chosen seeds carry responsibility: no pass over the data.
            _, chosen = kmeans_plusplus(found.rows, k, rng, found.cluster_weight)
            stats = seed_row_stats(found.rows[chosen].astype(data.dtype),
                                   found.row_weights[chosen].astype(data.dtype),
                                   found.total_weight, covariance_type)
    elif init_params == "random_from_data":
        # Only the winning rows carry responsibility: no pass over the data.
        _, rows, row_weights, total = _race(data, k, seed, weighted=False)
        stats = seed_row_stats(rows.astype(data.dtype), row_weights.astype(data.dtype), total,
                               covariance_type)
    else:  # random
        first = data.first_row()
        stats = _stats_pass(data, "random", None, np.repeat(first, k, axis=0),
                               covariance_type, seed)
        return stats
    if covariance_type == "tied" and init_params != "kmeans":
        # Seed rows: scikit-learn's tied covariance counts every row (one pass).
        stats = leave_unassigned(stats, _stats_pass(data, "every", None, stats.center[None],
                                                    covariance_type))
    return stats
