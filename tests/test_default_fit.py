"""The default fit is scikit-learn's: same k-means start, same model.

``GaussianMixture(n_components=k, random_state=seed).fit(X)`` with every
other parameter at its default starts from the labels of scikit-learn's
``KMeans(n_init=1)`` (``init_params='kmeans'``) or from the rows of its
``kmeans_plusplus`` (``'k-means++'``), so the whole fit is scikit-learn's to
rounding. The tied covariance of a start from seed rows is scikit-learn's
too (its ``X^T X`` over all rows), for both estimators.
"""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import BayesianGaussianMixture as SkBayesianGaussianMixture
from sklearn.mixture import GaussianMixture as SkGaussianMixture

import naive
from fastgmm import BayesianGaussianMixture, GaussianMixture

COVARIANCE_TYPES = naive.COVARIANCE_TYPES
PARAMS = ("weights_", "means_", "covariances_", "precisions_cholesky_")
BAYES_PARAMS = PARAMS + ("mean_precision_", "degrees_of_freedom_")
# (seed, n_samples, n_features, n_components, separation)
PARITY_DATA = [(0, 1500, 2, 3, 6.0), (1, 4000, 5, 4, 5.0), (2, 20_000, 3, 6, 8.0)]


def _data(seed, n, d, k, separation, dtype=np.float64, location=50.0):
    rng = np.random.default_rng(seed)
    means = rng.normal(scale=separation, size=(k, d))
    X = means[rng.integers(0, k, n)] + rng.normal(size=(n, d)) * rng.uniform(0.5, 1.5, d)
    return np.ascontiguousarray(X + location, dtype=dtype)


def _assert_same_model(ours, theirs, names, rtol, atol=0.0):
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.converged_ == theirs.converged_
    np.testing.assert_allclose(ours.lower_bound_, theirs.lower_bound_, rtol=rtol)
    for name in names:
        a, b = getattr(ours, name), getattr(theirs, name)
        scale = np.abs(b).max()
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol + rtol * scale, err_msg=name)


@pytest.mark.parametrize("data", PARITY_DATA, ids=lambda c: f"n{c[1]}-d{c[2]}-k{c[3]}")
@pytest.mark.parametrize("init_params", ["kmeans", "k-means++"])
@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
def test_default_fit_is_sklearns_model(cov_type, init_params, data):
    seed, n, d, k, separation = data
    X = _data(seed, n, d, k, separation)
    kwargs = dict(n_components=k, covariance_type=cov_type, init_params=init_params,
                  random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = GaussianMixture(**kwargs).fit(X)
        theirs = SkGaussianMixture(**kwargs).fit(X)
    _assert_same_model(ours, theirs, PARAMS, rtol=1e-8)


# From k-means++ seed rows, scikit-learn's float32 diagonal variances of a
# one-row component are its rounding noise of E[x^2] - mu^2 (about 1e-7 |x|^2,
# far above reg_covar), so its start, and where it goes, is set by rounding.
@pytest.mark.parametrize(("cov_type", "init_params"), [
    (cov, init) for cov in COVARIANCE_TYPES for init in ("kmeans", "k-means++")
    if not (init == "k-means++" and cov in ("diag", "spherical"))])
def test_float32_default_fit_is_sklearns_model_to_float32_precision(cov_type, init_params):
    # Near the origin: scikit-learn's float32 E[x x^T] - mu mu^T (tied, diag,
    # spherical) loses digits far from it, where fastgmm's shifted sums do not.
    X = _data(3, 3000, 3, 4, 8.0, np.float32, location=0.0)
    kwargs = dict(n_components=4, covariance_type=cov_type, init_params=init_params,
                  random_state=3)
    ours = GaussianMixture(**kwargs).fit(X)
    theirs = SkGaussianMixture(**kwargs).fit(X)
    _assert_same_model(ours, theirs, PARAMS, rtol=2e-4)


@pytest.mark.parametrize("max_iter", [0, 1, 100])
@pytest.mark.parametrize("init_params", ["random_from_data", "k-means++"])
def test_tied_start_from_seed_rows_is_sklearns(init_params, max_iter):
    """scikit-learn's tied M-step takes ``X^T X`` over all rows, though only the
    seed rows carry responsibility: its initial covariance is that wide one."""
    X = _data(4, 2000, 3, 3, 5.0)
    kwargs = dict(n_components=3, covariance_type="tied", init_params=init_params,
                  random_state=1, max_iter=max_iter)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = GaussianMixture(**kwargs).fit(X)
        theirs = SkGaussianMixture(**kwargs).fit(X)
    if max_iter:
        _assert_same_model(ours, theirs, PARAMS, rtol=1e-8)
    else:
        # Pooled over all 2000 rows with k = 3 seeds: far wider than the data.
        assert np.trace(theirs.covariances_) > 100 * np.trace(np.cov(X.T))
        for name in PARAMS:
            np.testing.assert_allclose(getattr(ours, name), getattr(theirs, name), rtol=1e-10,
                                       err_msg=name)


@pytest.mark.parametrize("prior_type", ["dirichlet_process", "dirichlet_distribution"])
@pytest.mark.parametrize("init_params", ["random_from_data", "k-means++", "kmeans"])
def test_bayesian_tied_from_every_start_is_sklearns(init_params, prior_type):
    X = _data(5, 1500, 2, 3, 6.0)
    kwargs = dict(n_components=4, covariance_type="tied", init_params=init_params,
                  random_state=2, weight_concentration_prior_type=prior_type, max_iter=300)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = BayesianGaussianMixture(**kwargs).fit(X)
        theirs = SkBayesianGaussianMixture(**kwargs).fit(X)
    _assert_same_model(ours, theirs, BAYES_PARAMS, rtol=1e-8)


@pytest.mark.parametrize("init_params", ["random_from_data", "k-means++"])
def test_tied_seed_start_is_the_same_from_a_memmap(tmp_path, init_params, monkeypatch):
    """A memmap initialised block by block counts every row as the array does."""
    from fastgmm._data import source

    X = _data(6, 3000, 3, 3, 5.0)
    path = tmp_path / "x.npy"
    np.save(path, X)
    mm = np.load(path, mmap_mode="r")
    monkeypatch.setattr(source, "PARTITION_ROWS", 1000)
    kwargs = dict(n_components=3, covariance_type="tied", init_params=init_params,
                  random_state=0, max_iter=0)
    on_disk = GaussianMixture(**kwargs).fit(mm)
    # The chunked init draws its own seeds (k-means|| or a race); its tied
    # covariance is the array formula for those seeds.
    from fastgmm._init.dispatch import seed_stats
    from fastgmm._model.gaussian import m_step
    seeds = np.array([np.flatnonzero((X == m).all(axis=1))[0] for m in on_disk.means_])
    _, _, cov = m_step(seed_stats(X, None, seeds, "tied"), "tied", 1e-6, X.dtype,
                       normalize_weights=False)
    np.testing.assert_allclose(on_disk.covariances_, cov, rtol=1e-9)
