"""k-means++ seeding and Lloyd iterations: blocked, deterministic kernels.

These give ``init_params='kmeans'`` and ``'k-means++'`` their starting
points without calling scikit-learn's KMeans. Distances are computed
directly as ``||x - c||^2`` (no ``|x|^2 - 2 x.c + |c|^2`` expansion, which
cancels catastrophically for data far from the origin).
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange

from ._blocks import (
    BLOCK_ROWS,
    CHUNK_ROWS,
    FASTMATH,
    block_bounds,
    n_blocks,
    readonly,
    sum_in_order,
)
from ._compile import kernel
from ._threads import KERNEL_LOCK


@kernel(internal=True, fastmath=FASTMATH)
def _block_sq_dist(X, r0, nb, center, out):
    d = X.shape[1]
    for i in range(nb):
        s = 0.0
        for a in range(d):
            t = X[r0 + i, a] - center[a]
            s += t * t
        out[i] = s


@kernel(internal=True, fastmath=FASTMATH)
def _nearest_chunk(X, sw, closest, candidates, update, c0, c1, out):
    """Rows ``[c0, c1)`` of :func:`_nearest_pass`; this chunk's potentials into ``out``."""
    m = out.shape[0]
    dist = np.empty(c1 - c0)
    for t in range(m):
        _block_sq_dist(X, c0, c1 - c0, candidates[t], dist)
        if update:
            for i in range(c1 - c0):
                closest[c0 + i] = min(closest[c0 + i], dist[i])
            out[t] = 0.0
            continue
        s = 0.0
        for i in range(c1 - c0):
            w = 1.0 if sw.shape[0] == 0 else sw[c0 + i]
            s += w * min(closest[c0 + i], dist[i])
        out[t] = s


@kernel(parallel=True, fastmath=FASTMATH)
def _nearest_pass(X, sw, closest, candidates, update):
    """Potentials of candidate centres, or (``update``) fold one centre in.

    With ``update`` false, returns ``sum_i w_i min(closest_i, |x_i - c_t|^2)``
    for each candidate ``c_t``; with ``update`` true, sets
    ``closest_i = min(closest_i, |x_i - c_0|^2)`` in place. One kernel for
    both keeps k-means++ to a single compilation per dtype.
    """
    n = X.shape[0]
    m = 1 if update else candidates.shape[0]
    n_chunks = n_blocks(n, CHUNK_ROWS)
    part = np.empty((n_chunks, m))
    for c in prange(n_chunks):
        c0, c1 = block_bounds(c, n, CHUNK_ROWS)
        _nearest_chunk(X, sw, closest, candidates, update, c0, c1, part[c])
    return sum_in_order(part)


@kernel(fastmath=FASTMATH)
def _nearest_serial(X, sw, closest, candidates, update):
    """:func:`_nearest_pass` of at most one chunk of rows, without a parallel launch.

    The chunk's own sums are the result: ``sum_in_order`` of one part adds
    them to 0, which changes no bit of these sums (never -0).
    """
    out = np.empty(1 if update else candidates.shape[0])
    _nearest_chunk(X, sw, closest, candidates, update, 0, X.shape[0], out)
    return out


def _nearest(X, sw, closest, candidates, update):
    if X.shape[0] <= CHUNK_ROWS:  # one chunk: same bits, no parallel launch
        return _nearest_serial(X, sw, closest, candidates, update)
    with KERNEL_LOCK:
        return _nearest_pass(X, sw, closest, candidates, update)


def candidate_potentials(X, sw, closest, candidates):
    """For each candidate centre, ``sum_i w_i min(closest_i, |x_i - cand|^2)``."""
    return _nearest(readonly(X), readonly(sw), closest, readonly(candidates), False)


def update_closest(X, center, closest):
    """``closest_i = min(closest_i, |x_i - center|^2)`` in place."""
    center = np.ascontiguousarray(center, dtype=np.float64)[None]
    _nearest(readonly(X), readonly(np.empty(0)), closest, readonly(center), True)


