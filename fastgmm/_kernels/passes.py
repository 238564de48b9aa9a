"""Passes over rows: each kind's chunk code, compiled once, run by small drivers.

A pass is a table of *tasks*, each one chunk of at most ``CHUNK_ROWS`` rows
``[r0, r1)`` of ``X`` under model ``p`` (an index into model arrays with a
leading axis), grouped into *slots*: runs of consecutive tasks whose
statistics are added, in task order, into one output. So

* a fit's pass over an array (:func:`em_pass`) is one slot of its chunks;
* ``fit_many``'s pass (:func:`many_stats_pass`) has one slot per problem
  and round, all problems in one launch.

The chunk code (:func:`fastgmm._kernels.chunk._chunk_stats`, ``_chunk_score``)
is a :class:`~fastgmm._kernels.compile.TaskFunction` per covariance kind and dtype:
compiled once, cached, and called through its address by every driver.
The drivers are tiny and shared by all kinds: a parallel one (``prange``
over tasks) and a serial one for a single task, which skips the parallel
launch (about 0.1 ms under Numba's ``workqueue`` layer, more than a small
chunk's arithmetic). Both run the same machine code for a chunk, so in
one process a small input, a large one and ``fit_many`` agree to the last
bit, whether that code was compiled there or loaded from the cache.
Partial results are kept per task and reduced in task order, so the result
does not depend on the thread count.
"""

from __future__ import annotations

import functools

import numpy as np
from numba import from_dtype, prange, types

from .layout import (FASTMATH, FULL, TIED, add_slots, chunk_tasks, padded_width, readonly,
                     task_kind)
from .compile import TaskFunction, kernel
from .chunk import _chunk_score, _chunk_stats
from .threads import launch


# ------------------------------------------------------------ task functions
def _array(dtype, ndim, readonly=True):
    """The Numba type of a C-contiguous array (read-only unless ``readonly=False``)."""
    return types.Array(dtype, ndim, "C", readonly=readonly)


@functools.cache
def _signatures(dtype_name: str):
    """Exact argument types of the statistics and scoring task functions."""
    dt = from_dtype(np.dtype(dtype_name))
    f64 = types.float64
    model = (_array(dt, 2), _array(dt, 3), _array(dt, 2), _array(f64, 1), _array(dt, 1),
             _array(dt, 2))  # means, chol, prec, log_norm, center, mu_proj
    stats = types.int64(_array(dt, 2), _array(dt, 1), _array(dt, 2), _array(types.int64, 1),
                        types.int64, types.int64,
                        *model, types.boolean, _array(f64, 1, False), _array(f64, 2, False),
                        _array(f64, 3, False), _array(f64, 1, False))
    score = types.int64(_array(dt, 2), types.int64, types.int64, *model,
                        _array(dt, 1, False), _array(types.int64, 1, False),
                        _array(dt, 2, False))
    return stats, score


def _stats_task_code(kind):
    """The Python function of the statistics task of ``kind`` (a compile-time constant)."""
    def stats_task(X, sw, R, L, r0, r1, means, chol, prec, log_norm, center, mu_proj,
                   want_entropy, out_N, out_S1, out_S2, out_sums):
        """One chunk's statistics into the task's outputs; ``(loglik, weight, entropy)``
        into ``out_sums``."""
        ll, wsum, ent = _chunk_stats(X, sw, R, L, kind, r0, r1, means, chol, prec, log_norm,
                                     center, mu_proj, want_entropy, out_N, out_S1, out_S2)
        out_sums[0] = ll
        out_sums[1] = wsum
        out_sums[2] = ent
        return 0

    return stats_task


def _score_task_code(kind):
    """The Python function of the scoring task of ``kind`` (a compile-time constant)."""
    def score_task(X, r0, r1, means, chol, prec, log_norm, center, mu_proj, out_log_norm,
                   out_label, out_log_resp):
        """One chunk's scores into its rows of the outputs."""
        _chunk_score(X, kind, r0, r1, means, chol, prec, log_norm, center, mu_proj,
                     out_log_norm, out_label, out_log_resp)
        return 0

    return score_task


@functools.cache
def stats_task(kind: int, dtype_name: str) -> TaskFunction:
    """The statistics of one chunk for task ``kind`` (``_blocks.task_kind``) and ``dtype``
    (lazily compiled)."""
    return TaskFunction(_stats_task_code(kind), _signatures(dtype_name)[0], fastmath=FASTMATH)


@functools.cache
def score_task(kind: int, dtype_name: str) -> TaskFunction:
    """The scores of one chunk for task ``kind`` and ``dtype`` (lazily compiled)."""
    return TaskFunction(_score_task_code(kind), _signatures(dtype_name)[1], fastmath=FASTMATH)


