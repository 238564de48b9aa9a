"""What one pass over the data gives and needs: ``Stats`` and ``KernelModel``.

:class:`Stats` are the additive sufficient statistics every data source
produces (one kernel pass, a memmap round, a Dask chunk, a stream batch);
:class:`KernelModel` holds the arrays the kernels evaluate, precomputed
once per iteration by the M-step's model (:mod:`fastgmm._model.gaussian`,
:mod:`fastgmm._model.variational`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np


@dataclass
class Stats:
    """Additive sufficient statistics of one pass over (part of) the data.

    ``S1`` and ``S2`` are shifted by ``shift`` (the means the pass used);
    the tied scatter ``S2`` is pooled and shifted by ``center``. Two
    ``Stats`` computed with the same model add up to the statistics of the
    union of their data. ``entropy`` is ``sum_i w_i sum_j r_ij log r_ij``
    of the pass's responsibilities, computed only when the model asks for it
    (``KernelModel.want_entropy``; the variational lower bound needs it).
    """

    N: np.ndarray
    S1: np.ndarray
    S2: np.ndarray
    loglik: float
    weight: float
    shift: np.ndarray
    center: np.ndarray
    entropy: float = 0.0
    # The weight, first and second moments about ``center`` of the share of
    # each row that its responsibilities leave to no component,
    # ``sum_i w_i (1 - sum_j r_ij) z_i z_i^T`` with ``z_i = (1, x_i - center)``:
    # shape (..., d + 1, d + 1), None for none (every row's sum is 1). Only
    # seed-row initialisations leave such mass; scikit-learn's tied M-step
    # (``X^T X`` over all rows) counts it, see :func:`fastgmm._model.gaussian.m_step`.
    unassigned: np.ndarray | None = None

    def __add__(self, other: "Stats") -> "Stats":
        return Stats(
            self.N + other.N,
            self.S1 + other.S1,
            self.S2 + other.S2,
            self.loglik + other.loglik,
            self.weight + other.weight,
            self.shift,
            self.center,
            self.entropy + other.entropy,
            _add_optional(self.unassigned, other.unassigned),
        )

    def scaled(self, factor: float) -> "Stats":
        """Every additive statistic times ``factor`` (same shifts).

        ``stats.scaled(1 / stats.weight)`` gives per-sample averages, which
        statistics of different sample counts can be blended as.
        """
        return Stats(self.N * factor, self.S1 * factor, self.S2 * factor,
                     self.loglik * factor, self.weight * factor, self.shift,
                     self.center, self.entropy * factor,
                     None if self.unassigned is None else self.unassigned * factor)

    def reshifted(self, shift: np.ndarray, center: np.ndarray,
                  covariance_type: str) -> "Stats":
        """The same statistics taken about ``shift`` (tied scatter: ``center``).

        Exact algebra, no data needed: with ``delta = old - new`` shift,
        ``sum r (x - new) = S1 + N delta`` and
        ``sum r (x - new)(x - new)^T = S2 + S1 delta^T + delta S1^T
        + N delta delta^T``; the pooled tied scatter moves the same way with
        its first moment ``sum_j S1_j + N_j (shift_j - center)`` and mass
        ``sum_j N_j``. A full or tied ``S2`` comes back with both triangles
        filled.
        """
        shift = np.asarray(shift, dtype=np.float64)
        center = np.asarray(center, dtype=np.float64)
        N = self.N
        delta = self.shift - shift
        S1 = self.S1 + N[:, None] * delta
        if covariance_type == "full":
            cross = self.S1[:, :, None] * delta[:, None, :]
            S2 = (symmetric_from_lower(self.S2) + (cross + cross.transpose(0, 2, 1))
                  + N[:, None, None] * (delta[:, :, None] * delta[:, None, :]))
        elif covariance_type == "tied":
            dc = self.center - center
            first = (self.S1 + N[:, None] * (self.shift - self.center)).sum(axis=0)
            cross = first[:, None] * dc[None, :]
            S2 = (symmetric_from_lower(self.S2[0]) + (cross + cross.T)
                  + N.sum() * (dc[:, None] * dc[None, :]))[None]
        else:  # diag, spherical: the diagonal scatter of each component
            S2 = (self.S2[:, :, 0] + 2.0 * self.S1 * delta
                  + N[:, None] * delta**2)[:, :, None]
        unassigned = self.unassigned
        if unassigned is not None:  # z = (1, x - c) -> (1, x - c'): a linear map
            move = np.eye(unassigned.shape[-1])
            move[1:, 0] = self.center - center
            unassigned = move @ unassigned @ move.T
        return Stats(N, S1, S2, self.loglik, self.weight, shift, center, self.entropy,
                     unassigned)


def _add_optional(a, b):
    if a is None or b is None:
        return b if a is None else a
    return a + b


def pooled_moments(stats: Stats) -> np.ndarray:
    """Tied statistics as the moments of all their mass about ``center``.

    ``[[sum N, s^T], [s, S]]`` with ``s = sum_ij r_ij (x_i - c)`` and ``S``
    the pooled scatter about ``c``: the form of :attr:`Stats.unassigned`.
    """
    N = stats.N
    c = stats.center[..., None, :]
    first = (stats.S1 + N[..., None] * (stats.shift - c)).sum(axis=-2)
    d = first.shape[-1]
    out = np.empty(first.shape[:-1] + (d + 1, d + 1))
    out[..., 0, 0] = N.sum(axis=-1)
    out[..., 1:, 0] = first
    out[..., 0, 1:] = first
    out[..., 1:, 1:] = symmetric_from_lower(stats.S2[..., 0, :, :])
    return out


def leave_unassigned(seeds: Stats, every_row: Stats) -> Stats:
    """``seeds`` (tied statistics of responsibilities on a few rows) with
    :attr:`Stats.unassigned` set to the rest of ``every_row``'s mass.

    ``every_row`` holds the tied statistics of responsibility 1 on every row
    (one component), about the same ``center`` as ``seeds``.
    """
    seeds.unassigned = pooled_moments(every_row) - pooled_moments(seeds)
    return seeds


@dataclass
class KernelModel:
    """Arrays the kernels need for one pass, precomputed once per iteration."""

    kind: int
    means: np.ndarray
    chol: np.ndarray
    prec: np.ndarray
    log_norm: np.ndarray
    center: np.ndarray
    mu_proj: np.ndarray
    want_entropy: bool = False
    # Rows may hold NaN entries, which the pass marginalises (fastgmm._data.missing):
    # True, or a dict in which a fit's data source keeps how its rounds split.
    marginalize: bool | dict = False

    def args(self):
        return (self.kind, self.means, self.chol, self.prec, self.log_norm,
                self.center, self.mu_proj)


@functools.cache
def _upper_indices(d):
    return np.triu_indices(d, 1)


def symmetric_from_lower(S):
    """Fill the upper triangle of each (d, d) slice from its lower triangle."""
    upper = _upper_indices(S.shape[-1])
    S = S.copy()
    S[..., upper[0], upper[1]] = S[..., upper[1], upper[0]]
    return S
