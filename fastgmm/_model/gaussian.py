"""Gaussian model math in NumPy: statistics -> parameters -> what the kernels need.

The maximum-likelihood M-step, the Cholesky factors of the precisions and
the per-iteration arrays of :class:`~fastgmm._model.stats.KernelModel`.

Everything here is ``O(k d^2)`` (or ``O(k d^3)`` for the Cholesky factors):
it never touches the data.
"""

from __future__ import annotations

import math

import numpy as np

from .._kernels.layout import DIAG, FULL, KIND_CODES, SPHERICAL, TIED
from .stats import KernelModel, Stats, symmetric_from_lower

SINGULAR_MESSAGE = (
    "Fitting the mixture model failed because some components have "
    "ill-defined empirical covariance (for instance caused by singleton "
    "or collapsed samples). Try to decrease the number of components, "
    "increase reg_covar, or scale the input data."
)


def m_step(stats: Stats, covariance_type: str, reg_covar: float, dtype,
           normalize_weights: bool = True):
    """Weights, means and covariances from shifted sufficient statistics.

    scikit-learn's estimators, ``nk = N + 10 eps`` included, computed from
    shifted statistics so that data far from the origin lose no precision:
    ``mu = c + S1 / nk`` (the ``10 eps`` damps the move from the shift
    ``c``, where scikit-learn's damps ``mu`` towards the origin by a
    relative ``10 eps / N``, which float32 data far from the origin would
    feel). An empty component (``N = 0``) gets scikit-learn's mean 0 and
    covariance ``reg_covar * I``.
    Diagonal and spherical variances are floored at :func:`variance_floor`.
    Tied: statistics with :attr:`Stats.unassigned` (seed-row initialisations)
    add that mass's second moment about the origin to the pooled scatter, as
    scikit-learn's ``X^T X - sum_j nk_j mu_j mu_j^T`` does.
    ``normalize_weights=False`` divides by the total sample weight instead of
    ``sum(nk)``, as scikit-learn does when it initialises from
    responsibilities. Statistics with a leading problem axis (``N`` of shape
    (n_problems, k), and so on; ``fit_many``) give parameters with that
    axis, each bitwise what its problem alone would give.
    """
    N, S1, S2 = stats.N, stats.S1, stats.S2
    nk = N + 10 * np.finfo(dtype).eps
    total = nk.sum(axis=-1) if normalize_weights else np.asarray(stats.weight)
    weights = nk / total[..., None]
    delta = S1 / nk[..., None]
    means = stats.shift + delta
    # A component no point reaches (every share flushed to 0 by the E-step)
    # gets scikit-learn's mean, sum_i r_ij x_i / nk = 0, whatever its shift.
    empty = N == 0
    if np.any(empty):
        means[empty] = 0.0
        delta[empty] = -stats.shift[empty]
    d = means.shape[-1]
    diag = np.arange(d)
    if covariance_type == "full":
        S2 = symmetric_from_lower(S2)
        outer = np.einsum("...ka,...kb->...kab", S1, delta)
        cov = S2 - outer - np.swapaxes(outer, -1, -2)
        cov += N[..., None, None] * np.einsum("...ka,...kb->...kab", delta, delta)
        cov /= nk[..., None, None]
        cov[..., diag, diag] += reg_covar
    elif covariance_type == "tied":
        S2 = symmetric_from_lower(S2[..., 0, :, :])
        center = stats.center[..., None, :]
        A = S1 + N[..., None] * (stats.shift - center)
        delta_c = means - center
        cross = np.swapaxes(A, -1, -2) @ delta_c
        cov = (S2 - cross - np.swapaxes(cross, -1, -2)
               + np.swapaxes(N[..., None] * delta_c, -1, -2) @ delta_c)
        if stats.unassigned is not None:
            # scikit-learn's X^T X runs over all rows whatever their
            # responsibilities: add the second moment (about the origin) of
            # the mass they leave unassigned.
            U = stats.unassigned
            c = stats.center
            first = U[..., 1:, 0]
            outer = c[..., :, None] * first[..., None, :]
            cov = cov + (U[..., 1:, 1:] + outer + np.swapaxes(outer, -1, -2)
                         + U[..., 0, 0][..., None, None] * (c[..., :, None] * c[..., None, :]))
        cov /= nk.sum(axis=-1)[..., None, None]
        cov[..., diag, diag] += reg_covar
    else:
        S2 = S2[..., 0]
        cov = (S2 - 2 * S1 * delta + N[..., None] * delta**2) / nk[..., None]
        cov = np.maximum(cov, variance_floor(means, dtype)) + reg_covar
        if covariance_type == "spherical":
            cov = cov.mean(axis=-1)
    return weights, means, cov


