"""Missing values (NaN entries): exact EM on the observed data, on the ordinary pass.

``GaussianMixture(nan_policy='marginalize')`` treats NaN entries as missing
at random. A round of rows without NaN goes through the complete-data pass
unchanged. Otherwise its rows with NaN take, through
:mod:`fastgmm._kernels.missing`, responsibilities and log-likelihood from
the marginal density of their observed entries and statistics of the
completed row (conditional mean in ``S1``, conditional covariance added to
``S2``):

* 'diag', 'spherical': the whole round in place, one masked kernel for
  complete and incomplete rows alike (:func:`_masked_stats`);
* 'full': the round is split once (:func:`plan_round`): its complete rows
  (a copy) through the complete-data pass, the frequent patterns grouped on
  their observed columns (:func:`_class_stats`), the rows of rarer
  patterns, pattern after pattern, through the kernel of rows in place;
* 'tied': complete rows as for 'full', every incomplete row through the
  per-row kernel.

All give :class:`fastgmm._model.stats.Stats` with the same shifts, so they add up
and the M-step is unchanged. A data set without NaN never reaches this
module (the estimator checks once per fit), so its fit is bitwise the
complete-data one.

:class:`MissingValues` is the data source a fit with missing values runs on:
its ``accumulate`` marks the model so that :func:`fastgmm._data.arrays.accumulate`
splits rounds, and its ``initial_stats`` initialises on a copy of the data
with each NaN replaced by its column's (weighted) mean, so every
``init_params`` runs its ordinary code.
"""

from __future__ import annotations

import dataclasses
import tempfile
import warnings

import numpy as np

from .._kernels.layout import DIAG, FULL, SPHERICAL, TIED, readonly
from .._model import gaussian as _model
from .._model.stats import KernelModel, Stats

# Rows scanned (or filled) at a time when a fit checks its data.
_SCAN_ROWS = 1 << 16


def _kernels():
    from .._kernels import missing  # loaded on first use, see _data.arrays

    return missing


def missing_counts(X: np.ndarray) -> np.ndarray:
    """Number of NaN entries of each row of a C-contiguous float array."""
    counts = np.empty(X.shape[0], dtype=np.int64)
    if X.shape[0]:
        _locked(_kernels().missing_counts, readonly(X), counts)
    return counts


def _locked(func, *args):
    from .._kernels.threads import KERNEL_LOCK

    with KERNEL_LOCK:
        func(*args)


def marginal_arrays(model: KernelModel):
    """The float64 model arrays of the marginal kernels, from a pass's kernel model.

    Derived from the very arrays the complete-data kernels read (means and
    factors in the data's dtype), so both kinds of rows see one model and
    their statistics share the shifts ``model.means`` and ``model.center``.
    """
    means = np.ascontiguousarray(model.means, dtype=np.float64)
    k, d = means.shape
    if model.kind in (FULL, TIED):
        U = np.ascontiguousarray(model.chol, dtype=np.float64)
        Lam = np.ascontiguousarray(U @ np.swapaxes(U, -1, -2))
        prec = np.zeros((k, d))
    else:
        U = Lam = np.zeros((1, 1, 1))
        prec = np.ascontiguousarray(model.prec, dtype=np.float64)
    return (model.kind, means, U, Lam, prec, np.ascontiguousarray(model.log_norm,
                                                                  dtype=np.float64))


# 'full': patterns of missing entries shared by at least this many rows of a
# round run the complete-data chunk code on their observed columns
# (vectorised along rows; a pattern's marginal model costs about what a
# hundred of its rows do); the rows of rarer patterns run, pattern after
# pattern, through the kernel of whole rounds of fastgmm._kernels.masked
# (about as fast per row at a few hundred rows a pattern, and without the
# per-pattern cost). Every incomplete row of a 'tied' fit takes the per-row
# kernel.
GROUP_MIN_ROWS = 256


@dataclasses.dataclass
class RoundPlan:
    """How the rows of one round are split (a function of its NaN positions only).

    ``complete``: rows without NaN, or None when every row is complete;
    ``classes``: per number of observed columns, the patterns run in groups
    (``observed`` (P, o) columns, ``missing`` (P, d - o), ``rows`` concatenated
    by pattern and ``offsets`` (P + 1,)); ``single``: incomplete rows for the
    per-row kernel. Rows with every entry missing appear nowhere.
    """

    complete: np.ndarray | None
    classes: list
    single: np.ndarray


