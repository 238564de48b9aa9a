"""The passes of k-means++ seeding and Lloyd iterations: blocked, deterministic kernels.

:mod:`fastgmm._init.kmeans` runs the two algorithms on these passes.
Distances are computed directly as ``||x - c||^2`` (no ``|x|^2 - 2 x.c +
|c|^2`` expansion, which cancels catastrophically for data far from the
origin).

One implementation serves one problem (a fit) and many (``fit_many``):
every pass runs for all problems in one launch over a task table of their
chunks (as :mod:`fastgmm._kernels.passes` does for EM), each problem's
chunks added in order, so every problem gets exactly what it gets alone.

A round of k-means++ seeding reads the data once (:func:`seed_pass`): each
row's distances to the round's candidates, four candidates (and two rows)
summed side by side along the features, give every candidate's nearest
distances (written to the rows of a pool, as scikit-learn keeps an n x
trials array; the chosen candidate's row holds the next round's nearest
distances) and potential.
"""

from __future__ import annotations

import numpy as np
from numba import prange, types
from numba.core import errors
from numba.extending import overload

from .chunk import _block_weights
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


# The rows of a seeding pass are handled a quarter of a block at a time: the
# quarter's rows (8 kB of 16 features) stay in the L1 cache while every
# group of candidates goes over them.
_QUARTER = BLOCK_ROWS // 4


@kernel(internal=True, fastmath=FASTMATH, inline="always")
def _four_sq_dists(X, r, cands, g):
    """``|X[r] - cands[g + j]|^2`` for ``j = 0 .. 3``, in one pass over the row.

    The four sums run side by side, each vectorised along the features:
    the row is read once for four candidates.
    """
    q0 = q1 = q2 = q3 = 0.0
    for a in range(X.shape[1]):
        x = X[r, a]
        u0 = x - cands[g, a]
        u1 = x - cands[g + 1, a]
        u2 = x - cands[g + 2, a]
        u3 = x - cands[g + 3, a]
        q0 += u0 * u0
        q1 += u1 * u1
        q2 += u2 * u2
        q3 += u3 * u3
    return q0, q1, q2, q3


@kernel(internal=True, fastmath=FASTMATH, inline="always")
def _four_sq_dists_two_rows(X, r, cands, g):
    """:func:`_four_sq_dists` of rows ``r`` and ``r + 1`` in one pass over both."""
    q0 = q1 = q2 = q3 = 0.0
    p0 = p1 = p2 = p3 = 0.0
    for a in range(X.shape[1]):
        x = X[r, a]
        y = X[r + 1, a]
        c0, c1, c2, c3 = cands[g, a], cands[g + 1, a], cands[g + 2, a], cands[g + 3, a]
        u0, u1, u2, u3 = x - c0, x - c1, x - c2, x - c3
        q0 += u0 * u0
        q1 += u1 * u1
        q2 += u2 * u2
        q3 += u3 * u3
        u0, u1, u2, u3 = y - c0, y - c1, y - c2, y - c3
        p0 += u0 * u0
        p1 += u1 * u1
        p2 += u2 * u2
        p3 += u3 * u3
    return q0, q1, q2, q3, p0, p1, p2, p3


@kernel(internal=True, fastmath=FASTMATH, inline="always")
def _one_sq_dist(X, r, cands, t):
    """``|X[r] - cands[t]|^2``."""
    q = 0.0
    for a in range(X.shape[1]):
        u = X[r, a] - cands[t, a]
        q += u * u
    return q


@kernel(internal=True, fastmath=FASTMATH, inline="always")
def _keep_nearer(pool, c, r, t0, t1, t2, t3, w, q0, q1, q2, q3):
    """Row ``r``'s nearest distance (now ``c``) once each of four candidates
    (squared distances ``q0 .. q3``) joins the centres, into the candidates'
    pool rows ``t0 .. t3``; returns the four weighted by the row's weight ``w``."""
    v0, v1, v2, v3 = min(c, q0), min(c, q1), min(c, q2), min(c, q3)
    pool[t0, r] = v0
    pool[t1, r] = v1
    pool[t2, r] = v2
    pool[t3, r] = v3
    return w * v0, w * v1, w * v2, w * v3


