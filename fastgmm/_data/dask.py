"""Gaussian mixtures on Dask arrays: chunk passes on the workers, sums on the client.

Every pass over a Dask array is one task per row chunk, run wherever Dask
runs tasks (the workers of the active ``distributed.Client``, else Dask's
default scheduler). A task sees one chunk as an ordinary NumPy array and
calls the same driver as an in-memory fit
(:func:`fastgmm._data.arrays.accumulate` for an EM iteration), so there is
no Dask-specific kernel. The client adds the chunks' small results
(``Stats``, k-means sums) in chunk order and does the ``O(k d^2)`` model
math; the fitted estimator is an ordinary in-memory model. This module is
a data source and knows no estimator: :class:`DaskPartitions` implements
the :class:`~fastgmm._data.source.PartitionedSource` protocol (one
partition per chunk), which the EM pass, the initialisation and the
re-seeding draw accept; the EM loop, the model math and the handling of
``*_init`` are the estimator's own. Every task is a pure function of its
chunk and its arguments (random numbers come from a seed per pass and
chunk), so a task that Dask reruns after losing a worker returns the same
result.

Initialisation never gathers the data: :mod:`fastgmm._init.scalable` runs
k-means|| (``'kmeans'``, ``'k-means++'``), a race for ``'random_from_data'``
and per-chunk draws for ``'random'`` on the chunks, the same code that
initialises a large memmap a partition of rows at a time. These start from other
random numbers than an in-memory fit; from the same ``weights_init``,
``means_init`` and ``precisions_init`` a Dask fit follows the in-memory one
to rounding.

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

from .._kernels.layout import FLOAT_DTYPES
from .arrays import score


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
        if X.dtype not in FLOAT_DTYPES:
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


class DaskPartitions:
    """A validated Dask array (and its weights) as an ordered list of row chunks.

    A :class:`~fastgmm._data.source.PartitionedSource` whose partitions are
    the array's chunks, each passed to a task on the Dask workers.
    """

    label = "Dask array"

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
        call = dask.delayed(_in_task_threads)
        tasks = [call(func, block, w, i, int(start), shared)
                 for i, (block, w, start, rows)
                 in enumerate(zip(self.blocks, self.weights, self.starts, self.rows))
                 if rows > 0]
        return list(_compute(*tasks))

    def first_row(self):
        return np.asarray(self.X[:1].compute(), dtype=np.float64)

    def partition_of(self, position):
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


def _in_task_threads(func, X, w, index, start, args):
    """One task of :meth:`DaskPartitions.map`: ``func`` on its chunk, with the worker's threads."""
    with _task_threads():
        return func(X, w, index, start, args)


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
