"""k-means++ and Lloyd's k-means of many problems in lockstep (``fit_many``'s initialisation).

Each problem gets exactly what :func:`fastgmm._kmeans.kmeans_plusplus` and
:func:`~fastgmm._kmeans.kmeans` give it alone: the same random draws (see
:class:`Streams`), the same kernel results (one launch per step for all problems,
each problem's chunks added in order as the single-problem kernels add
them), and the same NumPy arithmetic, element by element. What is shared is
the cost of a step: one parallel launch and a few array operations for all
problems instead of a Python loop of small kernel calls per problem.

Problems are rows ``offsets[p] .. offsets[p + 1]`` of one concatenated array.
"""

from __future__ import annotations

import math

import numpy as np

from ._blocks import readonly
from ._kmeans import _lloyd_many, _nearest_many, choice_from_uniform
from ._passes import chunk_tasks
from ._threads import KERNEL_LOCK


class _Problems:
    """The rows, weights and task table of the problems still in a step."""

    def __init__(self, X, sample_weight, offsets, weighted):
        self.X = readonly(X)
        self.sw = readonly(np.empty(0) if sample_weight is None
                           else np.asarray(sample_weight, np.float64))
        self.offsets = np.asarray(offsets, dtype=np.int64)
        self.weighted = weighted  # per problem: its own fit has sample weights
        self.count = len(self.offsets) - 1
        self.sizes = np.diff(self.offsets)

    def tasks(self, which):
        tasks, slots, _ = chunk_tasks(self.offsets, which)
        return readonly(tasks), readonly(slots)

    def rows(self, p):
        return slice(self.offsets[p], self.offsets[p + 1])

    def weights(self, p):
        return self.sw[self.rows(p)] if self.weighted[p] else None


def _nearest(problems, which, closest, candidates, update):
    """Per problem in ``which``: candidate potentials, or fold ``candidates[:, 0]`` into ``closest``."""
    tasks, slots = problems.tasks(which)
    out = np.empty((len(which), 1 if update else candidates.shape[1]))
    with KERNEL_LOCK:
        _nearest_many(problems.X, problems.sw, closest, readonly(candidates), update, tasks, slots,
                      out)
    return out


def _lloyd(problems, which, centers, labels, dist):
    """One Lloyd step of the problems ``which``: ``(sums, weights, inertia, changed)``."""
    tasks, slots = problems.tasks(which)
    m, k, d = centers.shape
    sums, weights = np.empty((m, k * d)), np.empty((m, k))
    inertia, changed = np.empty(m), np.empty(m, dtype=np.int64)
    with KERNEL_LOCK:
        _lloyd_many(problems.X, problems.sw, readonly(centers), labels, dist, tasks, slots, sums,
                    weights, inertia, changed)
    return sums.reshape(m, k, d), weights, inertia, changed


class Streams:
    """Every problem's own random draws, all from one seed, each drawn once.

    In a loop of fits seeded with one int, every problem's ``RandomState``
    starts in the same state and is advanced only by its own calls. Two
    problems that made the same calls (kind and arguments) so far are in the
    same state, so their next call of the same kind returns the same
    numbers: each distinct history of calls is drawn once, with one state
    switch (``set_state`` costs ~35 us, a switch per problem and draw would
    dominate the whole initialisation).
    """

    def __init__(self, rng, seed_state, count):
        self._rng = rng
        self._states = {(): seed_state}
        self._values = {}
        self._history = [()] * count

    def draw(self, p, call):
        """Problem ``p``'s next draw: ``call`` is ``("randint", n)``,
        ``("randint", n, size)`` or ``("uniform", size)``."""
        before = self._history[p]
        key = before + (call,)
        if key not in self._values:
            rng = self._rng
            rng.set_state(self._states[before])
            kind, *args = call
            if kind == "uniform":
                self._values[key] = rng.uniform(size=args[0])
            elif len(args) == 1:
                self._values[key] = rng.randint(args[0])
            else:
                self._values[key] = rng.randint(args[0], size=args[1])
            self._states[key] = rng.get_state()
        self._history[p] = key
        return self._values[key]


def kmeans_plusplus(problems, n_clusters, streams):
    """:func:`fastgmm._kmeans.kmeans_plusplus` of every problem: ``(centers, indices)``.

    ``centers`` (m, k, d) float64; ``indices`` (m, k), rows within each problem.
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


def kmeans(problems, n_clusters, streams, max_iter=300, tol=1e-4):
    """:func:`fastgmm._kmeans.kmeans` of every problem: ``(centers (m, k, d), labels)``.

    ``labels`` holds every row's cluster (rows of the concatenated array).
    """
    X, m = problems.X, problems.count
    d = X.shape[1]
    everyone = np.arange(m)
    centers, _ = kmeans_plusplus(problems, n_clusters, streams)
    # The tolerance is relative to each problem's variance, from a Lloyd pass
    # about its first row, as kmeans computes it.
    ref = np.ascontiguousarray(X[problems.offsets[:-1]], dtype=np.float64)[:, None]
    sums, weights, inertia, _ = _lloyd(problems, everyone, ref,
                                       np.full(X.shape[0], -1, np.int64), np.empty(X.shape[0]))
    tol_abs = np.empty(m)
    for p in range(m):  # one mean @ mean per problem, as kmeans computes it
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
        for i in np.flatnonzero(has_empty):  # rare: move empty clusters to far rows
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