@kernel(internal=True, fastmath=FASTMATH, inline="always")
def _seed_chunk(X, sw, pool, near, into, cands, c0, c1, out):
    """Rows ``[c0, c1)`` of :func:`_run_seed`; this chunk's potentials into ``out``."""
    n_cands = cands.shape[0]
    weights = np.empty(_QUARTER)
    # The rows' nearest distances, read before any candidate's are written:
    # a candidate may write over the pool row that holds them.
    nearest = np.empty(_QUARTER, pool.dtype)
    # Summed here, stored once: the tasks' rows of ``out`` share cache lines.
    pots = np.zeros(n_cands)
    # Unsigned indices into the pool: Numba then has no negative index to
    # wrap around (and no view of the shared pool's reference count to take).
    cur = np.uint64(near)
    for b in range(n_blocks(c1 - c0, _QUARTER)):
        b0, b1 = block_bounds(b, c1 - c0, _QUARTER)
        r0 = c0 + b0
        nb = b1 - b0
        _block_weights(sw, r0, nb, weights)
        for i in range(nb):
            nearest[i] = pool[cur, np.uint64(r0 + i)]
        g = 0
        while g + 4 <= n_cands:
            s0 = s1 = s2 = s3 = 0.0
            t0, t1 = np.uint64(into[g]), np.uint64(into[g + 1])
            t2, t3 = np.uint64(into[g + 2]), np.uint64(into[g + 3])
            for h in range(nb // 2):
                i = 2 * h
                q0, q1, q2, q3, e0, e1, e2, e3 = _four_sq_dists_two_rows(X, r0 + i, cands, g)
                r = np.uint64(r0 + i)
                p0, p1, p2, p3 = _keep_nearer(pool, nearest[i], r, t0, t1, t2, t3, weights[i],
                                              q0, q1, q2, q3)
                s0 += p0
                s1 += p1
                s2 += p2
                s3 += p3
                p0, p1, p2, p3 = _keep_nearer(pool, nearest[i + 1], r + np.uint64(1), t0, t1,
                                              t2, t3, weights[i + 1], e0, e1, e2, e3)
                s0 += p0
                s1 += p1
                s2 += p2
                s3 += p3
            if nb % 2:
                i = nb - 1
                q0, q1, q2, q3 = _four_sq_dists(X, r0 + i, cands, g)
                p0, p1, p2, p3 = _keep_nearer(pool, nearest[i], np.uint64(r0 + i), t0, t1, t2,
                                              t3, weights[i], q0, q1, q2, q3)
                s0 += p0
                s1 += p1
                s2 += p2
                s3 += p3
            pots[g] += s0
            pots[g + 1] += s1
            pots[g + 2] += s2
            pots[g + 3] += s3
            g += 4
        for t in range(g, n_cands):
            s0 = 0.0
            t0 = np.uint64(into[t])
            for i in range(nb):
                r = np.uint64(r0 + i)
                v0 = min(nearest[i], _one_sq_dist(X, r0 + i, cands, t))
                pool[t0, r] = v0
                s0 += weights[i] * v0
            pots[t] += s0
    for t in range(n_cands):
        out[t] = pots[t]


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


def _run_seed(X, sw, pool, near, into, candidates, tasks, slots, out):
    """One round of k-means++ seeding: each candidate's nearest distances and potential.

    ``pool`` holds rows of nearest distances (one value per data row).
    Task ``t`` runs rows ``i`` in ``tasks[t, 0] .. tasks[t, 1]`` of problem
    ``p = tasks[t, 2]`` against its candidates ``c = candidates[p, j]``:
    ``pool[into[p, j], i] = min(pool[near[p], i], |x_i - c|^2)``, and the
    candidate's potential, ``sum_i w_i`` times that. ``into[p]`` may hold
    ``near[p]``: each row's nearest distance is read before any is written.
    Slot ``s`` (a problem) adds its tasks' potentials in order into ``out[s]``.
    """
    n_tasks = tasks.shape[0]
    part = np.empty((n_tasks, out.shape[1]))
    for t in prange(n_tasks):
        p = tasks[t, 2]
        _seed_chunk(X, sw, pool, near[p], into[p], candidates[p], tasks[t, 0], tasks[t, 1],
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
_seed_parallel = kernel(parallel=True, fastmath=FASTMATH)(_run_seed)
_seed_serial = kernel(fastmath=FASTMATH)(_run_seed)
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


def seed_pass(problems, which, pool, near, into, candidates):
    """Per problem ``p`` in ``which``: the potentials of ``candidates[p]`` (m, c, d),
    each candidate's nearest distances written to ``pool[into[p]]``, from those
    in ``pool[near[p]]``. See :func:`_run_seed`."""
    tasks, slots = problems.tasks(which)
    out = np.empty((len(which), candidates.shape[1]))
    launch(_seed_parallel, _seed_serial, len(tasks), problems.X, problems.sw, pool,
           readonly(np.ascontiguousarray(near, dtype=np.int64)),
           readonly(np.ascontiguousarray(into, dtype=np.int64)),
           readonly(np.ascontiguousarray(candidates, dtype=np.float64)), tasks, slots, out)
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


def _in_dtype_of(x, like):
    """``x`` rounded to the float type of ``like`` (called from kernels only)."""
    raise TypeError("_in_dtype_of runs inside kernels only")


@overload(_in_dtype_of)
def _in_dtype_of_type(x, like):
    """The conversion to ``like``'s float type, chosen when the caller compiles."""
    if not isinstance(like, types.Float):
        raise errors.TypingError("like must be a float")
    if like.bitwidth == 32:
        return lambda x, like: np.float32(x)
    return lambda x, like: np.float64(x)


@kernel(fastmath=False)
def first_row(p, n, u):
    """``min(searchsorted(c / c[-1], u, side="right"), n - 1)``, ``c = cumsum(p)`` in float64.

    ``p`` holds the ``n`` probabilities in the data's dtype, or one value
    that every row has. The running sums are those of ``numpy.cumsum``
    (left to right in float64), each divided by the last as NumPy divides
    them; non-negative ``p`` make the quotients non-decreasing, so a binary
    search finds the row ``numpy.searchsorted`` finds.
    """
    c = np.empty(n)
    s = 0.0
    same = p.shape[0] == 1
    for i in range(n):
        s += np.float64(p[0] if same else p[i])
        c[i] = s
    last = c[n - 1]
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi) // 2
        if c[mid] / last > u:
            hi = mid
        else:
            lo = mid + 1
    return min(lo, n - 1)


@kernel(fastmath=False)
def pick_rows(closest, sw, targets, proto):
    """``searchsorted(cumsum(sw * closest), targets)`` in the dtype of ``proto``, clipped.

    scikit-learn's candidate draw: each row's squared distance and weight in
    the data's dtype, their product summed left to right in that dtype (as
    ``numpy.cumsum`` does), each target at the first row whose running sum
    reaches it. One pass, no array of ``n``: targets are visited in
    ascending order, and the pass stops at the last. ``sw`` empty means
    unit weights; ``proto`` is a one-element array of the data's dtype (its
    value is not used).
    """
    n = closest.shape[0]
    m = targets.shape[0]
    order = np.argsort(targets)
    out = np.full(m, n - 1, dtype=np.int64)
    if m == 0:
        return out
    like = proto[0]
    running = _in_dtype_of(0.0, like)
    weighted = sw.shape[0] > 0
    t = 0
    goal = targets[order[0]]  # NaN targets sort last and are never reached: clipped, as in NumPy
    for i in range(n):
        term = _in_dtype_of(closest[i], like)
        if weighted:
            term = term * sw[i]
        running = running + term
        if np.float64(running) >= goal:
            while t < m and np.float64(running) >= targets[order[t]]:
                out[order[t]] = i
                t += 1
            if t == m:
                break
            goal = targets[order[t]]
    return out
