"""On well-separated generated mixtures the fit recovers the true parameters."""

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

import naive
from fastgmm import GaussianMixture

COVARIANCE_TYPES = naive.COVARIANCE_TYPES


def _true_mixture(seed, cov_type, k, d):
    """Components whose means are at least 12 standard deviations apart."""
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.full(k, 4.0)) * 0.6 + 0.4 / k
    means = np.zeros((k, d))
    for j in range(1, k):
        while True:
            candidate = rng.uniform(-40, 40, size=d)
            if np.min(np.linalg.norm(means[:j] - candidate, axis=1)) > 20:
                means[j] = candidate
                break
    covariances = naive.random_covariances(rng, cov_type, k, d)
    return weights, means, covariances, rng


def _match(true_means, fitted_means):
    """Order of the fitted components that best matches the true ones."""
    cost = np.linalg.norm(true_means[:, None] - fitted_means[None], axis=2)
    _, order = linear_sum_assignment(cost)
    return order


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
@pytest.mark.parametrize(("k", "d"), [(3, 2), (4, 3), (2, 1)])
def test_recovers_the_generating_mixture(k, d, cov_type, dtype):
    n = 4000
    weights, means, covariances, rng = _true_mixture(k * 10 + d, cov_type, k, d)
    X, _ = naive.sample(rng, n, weights, means, covariances, cov_type)
    gm = GaussianMixture(k, covariance_type=cov_type, random_state=0).fit(X.astype(dtype))
    assert gm.converged_

    order = _match(means, gm.means_)
    # Sampling error: weights ~ sqrt(w / n), means ~ sigma / sqrt(n_j),
    # covariances ~ sqrt(2 / n_j) relative; the bounds are about 4 of those.
    np.testing.assert_allclose(gm.weights_[order], weights, atol=0.03)
    np.testing.assert_allclose(gm.means_[order], means, atol=0.2)
    fitted_cov = gm.covariances_ if cov_type == "tied" else gm.covariances_[order]
    scale = np.abs(covariances).max()
    np.testing.assert_allclose(fitted_cov, covariances, rtol=0.15, atol=0.05 * scale)
    # The labels are those of the generating components (separated data).
    labels_true = np.argmin(np.linalg.norm(X[:, None] - means[None], axis=2), axis=1)
    assert np.mean(order[labels_true] == gm.predict(X.astype(dtype))) > 0.995


@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
def test_recovers_with_sample_weight(cov_type):
    """Rows weighted by their multiplicity give the fit of the repeated rows."""
    weights, means, covariances, rng = _true_mixture(7, cov_type, 3, 2)
    X, _ = naive.sample(rng, 1500, weights, means, covariances, cov_type)
    counts = rng.integers(1, 4, size=len(X))
    kwargs = dict(n_components=3, covariance_type=cov_type, means_init=means,
                  tol=1e-10, max_iter=500)
    weighted = GaussianMixture(**kwargs).fit(X, sample_weight=counts)
    repeated = GaussianMixture(**kwargs).fit(np.repeat(X, counts, axis=0))
    for name in ("weights_", "means_", "covariances_"):
        np.testing.assert_allclose(getattr(weighted, name), getattr(repeated, name),
                                   rtol=1e-6, atol=1e-9, err_msg=name)
    np.testing.assert_allclose(weighted.lower_bound_, repeated.lower_bound_, rtol=1e-9)