@kernel(internal=True, fastmath=FASTMATH)
def _lloyd_chunk(X, sw, centers, labels, dist, c0, c1, out_sum, out_w):
    """Rows ``[c0, c1)`` of :func:`_lloyd_step`; returns ``(inertia, n_changed)``."""
    k, d = centers.shape
    inertia = 0.0
    changed = 0
    for j in range(k):
        out_w[j] = 0.0
        for a in range(d):
            out_sum[j, a] = 0.0
    best = np.empty(BLOCK_ROWS)
    arg = np.empty(BLOCK_ROWS, dtype=np.int64)
    cur = np.empty(BLOCK_ROWS)
    for b in range(n_blocks(c1 - c0, BLOCK_ROWS)):
        b0, b1 = block_bounds(b, c1 - c0, BLOCK_ROWS)
        r0 = c0 + b0
        nb = b1 - b0
        _block_sq_dist(X, r0, nb, centers[0], best)
        for i in range(nb):
            arg[i] = 0
        for j in range(1, k):
            _block_sq_dist(X, r0, nb, centers[j], cur)
            for i in range(nb):
                if cur[i] < best[i]:
                    best[i] = cur[i]
                    arg[i] = j
        for i in range(nb):
            r = r0 + i
            j = arg[i]
            w = 1.0 if sw.shape[0] == 0 else sw[r]
            if labels[r] != j:
                changed += 1
            labels[r] = j
            dist[r] = best[i]
            inertia += w * best[i]
            out_w[j] += w
            for a in range(d):
                out_sum[j, a] += w * (X[r, a] - centers[j, a])
    return inertia, changed


@kernel(parallel=True, fastmath=FASTMATH)
def _lloyd_step(X, sw, centers, labels, dist):
    """Assign each row to its nearest centre and sum the rows per centre.

    Writes ``labels`` and ``dist`` (squared distance to the chosen centre)
    and returns ``(sums (k, d), weights (k,), inertia, n_changed)``; sums
    are taken relative to the old centre so they keep their precision.
    """
    n, d = X.shape
    k = centers.shape[0]
    n_chunks = n_blocks(n, CHUNK_ROWS)
    part_sum = np.empty((n_chunks, k, d))
    part_w = np.empty((n_chunks, k))
    part_inertia = np.empty(n_chunks)
    part_changed = np.empty(n_chunks, dtype=np.int64)
    for c in prange(n_chunks):
        c0, c1 = block_bounds(c, n, CHUNK_ROWS)
        part_inertia[c], part_changed[c] = _lloyd_chunk(X, sw, centers, labels, dist,
                                                        c0, c1, part_sum[c], part_w[c])
    inertia = 0.0
    changed = 0
    for c in range(n_chunks):
        inertia += part_inertia[c]
        changed += part_changed[c]
    return sum_in_order(part_sum), sum_in_order(part_w), inertia, changed


@kernel(fastmath=FASTMATH)
def _lloyd_serial(X, sw, centers, labels, dist):
    """:func:`_lloyd_step` of at most one chunk of rows, without a parallel launch.

    As in :func:`_nearest_serial`, the chunk's sums are the result (sums of
    ``w (x - c)`` start at +0 and never become -0).
    """
    k, d = centers.shape
    sums = np.empty((k, d))
    weights = np.empty(k)
    inertia, changed = _lloyd_chunk(X, sw, centers, labels, dist, 0, X.shape[0], sums,
                                    weights)
    return sums, weights, 0.0 + inertia, changed


@kernel(internal=True)
def _add_slots(parts, slots, out):
    """``out[s] = 0 + parts[slots[s]] + ... + parts[slots[s + 1] - 1]``, in order (flat rows)."""
    for s in range(slots.shape[0] - 1):
        for e in range(out.shape[1]):
            out[s, e] = 0.0
        for t in range(slots[s], slots[s + 1]):
            for e in range(out.shape[1]):
                out[s, e] += parts[t, e]


