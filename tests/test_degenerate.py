"""Degenerate components: empty ones, ones on a single point or on duplicated
rows, and where the ill-defined-covariance error is raised (as scikit-learn)."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SkGaussianMixture

from fastgmm import GaussianMixture
from fastgmm._model.gaussian import SINGULAR_MESSAGE, variance_floor

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]


def _far_component_init(cov_type, offset, d=2):
    """Two components on the data and one so far away that it is given no point."""
    means = np.array([[0.0] * d, [4.0] * d, [1e3] * d]) + offset
    precisions = {"full": np.repeat(np.eye(d)[None], 3, axis=0), "tied": np.eye(d),
                  "diag": np.ones((3, d)), "spherical": np.ones(3)}[cov_type]
    return dict(weights_init=[0.45, 0.45, 0.1], means_init=means,
                precisions_init=precisions)


def _two_blobs(offset, d=2, n=200, seed=0):
    rng = np.random.default_rng(seed)
    return np.vstack([rng.normal(size=(n // 2, d)), rng.normal(size=(n // 2, d)) + 4]) + offset


def _fit_quietly(estimator, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X)


@pytest.mark.parametrize("offset", [0.0, 50.0])
@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
def test_empty_component_as_sklearn(cov_type, offset):
    """Every responsibility of a component underflows to 0: its weight is
    10 eps / sum(nk), its mean 0 (whatever the data's offset) and its
    covariance reg_covar * I, as scikit-learn's N + 10 eps gives."""
    X = _two_blobs(offset)
    kwargs = dict(n_components=3, covariance_type=cov_type, max_iter=1, reg_covar=1e-3,
                  **_far_component_init(cov_type, offset))
    ours = _fit_quietly(GaussianMixture(**kwargs), X)
    theirs = _fit_quietly(SkGaussianMixture(**kwargs), X)
    np.testing.assert_allclose(ours.means_[2], 0.0, atol=1e-200)
    if cov_type == "full":
        np.testing.assert_allclose(ours.covariances_[2], 1e-3 * np.eye(2), rtol=1e-12,
                                   atol=1e-200)
    elif cov_type in ("diag", "spherical"):
        np.testing.assert_allclose(ours.covariances_[2], 1e-3, rtol=1e-12)
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        a, b = getattr(ours, name), getattr(theirs, name)
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9 * np.abs(b).max(),
                                   err_msg=name)
    np.testing.assert_allclose(ours.weights_[2], theirs.weights_[2], rtol=1e-12)


@pytest.mark.parametrize("cov_type", ["full", "diag", "spherical"])
def test_empty_component_without_reg_covar_is_ill_defined(cov_type):
    X = _two_blobs(0.0)
    kwargs = dict(n_components=3, covariance_type=cov_type, max_iter=1, reg_covar=0.0,
                  **_far_component_init(cov_type, 0.0))
    for cls in (SkGaussianMixture, GaussianMixture):
        with pytest.raises(ValueError, match="ill-defined empirical covariance"):
            cls(**kwargs).fit(X)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cov_type", ["diag", "spherical"])
def test_duplicated_rows_get_the_rounding_floor(cov_type, dtype):
    """A diag/spherical component on identical rows keeps a variance at the
    rounding level of the data (at least spacing(mu)^2 / 12, at most a few
    squared spacings) instead of an exact 0."""
    rng = np.random.default_rng(1)
    X = np.vstack([np.tile([[3.0, -0.5]], (20, 1)), rng.normal(size=(80, 2)) + 10]).astype(dtype)
    means = np.array([[3.0, -0.5], [10.0, 10.0]])
    # Narrow enough that the other rows give component 0 nothing (below exp(-700)).
    precisions = np.array([[100.0, 100.0], [1.0, 1.0]])
    precisions = precisions if cov_type == "diag" else precisions[:, 0]
    kwargs = dict(n_components=2, covariance_type=cov_type, reg_covar=0.0, max_iter=1,
                  means_init=means, weights_init=[0.2, 0.8], precisions_init=precisions)
    gm = _fit_quietly(GaussianMixture(**kwargs), X)
    floor = variance_floor(np.array([[3.0, -0.5]]), dtype)[0]
    if cov_type == "spherical":
        floor = floor.mean()
    assert np.all(gm.covariances_[0] >= floor * (1 - 1e-6))
    assert np.all(gm.covariances_[0] <= 48 * floor)
    assert np.all(np.isfinite(gm.precisions_cholesky_))
    assert np.isfinite(gm.score(X))


def test_variance_floor_is_the_rounding_of_the_data():
    means = np.array([[1.0, 0.0, -3e5, 1e-310]])
    np.testing.assert_array_equal(
        variance_floor(means, np.float64),
        [[np.spacing(1.0) ** 2 / 12, 0.0, np.spacing(3e5) ** 2 / 12, 0.0]])
    floor32 = variance_floor(means, np.float32)
    assert floor32[0, 0] == pytest.approx(float(np.spacing(np.float32(1))) ** 2 / 12)
    # Far below any variance a fit resolves: at 1e8 the floor is 2e-17.
    assert variance_floor(np.array([[1e8]]), np.float64)[0, 0] < 1e-16


@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
def test_collapsed_components_raise_as_sklearn(cov_type):
    """scikit-learn's test_regularisation data: two groups of identical rows,
    one at the origin, a component per row and reg_covar=0: both libraries
    refuse with the same message; reg_covar=1e-6 fits."""
    X = np.vstack([np.ones((5, 5)), np.zeros((5, 5))])
    for cls in (SkGaussianMixture, GaussianMixture):
        gm = cls(n_components=10, reg_covar=0, covariance_type=cov_type, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            with pytest.raises(ValueError) as error:
                gm.fit(X)
        assert str(error.value) == SINGULAR_MESSAGE
        _fit_quietly(gm.set_params(reg_covar=1e-6), X)


def _two_points_duplicated():
    X = np.vstack([np.tile([[1.0, 2.0]], (6, 1)), np.tile([[5.0, 1.0]], (6, 1))])
    return X, dict(n_components=2, reg_covar=0.0, max_iter=1,
                   means_init=[[1.0, 2.0], [5.0, 1.0]])


def test_full_on_duplicated_rows_raises_as_sklearn():
    """A full covariance from a point and duplicates of it is rank deficient
    (no floor there): scikit-learn and fastgmm both refuse."""
    X, kwargs = _two_points_duplicated()
    for cls in (SkGaussianMixture, GaussianMixture):
        with pytest.raises(ValueError, match="ill-defined empirical covariance"):
            cls(covariance_type="full", **kwargs).fit(X)


def test_tied_on_duplicated_rows_raises():
    """The pooled scatter of point masses is 0. fastgmm's shifted scatter is
    exactly 0 and the fit is refused (docs/user_guide/degenerate_data.md). scikit-learn's
    E[x x^T] - mu mu^T lands on rounding noise of about 1e-15, which may or may
    not be positive-definite depending on the last bits (on test_regularisation's
    data it is not): it either refuses too or returns that noise."""
    X, kwargs = _two_points_duplicated()
    with pytest.raises(ValueError, match="ill-defined empirical covariance"):
        GaussianMixture(covariance_type="tied", **kwargs).fit(X)
    try:
        theirs = _fit_quietly(SkGaussianMixture(covariance_type="tied", **kwargs), X)
    except ValueError as error:
        assert str(error) == SINGULAR_MESSAGE
    else:
        assert np.abs(theirs.covariances_).max() < 1e-13