def variance_floor(means, dtype):
    """The variance of rounding ``x`` to ``dtype`` near ``means``: ``spacing(mu)^2 / 12``.

    A spread below it cannot be told apart from the rounding of the data
    themselves (a value stored in ``dtype`` is known to half a spacing, a
    uniform error of that width has this variance). Diagonal and spherical
    variances never fall below it, so a component on a single point or on
    duplicated rows keeps a positive variance where scikit-learn's
    ``E[x^2] - mu^2`` keeps one by rounding; at a mean of exactly 0 the floor
    is 0 and such a component is ill-defined, as in scikit-learn.
    """
    spacing = np.spacing(np.abs(np.asarray(means, dtype=dtype))).astype(np.float64)
    return spacing**2 / 12.0


def _singular_error(dtype) -> ValueError:
    message = SINGULAR_MESSAGE
    if dtype == np.float32:
        message += (" The numerical accuracy can also be improved by passing "
                    "float64 data instead of float32.")
    return ValueError(message)


def ill_defined(covariances, covariance_type) -> np.ndarray:
    """Which components' covariances have no Cholesky factor (a bool per component).

    The test :func:`precision_cholesky` applies, one component at a time:
    a full matrix that is not positive-definite (or not finite), a diagonal
    or spherical variance that is not positive. For 'full', 'diag' and
    'spherical' (the shared 'tied' matrix belongs to no one component).
    """
    cov = np.asarray(covariances, dtype=np.float64)
    if covariance_type == "full":
        bad = np.zeros(len(cov), dtype=bool)
        for j, matrix in enumerate(cov):
            if not np.all(np.isfinite(matrix)):
                bad[j] = True
                continue
            try:
                np.linalg.cholesky(matrix)
            except np.linalg.LinAlgError:
                bad[j] = True
        return bad
    if covariance_type == "diag":
        return ~np.all((cov > 0.0) & np.isfinite(cov), axis=-1)
    return ~((cov > 0.0) & np.isfinite(cov))


def data_covariance(stats: Stats, covariance_type: str):
    """The covariance of all the data of a pass, in the shape of one component's.

    The components' shifted statistics are moved to a common centre
    (:meth:`Stats.reshifted`, exact algebra) and added: since every row's
    responsibilities sum to 1 this is the weighted scatter of the rows, no
    extra pass needed. Shape (d, d) for 'full' and 'tied', (d,) for 'diag',
    a float for 'spherical' (the mean of the feature variances).
    """
    N = stats.N
    total = float(N.sum())
    center = (N @ stats.shift) / total if total > 0 else stats.shift[0]
    k = len(N)
    moved = stats.reshifted(np.repeat(center[None], k, axis=0), center, covariance_type)
    first = moved.S1.sum(axis=0) / total
    if covariance_type == "tied":
        return moved.S2[0] / total - np.outer(first, first)
    if covariance_type == "full":
        return moved.S2.sum(axis=0) / total - np.outer(first, first)
    variances = moved.S2[:, :, 0].sum(axis=0) / total - first**2
    return variances if covariance_type == "diag" else float(variances.mean())


def precision_cholesky(covariances, covariance_type, dtype=np.float64):
    """Upper-triangular ``U`` with ``U U^T = inv(cov)``, as scikit-learn defines it."""
    cov = np.asarray(covariances, dtype=np.float64)
    if covariance_type in ("full", "tied"):
        if not np.all(np.isfinite(cov)):
            raise _singular_error(dtype)
        try:
            L = np.linalg.cholesky(cov)
        except np.linalg.LinAlgError:
            raise _singular_error(dtype) from None
        return np.swapaxes(_inverse_lower(L), -1, -2)
    if not np.all(cov > 0.0) or not np.all(np.isfinite(cov)):
        raise _singular_error(dtype)
    return 1.0 / np.sqrt(cov)


def _inverse_lower(L):
    """``inv(L)`` of each lower-triangular ``L``, by forward substitution.

    scikit-learn's ``solve_triangular`` algorithm, one row at a time for all
    matrices at once (a general ``solve`` factorises each matrix again and
    was 3x slower on fit_many's stacks of small matrices); the upper
    triangle comes out exactly 0, which a model file checks.
    """
    inv = np.zeros_like(L)
    for i in range(L.shape[-1]):
        row = -(L[..., i:i + 1, :i] @ inv[..., :i, :])[..., 0, :]
        row[..., i] += 1.0
        inv[..., i, :] = row / L[..., i, i, None]
    return inv