@kernel(parallel=True, fastmath=FASTMATH)
def _nearest_many(X, sw, closest, candidates, update, tasks, slots, out):
    """:func:`_nearest_pass` of several problems in one launch.

    Task ``t`` is rows ``tasks[t, 0] .. tasks[t, 1]`` against the candidates
    ``candidates[tasks[t, 2]]``; slot ``s`` (a problem) adds its tasks' results
    in order into ``out[s]``, as the single-problem kernels add their chunks.
    """
    n_tasks = tasks.shape[0]
    part = np.empty((n_tasks, out.shape[1]))
    for t in prange(n_tasks):
        _nearest_chunk(X, sw, closest, candidates[tasks[t, 2]], update, tasks[t, 0], tasks[t, 1],
                       part[t])
    _add_slots(part, slots, out)


@kernel(parallel=True, fastmath=FASTMATH)
def _lloyd_many(X, sw, centers, labels, dist, tasks, slots, out_sum, out_w, out_inertia,
                out_changed):
    """:func:`_lloyd_step` of several problems in one launch (tasks and slots as in
    :func:`_nearest_many`; ``out_sum`` flat, one row of ``k d`` sums per slot)."""
    n_tasks = tasks.shape[0]
    k, d = centers.shape[1], centers.shape[2]
    part_sum = np.empty((n_tasks, k, d))
    part_w = np.empty((n_tasks, k))
    part_scalars = np.empty((n_tasks, 2))
    for t in prange(n_tasks):
        inertia, changed = _lloyd_chunk(X, sw, centers[tasks[t, 2]], labels, dist, tasks[t, 0],
                                        tasks[t, 1], part_sum[t], part_w[t])
        part_scalars[t, 0] = inertia
        part_scalars[t, 1] = changed
    _add_slots(part_sum.reshape((n_tasks, k * d)), slots, out_sum)
    _add_slots(part_w, slots, out_w)
    scalars = np.empty((slots.shape[0] - 1, 2))
    _add_slots(part_scalars, slots, scalars)
    for s in range(scalars.shape[0]):
        out_inertia[s] = scalars[s, 0]
        out_changed[s] = int(scalars[s, 1])


def lloyd_step(X, sw, centers, labels, dist):
    """Assign each row to its nearest centre and sum the rows per centre.

    Writes ``labels`` and ``dist`` and returns ``(sums, weights, inertia,
    n_changed)``; see :func:`_lloyd_step`.
    """
    if X.shape[0] <= CHUNK_ROWS:  # one chunk: same bits, no parallel launch
        return _lloyd_serial(readonly(X), readonly(sw), readonly(centers), labels, dist)
    with KERNEL_LOCK:
        return _lloyd_step(readonly(X), readonly(sw), readonly(centers), labels, dist)


def weighted_variance_sum(X, sw, ref):
    """``sum_a var_w(X[:, a])``, from one Lloyd pass with ``ref`` as the only centre.

    Sums are taken relative to ``ref`` (a data row), so they keep their
    precision for data far from the origin.
    """
    n = X.shape[0]
    center = np.ascontiguousarray(ref, dtype=np.float64)[None]
    sums, weights, inertia, _ = lloyd_step(X, sw, center, np.full(n, -1, np.int64),
                                           np.empty(n))
    mean = sums[0] / weights[0]
    return inertia / weights[0] - float(mean @ mean)


def _locked(launch, *args):
    """Launch a parallel kernel while holding the process-wide kernel lock."""
    with KERNEL_LOCK:
        return launch(*args)


def _weighted_choice(rng, cumulative, n_draws):
    """Indices drawn with probability proportional to the increments of ``cumulative``."""
    return choice_from_uniform(rng.uniform(size=n_draws), cumulative)


