"""Gaussian mixtures on Dask arrays: chunk passes on the workers, sums on the client.

Every pass over a Dask array is one task per row chunk, run wherever Dask
runs tasks (the workers of the active ``distributed.Client``, else Dask's
default scheduler). A task sees one chunk as an ordinary NumPy array and
calls the same driver as an in-memory fit (``_engine.accumulate`` for an EM
iteration), so there is no Dask-specific kernel. The client adds the
chunks' small results (``Stats``, k-means sums) in chunk order and does the
``O(k d^2)`` model math; the fitted estimator is an ordinary in-memory
model. This module is a data source and knows no estimator: the EM loop,
the model math and the handling of ``*_init`` are the estimator's own, and
``_engine.accumulate`` and ``_init.initial_stats`` hand a :class:`Chunks`
source to its ``accumulate`` and ``initial_stats`` methods. Every task is a pure function of its chunk and its arguments (random
numbers come from a seed per pass and chunk), so a task that Dask reruns
after losing a worker returns the same result.

Initialisation never gathers the data. ``'kmeans'`` and ``'k-means++'`` use
k-means|| (Bahmani et al., "Scalable k-means++", VLDB 2012):

1. one pass draws a first centre with probability proportional to its
   sample weight (an exponential race: the row with the least
   ``Exp(1) / w_i`` wins), keeping the next ``k - 1`` winners in reserve;
2. ``_KMEANS_ROUNDS`` passes each add every row independently with
   probability ``min(1, l w_i d_i^2 / phi)`` (``l = 2 k`` oversampling,
   ``d_i`` the distance to the nearest candidate, ``phi = sum_i w_i d_i^2``).
   A chunk does not know ``phi`` while it runs, so it returns the rows with
   ``u_i / (w_i d_i^2) < l / phi_chunk`` (a superset, about ``l`` rows) and
   the client keeps those below ``l / phi``;
3. one pass weights each candidate by the sample weight of the rows nearest
   to it; the client runs weighted k-means++ (``'k-means++'``) or k-means++
   and Lloyd (``'kmeans'``) on the few candidates;
4. for ``'kmeans'``, Lloyd iterations continue on the whole data set, one
   pass each, from per-chunk sums about the current centres, until the
   squared centre shift falls below ``1e-4`` of the mean feature variance.

``'random_from_data'`` draws ``k`` rows uniformly (an unweighted race among
rows with positive weight) and ``'random'`` draws responsibilities per
chunk, so these two start from other random numbers than an in-memory fit;
from the same ``weights_init``, ``means_init`` and ``precisions_init`` a
Dask fit follows the in-memory one to rounding.

This module imports Dask; the estimator imports it only when it is given a
Dask array.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from uuid import uuid4

import dask
import dask.array as da
import numpy as np

from ._engine import accumulate, score
from ._init import _one_hot, _one_hot_rows, _random_resp, _stats_from_resp
from ._kmeans import _locked, kmeans, kmeans_plusplus, lloyd_step

# k-means|| oversampling passes and factor (the paper finds 5 rounds of 2k ample).
_KMEANS_ROUNDS = 5
_OVERSAMPLING = 2.0
# Distributed Lloyd iterations, as the in-memory k-means.
_LLOYD_MAX_ITER = 300
_LLOYD_TOL = 1e-4
_SEED_MAX = 2**31 - 1


# ------------------------------------------------------------------ input
def as_float_array(X) -> da.Array:
    """A 2-D Dask array as float32/float64, checked without computing it."""
    if not isinstance(X, da.Array):
        raise TypeError(
            f"fastgmm fits Dask arrays, got a {type(X).__module__}.{type(X).__name__}; "
            "convert it first (for a Dask DataFrame: df.to_dask_array(lengths=True)).")
    if X.ndim != 2:
        raise ValueError(
            f"Expected 2D array, got {X.ndim}D array instead (Dask array of shape "
            f"{X.shape}). Reshape your data either using X.reshape(-1, 1) if your "
            "data has a single feature or X.reshape(1, -1) if it contains a single sample.")
    if X.dtype.kind in "biuf":
        if X.dtype not in (np.float32, np.float64):
            X = X.astype(np.float64)
    else:
        raise ValueError(
            f"Unsupported dtype {X.dtype} of the Dask array X: pass float32 or "
            "float64 data (integers and booleans are converted to float64).")
    return X


def whole_rows(X: da.Array, fitting: bool, estimator_name: str) -> da.Array:
    """``X`` in whole-row chunks (one chunk along the features).

    For fitting, chunk sizes are made known and the size checked as
    ``validate_data`` would. NaN and infinity are found during the first pass.
    """
    X = X.rechunk({1: -1})
    if fitting:
        if any(np.isnan(c) for c in X.chunks[0]):
            X = X.compute_chunk_sizes()
        if X.shape[1] < 1:
            raise ValueError(
                f"Found array with 0 feature(s) (shape={X.shape}) while a minimum "
                f"of 1 is required by {estimator_name}.")
        if X.shape[0] < 2:
            raise ValueError(
                f"Found array with {X.shape[0]} sample(s) (shape={X.shape}) while a "
                f"minimum of 2 is required by {estimator_name}.")
    return X


def check_sample_weight(sample_weight, X: da.Array):
    """Weights as a Dask array chunked like the rows of ``X`` (or None).

    A NumPy array must already be validated; a Dask array is checked here.
    """
    if sample_weight is None:
        return None
    if not isinstance(sample_weight, da.Array):
        # Sent to the workers once per fit.
        return da.from_array(sample_weight, chunks=(X.chunks[0],)).persist()
    w = sample_weight
    if w.ndim != 1 or w.shape[0] != X.shape[0]:
        raise ValueError(f"sample_weight.shape == {w.shape}, expected {(X.shape[0],)}!")
    w = w.astype(X.dtype).rechunk((X.chunks[0],))
    nonfinite, negative, positive = _compute(
        ~da.isfinite(w).all(), (w < 0).any(), (w > 0).any())
    if nonfinite:
        raise ValueError("Input sample_weight contains NaN or infinity.")
    if negative:
        raise ValueError("Negative values in data passed to `sample_weight`.")
    if not positive:
        raise ValueError("Sample weights must contain at least one non-zero number.")
    return w


def _compute(*collections):
    """``dask.compute`` on the active scheduler (one place to observe every pass)."""
    return dask.compute(*collections)


class Chunks:
    """A validated Dask array (and its weights) as an ordered list of row chunks.

    The data source an estimator drives: ``accumulate`` and
    ``initial_stats`` are the calls :func:`fastgmm._engine.accumulate` and
    :func:`fastgmm._init.initial_stats` hand to it.
    """

    def __init__(self, X, sample_weight):
        self.dtype = X.dtype
        self.shape = X.shape
        self.rows = [int(r) for r in X.chunks[0]]
        self.starts = np.concatenate([[0], np.cumsum(self.rows)[:-1]]).astype(np.int64)
        self.blocks = X.to_delayed().ravel().tolist()
        self.weights = ([None] * len(self.blocks) if sample_weight is None
                        else sample_weight.to_delayed().ravel().tolist())
        # Keep the collections alive: a persisted array's chunks live only as
        # long as a reference to it does.
        self.X = X
        self.sample_weight = sample_weight

    def map(self, func, *args):
        """``func(chunk, weights, chunk_index, first_row, args)`` for each non-empty chunk.

        ``args`` is sent once per worker, not once per task; results come
        back in chunk order.
        """
        shared = dask.delayed(args, traverse=False, name=f"fastgmm-args-{uuid4().hex}")
        call = dask.delayed(func)
        tasks = [call(block, w, i, int(start), shared)
                 for i, (block, w, start, rows)
                 in enumerate(zip(self.blocks, self.weights, self.starts, self.rows))
                 if rows > 0]
        return list(_compute(*tasks))

    def accumulate(self, sample_weight, model):
        """EM statistics of every chunk added in chunk order (weights are held here)."""
        return _accumulate(self, model)

    def initial_stats(self, sample_weight, n_components, covariance_type, init_params, rng):
        """Statistics of the initial responsibilities of ``init_params``, chunk by chunk."""
        return _initial_stats_of(self, n_components, covariance_type, init_params, rng)

    def chunk_of(self, position):
        """(chunk index, first row, last row + 1) of the ``position``-th non-empty chunk."""
        nonempty = [i for i, r in enumerate(self.rows) if r > 0]
        i = nonempty[position]
        return i, int(self.starts[i]), int(self.starts[i] + self.rows[i])


# ------------------------------------------------------- inside a task
def _worker_threads():
    """Thread budget of the distributed worker running this task, or None."""
    distributed = sys.modules.get("distributed")
    if distributed is None:
        return None
    try:
        return distributed.get_worker().state.nthreads
    except ValueError:  # not on a worker
        return None


@contextmanager
def _task_threads():
    """Run kernels with the worker's thread budget (restored afterwards).

    A worker with ``threads_per_worker=1`` gets single-threaded kernels, so
    several worker processes on one machine do not oversubscribe it. Outside
    a distributed worker Numba's own setting is kept.
    """
    budget = _worker_threads()
    if budget is None:
        yield
        return
    import numba

    previous = numba.get_num_threads()
    numba.set_num_threads(max(1, min(budget, numba.config.NUMBA_NUM_THREADS)))
    try:
        yield
    finally:
        numba.set_num_threads(previous)


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


def _nearest(X, w, centers):
    """``lloyd_step`` of one chunk: nearest-centre labels, squared distances, sums."""
    n = X.shape[0]
    labels = np.full(n, -1, dtype=np.int64)
    dist = np.empty(n)
    sums, weights, inertia, _ = _locked(lloyd_step, X, _float64_weights(w),
                                        np.ascontiguousarray(centers, dtype=np.float64),
                                        labels, dist)
    return labels, dist, sums, weights, inertia


def _task_em(X, w, index, start, args):
    """EM statistics of one chunk for the model of this iteration."""
    (model,) = args
    with _task_threads():
        return accumulate(np.ascontiguousarray(X), w, model)


def _task_race(X, w, index, start, args):
    """The ``k`` rows with the smallest ``Exp(1) / w_i``.

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
    return keys[top], start + top, np.asarray(X[top], dtype=np.float64)