def precision_cholesky_from_precisions(precisions, covariance_type):
    """The same factor computed from user-given precision matrices."""
    P = np.asarray(precisions, dtype=np.float64)
    if covariance_type in ("full", "tied"):
        flipped = np.flip(P, axis=(-2, -1))
        return np.flip(np.linalg.cholesky(flipped), axis=(-2, -1)).copy()
    return np.sqrt(P)


def precisions_from_cholesky(prec_chol, covariance_type):
    """``precisions_`` from ``precisions_cholesky_``."""
    if covariance_type in ("full", "tied"):
        return prec_chol @ np.swapaxes(prec_chol, -1, -2)
    return prec_chol**2


def covariances_from_cholesky(prec_chol, covariance_type):
    """``covariances_`` from ``precisions_cholesky_`` (inverse of the precision)."""
    if covariance_type in ("full", "tied"):
        eye = np.broadcast_to(np.eye(prec_chol.shape[-1]), prec_chol.shape)
        inv_u = np.linalg.solve(prec_chol, eye)
        return np.swapaxes(inv_u, -1, -2) @ inv_u
    return 1.0 / prec_chol**2


def log_det_cholesky(prec_chol, covariance_type, n_features):
    """``log det U`` per component (equals ``-log det(cov) / 2``).

    A leading problem axis is kept (tied: one value per problem).
    """
    if covariance_type in ("full", "tied"):
        return np.log(np.diagonal(prec_chol, axis1=-2, axis2=-1)).sum(axis=-1)
    if covariance_type == "diag":
        return np.log(prec_chol).sum(axis=-1)
    return n_features * np.log(prec_chol)


def kernel_model(weights, means, prec_chol, covariance_type, dtype,
                 log_weights=None) -> KernelModel:
    """Precompute the per-iteration arrays of :class:`KernelModel` in ``dtype``.

    ``log_weights`` (default ``log(weights)``) is the per-component constant
    added to each Gaussian log-density; the variational E-step puts its
    expectations there. With a leading problem axis on the parameters
    (``means`` of shape (n_problems, k, d); ``fit_many``) every array gets
    that axis too.
    """
    kind = KIND_CODES[covariance_type]
    weights = np.asarray(weights, dtype=np.float64)
    means = np.asarray(means, dtype=np.float64)
    lead = means.shape[:-2]
    k, d = means.shape[-2:]
    if log_weights is None:
        with np.errstate(divide="ignore"):
            log_weights = np.log(weights)
    log_det = log_det_cholesky(prec_chol, covariance_type, d)
    if covariance_type == "tied":
        log_det = np.asarray(log_det)[..., None]
    log_norm = log_weights + log_det - 0.5 * d * math.log(2 * math.pi)
    chol = np.zeros(lead + (1, 1, 1))
    prec = np.zeros(lead + (1, 1))
    center = np.zeros(lead + (d,))
    mu_proj = np.zeros(lead + (1, 1))
    if kind == FULL:
        chol = prec_chol
    elif kind == TIED:
        chol = prec_chol[..., None, :, :]
        # A common shift keeps (x - c) U small for data far from the origin.
        center = (weights[..., None, :] @ means)[..., 0, :]
        mu_proj = (means - center[..., None, :]) @ prec_chol
    elif kind == DIAG:
        prec = prec_chol**2
    elif kind == SPHERICAL:
        prec = np.repeat((prec_chol**2)[..., None], d, axis=-1)

    def cast(a):
        return np.ascontiguousarray(a, dtype=dtype)

    return KernelModel(kind, cast(means), cast(chol), cast(prec),
                       np.ascontiguousarray(log_norm, dtype=np.float64),
                       cast(center), cast(mu_proj))


def n_parameters(covariance_type, n_components, n_features):
    """Number of free parameters, as scikit-learn counts them for BIC/AIC."""
    cov_params = {
        "full": n_components * n_features * (n_features + 1) / 2.0,
        "diag": n_components * n_features,
        "tied": n_features * (n_features + 1) / 2.0,
        "spherical": n_components,
    }[covariance_type]
    return int(cov_params + n_features * n_components + n_components - 1)