def choice_from_uniform(uniform, cumulative):
    """The indices that uniform draws in [0, 1) pick, in proportion to ``cumulative``'s increments."""
    idx = np.searchsorted(cumulative, uniform * cumulative[-1])
    return np.minimum(idx, len(cumulative) - 1)


def kmeans_plusplus(X, n_clusters, rng, sample_weight=None, n_local_trials=None):
    """Greedy k-means++ seeding (Arthur & Vassilvitskii, 2007).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    n_clusters : int
    rng : numpy.random.RandomState
    sample_weight : ndarray of shape (n_samples,) or None
    n_local_trials : int, default=2 + int(log(n_clusters))

    Returns
    -------
    centers : ndarray of shape (n_clusters, n_features), float64
    indices : ndarray of shape (n_clusters,)
        Row of ``X`` each centre was taken from.
    """
    n, d = X.shape
    sw = np.empty(0) if sample_weight is None else np.asarray(sample_weight, np.float64)
    if n_local_trials is None:
        n_local_trials = 2 + int(math.log(n_clusters))
    centers = np.empty((n_clusters, d))
    indices = np.empty(n_clusters, dtype=np.int64)
    if sample_weight is None:
        first = rng.randint(n)
    else:
        first = int(_weighted_choice(rng, np.cumsum(sw), 1)[0])
    centers[0] = X[first]
    indices[0] = first
    closest = np.full(n, np.inf)
    _locked(update_closest, X, centers[0], closest)
    for c in range(1, n_clusters):
        weighted = closest if sample_weight is None else closest * sw
        cumulative = np.cumsum(weighted)
        if not cumulative[-1] > 0:
            # Every point coincides with a centre already: any row will do.
            ids = rng.randint(n, size=n_local_trials)
        else:
            ids = _weighted_choice(rng, cumulative, n_local_trials)
        candidates = np.ascontiguousarray(X[ids], dtype=np.float64)
        potentials = _locked(candidate_potentials, X, sw, closest, candidates)
        best = int(np.argmin(potentials))
        centers[c] = candidates[best]
        indices[c] = ids[best]
        _locked(update_closest, X, centers[c], closest)
    return centers, indices


def kmeans(X, n_clusters, rng, sample_weight=None, max_iter=300, tol=1e-4):
    """Lloyd's k-means from a k-means++ start, as scikit-learn's KMeans(n_init=1).

    Stops when labels no longer change or the total squared centre shift
    falls below ``tol`` times the mean feature variance. Empty clusters are
    moved to the points farthest from their centres.

    Returns
    -------
    centers : ndarray of shape (n_clusters, n_features)
    labels : ndarray of shape (n_samples,)
    """
    n, d = X.shape
    sw = np.empty(0) if sample_weight is None else np.asarray(sample_weight, np.float64)
    centers, _ = kmeans_plusplus(X, n_clusters, rng, sample_weight)
    ref = np.ascontiguousarray(X[0], dtype=np.float64)
    tol_abs = tol * _locked(weighted_variance_sum, X, sw, ref) / d
    labels = np.full(n, -1, dtype=np.int64)
    dist = np.empty(n)
    for it in range(max_iter):
        sums, weights, _, changed = _locked(lloyd_step, X, sw, centers, labels, dist)
        empty = np.flatnonzero(weights == 0)
        shift = np.zeros_like(centers)
        nonempty = weights > 0
        shift[nonempty] = sums[nonempty] / weights[nonempty, None]
        if len(empty):
            # Only rows that carry weight may become a centre.
            far_dist = dist if sample_weight is None else np.where(sw > 0, dist, -np.inf)
            far = np.argsort(-far_dist, kind="stable")[: len(empty)]
            shift[empty] = X[far] - centers[empty]
        centers = centers + shift
        if changed == 0 and it > 0:
            break
        if (shift**2).sum() <= tol_abs and not len(empty):
            # One last assignment so labels match the final centres.
            _locked(lloyd_step, X, sw, centers, labels, dist)
            break
    return centers, labels
