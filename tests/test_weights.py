"""``fit(X, sample_weight=w)``: a weight acts as a row count.

An integer weight gives the model of the data with that row repeated, a
zero weight the model without the row; weights also steer the k-means and
k-means++ initialisations.
"""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from fastgmm import GaussianMixture

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
PARAMS = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_")


def _data(seed, n=900, d=3):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(3, d))
    X = centres[rng.integers(0, 3, size=n)] + rng.normal(size=(n, d))
    return X, rng


def _init(rng, cov_type, k=3, d=3):
    shapes = {"full": (k, d, d), "tied": (d, d), "diag": (k, d), "spherical": (k,)}
    if cov_type in ("full", "tied"):
        precisions = np.broadcast_to(np.eye(d) * 0.5, shapes[cov_type]).copy()
    else:
        precisions = np.full(shapes[cov_type], 0.5)
    return dict(weights_init=rng.dirichlet(np.full(k, 5.0)),
                means_init=rng.normal(scale=3.0, size=(k, d)),
                precisions_init=precisions)


def _fit(X, w=None, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return GaussianMixture(**kwargs).fit(X, sample_weight=w)


def _assert_same_model(got, expected, rtol=1e-10):
    assert got.n_iter_ == expected.n_iter_
    np.testing.assert_allclose(got.lower_bounds_, expected.lower_bounds_, rtol=rtol)
    for name in PARAMS:
        b = getattr(expected, name)
        np.testing.assert_allclose(getattr(got, name), b, rtol=rtol,
                                   atol=rtol * np.abs(b).max(), err_msg=name)


@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
def test_integer_weights_equal_repeated_rows(cov_type):
    X, rng = _data(0)
    counts = rng.integers(1, 5, size=len(X))
    kwargs = dict(n_components=3, covariance_type=cov_type, max_iter=25, tol=1e-7,
                  **_init(rng, cov_type))
    weighted = _fit(X, counts.astype(float), **kwargs)
    repeated = _fit(np.repeat(X, counts, axis=0), **kwargs)
    assert repeated.n_iter_ > 3
    _assert_same_model(weighted, repeated)


@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
def test_zero_weight_equals_removing_the_row(cov_type):
    X, rng = _data(1)
    w = rng.random(len(X)) + 0.5
    w[rng.random(len(X)) < 0.3] = 0.0
    keep = w > 0
    kwargs = dict(n_components=3, covariance_type=cov_type, max_iter=25, tol=1e-7,
                  **_init(rng, cov_type))
    _assert_same_model(_fit(X, w, **kwargs), _fit(X[keep], w[keep], **kwargs))


@pytest.mark.parametrize("init_params", ["random", "random_from_data", "k-means++", "kmeans"])
def test_zero_weight_equals_removing_the_row_from_random_init(init_params):
    """The initialisations draw the same random numbers once zero-weight rows are gone."""
    X, rng = _data(2, n=1200)
    w = rng.integers(0, 3, size=len(X)).astype(float)
    keep = w > 0
    kwargs = dict(n_components=3, covariance_type="full", init_params=init_params,
                  random_state=5, max_iter=20, tol=1e-7)
    _assert_same_model(_fit(X, w, **kwargs), _fit(X[keep], w[keep], **kwargs))


def test_constant_weight_is_no_weight():
    X, rng = _data(3)
    kwargs = dict(n_components=3, covariance_type="full", max_iter=20, tol=1e-7,
                  **_init(rng, "full"))
    _assert_same_model(_fit(X, 2.5, **kwargs), _fit(X, **kwargs))


def test_float32_weights_and_fit_predict():
    X, rng = _data(4)
    X = X.astype(np.float32)
    w = rng.random(len(X))
    gm = _fit(X, w, n_components=3, random_state=0)
    assert gm.means_.dtype == np.float32
    labels = GaussianMixture(3, random_state=0).fit_predict(X, sample_weight=w)
    np.testing.assert_array_equal(labels, gm.predict(X))


def _two_blobs_and_a_heavy_speck(seed):
    """Two big blobs; three far rows whose weight outweighs them both."""
    rng = np.random.default_rng(seed)
    X = np.vstack([rng.normal(size=(3000, 2)), rng.normal(size=(3000, 2)) + [10.0, 0.0],
                   rng.normal(size=(3, 2)) * 0.1 + [0.0, 10.0]])
    w = np.ones(len(X))
    w[-3:] = 1e5
    return X, w


@pytest.mark.parametrize("init_params", ["k-means++", "kmeans"])
def test_weights_steer_kmeans_initialisation(init_params):
    X, w = _two_blobs_and_a_heavy_speck(6)
    speck = np.array([0.0, 10.0])
    for seed in range(3):
        kwargs = dict(n_components=2, init_params=init_params, max_iter=0, random_state=seed)
        with_weights = _fit(X, w, **kwargs)
        assert np.linalg.norm(with_weights.means_ - speck, axis=1).min() < 0.5
        # Unweighted, two blobs of 3000 rows beat three far rows.
        without = _fit(X, **kwargs)
        assert np.linalg.norm(without.means_ - speck, axis=1).min() > 3.0


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        (-np.ones(10), "Negative values in data passed to `sample_weight`"),
        (np.r_[np.ones(9), np.nan], "Input sample_weight contains NaN"),
        (np.r_[np.ones(9), np.inf], "Input sample_weight contains infinity"),
        (np.ones(9), r"sample_weight.shape == \(9,\), expected \(10,\)!"),
        (np.ones((10, 1)), "Sample weights must be 1D array or scalar"),
        (np.zeros(10), "Sample weights must contain at least one non-zero number"),
    ],
    ids=["negative", "nan", "inf", "length", "2d", "all-zero"],
)
def test_invalid_weights_are_rejected(weights, message):
    X, _ = _data(7, n=10)
    with pytest.raises(ValueError, match=message):
        GaussianMixture(2).fit(X, sample_weight=weights)