def plan_round(X, grouped: bool = True) -> RoundPlan:
    """:class:`RoundPlan` of a C-contiguous round of rows."""
    counts = missing_counts(X)
    incomplete = counts > 0
    if not incomplete.any():
        return RoundPlan(None, [], np.empty(0, np.int64))
    n, d = X.shape
    complete = np.flatnonzero(~incomplete)
    rows = np.flatnonzero(incomplete & (counts < d))
    if not grouped or not len(rows):
        return RoundPlan(complete, [], rows)
    nan = np.isnan(X[rows])
    packed = np.packbits(nan, axis=1, bitorder="little")
    if packed.shape[1] <= 8:
        wide = np.zeros((len(rows), 8), np.uint8)
        wide[:, :packed.shape[1]] = packed
        keys = wide.view(np.uint64)[:, 0]
    else:
        keys = np.ascontiguousarray(packed).view(np.dtype((np.void, packed.shape[1])))[:, 0]
    uniq, first, inverse, sizes = np.unique(keys, return_index=True, return_inverse=True,
                                            return_counts=True)
    order = np.argsort(inverse, kind="stable")
    big = sizes >= GROUP_MIN_ROWS
    starts = np.concatenate([[0], np.cumsum(sizes)])
    # Rarer patterns: their rows one pattern after the other (the per-row
    # code factorises a pattern's missing block once for a run of its rows).
    single = np.concatenate([rows[order[starts[g]:starts[g + 1]]]
                             for g in np.flatnonzero(~big)] or [np.empty(0, np.int64)])
    observed_counts = d - nan[first].sum(axis=1)
    classes = []
    for o in np.unique(observed_counts[big]):
        groups = np.flatnonzero(big & (observed_counts == o))
        patterns = nan[first[groups]]
        class_rows = np.concatenate([rows[order[starts[g]:starts[g + 1]]] for g in groups])
        offsets = np.concatenate([[0], np.cumsum(sizes[groups])]).astype(np.int64)
        observed = np.stack([np.flatnonzero(~p) for p in patterns]).astype(np.int64)
        missing = np.stack([np.flatnonzero(p) for p in patterns]).astype(np.int64)
        classes.append((observed, missing, class_rows, offsets))
    return RoundPlan(complete, classes, single)


def round_stats(X, w, model: KernelModel, complete_pass, span=None) -> Stats:
    """Statistics of one round of rows (``X`` C-contiguous, ``w`` empty or its weights).

    ``complete_pass(X, w)`` is the complete-data pass of the caller; rows
    with every entry missing add nothing (they were given weight zero).
    When ``model.marginalize`` is a dict, the round's :func:`plan_round` is
    kept there under ``span`` (its first and last row + 1), so the EM
    iterations of a fit split the rows once.
    """
    plans = model.marginalize if isinstance(model.marginalize, dict) else None
    key = (span, X.shape)
    if model.kind in (DIAG, SPHERICAL):
        # Every row in place, through one kernel (a round without NaN
        # through the complete-data pass): see _masked_stats.
        has_nan = None if plans is None else plans.get(key)
        if has_nan is None:
            has_nan = _has_nan(X)
            if plans is not None:
                plans[key] = has_nan
        return _masked_stats(X, w, model) if has_nan else complete_pass(X, w)
    plan = None if plans is None else plans.get(key)
    if plan is None:
        # 'full' groups the frequent patterns; 'tied' never does.
        plan = plan_round(X, grouped=model.kind == FULL)
        if plans is not None:
            plans[key] = plan
    if plan.complete is None:
        return complete_pass(X, w)
    total = complete_pass(np.ascontiguousarray(X[plan.complete]),
                          w[plan.complete] if w.shape[0] else w)
    for group in plan.classes:
        total = total + _class_stats(X, w, model, *group)
    if len(plan.single):
        total = total + _single_stats(X, w, model, plan.single, total)
    return total



