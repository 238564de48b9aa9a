"""Scores of points so far from every component that the kernels' squares overflow.

At a point ``x`` 1e200 away (1e19 in float32) the squared Mahalanobis
distance ``q_j = ||(x - mu_j) U_j||^2`` overflows to infinity for every
component: the kernels' log-sum-exp then gives NaN log-densities and NaN
responsibilities. The exact values are still well defined:

* ``log p(x)`` is below the smallest float: ``-inf``, as scikit-learn's
  ``score_samples`` gives;
* the responsibilities are ``exp(log_norm_j - q_j / 2)`` normalised: they
  depend only on the differences ``(q_j - q_min) / 2``, which are formed
  without forming the ``q_j`` (:func:`_expansion`). Far away, the
  component whose density decays slowest in the direction of ``x`` takes
  all the probability ('tied': the one whose mean lies furthest that way);
  ``predict`` is its label.

The same cancellation spoils points far away whose log-density is still a
float (about -1e300): ``log p_j - log p`` loses every digit and rows of
responsibilities no longer sum to 1. So every row whose ``|log p|`` is
large enough to cost the log-responsibilities more than 1e-3 to rounding
(:func:`fastgmm._data.arrays.far_rows`) is redone here, in float64, with ``x``
and the means divided by ``s`` first, so that nothing overflows but the
final, legitimately infinite, numbers. Input and parameters are finite
(checked before), so these rows are the only non-finite ones.
"""

from __future__ import annotations

import numpy as np

from .._kernels.layout import DIAG, FULL, SPHERICAL, TIED


def _expansion(x, model):
    """``s, A, B, C`` with ``q_j = s^2 A_j - 2 s B_j + C_j`` for ``x = s u``.

    ``A_j = ||u U_j||^2``, ``B_j = (u U_j) . (mu_j U_j)``, ``C_j = ||mu_j U_j||^2``
    are all of moderate size; components that share a precision get
    bitwise-equal ``A_j``, so their difference is exactly 0 and the linear
    term decides (for 'tied', at any distance).
    """
    means = np.asarray(model.means, dtype=np.float64)
    s = np.abs(x).max(axis=1)
    s = np.where(s > 0, s, 1.0)
    u = x / s[:, None]
    if model.kind == FULL:
        chol = np.asarray(model.chol, dtype=np.float64)
        uU = np.einsum("md,kde->mke", u, chol)
        muU = np.einsum("kd,kde->ke", means, chol)
    elif model.kind == TIED:
        chol = np.asarray(model.chol[0], dtype=np.float64)
        uU = np.broadcast_to((u @ chol)[:, None, :], (len(u),) + means.shape)
        muU = means @ chol
    else:  # DIAG, SPHERICAL: ``prec`` holds the per-coordinate precisions
        assert model.kind in (DIAG, SPHERICAL)
        root = np.sqrt(np.asarray(model.prec, dtype=np.float64))
        uU = u[:, None, :] * root[None]
        muU = means * root
    A = (uU * uU).sum(axis=2)
    B = (uU * muU[None]).sum(axis=2)
    C = (muU * muU).sum(axis=1)[None]
    return s[:, None], A, B, C


def _log_sum_exp(a):
    top = a.max(axis=1, keepdims=True)
    safe = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return (safe + np.log(np.exp(a - safe).sum(axis=1, keepdims=True)))[:, 0]


def _half_s2_times(log_half_s2, value):
    """``s^2 value / 2`` for values of either sign, +-inf where it overflows."""
    return np.sign(value) * np.exp(log_half_s2 + np.log(np.abs(value)))


def rescore_far_rows(X, model, log_prob, labels, log_resp, rows) -> None:
    """Redo ``rows`` in place (see the module docstring)."""
    x = np.asarray(X[rows], dtype=np.float64)
    s, A, B, C = _expansion(x, model)
    log_norm = np.asarray(model.log_norm, dtype=np.float64)[None]  # (1, k)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore", under="ignore"):
        log_half_s2 = 2.0 * np.log(s) + np.log(0.5)
        # q_j / s^2, and its differences to the nearest component m, each
        # formed from differences of A, B, C (no cancellation of q's).
        scaled = np.maximum(A - 2.0 * B / s + C / (s * s), 0.0)
        to_first = (A - A[:, :1]) - 2.0 * (B - B[:, :1]) / s + (C - C[:, :1]) / (s * s)
        # Differences to the smallest: >= 0 exactly, so no exp(+large).
        excess = to_first - to_first.min(axis=1, keepdims=True)
        log_p = log_norm - _half_s2_times(log_half_s2, scaled)
        relative = log_norm - np.where(excess != 0, _half_s2_times(log_half_s2, excess), 0.0)
        resp = relative - _log_sum_exp(relative)[:, None]
        log_prob[rows] = _log_sum_exp(log_p)  # float32 rows may round to -inf
        labels[rows] = np.argmax(resp, axis=1)
        if log_resp.shape[0]:
            log_resp[rows] = resp
