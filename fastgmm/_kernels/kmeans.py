"""k-means++ seeding and Lloyd iterations: blocked, deterministic kernels.

These give ``init_params='kmeans'`` and ``'k-means++'`` their starting
points without calling scikit-learn's KMeans. Distances are computed
directly as ``||x - c||^2`` (no ``|x|^2 - 2 x.c + |c|^2`` expansion, which
cancels catastrophically for data far from the origin).

One implementation serves one problem (a fit) and many (``fit_many``):
every step runs for all problems in one launch over a task table of their
chunks (as :mod:`fastgmm._passes` does for EM), each problem's chunks added
in order, and the per-problem NumPy arithmetic runs element by element on
stacked arrays, so every problem gets exactly what it gets alone.
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange

from .layout import (BLOCK_ROWS, FASTMATH, add_slots, block_bounds, chunk_tasks, n_blocks,
                      readonly)
from .compile import kernel
from .._init.random import Streams
from .threads import launch


@kernel(internal=True, fastmath=FASTMATH)
def _block_sq_dist(X, r0, nb, center, out):
    d = X.shape[1]
    for i in range(nb):
        s = 0.0
        for a in range(d):
            t = X[r0 + i, a] - center[a]
            s += t * t
        out[i] = s


@kernel(internal=True, fastmath=FASTMATH, inline="always")
def _nearest_chunk(X, sw, closest, candidates, update, c0, c1, out):
    """Rows ``[c0, c1)`` of :func:`_run_nearest`; this chunk's potentials into ``out``."""
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


@kernel(internal=True, fastmath=FASTMATH, inline="always")
def _lloyd_chunk(X, sw, centers, labels, dist, c0, c1, out_sum, out_w):
    """Rows ``[c0, c1)`` of :func:`_run_lloyd`; returns ``(inertia, n_changed)``."""
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


def _run_nearest(X, sw, closest, candidates, update, tasks, slots, out):
    """Potentials of candidate centres, or (``update``) fold one centre in.

    Task ``t`` runs rows ``tasks[t, 0] .. tasks[t, 1]`` against the candidates
    ``candidates[tasks[t, 2]]`` of its problem: with ``update`` false, each
    candidate ``c``'s ``sum_i w_i min(closest_i, |x_i - c|^2)``; with
    ``update`` true, ``closest_i = min(closest_i, |x_i - c_0|^2)`` in place.
    Slot ``s`` (a problem) adds its tasks' results in order into ``out[s]``.
    """
    n_tasks = tasks.shape[0]
    part = np.empty((n_tasks, out.shape[1]))
    for t in prange(n_tasks):
        _nearest_chunk(X, sw, closest, candidates[tasks[t, 2]], update, tasks[t, 0], tasks[t, 1],
                       part[t])
    add_slots(part, slots, out)
    return 0


def _run_lloyd(X, sw, centers, labels, dist, tasks, slots, out_sum, out_w, out_scalars):
    """Assign each row to its problem's nearest centre and sum the rows per centre.

    Tasks and slots as in :func:`_run_nearest`. Writes ``labels`` and
    ``dist`` (squared distance to the chosen centre); per slot, ``out_sum``
    holds the ``k d`` sums (relative to the old centres, so they keep their
    precision), ``out_w`` the weights and ``out_scalars`` the inertia and the
    number of changed labels.
    """
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
    add_slots(part_sum.reshape((n_tasks, k * d)), slots, out_sum)
    add_slots(part_w, slots, out_w)
    add_slots(part_scalars, slots, out_scalars)
    return 0


# One Python function each, compiled with a parallel loop and without (one task).
_nearest_parallel = kernel(parallel=True, fastmath=FASTMATH)(_run_nearest)
_nearest_serial = kernel(fastmath=FASTMATH)(_run_nearest)
_lloyd_parallel = kernel(parallel=True, fastmath=FASTMATH)(_run_lloyd)
_lloyd_serial = kernel(fastmath=FASTMATH)(_run_lloyd)


class Problems:
    """Problems ``p`` = rows ``offsets[p] .. offsets[p + 1]`` of one array, for the passes.

    ``weighted[p]`` says whether problem ``p``'s own fit has sample weights
    (its draws differ); ``sample_weight`` is None or one weight per row.
    """

    def __init__(self, X, sample_weight, offsets, weighted):
        self.X = readonly(X)
        self.sw = readonly(np.empty(0) if sample_weight is None
                           else np.asarray(sample_weight, np.float64))
        self.offsets = np.asarray(offsets, dtype=np.int64)
        self.weighted = weighted
        self.count = len(self.offsets) - 1
        self.sizes = np.diff(self.offsets)

    @classmethod
    def one(cls, X, sample_weight=None):
        return cls(X, sample_weight, [0, X.shape[0]], [sample_weight is not None])

    def tasks(self, which):
        tasks, slots, _ = chunk_tasks(self.offsets, which)
        return readonly(tasks), readonly(slots)

    def rows(self, p):
        return slice(self.offsets[p], self.offsets[p + 1])

    def weights(self, p):
        return self.sw[self.rows(p)] if self.weighted[p] else None


def _nearest(problems, which, closest, candidates, update):
    """Per problem in ``which``: candidate potentials, or (``update``) fold
    ``candidates[:, 0]`` into ``closest``."""
    tasks, slots = problems.tasks(which)
    out = np.empty((len(which), 1 if update else candidates.shape[1]))
    launch(_nearest_parallel, _nearest_serial, len(tasks), problems.X, problems.sw, closest,
           readonly(np.ascontiguousarray(candidates, dtype=np.float64)), update, tasks, slots,
           out)
    return out


def _lloyd(problems, which, centers, labels, dist):
    """One Lloyd step of the problems ``which``: ``(sums, weights, inertia, changed)``."""
    tasks, slots = problems.tasks(which)
    m, k, d = centers.shape
    sums, weights, scalars = np.empty((m, k * d)), np.empty((m, k)), np.empty((m, 2))
    launch(_lloyd_parallel, _lloyd_serial, len(tasks), problems.X, problems.sw,
           readonly(np.ascontiguousarray(centers, dtype=np.float64)), labels, dist, tasks,
           slots, sums, weights, scalars)
    return sums.reshape(m, k, d), weights, scalars[:, 0], scalars[:, 1].astype(np.int64)


def lloyd_step(X, sw, centers, labels, dist):
    """Assign each row of ``X`` to its nearest centre and sum the rows per centre.

    Writes ``labels`` and ``dist`` and returns ``(sums, weights, inertia,
    n_changed)``; see :func:`_run_lloyd`. ``sw`` is empty or one weight a row.
    """
    problems = Problems.one(X, sw if len(sw) else None)
    sums, weights, inertia, changed = _lloyd(problems, np.zeros(1, np.int64),
                                             np.asarray(centers)[None], labels, dist)
    return sums[0], weights[0], float(inertia[0]), int(changed[0])


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
    _nearest(problems, everyone, closest, centers[:, :1], True)
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
        best = np.argmin(_nearest(problems, everyone, closest, candidates, False), axis=1)
        centers[:, c] = candidates[everyone, best]
        indices[:, c] = ids[everyone, best]
        _nearest(problems, everyone, closest, centers[:, c:c + 1], True)
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
    sums, weights, inertia, _ = _lloyd(problems, everyone, ref,
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
        sums, weights, _, changed = _lloyd(problems, active, centers[active], labels, dist)
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
            _lloyd(problems, final, centers[final], labels, dist)
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