# ------------------------------------------------------------------ drivers
def _run_stats_tasks(task, X, sw, R, L, tasks, slots, means, chol, prec, log_norm, center,
                     mu_proj, want_entropy, part_N, part_S1, part_S2, part_sums, out_N, out_S1,
                     out_S2, out_sums):
    """Every statistics task (``prange`` when compiled parallel), then the slots' sums
    in task order."""
    n_tasks = tasks.shape[0]
    for t in prange(n_tasks):
        p = tasks[t, 2]
        task(X, sw, R, L, tasks[t, 0], tasks[t, 1], means[p], chol[p], prec[p], log_norm[p],
             center[p], mu_proj[p], want_entropy, part_N[t], part_S1[t], part_S2[t],
             part_sums[t])
    add_slots(part_N, slots, out_N)
    add_slots(part_S1.reshape((n_tasks, out_S1.shape[1])), slots, out_S1)
    add_slots(part_S2.reshape((n_tasks, out_S2.shape[1])), slots, out_S2)
    add_slots(part_sums, slots, out_sums)
    return 0


def _run_score_tasks(task, X, tasks, means, chol, prec, log_norm, center, mu_proj,
                     out_log_norm, out_label, out_log_resp):
    """Every scoring task (``prange`` when compiled parallel); each writes only its own rows."""
    for t in prange(tasks.shape[0]):
        task(X, tasks[t, 0], tasks[t, 1], means, chol, prec, log_norm, center, mu_proj,
             out_log_norm, out_label, out_log_resp)
    return 0


# One Python function each, compiled twice: with a parallel loop, and without.
_stats_parallel = kernel(parallel=True, fastmath=FASTMATH)(_run_stats_tasks)
_stats_serial = kernel(fastmath=FASTMATH)(_run_stats_tasks)
_score_parallel = kernel(parallel=True, fastmath=FASTMATH)(_run_score_tasks)
_score_serial = kernel(fastmath=FASTMATH)(_run_score_tasks)
DRIVERS = (_stats_parallel, _stats_serial, _score_parallel, _score_serial)


def padded_model(kind, means, chol, prec, mu_proj):
    """The model arrays as the chunk code reads them: features zero-padded to a multiple of 4.

    Leading (problem) axes are kept. For the tied kind ``prec`` becomes unit
    weights (the tied Mahalanobis distance is a plain sum of squares of
    ``mu_proj``'s frame).
    """
    lead = means.shape[:-2]
    k, d = means.shape[-2:]
    d4 = padded_width(d)
    dt = means.dtype
    means_p = np.zeros(lead + (k, d4), dt)
    means_p[..., :d] = means
    prec_p = np.zeros(lead + (k, d4), dt)
    mu_proj_p = np.zeros(lead + (k, d4), dt)
    if kind in (FULL, TIED):
        chol_p = np.zeros(lead + (chol.shape[-3], d4, d4), dt)
        chol_p[..., :d, :d] = chol
    else:
        chol_p = np.zeros(lead + (1, 1, 1), dt)
        prec_p[..., :d] = prec
    if kind == TIED:
        prec_p[..., :d] = 1.0
        mu_proj_p[..., :d] = mu_proj
    return means_p, chol_p, prec_p, mu_proj_p


# ---------------------------------------------------------------- passes
def _stats(X, sw, R, kind, model, tasks, slots, s2_rows, s2_cols, want_entropy):
    """Run the statistics task over ``tasks``; per-slot ``(N, S1, S2, sums)``.

    ``R`` holds given responsibilities (n, k), or labels (n,) that stand
    for one-hot rows (-1: none), or nothing (0, k): the model's.

    Per-task partials and per-slot outputs are allocated here (the outputs
    flat: one row of ``k``, ``k d``, ... numbers per slot), so that the
    drivers allocate nothing and one compiled reduction serves all of them.
    """
    means, chol, prec, log_norm, center, mu_proj = model
    means_p, chol_p, prec_p, mu_proj_p = padded_model(kind, means, chol, prec, mu_proj)
    n_tasks, n_slots = len(tasks), len(slots) - 1
    k, d = means.shape[-2], X.shape[1]
    parts = (np.empty((n_tasks, k)), np.empty((n_tasks, k, d)),
             np.empty((n_tasks, s2_rows, d, s2_cols)), np.empty((n_tasks, 3)))
    outs = [np.empty((n_slots, int(np.prod(part.shape[1:])))) for part in parts]
    task = stats_task(task_kind(kind, X.shape[1]), X.dtype.name).get()
    if R.ndim == 1:
        R, L = np.empty((0, k), X.dtype), R
    else:
        L = np.empty(0, np.int64)
    launch(_stats_parallel, _stats_serial, n_tasks, task, readonly(X), readonly(sw),
           readonly(R), readonly(L), readonly(tasks), readonly(slots), readonly(means_p),
           readonly(chol_p), readonly(prec_p), readonly(np.asarray(log_norm, np.float64)),
           readonly(center), readonly(mu_proj_p), bool(want_entropy), *parts, *outs)
    N, S1, S2, sums = outs
    return N, S1.reshape(-1, k, d), S2.reshape(-1, s2_rows, d, s2_cols), sums


