"""Stepwise (online) EM for ``GaussianMixture.partial_fit``.

Each batch goes through the ordinary path, ``accumulate -> Stats ->
m_step``; the only addition is that the batch's statistics are blended
into running statistics before the M-step (Cappé & Moulines 2009;
Liang & Klein 2009):

    S_t = (1 - rho_t) S_{t-1} + rho_t S_batch,
    rho_t = (t + learning_offset) ** -learning_decay,

with both sides taken as per-sample averages (they come from batches of
different sizes) and about the same shift (each batch's statistics are
shifted by the means it was scored with, the running ones by older means).
The blend is expressed at the batch's own sample count, so the first batch,
which has nothing to blend with, is exactly one EM step of ``fit``.

``GaussianMixture.partial_fit`` validates the batch, initialises the first
one with its own hooks and calls :func:`stream_step`; nothing here knows
the estimator beyond the attributes :class:`StreamState` compares.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._model import gaussian as _model
from .._data.arrays import accumulate
from .._model.stats import Stats


def step_size(t: int, learning_offset: float, learning_decay: float) -> float:
    """Weight ``rho_t`` of the ``t``-th batch after the first (``t >= 1``)."""
    return float((t + learning_offset) ** -learning_decay)


def blend(running: Stats, batch: Stats, rho: float, covariance_type: str) -> Stats:
    """``(1 - rho) running + rho batch`` as averages, at ``batch``'s count and shift.

    ``running`` is moved to the batch's shift first (:meth:`Stats.reshifted`),
    then rescaled to the batch's total sample weight, so the result has the
    weight of the batch and per-sample averages blended with ``rho``.
    """
    moved = running.reshifted(batch.shift, batch.center, covariance_type)
    return moved.scaled((1.0 - rho) * batch.weight / running.weight) + batch.scaled(rho)


@dataclass
class StreamState:
    """What ``partial_fit`` carries between calls (a private fitted attribute).

    ``stats`` are the running statistics, ``params`` the float64 parameters
    they gave (the fitted attributes may be float32), ``t`` the number of
    batches seen. ``fitted`` are the very fitted arrays partial_fit set: if
    anything else (``fit``, ``load``, a user) replaced any of them since, the
    stream starts over from those parameters. ``shape`` is the
    ``(covariance_type, n_components, n_features)`` the stream was started
    with: statistics of one covariance type cannot be blended with another's
    (with ``n_components == n_features``, 'tied' and 'diag' arrays even have
    the same shape), so a change between calls is an error.
    """

    stats: Stats
    params: tuple
    t: int
    fitted: tuple
    shape: tuple

    def continues(self, estimator) -> bool:
        """The estimator's parameters are still the ones this stream set."""
        return all(getattr(estimator, name, None) is array
                   for name, array in zip(FITTED, self.fitted))

    def check_unchanged(self, estimator) -> None:
        """Raise if a parameter that shapes the statistics changed since the first batch."""
        now = (estimator.covariance_type, estimator.n_components,
               getattr(estimator, "n_features_in_", None))
        for name, started, current in zip(("covariance_type", "n_components",
                                           "n_features_in_"), self.shape, now):
            if started != current:
                raise ValueError(
                    f"partial_fit continues a stream started with {name}={started!r}, "
                    f"which does not match {name}={current!r}: set {name} back to "
                    f"{started!r}, or call fit (or partial_fit on a clone of the "
                    "estimator) to start a new stream.")


# The fitted arrays a stream sets (and recognises as its own).
FITTED = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_")


def stream_step(params, state: StreamState | None, X, sample_weight, covariance_type,
                reg_covar, learning_offset, learning_decay):
    """One stepwise EM step on a validated batch.

    Parameters
    ----------
    params : tuple
        ``(weights, means, covariances, precisions_cholesky)`` in float64,
        the model that scores this batch.
    state : StreamState or None
        The running statistics, or None for the first batch.

    Returns
    -------
    params : tuple
        The parameters after the M-step on the blended statistics.
    stats : Stats
        The new running statistics.
    lower_bound : float
        Mean log-likelihood of the batch under the input ``params``.
    """
    weights, means, _, prec_chol = params
    model = _model.kernel_model(weights, means, prec_chol, covariance_type, X.dtype)
    batch = accumulate(X, sample_weight, model)
    lower_bound = batch.loglik / batch.weight
    if state is None:
        stats = batch
    else:
        rho = step_size(state.t, learning_offset, learning_decay)
        stats = blend(state.stats, batch, rho, covariance_type)
    weights, means, covariances = _model.m_step(stats, covariance_type, reg_covar, X.dtype)
    prec_chol = _model.precision_cholesky(covariances, covariance_type, X.dtype)
    return (weights, means, covariances, prec_chol), stats, lower_bound