def _task_oversample(X, w, index, start, args):
    """One k-means|| round: ``phi`` of the chunk and the rows it may contribute."""
    seed, round_, centers, ell = args
    X = np.ascontiguousarray(X)
    with _task_threads():
        _, dist, sums, weights, phi = _nearest(X, w, centers)
    mass = dist if w is None else dist * np.asarray(w, dtype=np.float64)
    u = np.random.default_rng([seed, round_, index]).random(X.shape[0])
    picked = np.empty(0, dtype=np.int64)
    if phi > 0:
        with np.errstate(divide="ignore", invalid="ignore"):
            picked = np.flatnonzero(u < (ell / phi) * mass)
    keys = u[picked] / mass[picked]
    return phi, sums, weights, keys, start + picked, np.asarray(X[picked], dtype=np.float64)


def _task_lloyd(X, w, index, start, args):
    """Per-centre sums about the centres, weights, and the farthest weighted rows."""
    centers, n_far = args
    X = np.ascontiguousarray(X)
    with _task_threads():
        _, dist, sums, weights, inertia = _nearest(X, w, centers)
    if w is not None:
        dist = np.where(np.asarray(w) > 0, dist, -np.inf)
    far = _smallest(-dist, n_far)
    return sums, weights, inertia, dist[far], np.asarray(X[far], dtype=np.float64)


