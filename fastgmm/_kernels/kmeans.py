"""The passes of k-means++ seeding and Lloyd iterations: blocked, deterministic kernels.

:mod:`fastgmm._init.kmeans` runs the two algorithms on these passes.
Distances are computed directly as ``||x - c||^2`` (no ``|x|^2 - 2 x.c +
|c|^2`` expansion, which cancels catastrophically for data far from the
origin).

One implementation serves one problem (a fit) and many (``fit_many``):
every pass runs for all problems in one launch over a task table of their
chunks (as :mod:`fastgmm._kernels.passes` does for EM), each problem's
chunks added in order, so every problem gets exactly what it gets alone.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from .layout import (BLOCK_ROWS, FASTMATH, add_slots, block_bounds, chunk_tasks, n_blocks,
                      readonly)
from .compile import kernel
from .threads import launch


@kernel(internal=True, fastmath=FASTMATH)
def _block_sq_dist(X, r0, nb, center, out):
    """``out[i] = |X[r0 + i] - center|^2`` for the block's ``nb`` rows."""
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
        """Read-only views of ``X`` and its float64 weights, and the problems' row offsets."""
        self.X = readonly(X)
        self.sw = readonly(np.empty(0) if sample_weight is None
                           else np.asarray(sample_weight, np.float64))
        self.offsets = np.asarray(offsets, dtype=np.int64)
        self.weighted = weighted
        self.count = len(self.offsets) - 1
        self.sizes = np.diff(self.offsets)

    @classmethod
    def one(cls, X, sample_weight=None):
        """A single problem: all rows of ``X``."""
        return cls(X, sample_weight, [0, X.shape[0]], [sample_weight is not None])

    def tasks(self, which):
        """The read-only task table and slots of a pass over the problems ``which``."""
        tasks, slots, _ = chunk_tasks(self.offsets, which)
        return readonly(tasks), readonly(slots)

    def rows(self, p):
        """The rows of problem ``p`` (a slice of the shared array)."""
        return slice(self.offsets[p], self.offsets[p + 1])

    def weights(self, p):
        """Problem ``p``'s sample weights, or None when its own fit has none."""
        return self.sw[self.rows(p)] if self.weighted[p] else None


def nearest_pass(problems, which, closest, candidates, update):
    """Per problem in ``which``: candidate potentials, or (``update``) fold
    ``candidates[:, 0]`` into ``closest``."""
    tasks, slots = problems.tasks(which)
    out = np.empty((len(which), 1 if update else candidates.shape[1]))
    launch(_nearest_parallel, _nearest_serial, len(tasks), problems.X, problems.sw, closest,
           readonly(np.ascontiguousarray(candidates, dtype=np.float64)), update, tasks, slots,
           out)
    return out


def lloyd_pass(problems, which, centers, labels, dist):
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
    sums, weights, inertia, changed = lloyd_pass(problems, np.zeros(1, np.int64),
                                             np.asarray(centers)[None], labels, dist)
    return sums[0], weights[0], float(inertia[0]), int(changed[0])


@kernel(fastmath=False)
def pick_rows(closest, sw, targets, proto):
    """``searchsorted(cumsum(sw * closest), targets)`` in the dtype of ``proto``, clipped.

    scikit-learn's candidate draw: each row's squared distance and weight in
    the data's dtype, their product summed left to right in that dtype (as
    ``numpy.cumsum`` does), each target at the first row whose running sum
    reaches it. One pass, no array of ``n``: targets are visited in
    ascending order. ``sw`` empty means unit weights; ``proto`` is a
    one-element array of the data's dtype (its value is not used).
    """
    n = closest.shape[0]
    m = targets.shape[0]
    order = np.argsort(targets)
    out = np.full(m, n - 1, dtype=np.int64)
    cell = np.zeros(2, dtype=proto.dtype)
    t = 0  # NaN targets sort last and are never reached: clipped, as in NumPy
    for i in range(n):
        if t >= m:
            break
        cell[1] = closest[i]
        if sw.shape[0] > 0:
            cell[1] = cell[1] * sw[i]
        cell[0] = cell[0] + cell[1]
        running = np.float64(cell[0])
        while t < m and running >= targets[order[t]]:
            out[order[t]] = i
            t += 1
    return out