def _one_problem(a):
    """``a`` with a leading problem axis of length 1 (C-contiguous)."""
    return np.ascontiguousarray(a)[None]


def em_pass(X, sw, kind, means, chol, prec, log_norm, center, mu_proj, s2_rows, s2_cols,
            want_entropy=False):
    """One fused E-step + sufficient-statistics pass over all rows of ``X``.

    Returns ``(N, S1, S2, loglik, weight, entropy)``, the statistics shifted
    by ``means`` (and ``center`` for the tied scatter); ``entropy`` is
    ``sum_i w_i sum_j r_ij log r_ij`` when ``want_entropy``, else 0.
    """
    no_resp = np.empty((0, means.shape[0]), X.dtype)
    model = tuple(map(_one_problem, (means, chol, prec, log_norm, center, mu_proj)))
    tasks, slots, _ = chunk_tasks([0, X.shape[0]], [0])
    N, S1, S2, sums = _stats(X, sw, no_resp, kind, model, tasks, slots, s2_rows, s2_cols,
                             want_entropy)
    return N[0], S1[0], S2[0], float(sums[0, 0]), float(sums[0, 1]), float(sums[0, 2])


def resp_stats_pass(X, sw, R, kind, shift, center, s2_rows, s2_cols):
    """Statistics for given responsibilities ``R`` (n, k), shifted by ``shift``.

    ``R`` may also be one label per row (int64, -1 for none): responsibility
    1 there, 0 elsewhere, the statistics bitwise those of the one-hot rows
    without an ``n x k`` array in memory.

    Used at initialisation, where responsibilities come from k-means labels
    or random draws rather than from a model, which the chunk code then does
    not read (zeros of the right shapes). Returns ``(N, S1, S2, weight)``.
    """
    k, d = shift.shape
    zeros = np.zeros((1, k, d), X.dtype)
    chol = np.zeros((1, k if kind == FULL else 1, d, d), X.dtype)
    model = (_one_problem(shift), chol, zeros, np.zeros((1, k)), _one_problem(center), zeros)
    tasks, slots, _ = chunk_tasks([0, X.shape[0]], [0])
    N, S1, S2, sums = _stats(X, sw, R, kind, model, tasks, slots, s2_rows, s2_cols, False)
    return N[0], S1[0], S2[0], float(sums[0, 1])


def many_stats_pass(X, sw, R, offsets, problems, kind, round_rows, means, chol, prec,
                    log_norm, center, mu_proj, s2_rows, s2_cols, want_entropy=False):
    """Statistics of several problems (rows ``offsets[p] .. offsets[p + 1]`` of ``X``), one launch.

    Model arrays carry a leading axis, one entry per problem in ``problems``.
    Each problem is cut into the rounds of ``round_rows`` rows that
    :func:`fastgmm._data.arrays.accumulate` would use, and the round totals are
    added in order, so every problem gets bitwise its own fit's statistics.
    Returns ``(N, S1, S2, loglik, weight, entropy)`` with that leading axis.
    """
    model = (means, chol, prec, log_norm, center, mu_proj)
    tasks, slots, rounds = chunk_tasks(offsets, problems, round_rows)
    N, S1, S2, sums = _stats(X, sw, R, kind, model, tasks, slots, s2_rows, s2_cols,
                             want_entropy)
    first = np.cumsum(rounds) - rounds
    totals = [a[first] for a in (N, S1, S2, sums)]
    for q in range(1, int(rounds.max(initial=1))):
        more = np.flatnonzero(rounds > q)
        for total, a in zip(totals, (N, S1, S2, sums)):
            total[more] += a[first[more] + q]
    N, S1, S2, sums = totals
    return N, S1, S2, sums[:, 0], sums[:, 1], sums[:, 2]


def score_pass(X, kind, means, chol, prec, log_norm, center, mu_proj,
               out_log_norm, out_label, out_log_resp):
    """Per-point log-density, most likely component and (optionally) log-resp.

    ``out_log_resp`` has shape (n, k), or (0, k) when it is not wanted.
    Each chunk writes only its own rows, so the outputs are race-free.
    """
    means_p, chol_p, prec_p, mu_proj_p = padded_model(kind, means, chol, prec, mu_proj)
    tasks, _, _ = chunk_tasks([0, X.shape[0]], [0])
    task = score_task(task_kind(kind, X.shape[1]), X.dtype.name).get()
    launch(_score_parallel, _score_serial, len(tasks), task, readonly(X), readonly(tasks),
           readonly(means_p), readonly(chol_p), readonly(prec_p),
           readonly(np.asarray(log_norm, np.float64)), readonly(center), readonly(mu_proj_p),
           out_log_norm, out_label, out_log_resp)