def _task_init_stats(X, w, index, start, args):
    """Statistics of one chunk for initial responsibilities (see ``_initial_stats``)."""
    mode, payload, shift, covariance_type, seed = args
    X = np.ascontiguousarray(X)
    k = shift.shape[0]
    with _task_threads():
        if mode == "nearest":
            make = _one_hot(_nearest(X, w, payload)[0], k)
        elif mode == "rows":
            make = _one_hot_rows(payload - start, k)
        else:  # random
            make = _random_resp(np.random.default_rng([seed, index]), k, w)
        return _stats_from_resp(X, w, make, shift, covariance_type)


def _block_score(X, model, output):
    """``predict`` / ``predict_proba`` / ``score_samples`` of one block."""
    with _task_threads():
        log_prob, labels, log_resp = score(np.ascontiguousarray(X), model,
                                           want_log_resp=output == "proba")
    if output == "labels":
        return labels
    if output == "proba":
        return np.exp(log_resp, out=log_resp)
    return log_prob


# ---------------------------------------------------------- reductions
def _sum_in_order(parts):
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    return total


def _nonfinite_error(data, parts, value_of):
    for position, part in enumerate(parts):
        if not np.isfinite(value_of(part)):
            i, first, last = data.chunk_of(position)
            return ValueError(
                "Input X contains NaN or infinity: the pass over chunk "
                f"{i} (rows {first} to {last - 1}) of the Dask array gave "
                f"{value_of(part)}. Remove or impute those rows before fitting.")
    return None


def _accumulate(data, model):
    parts = data.map(_task_em, model)
    total = _sum_in_order(parts)
    if not np.isfinite(total.loglik):
        raise _nonfinite_error(data, parts, lambda s: s.loglik) or ValueError(
            f"The log-likelihood of the Dask array is {total.loglik}.")
    return total


def _race(data, k, seed, weighted):
    """The ``k`` winners of a race over all rows: their row numbers and rows."""
    parts = data.map(_task_race, seed, k, weighted)
    keys, index, rows = (np.concatenate(p) for p in zip(*parts))
    order = np.argsort(keys, kind="stable")[:k]
    return index[order], rows[order]


