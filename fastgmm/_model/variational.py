"""Variational Bayes for Gaussian mixtures: the M-step and the evidence lower bound.

The model and the updates are scikit-learn's ``BayesianGaussianMixture``
(Bishop, *Pattern Recognition and Machine Learning*, 10.2, with a
Dirichlet-process or Dirichlet prior on the weights and a Gaussian-Wishart
prior on each component). Everything is computed from the shifted additive
statistics of one pass (:class:`fastgmm._model.stats.Stats`) through
:func:`fastgmm._model.gaussian.m_step`, so data far from the origin lose no
precision; nothing here touches the data (``O(k d^2)``).

Parameters travel as scikit-learn's tuple ``(weight_concentration_,
mean_precision_, means_, degrees_of_freedom_, covariances_,
precisions_cholesky_)``; ``covariances_`` are the Wishart scale matrices
normalised by the degrees of freedom, so ``precisions_cholesky_`` already
carries the factor ``sqrt(nu_j)`` of the expected precision.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import betaln, digamma, gammaln

from . import gaussian as _model
from .stats import KernelModel, Stats


@dataclass
class Priors:
    """The resolved priors of one fit (scikit-learn's ``*_prior_`` attributes)."""

    weight_concentration_prior_type: str
    weight_concentration: float
    mean_precision: float
    mean: np.ndarray
    degrees_of_freedom: float
    covariance: np.ndarray | float


def moments(stats: Stats, covariance_type: str, dtype):
    """Mean and unbiased (``ddof=1``) covariance of the data from one-component statistics.

    ``stats`` come from a pass with a single component (every
    responsibility is 1); the covariance has the shape of ``covariance_type``
    (a scalar for 'spherical'), as scikit-learn's default ``covariance_prior``.
    A weight counts as that many rows (``ddof=1`` becomes ``sum(w) - 1``).
    """
    _, means, cov = _model.m_step(stats, covariance_type, 0.0, dtype)
    total = stats.N[0]
    nk = total + 10 * np.finfo(dtype).eps
    # m_step divides the scatter by nk; the unbiased estimate divides by
    # N - 1 (weights summing to at most 1 have no such correction).
    cov = cov * (nk / (total - 1.0 if total > 1.0 else total))
    if covariance_type != "tied":
        cov = cov[0]
    return means[0], cov


def weights_from_concentration(weight_concentration, prior_type):
    """``weights_``: the expected mixture weights under the posterior."""
    if prior_type == "dirichlet_process":
        a, b = weight_concentration
        total = a + b
        weights = a / total * np.hstack((1.0, np.cumprod(b / total)[:-1]))
        return weights / weights.sum()
    return weight_concentration / np.sum(weight_concentration)


def m_step(stats: Stats, priors: Priors, covariance_type: str, reg_covar: float,
           dtype):
    """The posterior of the weights, means and precisions given one pass's statistics."""
    n_components = stats.N.shape[0]
    # nk, xk and sk exactly as scikit-learn's _estimate_gaussian_parameters
    # (the same 10 eps floor as _model.m_step), from the shifted statistics.
    _, xk, sk = _model.m_step(stats, covariance_type, reg_covar, dtype)
    nk = stats.N + 10 * np.finfo(dtype).eps

    beta0, m0, nu0, cov0 = (priors.mean_precision, priors.mean,
                            priors.degrees_of_freedom, priors.covariance)
    if priors.weight_concentration_prior_type == "dirichlet_process":
        weight_concentration = (
            1.0 + nk,
            priors.weight_concentration + np.hstack((np.cumsum(nk[::-1])[-2::-1], 0.0)),
        )
    else:
        weight_concentration = priors.weight_concentration + nk

    mean_precision = beta0 + nk
    means = (beta0 * m0 + nk[:, None] * xk) / mean_precision[:, None]

    diff = xk - m0
    if covariance_type == "full":
        dof = nu0 + nk
        outer = np.einsum("ka,kb->kab", diff, diff)
        covariances = (cov0 + nk[:, None, None] * sk
                       + (nk * beta0 / mean_precision)[:, None, None] * outer)
        covariances /= dof[:, None, None]
    elif covariance_type == "tied":
        dof = nu0 + nk.sum() / n_components
        covariances = (cov0 + sk * nk.sum() / n_components
                       + beta0 / n_components * np.dot((nk / mean_precision) * diff.T, diff))
        covariances /= dof
    elif covariance_type == "diag":
        dof = nu0 + nk
        covariances = cov0 + nk[:, None] * (sk + (beta0 / mean_precision)[:, None] * diff**2)
        covariances /= dof[:, None]
    else:
        dof = nu0 + nk
        covariances = cov0 + nk * (sk + beta0 / mean_precision * np.mean(diff**2, 1))
        covariances /= dof
    prec_chol = _model.precision_cholesky(covariances, covariance_type, dtype)
    return weight_concentration, mean_precision, means, dof, covariances, prec_chol


def log_weights(weight_concentration, prior_type):
    """``E[log pi_j]`` under the posterior of the weights."""
    if prior_type == "dirichlet_process":
        a, b = weight_concentration
        digamma_sum = digamma(a + b)
        return (digamma(a) - digamma_sum
                + np.hstack((0.0, np.cumsum(digamma(b) - digamma_sum)[:-1])))
    return digamma(weight_concentration) - digamma(np.sum(weight_concentration))


def _log_lambda(dof, n_features):
    """``E[log |Lambda_j|] - log |nu_j W_j|`` without the ``d log nu_j`` (shape (k,) or (1,))."""
    dof = np.atleast_1d(np.asarray(dof, dtype=np.float64))
    return n_features * math.log(2.0) + np.sum(
        digamma(0.5 * (dof - np.arange(n_features)[:, None])), 0)


def kernel_model(params, prior_type, covariance_type, dtype) -> KernelModel:
    """The E-step of variational inference as the Gaussian kernel's model.

    ``log p~(x | j) = E[log pi_j] + 0.5 (E[log |Lambda_j|] - d / beta_j)
    - d/2 log(2 pi) - nu_j / 2 (x - m_j)^T W_j (x - m_j)``: the Gaussian
    log-density with precision ``nu_j W_j`` (its Cholesky factor is
    ``precisions_cholesky_``) plus a per-component constant.
    """
    weight_concentration, mean_precision, means, dof, _, prec_chol = params
    d = means.shape[1]
    constant = (log_weights(weight_concentration, prior_type)
                - 0.5 * d * np.log(dof)
                + 0.5 * (_log_lambda(dof, d) - d / mean_precision))
    weights = weights_from_concentration(weight_concentration, prior_type)
    model = _model.kernel_model(weights, means, prec_chol, covariance_type, dtype,
                                log_weights=constant)
    model.want_entropy = True  # the lower bound needs the responsibilities' entropy
    return model


def _log_wishart_norm(dof, log_det_chol, n_features):
    """Log normalisation of the Wishart distributions (without the ``log pi`` term)."""
    return -(dof * log_det_chol + dof * n_features * 0.5 * math.log(2.0)
             + np.sum(gammaln(0.5 * (dof - np.arange(n_features)[:, None])), 0))


def lower_bound(entropy: float, params, priors: Priors, covariance_type: str) -> float:
    """The evidence lower bound, up to constants, as scikit-learn computes it.

    ``entropy`` is ``sum_i w_i sum_j r_ij log r_ij`` of the responsibilities
    of the pass that produced ``params``.
    """
    weight_concentration, mean_precision, means, dof, _, prec_chol = params
    k, d = means.shape
    log_det = (_model.log_det_cholesky(prec_chol, covariance_type, d)
               - 0.5 * d * np.log(dof))
    if covariance_type == "tied":
        log_wishart = k * float(np.sum(_log_wishart_norm(
            np.atleast_1d(dof), np.atleast_1d(log_det), d)))
    else:
        log_wishart = float(np.sum(_log_wishart_norm(dof, log_det, d)))
    if priors.weight_concentration_prior_type == "dirichlet_process":
        log_norm_weight = -float(np.sum(betaln(*weight_concentration)))
    else:
        log_norm_weight = float(gammaln(np.sum(weight_concentration))
                                - np.sum(gammaln(weight_concentration)))
    return float(-entropy - log_wishart - log_norm_weight
                 - 0.5 * d * np.sum(np.log(mean_precision)))
