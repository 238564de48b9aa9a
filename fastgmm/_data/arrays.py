"""Run the kernels over a data source, a bounded round of rows at a time.

An in-memory array and a ``numpy.memmap`` go through the same code: the
rows are visited in *rounds* of whole chunks, each round is one kernel call
on a view (no copy of C-contiguous data), and the rounds' statistics are
added in order. The round length depends only on the model size, so the
result does not depend on the thread count or on how the data are stored.
"""

from __future__ import annotations

import numpy as np

from .._kernels.layout import CHUNK_ROWS, ROUND_MAX_ROWS, s2_shape
from .._model.stats import KernelModel, Stats
from .missing import MissingValues
from .source import PartitionedSource, nonfinite_error, sum_in_order

# Per-chunk partial statistics of one round stay under this many bytes.
_PARTIALS_BUDGET = 16 * 2**20


def round_rows(model: KernelModel, n_features: int) -> int:
    """Rows per kernel call: a whole number of chunks, fixed for a model shape."""
    k = model.means.shape[0]
    s2 = int(np.prod(s2_shape(model.kind, k, n_features)))
    per_chunk = 8 * (2 + k + k * n_features + s2)
    chunks = max(1, _PARTIALS_BUDGET // per_chunk)
    return int(min(chunks * CHUNK_ROWS, ROUND_MAX_ROWS))


def contiguous_rows(X, start, stop):
    """A contiguous ndarray view of rows ``[start, stop)`` (copy only if X is not C-ordered).

    How every pass cuts an array or memmap into the pieces a kernel call
    reads (rounds here, slices of initial responsibilities in
    :mod:`fastgmm._init.resp`).
    """
    return np.ascontiguousarray(np.asarray(X[start:stop]))


def accumulate(X, sample_weight, model: KernelModel) -> Stats:
    """Responsibilities folded into shifted statistics, over all rows of ``X``.

    Parameters
    ----------
    X : ndarray or numpy.memmap of shape (n_samples, n_features), or a partitioned source
        float32 or float64 data. A
        :class:`~fastgmm._data.source.PartitionedSource` (the Dask path) runs
        this function on each of its partitions and adds the results in
        partition order; it holds its own weights.
    sample_weight : ndarray of shape (n_samples,) or None
        None for a partitioned source.
    model : KernelModel
    """
    if isinstance(X, PartitionedSource):
        return _accumulate_partitions(X, model)
    if isinstance(X, MissingValues):  # rows with NaN entries, marginalised
        return X.accumulate(sample_weight, model)
    # Kernel modules load on first use: building their dispatchers would
    # otherwise add tens of milliseconds to ``import fastgmm``.
    from .._kernels.passes import em_pass

    n, d = X.shape
    k = model.means.shape[0]
    rows_s2 = s2_shape(model.kind, k, d)
    step = round_rows(model, d)
    empty_w = np.empty(0, dtype=X.dtype)
    total = None

    def complete_pass(X_round, w):
        N, S1, S2, ll, wsum, ent = em_pass(X_round, w, *model.args(), rows_s2[0], rows_s2[2],
                                           model.want_entropy)
        return Stats(N, S1, S2, ll, wsum, model.means.astype(np.float64),
                     model.center.astype(np.float64), ent)

    # At least one call, so that no rows still give (zero) statistics.
    for start in range(0, max(n, 1), step):
        stop = min(start + step, n)
        w = empty_w if sample_weight is None else contiguous_rows(sample_weight, start, stop)
        if model.marginalize is not False:  # rows with NaN entries: see _data/missing.py
            from .missing import round_stats

            part = round_stats(contiguous_rows(X, start, stop), w, model, complete_pass,
                               (start, stop))
        else:
            part = complete_pass(contiguous_rows(X, start, stop), w)
        total = part if total is None else total + part
    return total


def _task_em(X, w, index, start, args):
    """EM statistics of one partition for the model of this iteration (a task)."""
    (model,) = args
    return accumulate(np.ascontiguousarray(X), w, model)


def _accumulate_partitions(data: PartitionedSource, model: KernelModel) -> Stats:
    """:func:`accumulate` of every partition, added in partition order."""
    parts = data.map(_task_em, model)
    total = sum_in_order(parts)
    if not np.isfinite(total.loglik):
        raise nonfinite_error(data, parts, lambda s: s.loglik) or ValueError(
            f"The log-likelihood of the {data.label} is {total.loglik}.")
    return total


def far_rows(log_prob: np.ndarray) -> np.ndarray:
    """Rows whose log-density is not finite, or so large that ``log p_j - log p``
    (the log-responsibility) loses more than 1e-3 to rounding (see :mod:`fastgmm._model.far`)."""
    limit = 1e-3 / float(np.finfo(log_prob.dtype).eps)
    # Two reductions, no temporary the size of the data (a memmap's rows are
    # scored in bounded memory); NaN fails both comparisons.
    if -limit <= log_prob.min(initial=0.0) and log_prob.max(initial=0.0) <= limit:
        return np.empty(0, dtype=np.int64)
    return np.flatnonzero(~(np.abs(log_prob) <= limit))


def score(X, model: KernelModel, want_log_resp: bool = False):
    """Per-sample ``log p(x)``, most likely component and optional log-responsibilities.

    Returns
    -------
    log_prob : ndarray of shape (n_samples,)
    labels : ndarray of shape (n_samples,)
    log_resp : ndarray of shape (n_samples, n_components) or None
    """
    from .._kernels.passes import score_pass

    n, d = X.shape
    k = model.means.shape[0]
    log_prob = np.empty(n, dtype=X.dtype)
    labels = np.empty(n, dtype=np.int64)
    log_resp = np.empty((n if want_log_resp else 0, k), dtype=X.dtype)
    step = ROUND_MAX_ROWS
    for start in range(0, n, step):
        stop = min(start + step, n)
        rows = contiguous_rows(X, start, stop)
        out = (log_prob[start:stop], labels[start:stop],
               log_resp[start:stop] if want_log_resp else log_resp)
        score_pass(rows, *model.args(), *out)
        if model.marginalize is not False:  # rows with NaN entries: their marginal density
            from .missing import score_incomplete

            score_incomplete(rows, model, *out)
    far = far_rows(log_prob)
    if far.size and model.marginalize is not False:
        # The far-point rescoring takes complete rows; an incomplete row's
        # marginal density comes from its own kernel above.
        far = far[~np.isnan(X[far]).any(axis=1)]
    if far.size:  # points so far away that the squares overflow or swamp the rest
        from .._model.far import rescore_far_rows

        rescore_far_rows(X, model, log_prob, labels, log_resp, far)
    return log_prob, labels, (log_resp if want_log_resp else None)
