"""Run the kernels over a data source, a bounded slice of rows at a time.

An in-memory array and a ``numpy.memmap`` go through the same code: the
rows are visited in *rounds* of whole chunks, each round is one kernel call
on a view (no copy of C-contiguous data), and the rounds' statistics are
added in order. The round length depends only on the model size, so the
result does not depend on the thread count or on how the data are stored.
"""

from __future__ import annotations

import numpy as np

from ._blocks import CHUNK_ROWS, s2_shape
from ._model import KernelModel, Stats

# Per-chunk partial statistics of one round stay under this many bytes.
_PARTIALS_BUDGET = 16 * 2**20
# A round of a memmap is also bounded in bytes of X it pages in at once.
_ROUND_MAX_ROWS = 256 * CHUNK_ROWS


def round_rows(model: KernelModel, n_features: int) -> int:
    """Rows per kernel call: a whole number of chunks, fixed for a model shape."""
    k = model.means.shape[0]
    s2 = int(np.prod(s2_shape(model.kind, k, n_features)))
    per_chunk = 8 * (2 + k + k * n_features + s2)
    chunks = max(1, _PARTIALS_BUDGET // per_chunk)
    return int(min(chunks * CHUNK_ROWS, _ROUND_MAX_ROWS))


def _rows(X, start, stop):
    """A contiguous ndarray view of rows ``[start, stop)`` (copy only if X is not C-ordered)."""
    return np.ascontiguousarray(np.asarray(X[start:stop]))


def accumulate(X, sample_weight, model: KernelModel) -> Stats:
    """Responsibilities folded into shifted statistics, over all rows of ``X``.

    Parameters
    ----------
    X : ndarray or numpy.memmap of shape (n_samples, n_features), or a chunked source
        float32 or float64 data. A chunked source (e.g. ``fastgmm._dask``'s
        view of a Dask array) has its own ``accumulate(sample_weight, model)``
        that runs this function on each of its chunks and adds the results.
    sample_weight : ndarray of shape (n_samples,) or None
    model : KernelModel
    """
    chunked = getattr(X, "accumulate", None)
    if chunked is not None:
        return chunked(sample_weight, model)
    # Kernel modules load on first use: building their dispatchers would
    # otherwise add tens of milliseconds to ``import fastgmm``.
    from ._passes import em_pass

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
        w = empty_w if sample_weight is None else _rows(sample_weight, start, stop)
        if model.marginalize is not False:  # rows with NaN entries: see fastgmm._missing
            from ._missing import round_stats

            part = round_stats(_rows(X, start, stop), w, model, complete_pass, (start, stop))
        else:
            part = complete_pass(_rows(X, start, stop), w)
        total = part if total is None else total + part
    return total


def score(X, model: KernelModel, want_log_resp: bool = False):
    """Per-sample ``log p(x)``, most likely component and optional log-responsibilities.

    Returns
    -------
    log_prob : ndarray of shape (n_samples,)
    labels : ndarray of shape (n_samples,)
    log_resp : ndarray of shape (n_samples, n_components) or None
    """
    from ._passes import score_pass

    n, d = X.shape
    k = model.means.shape[0]
    log_prob = np.empty(n, dtype=X.dtype)
    labels = np.empty(n, dtype=np.int64)
    log_resp = np.empty((n if want_log_resp else 0, k), dtype=X.dtype)
    step = _ROUND_MAX_ROWS
    for start in range(0, n, step):
        stop = min(start + step, n)
        rows = _rows(X, start, stop)
        out = (log_prob[start:stop], labels[start:stop],
               log_resp[start:stop] if want_log_resp else log_resp)
        score_pass(rows, *model.args(), *out)
        if model.marginalize is not False:  # rows with NaN entries: their marginal density
            from ._missing import score_incomplete

            score_incomplete(rows, model, *out)
    return log_prob, labels, (log_resp if want_log_resp else None)
