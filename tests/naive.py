"""A slow, obviously-correct reference for Gaussian mixtures (tests only).

Everything is computed in float64, one component at a time, with
``scipy.stats.multivariate_normal`` for the densities and the two-pass
(centred) formula for the covariances: first the means, then the scatter
of ``x - mean``. No shifted statistics, no Cholesky tricks, no kernels.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")


def full_covariances(covariances, covariance_type, n_components, n_features):
    """Every covariance parametrisation expanded to ``(k, d, d)`` matrices."""
    cov = np.asarray(covariances, dtype=np.float64)
    out = np.empty((n_components, n_features, n_features))
    for j in range(n_components):
        if covariance_type == "full":
            out[j] = cov[j]
        elif covariance_type == "tied":
            out[j] = cov
        elif covariance_type == "diag":
            out[j] = np.diag(cov[j])
        else:
            out[j] = cov[j] * np.eye(n_features)
    return out


def precision_cholesky(covariances, covariance_type):
    """Upper-triangular ``U`` with ``U @ U.T == inv(cov)``, by plain inversion."""
    cov = np.asarray(covariances, dtype=np.float64)
    if covariance_type == "full":
        return np.array([np.linalg.inv(np.linalg.cholesky(c)).T for c in cov])
    if covariance_type == "tied":
        return np.linalg.inv(np.linalg.cholesky(cov)).T
    return 1.0 / np.sqrt(cov)


def inverse(matrices, covariance_type):
    """Precisions from covariances (or back), in the same parametrisation."""
    m = np.asarray(matrices, dtype=np.float64)
    if covariance_type == "full":
        return np.array([np.linalg.inv(c) for c in m])
    if covariance_type == "tied":
        return np.linalg.inv(m)
    return 1.0 / m


def weighted_log_prob(X, weights, means, covariances, covariance_type):
    """``log phi_j + log N(x_i | mu_j, Sigma_j)`` of shape (n, k)."""
    X = np.asarray(X, dtype=np.float64)
    means = np.asarray(means, dtype=np.float64)
    n, d = X.shape
    k = means.shape[0]
    covs = full_covariances(covariances, covariance_type, k, d)
    out = np.empty((n, k))
    for j in range(k):
        density = multivariate_normal(mean=means[j], cov=covs[j])
        out[:, j] = np.log(weights[j]) + np.reshape(density.logpdf(X), n)
    return out


def log_prob(X, weights, means, covariances, covariance_type):
    """``log p(x_i)`` of the mixture, shape (n,)."""
    return logsumexp(weighted_log_prob(X, weights, means, covariances, covariance_type),
                     axis=1)


def log_responsibilities(X, weights, means, covariances, covariance_type):
    """``log r_ij``, shape (n, k)."""
    wlp = weighted_log_prob(X, weights, means, covariances, covariance_type)
    return wlp - logsumexp(wlp, axis=1)[:, None]


def covariances_from_scatter(scatter, nk, covariance_type, reg_covar):
    """The covariances of ``covariance_type`` from per-component scatter
    matrices ``(k, d, d)`` about the new means and the weights ``nk``."""
    k, d = scatter.shape[0], scatter.shape[1]
    eye = np.eye(d)
    if covariance_type == "full":
        cov = np.array([scatter[j] / nk[j] + reg_covar * eye for j in range(k)])
    elif covariance_type == "tied":
        cov = scatter.sum(axis=0) / nk.sum() + reg_covar * eye
    else:
        cov = np.array([np.diag(scatter[j]) / nk[j] + reg_covar for j in range(k)])
        if covariance_type == "spherical":
            cov = cov.mean(axis=1)
    return cov


def m_step(X, resp, covariance_type, reg_covar, sample_weight=None,
           eps=np.finfo(np.float64).eps, normalize_weights=True):
    """Weights, means and covariances from responsibilities, two-pass in float64.

    ``nk = sum_i w_i r_ij + 10 eps`` as scikit-learn does. Weights are
    ``nk / sum(nk)``, or ``nk / sum(w)`` with ``normalize_weights=False``
    (scikit-learn's initialisation).
    """
    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, np.float64)
    r = np.asarray(resp, dtype=np.float64) * w[:, None]
    k = r.shape[1]
    nk = r.sum(axis=0) + 10 * eps
    means = np.empty((k, d))
    for j in range(k):
        means[j] = (r[:, j, None] * X).sum(axis=0) / nk[j]
    scatter = np.empty((k, d, d))
    for j in range(k):
        diff = X - means[j]
        scatter[j] = (r[:, j, None] * diff).T @ diff
    cov = covariances_from_scatter(scatter, nk, covariance_type, reg_covar)
    weights = nk / (nk.sum() if normalize_weights else w.sum())
    return weights, means, cov


def em_step(X, weights, means, covariances, covariance_type, reg_covar,
            sample_weight=None, eps=np.finfo(np.float64).eps):
    """One EM iteration: the mean log-likelihood of the given parameters, new parameters."""
    X = np.asarray(X, dtype=np.float64)
    n = X.shape[0]
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, np.float64)
    wlp = weighted_log_prob(X, weights, means, covariances, covariance_type)
    lp = logsumexp(wlp, axis=1)
    resp = np.exp(wlp - lp[:, None])
    new = m_step(X, resp, covariance_type, reg_covar, w, eps)
    return float((w * lp).sum() / w.sum()), new


def fit(X, weights, means, covariances, covariance_type, reg_covar, n_iter):
    """``n_iter`` EM iterations; returns the per-iteration mean log-likelihoods and parameters."""
    bounds = []
    params = (weights, means, covariances)
    for _ in range(n_iter):
        bound, params = em_step(X, *params, covariance_type, reg_covar)
        bounds.append(bound)
    return bounds, params


def random_covariances(rng, covariance_type, n_components, n_features, scale=1.0):
    """Well-conditioned random covariances of the given parametrisation."""
    k, d = n_components, n_features
    if covariance_type in ("full", "tied"):
        m = 1 if covariance_type == "tied" else k
        A = rng.normal(size=(m, d, d)) * 0.4
        cov = scale * (A @ A.transpose(0, 2, 1) + np.eye(d))
        return cov[0] if covariance_type == "tied" else cov
    if covariance_type == "diag":
        return scale * rng.uniform(0.5, 2.0, size=(k, d))
    return scale * rng.uniform(0.5, 2.0, size=k)


def sample(rng, n_samples, weights, means, covariances, covariance_type):
    """Rows drawn from the mixture, and their component labels."""
    means = np.asarray(means, dtype=np.float64)
    k, d = means.shape
    covs = full_covariances(covariances, covariance_type, k, d)
    labels = rng.choice(k, size=n_samples, p=weights)
    X = np.empty((n_samples, d))
    for j in range(k):
        rows = labels == j
        X[rows] = rng.multivariate_normal(means[j], covs[j], size=int(rows.sum()))
    return X, labels


def assert_seed_stats_match(actual, full_pass, cov_type, tied_rtol):
    """Statistics taken from the seed rows alone against a pass over every row:
    the per-component sums exactly, the pooled tied scatter to ``tied_rtol``,
    the total weight to rounding."""
    np.testing.assert_array_equal(actual.N, full_pass.N)
    np.testing.assert_array_equal(actual.S1, full_pass.S1)
    np.testing.assert_array_equal(actual.shift, full_pass.shift)
    np.testing.assert_allclose(actual.weight, full_pass.weight, rtol=1e-12)
    if cov_type == "tied":
        np.testing.assert_allclose(actual.S2, full_pass.S2, rtol=tied_rtol)
    else:
        np.testing.assert_array_equal(actual.S2, full_pass.S2)


def marginal_em_step(X, weights, means, covariances, covariance_type, reg_covar,
                     sample_weight=None, eps=np.finfo(np.float64).eps):
    """One exact EM iteration on data with NaN entries, row by row and component by component.

    E-step: ``log phi_j + log N(x_o | mu_jo, Sigma_j,oo)`` with scipy over the
    observed entries ``o`` of each row. M-step: each row completed per
    component by its conditional mean ``mu_m + Sigma_mo Sigma_oo^-1 (x_o - mu_o)``,
    with the conditional covariance ``Sigma_mm - Sigma_mo Sigma_oo^-1 Sigma_om``
    added to the scatter (Ghahramani and Jordan 1994). Rows with every entry
    missing are left out. Returns the mean observed-data log-likelihood of
    the given parameters and the new ``(weights, means, covariances)``.
    """
    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    means = np.asarray(means, dtype=np.float64)
    k = means.shape[0]
    covs = full_covariances(covariances, covariance_type, k, d)
    w_all = np.ones(n) if sample_weight is None else np.asarray(sample_weight, np.float64)
    nk = np.zeros(k)
    sum_x = np.zeros((k, d))
    rows = []  # (weight, resp, completed rows, conditional covariances)
    loglik = 0.0
    total_w = 0.0
    for i in range(n):
        obs = ~np.isnan(X[i])
        if not obs.any():
            continue
        mis = ~obs
        wlp = np.empty(k)
        completed = np.empty((k, d))
        cond = np.zeros((k, d, d))
        for j in range(k):
            S = covs[j]
            S_oo = S[np.ix_(obs, obs)]
            wlp[j] = np.log(weights[j]) + multivariate_normal(
                mean=means[j][obs], cov=S_oo).logpdf(X[i, obs])
            completed[j] = X[i]
            if mis.any():
                B = np.linalg.solve(S_oo, S[np.ix_(obs, mis)]).T  # Sigma_mo Sigma_oo^-1
                completed[j, mis] = means[j][mis] + B @ (X[i, obs] - means[j][obs])
                cond[j][np.ix_(mis, mis)] = S[np.ix_(mis, mis)] - B @ S[np.ix_(obs, mis)]
        lp = logsumexp(wlp)
        r = np.exp(wlp - lp)
        loglik += w_all[i] * lp
        total_w += w_all[i]
        nk += w_all[i] * r
        sum_x += w_all[i] * r[:, None] * completed
        rows.append((w_all[i], r, completed, cond))
    nk = nk + 10 * eps
    new_means = sum_x / nk[:, None]
    scatter = np.zeros((k, d, d))
    for w, r, completed, cond in rows:
        for j in range(k):
            diff = completed[j] - new_means[j]
            scatter[j] += w * r[j] * (np.outer(diff, diff) + cond[j])
    cov = covariances_from_scatter(scatter, nk, covariance_type, reg_covar)
    return loglik / total_w, (nk / nk.sum(), new_means, cov)


def marginal_log_prob(X, weights, means, covariances, covariance_type):
    """``log p(x_o)`` and ``log r_j(x_o)`` of each row (rows may hold NaN)."""
    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    k = len(weights)
    covs = full_covariances(covariances, covariance_type, k, d)
    wlp = np.zeros((n, k))
    for i in range(n):
        obs = ~np.isnan(X[i])
        for j in range(k):
            wlp[i, j] = np.log(weights[j])
            if obs.any():
                wlp[i, j] += multivariate_normal(
                    mean=np.asarray(means[j])[obs],
                    cov=covs[j][np.ix_(obs, obs)]).logpdf(X[i, obs])
    lp = logsumexp(wlp, axis=1)
    return lp, wlp - lp[:, None]


def marginal_impute(X, weights, means, covariances, covariance_type):
    """Each NaN replaced by ``sum_j r_j(x_o) E_j[x_m | x_o]``, row by row."""
    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    k = len(weights)
    covs = full_covariances(covariances, covariance_type, k, d)
    _, log_resp = marginal_log_prob(X, weights, means, covariances, covariance_type)
    out = X.copy()
    for i in range(n):
        obs = ~np.isnan(X[i])
        mis = ~obs
        if not mis.any():
            continue
        value = np.zeros(mis.sum())
        for j in range(k):
            mu = np.asarray(means[j], dtype=np.float64)
            S = covs[j]
            if obs.any():
                B = np.linalg.solve(S[np.ix_(obs, obs)], S[np.ix_(obs, mis)]).T
                cm = mu[mis] + B @ (X[i, obs] - mu[obs])
            else:
                cm = mu[mis]
            value += np.exp(log_resp[i, j]) * cm
        out[i, mis] = value
    return out