def _kmeans_parallel(data, k, seed):
    """k-means|| candidates: rows, their row numbers and the weight nearest to each.

    Also returns the sum of the feature variances (for Lloyd's tolerance).
    A round brings about ``l`` rows per chunk to the client.
    """
    ell = _OVERSAMPLING * k
    reserve_index, reserve_rows = _race(data, k, seed, weighted=True)
    index, rows = reserve_index[:1], reserve_rows[:1]
    variance = None
    for round_ in range(1, _KMEANS_ROUNDS + 1):
        parts = data.map(_task_oversample, seed, round_, rows, ell)
        phi = sum(p[0] for p in parts)
        if not np.isfinite(phi):
            raise _nonfinite_error(data, parts, lambda p: p[0])
        if variance is None:
            # Round 1 measures distances to the single first centre.
            w_total = sum(p[2][0] for p in parts)
            s1 = _sum_in_order([p[1][0] for p in parts]) / w_total
            variance = max(phi / w_total - float(s1 @ s1), 0.0)
        if phi <= 0:
            break
        keys = np.concatenate([p[3] for p in parts])
        keep = keys < ell / phi
        index = np.concatenate([index, np.concatenate([p[4] for p in parts])[keep]])
        rows = np.vstack([rows, np.vstack([p[5] for p in parts])[keep]])
    if len(index) < k:
        # Fewer distinct candidates than components: add race winners.
        extra = ~np.isin(reserve_index, index)
        index = np.concatenate([index, reserve_index[extra]])[:k]
        rows = np.vstack([rows, reserve_rows[extra]])[:k]
    parts = data.map(_task_lloyd, rows, 0)
    cluster_weight = _sum_in_order([p[1] for p in parts])
    return rows, index, cluster_weight, variance


def _distributed_lloyd(data, centers, tol):
    """Lloyd iterations over every chunk from ``centers``; returns the final centres."""
    k = centers.shape[0]
    for _ in range(_LLOYD_MAX_ITER):
        parts = data.map(_task_lloyd, centers, k)
        sums = _sum_in_order([p[0] for p in parts])
        weights = _sum_in_order([p[1] for p in parts])
        if not np.isfinite(sum(p[2] for p in parts)):
            raise _nonfinite_error(data, parts, lambda p: p[2])
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


def _initial_stats(data, mode, payload, shift, covariance_type, seed=0):
    parts = data.map(_task_init_stats, mode, payload, shift, covariance_type, seed)
    return _sum_in_order(parts)


def _initial_stats_of(data, n_components, covariance_type, init_params, rng):
    """Statistics of the chosen initial responsibilities, chunk by chunk."""
    k = n_components
    seed = int(rng.randint(_SEED_MAX))
    if init_params in ("kmeans", "k-means++"):
        rows, index, cluster_weight, variance = _kmeans_parallel(data, k, seed)
        if init_params == "kmeans":
            centers, _ = kmeans(rows, k, rng, cluster_weight)
            tol = _LLOYD_TOL * variance / data.shape[1]
            centers = _distributed_lloyd(data, centers, tol)
            stats = _initial_stats(data, "nearest", centers, centers, covariance_type)
        else:
            seeds, chosen = kmeans_plusplus(rows, k, rng, cluster_weight)
            stats = _initial_stats(data, "rows", index[chosen], seeds, covariance_type)
    elif init_params == "random_from_data":
        index, rows = _race(data, k, seed, weighted=False)
        stats = _initial_stats(data, "rows", index, rows, covariance_type)
    else:  # random
        first = np.asarray(data.X[:1].compute(), dtype=np.float64)
        stats = _initial_stats(data, "random", None, np.repeat(first, k, axis=0),
                               covariance_type, seed)
    return stats


# ------------------------------------------------------------ inference
def map_score(X: da.Array, model, output: str, n_components: int) -> da.Array:
    """Lazy ``output`` of ``X`` under ``model``, one task per block.

    ``output`` is ``'labels'`` (shape (n_samples,)), ``'proba'`` (shape
    (n_samples, n_components)) or ``'log_prob'`` (shape (n_samples,)).
    """
    if output == "proba":
        return X.map_blocks(_block_score, model, output, dtype=X.dtype,
                            chunks=(X.chunks[0], (n_components,)))
    dtype = np.dtype(np.int64) if output == "labels" else X.dtype
    return X.map_blocks(_block_score, model, output, dtype=dtype, drop_axis=1,
                        meta=np.empty((0,), dtype=dtype))