def _masked_stats(X, w, model: KernelModel) -> Stats:
    """Statistics of the rows of ``X`` (complete or not), each in place, in fixed chunks.

    'diag' and 'spherical': a whole round, every row through masked
    arithmetic (:func:`fastgmm._kernels.masked.masked_diag_stats`), as
    cheap as a sort of the rows into complete and incomplete ones would be.
    'full': the rows of the rarer patterns (see :func:`plan_round`), one
    pattern after the other (:func:`fastgmm._kernels.masked.masked_full_stats`),
    which factorises a pattern's missing block once per run of its rows.
    """
    from .._kernels import masked  # loaded on first use, as _kernels()
    from .._kernels.layout import CHUNK_ROWS
    from .._kernels.passes import padded_model

    k, d = model.means.shape
    means_p, chol_p, prec_p, _ = padded_model(model.kind, model.means, model.chol, model.prec,
                                              model.mu_proj)
    n_parts = max(1, -(-X.shape[0] // CHUNK_ROWS))
    full = model.kind == FULL
    parts = (np.empty((n_parts, k)), np.empty((n_parts, k, d)),
             np.empty((n_parts, k, d, d if full else 1)), np.empty((n_parts, 2)))
    log_norm = np.ascontiguousarray(model.log_norm, dtype=np.float64)
    if full:
        U = np.asarray(model.chol, dtype=np.float64)
        Lam = np.ascontiguousarray(U @ np.swapaxes(U, -1, -2))
        lam_diag = np.ascontiguousarray(np.diagonal(Lam, axis1=-2, axis2=-1))
        # Determinants of the 2 x 2 blocks (rows a > columns c), for rows
        # missing two entries; the diagonal and upper entries are unused.
        with np.errstate(divide="ignore", invalid="ignore"):
            det2 = lam_diag[:, :, None] * lam_diag[:, None, :] - Lam * Lam
            det2[:, np.arange(d), np.arange(d)] = 1.0
            log_det2 = 0.5 * np.log(det2)
            inv_det2 = 1.0 / det2
        _locked(masked.masked_full_stats, readonly(X), readonly(w), readonly(means_p),
                readonly(chol_p), readonly(log_norm), readonly(Lam),
                readonly(0.5 * np.log(lam_diag)), readonly(1.0 / lam_diag),
                readonly(log_det2), readonly(inv_det2), *parts)
    else:
        half_log_prec = np.zeros(prec_p.shape)
        half_log_prec[:, :d] = (0.5 * np.log(np.asarray(model.prec, dtype=np.float64))
                                - 0.5 * np.log(2 * np.pi))
        _locked(masked.masked_diag_stats, readonly(X), readonly(w), readonly(means_p),
                readonly(prec_p), readonly(log_norm), readonly(half_log_prec), *parts)
    N, S1, S2, sums = (np.add.reduce(p, axis=0) for p in parts)  # in chunk order
    return Stats(N, S1, S2, float(sums[0]), float(sums[1]),
                 np.asarray(model.means, dtype=np.float64),
                 np.asarray(model.center, dtype=np.float64))


def _single_stats(X, w, model, rows, like: Stats) -> Stats:
    """Statistics of the incomplete ``rows`` that are not grouped (shifts and shapes of
    ``like``): 'full' runs a copy of them, in their order, through the kernel of
    whole rounds; 'tied' the per-row kernel."""
    if model.kind == FULL:
        return _masked_stats(np.ascontiguousarray(X[rows]), w[rows] if w.shape[0] else w,
                             model)
    km = _kernels()
    kind, means, U, Lam, prec, log_norm = marginal_arrays(model)
    k, d = means.shape
    n_parts = -(-len(rows) // km.MISSING_BLOCK)
    parts = (np.empty((n_parts, k)), np.empty((n_parts, k, d)),
             np.empty((n_parts,) + like.S2.shape), np.empty((n_parts, 2)))
    center = np.ascontiguousarray(model.center, dtype=np.float64)
    _locked(km.marginal_stats, readonly(X), readonly(w), readonly(rows), kind, means, U,
            Lam, prec, log_norm, center, *parts)
    N, S1, S2, sums = (np.add.reduce(p, axis=0) for p in parts)  # in block order
    return Stats(N, S1, S2, float(sums[0]), float(sums[1]), like.shift, like.center)


def _log_weights(model, means, U):
    """``log phi_j`` of a 'full' kernel model (its ``log_norm`` less the Gaussian constant)."""
    d = means.shape[1]
    log_det = np.log(np.diagonal(U, axis1=-2, axis2=-1)).sum(axis=-1)
    return np.asarray(model.log_norm, np.float64) - log_det + 0.5 * d * np.log(2 * np.pi)


def _class_stats(X, w, model, observed, missing, rows, offsets) -> Stats:
    """Statistics of the patterns of one class (``o`` observed columns each), 'full'.

    Each pattern is a problem of :func:`fastgmm._kernels.passes.many_stats_pass` on
    its rows' observed columns, under the marginal model of those columns,
    all patterns in one launch (the complete-data chunk code, bitwise
    independent of the thread count). The statistics of the observed
    columns are then completed exactly: with ``B = Sigma_mo Sigma_oo^-1``
    and ``C = Sigma_mm - B Sigma_om`` of each pattern and component,
    ``S1_m = B S1_o``, ``S2_mo = B S2_oo`` and ``S2_mm = B S2_oo B^T + N C``.
    """
    from .._kernels.passes import many_stats_pass

    _, means, U, _, _, _ = marginal_arrays(model)
    k, d = means.shape
    P, o = observed.shape
    dtype = X.dtype
    Xc = np.empty((len(rows), o), dtype=X.dtype)
    _locked(_kernels().gather_observed, readonly(X), rows, offsets, observed, Xc)
    wc = w[rows] if w.shape[0] else w
    log_w = np.broadcast_to(_log_weights(model, means, U), (P, k))
    means_o = np.ascontiguousarray(means[:, observed].transpose(1, 0, 2))  # (P, k, o)
    km = _kernels()
    m = d - o
    Uinv = np.linalg.inv(U)
    Sigma = np.ascontiguousarray(np.swapaxes(Uinv, -1, -2) @ Uinv)  # (k, d, d)
    prec_chol = np.empty((P, k, o, o))
    B = np.empty((P, k, m, o))
    C = np.empty((P, k, m, m))
    _locked(km.pattern_models, Sigma, observed, missing, prec_chol, B, C)
    sub = _model.kernel_model(np.exp(log_w), means_o, prec_chol, "full", dtype,
                              log_weights=log_w)
    N, S1, S2, ll, wsum, _ = many_stats_pass(
        Xc, readonly(wc) if wc.shape[0] else wc, np.empty((0, k), dtype), offsets,
        np.arange(P), sub.kind, int(max(np.diff(offsets).max(), 1)), sub.means, sub.chol,
        sub.prec, sub.log_norm, np.zeros((P, o), dtype), sub.mu_proj, k, o)
    S1_full = np.zeros((k, d))
    S2_full = np.zeros((k, d, d))
    _locked(km.complete_pattern_stats, N, S1, np.ascontiguousarray(S2), observed, missing, B,
            C, S1_full, S2_full)
    shift = np.asarray(model.means, dtype=np.float64)
    return Stats(np.add.reduce(N, axis=0), S1_full, S2_full, float(np.add.reduce(ll)),
                 float(np.add.reduce(wsum)), shift, np.asarray(model.center, np.float64))


def _run_on_incomplete_rows(kernel_name: str, X, model: KernelModel, *out) -> None:
    """Run the marginal kernel ``kernel_name`` on the rows of ``X`` with NaN entries."""
    rows = np.flatnonzero(missing_counts(X))
    if not len(rows):
        return
    _locked(getattr(_kernels(), kernel_name), readonly(X), rows, *marginal_arrays(model), *out)


def score_incomplete(X, model: KernelModel, log_prob, labels, log_resp) -> None:
    """Overwrite the scores of the rows of ``X`` with NaN by their marginal ones."""
    _run_on_incomplete_rows("marginal_score", X, model, log_prob, labels, log_resp)


def impute(X, model: KernelModel, out: np.ndarray) -> None:
    """Fill the NaN entries of ``out`` (a copy of ``X``) with their conditional expectation."""
    _run_on_incomplete_rows("marginal_impute", X, model, out)


# ------------------------------------------------------------ the fit's data
@dataclasses.dataclass
class Scan:
    """What a fit needs to know about the NaN entries of its data (one pass)."""

    has_nan: bool
    all_missing: int  # rows with every entry NaN
    usable: int  # rows with an observed entry and a positive weight
    complete: int  # rows without NaN and with a positive weight
    observed: np.ndarray  # (d,) observed entries per column (rows of positive weight)
    column_means: np.ndarray  # (d,) weighted mean of each column's observed entries


def _scan_block(X, w):
    X = np.asarray(X)
    nan = np.isnan(X)
    per_row = nan.sum(axis=1)
    d = X.shape[1]
    weight = np.ones(X.shape[0]) if w is None else np.asarray(w, dtype=np.float64)
    live = weight > 0
    obs = ~nan & live[:, None]
    sums = np.where(obs, X, 0).astype(np.float64).T @ weight
    mass = obs.T.astype(np.float64) @ weight
    return (bool(per_row.any()), int(np.sum(per_row == d)),
            int(np.sum((per_row < d) & live)), int(np.sum((per_row == 0) & live)),
            obs.sum(axis=0), sums, mass)


def _scan_total(parts, d) -> Scan:
    observed = np.zeros(d, dtype=np.int64)
    sums = np.zeros(d)
    mass = np.zeros(d)
    has_nan, all_missing, usable, complete = False, 0, 0, 0
    for p in parts:
        has_nan |= p[0]
        all_missing += p[1]
        usable += p[2]
        complete += p[3]
        observed += p[4]
        sums += p[5]
        mass += p[6]
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(mass > 0, sums / np.where(mass > 0, mass, 1.0), 0.0)
    return Scan(has_nan, all_missing, usable, complete, observed, means)


def scan(X, sample_weight) -> Scan:
    """:class:`Scan` of an array or memmap, a block of rows at a time."""
    n, d = X.shape
    parts = [_scan_block(X[s:s + _SCAN_ROWS],
                         None if sample_weight is None else sample_weight[s:s + _SCAN_ROWS])
             for s in range(0, n, _SCAN_ROWS)]
    return _scan_total(parts, d)


def scan_dask(X, sample_weight) -> Scan:
    """:class:`Scan` of a Dask array (one pass on the workers)."""
    import dask

    blocks = X.to_delayed().ravel().tolist()
    weights = ([None] * len(blocks) if sample_weight is None
               else sample_weight.to_delayed().ravel().tolist())
    parts = dask.compute(*[dask.delayed(_scan_block)(b, w) for b, w in zip(blocks, weights)])
    return _scan_total(parts, X.shape[1])


def check_scan(found: Scan, n_components: int, policy: str) -> None:
    """The errors and warning of a fit with missing values (see the user guide)."""
    empty = np.flatnonzero(found.observed == 0)
    if len(empty):
        names = ", ".join(str(int(a)) for a in empty[:10])
        raise ValueError(
            f"Column {names} of X has no observed value (every entry is NaN"
            f"{' or has zero weight' if found.usable else ''}): nothing can be learnt about "
            "it; drop the column before fitting.")
    if policy == "omit":
        if found.complete < n_components:
            raise ValueError(
                f"nan_policy='omit' leaves {found.complete} rows without NaN (and with a "
                f"positive weight), fewer than n_components={n_components}; use "
                "nan_policy='marginalize' to fit the incomplete rows too.")
        return
    if found.usable < n_components:
        raise ValueError(
            f"X has {found.usable} rows with at least one observed entry (and a positive "
            f"weight), fewer than n_components={n_components}.")
    if found.all_missing:
        warnings.warn(
            f"{found.all_missing} rows of X have every entry missing (NaN); they carry no "
            "information and are given weight zero.", UserWarning, stacklevel=6)


def _fill_block(X, column_means):
    X = np.array(X, copy=True)
    nan = np.isnan(X)
    if nan.any():
        X[nan] = np.broadcast_to(column_means.astype(X.dtype), X.shape)[nan]
    return X


def filled(X, column_means):
    """``X`` with each NaN replaced by its column's mean: a copy in memory, a
    temporary memmap for a memmap, a lazy Dask array for a Dask array."""
    if type(X).__module__.startswith("dask"):
        return X.map_blocks(_fill_block, column_means, dtype=X.dtype)
    from .._init.dispatch import _on_disk

    if not _on_disk(X):
        return _fill_block(X, column_means)
    handle = tempfile.TemporaryFile(prefix="fastgmm-init-")
    out = np.memmap(handle, dtype=X.dtype, mode="w+", shape=X.shape)
    for s in range(0, X.shape[0], _SCAN_ROWS):
        out[s:s + _SCAN_ROWS] = _fill_block(X[s:s + _SCAN_ROWS], column_means)
    out.flush()
    return out


def omit(X, sample_weight):
    """The rows of ``X`` (and weights) without NaN: in memory, or lazily for Dask."""
    if type(X).__module__.startswith("dask"):
        import dask.array as da

        keep = ~da.isnan(X).any(axis=1)
        X = X[keep].compute_chunk_sizes()
        if sample_weight is not None:
            sample_weight = sample_weight[keep].compute_chunk_sizes().rechunk((X.chunks[0],))
        return X, sample_weight
    keep = np.concatenate([~np.isnan(np.asarray(X[s:s + _SCAN_ROWS])).any(axis=1)
                           for s in range(0, X.shape[0], _SCAN_ROWS)])
    X = np.ascontiguousarray(X[keep])
    if sample_weight is not None:
        sample_weight = np.ascontiguousarray(sample_weight[keep])
    return X, sample_weight


class MissingValues:
    """A data source whose rows may hold NaN entries, fitted by marginalising them.

    Wraps an array, a memmap or a chunked source (Dask); passes run on the
    wrapped data with a model marked ``marginalize``, and the initialisation
    runs on :func:`filled` data.
    """

    def __init__(self, data, column_means, fill_source=None):
        self.data = data
        self.shape = data.shape
        self.dtype = data.dtype
        self.column_means = column_means
        self._fill_source = fill_source
        self._filled = None
        # How each round of an array or memmap splits (kept for the fit); the
        # chunks of a Dask array are split in their tasks.
        self._plans = None if hasattr(data, "map") else {}

    def accumulate(self, sample_weight, model):
        from .arrays import accumulate

        plans = True if self._plans is None else self._plans.setdefault(model.kind, {})
        return accumulate(self.data, sample_weight, dataclasses.replace(model, marginalize=plans))

    def filled(self):
        """The mean-filled data the initialisation (and re-seeding) draws from."""
        if self._filled is None:
            self._filled = (self._fill_source(self.column_means) if self._fill_source
                            else filled(self.data, self.column_means))
        return self._filled

    def initial_stats(self, sample_weight, n_components, covariance_type, init_params, rng):
        from .._init.dispatch import initial_stats

        return initial_stats(self.filled(), sample_weight, n_components, covariance_type,
                             init_params, rng)


def _has_nan(X) -> bool:
    """Whether an array or memmap holds a NaN (X is finite otherwise), block by block.

    A block's plain sum is NaN exactly when the block holds a NaN (or, very
    rarely, when it overflows both ways); only then are its entries tested.
    """
    for s in range(0, X.shape[0], _SCAN_ROWS):
        block = np.asarray(X[s:s + _SCAN_ROWS])
        if np.isnan(np.sum(block)) and np.isnan(block).any():
            return True
    return False


def fit_data(X, sample_weight, policy: str, n_components: int):
    """The data source and weights a fit under ``nan_policy`` runs on.

    Data without NaN are returned as they are (the fit is then the
    complete-data one, bitwise); otherwise the rows without NaN
    (``'omit'``) or a :class:`MissingValues` source (``'marginalize'``).
    """
    if not _has_nan(X):
        return X, sample_weight
    found = scan(X, sample_weight)
    check_scan(found, n_components, policy)
    if policy == "omit":
        return omit(X, sample_weight)
    return MissingValues(X, found.column_means), sample_weight


def dask_fit_data(X, sample_weight, policy: str, n_components: int):
    """:func:`fit_data` of a Dask array (and its Dask weights): a chunked source."""
    from . import dask as _dask

    found = scan_dask(X, sample_weight)
    if not found.has_nan:
        return _dask.DaskPartitions(X, sample_weight)
    check_scan(found, n_components, policy)
    if policy == "omit":
        return _dask.DaskPartitions(*omit(X, sample_weight))
    return MissingValues(_dask.DaskPartitions(X, sample_weight), found.column_means,
                         lambda means: _dask.DaskPartitions(filled(X, means), sample_weight))


def reject_in_partial_fit(X, policy: str) -> None:
    """partial_fit takes no NaN: a clear error instead of scikit-learn's."""
    values = X if type(X).__module__.startswith("dask") else np.asarray(X)
    try:
        nan = bool(np.isnan(values).any())
    except TypeError:  # not numeric: left to the ordinary validation
        return
    if nan:
        raise ValueError(
            f"partial_fit does not take missing values (NaN entries of X), whatever "
            f"nan_policy={policy!r}: missing values are supported by GaussianMixture.fit; "
            "fit the data with fit, or drop or impute the incomplete rows of each batch.")


def impute_array(X, model: KernelModel) -> np.ndarray:
    """:meth:`GaussianMixture.impute` of a validated C-contiguous array (or memmap)."""
    from .._kernels.layout import ROUND_MAX_ROWS as _ROUND_MAX_ROWS

    out = np.array(X, copy=True, order="C")
    for s in range(0, X.shape[0], _ROUND_MAX_ROWS):
        impute(np.ascontiguousarray(X[s:s + _ROUND_MAX_ROWS]), model,
               out[s:s + _ROUND_MAX_ROWS])
    return out


def _impute_block(X, model):
    from .dask import _task_threads

    with _task_threads():
        return impute_array(np.ascontiguousarray(X), model)


def impute_dask(X, model: KernelModel):
    """:meth:`GaussianMixture.impute` of a Dask array, lazily, one task per block."""
    return X.map_blocks(_impute_block, model, dtype=X.dtype)
