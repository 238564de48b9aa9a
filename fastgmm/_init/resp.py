"""Initial responsibilities, a bounded slice of rows at a time -> statistics.

Every initialisation (in memory, over the row blocks of a large memmap, or
over Dask chunks) ends here: a ``make_resp(start, stop)`` gives the
responsibilities of rows ``[start, stop)`` and :func:`stats_from_resp`
folds them into :class:`~fastgmm._model.stats.Stats`, so nothing of size
``n x k`` is ever held. Hard assignments (k-means) come as one label per
row (:func:`labelled`), which the statistics pass reads as one-hot rows.
"""

from __future__ import annotations

import numpy as np

from .._kernels.layout import FULL, KIND_CODES, SLICE_ROWS, s2_shape
from .._data.arrays import contiguous_rows
from .._model.stats import Stats


def stats_from_resp(X, sample_weight, make_resp, shift, covariance_type):
    """Statistics for responsibilities produced slice by slice by ``make_resp``.

    ``make_resp(start, stop)`` returns rows ``[start, stop)`` of the
    responsibilities (m, k), or their labels (m,) for one-hot rows.
    """
    from .._kernels.passes import resp_stats_pass  # loaded on first use, see _data.arrays

    n, d = X.shape
    k = shift.shape[0]
    kind = KIND_CODES[covariance_type]
    s2 = s2_shape(kind, k, d)
    shift = np.ascontiguousarray(shift, dtype=X.dtype)
    center = np.ascontiguousarray(shift[0])
    empty_w = np.empty(0, dtype=X.dtype)
    total = None
    for start in range(0, n, SLICE_ROWS):
        stop = min(start + SLICE_ROWS, n)
        R = make_resp(start, stop)
        R = np.ascontiguousarray(R, dtype=np.int64 if R.ndim == 1 else X.dtype)
        w = empty_w if sample_weight is None else contiguous_rows(sample_weight, start, stop)
        N, S1, S2, wsum = resp_stats_pass(contiguous_rows(X, start, stop), w, R, kind, shift,
                                          center, s2[0], s2[2])
        part = Stats(N, S1, S2, 0.0, wsum, shift.astype(np.float64),
                     center.astype(np.float64))
        total = part if total is None else total + part
    return total


def total_weight(sample_weight, n):
    """The total weight of ``n`` rows: ``n``, or the sum of ``sample_weight``."""
    if sample_weight is None:
        return float(n)
    return float(np.sum(sample_weight, dtype=np.float64))


def seed_row_stats(rows, row_weights, weight, covariance_type):
    """Statistics of responsibility 1 for component ``j`` at ``rows[j]``, 0 at every other row.

    The other rows add nothing, so these are the statistics of a pass over
    just the seed rows (each component's from its own row, shifted by it),
    with ``weight``, that of all rows. ``row_weights`` is None or the
    seed rows' sample weights.
    """
    k = len(rows)
    stats = stats_from_resp(rows, row_weights, one_hot_rows(np.arange(k), k),
                            np.asarray(rows, dtype=np.float64), covariance_type)
    stats.weight = float(weight)
    return stats


def every_row_stats(X, sample_weight, center):
    """Tied statistics of responsibility 1 on every row (one component), about ``center``.

    With :func:`fastgmm._model.leave_unassigned` they give a seed-row
    initialisation scikit-learn's tied covariance (its ``X^T X`` runs over
    all rows).
    """
    def ones(start, stop):
        return np.ones((stop - start, 1))
    center = np.asarray(center, dtype=np.float64)
    return stats_from_resp(X, sample_weight, ones, center[None], "tied")


def resp_rows(make_resp, n, k, dtype):
    """All ``n >= 1`` rows of ``make_resp`` (k columns, labels made one-hot), drawn
    slice by slice as :func:`stats_from_resp` draws them."""
    def dense(R):
        if R.ndim == 2:
            return np.asarray(R, dtype=dtype)
        out = np.zeros((len(R), k), dtype=dtype)
        hit = R >= 0
        out[np.flatnonzero(hit), R[hit]] = 1.0
        return out
    return np.concatenate([dense(make_resp(start, min(start + SLICE_ROWS, n)))
                           for start in range(0, n, SLICE_ROWS)])


def stats_from_resp_many(X, sample_weight, offsets, resp, shifts, covariance_type):
    """:func:`stats_from_resp` of several problems in one pass, each bitwise its own.

    Problem ``i`` is rows ``offsets[i] .. offsets[i + 1]`` of ``X``, with those
    rows of ``resp`` as its responsibilities and ``shifts[i]`` (k, d) as its
    shifts; ``sample_weight`` is None or one weight per row. The rows are
    cut into the slices :func:`stats_from_resp` uses, so every problem gets
    the statistics its own call gives. Returns a Stats with a leading
    problem axis.
    """
    from .._kernels.passes import many_stats_pass  # loaded on first use, see _data.arrays

    m, k, d = shifts.shape
    kind = KIND_CODES[covariance_type]
    s2 = s2_shape(kind, k, d)
    shifts = np.ascontiguousarray(shifts, dtype=X.dtype)
    centers = np.ascontiguousarray(shifts[:, 0])
    zeros = np.zeros((m, k, d), X.dtype)
    chol = np.zeros((m, k if kind == FULL else 1, d, d), X.dtype)
    w = np.empty(0, dtype=X.dtype) if sample_weight is None else sample_weight
    N, S1, S2, _, wsum, _ = many_stats_pass(
        np.ascontiguousarray(X), w, np.ascontiguousarray(resp, dtype=X.dtype),
        np.asarray(offsets, dtype=np.int64), np.arange(m), kind, SLICE_ROWS, shifts, chol,
        zeros, np.zeros((m, k)), centers, zeros, s2[0], s2[2])
    return Stats(N, S1, S2, np.zeros(m), wsum, shifts.astype(np.float64),
                 centers.astype(np.float64))


def labelled(labels):
    """Responsibility 1 for each row's label (-1: none), as the labels of each slice."""
    labels = np.asarray(labels, dtype=np.int64)

    def make(start, stop):
        return labels[start:stop]
    return make


def one_hot_rows(indices, k):
    """Responsibility 1 of component j at row ``indices[j]``, 0 elsewhere (no n-sized array)."""
    indices = np.asarray(indices, dtype=np.int64)

    def make(start, stop):
        R = np.zeros((stop - start, k))
        hit = np.flatnonzero((indices >= start) & (indices < stop))
        R[indices[hit] - start, hit] = 1.0
        return R
    return make


def random_resp(rng, k, sample_weight):
    """Uniform random responsibilities, drawn only for rows that carry weight.

    Skipping zero-weight rows keeps the draws of the other rows exactly those
    of a fit without the zero-weight rows.
    """
    def make(start, stop):
        if sample_weight is None:
            rows = slice(None)
            count = stop - start
        else:
            rows = np.flatnonzero(np.asarray(sample_weight[start:stop]) > 0)
            count = len(rows)
        R = np.zeros((stop - start, k))
        draws = rng.uniform(size=(count, k))
        R[rows] = draws / draws.sum(axis=1)[:, None]
        return R
    return make
