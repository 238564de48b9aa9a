"""End-to-end parity with ``sklearn.mixture.GaussianMixture``.

From the same initial parameters both run the same EM iterations, so on
float64 data they agree to rounding. Far from the origin scikit-learn loses
precision (it forms ``E[x x^T] - mu mu^T`` for tied, diag and spherical),
so there the reference is ``naive.py`` and the unshifted fit.
"""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture as SkGaussianMixture

import naive
from fastgmm import GaussianMixture

COVARIANCE_TYPES = naive.COVARIANCE_TYPES
PARAMS = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_")
# Random initialisations reproduce sklearn's draws, hence its fits.
RANDOM_INITS = [
    pytest.param(init, cov, id=f"{init}-{cov}")
    for init in ("random", "random_from_data") for cov in COVARIANCE_TYPES
]
# (seed, n_samples, n_features, n_components): d = 1, k = 1, and a data set
# spanning two chunks of rows.
DATASETS = [(0, 500, 2, 3), (1, 300, 1, 2), (2, 200, 4, 1), (3, 1200, 5, 4),
            (4, 9000, 2, 2)]


def _mixture_data(seed, n, d, k, cov_type, separation=3.0):
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.full(k, 5.0))
    means = rng.normal(scale=separation, size=(k, d))
    cov = naive.random_covariances(rng, cov_type, k, d)
    X, _ = naive.sample(rng, n, weights, means, cov, cov_type)
    return X, means, rng


def _given_init(rng, means, cov_type):
    """Explicit initial parameters near (not at) the generating ones."""
    k, d = means.shape
    weights = rng.dirichlet(np.full(k, 10.0))
    means = means + rng.normal(scale=0.5, size=means.shape)
    precisions = naive.inverse(naive.random_covariances(rng, cov_type, k, d), cov_type)
    return dict(weights_init=weights, means_init=means, precisions_init=precisions)


def _assert_same_fit(ours, theirs, rtol=1e-6, first_bound_rtol=1e-10):
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.converged_ == theirs.converged_
    np.testing.assert_allclose(ours.lower_bound_, theirs.lower_bound_, rtol=1e-8)
    assert len(ours.lower_bounds_) == len(theirs.lower_bounds_)
    np.testing.assert_allclose(ours.lower_bounds_[0], theirs.lower_bounds_[0],
                               rtol=first_bound_rtol)
    np.testing.assert_allclose(ours.lower_bounds_[1:], theirs.lower_bounds_[1:],
                               rtol=1e-10)
    for name in PARAMS:
        a, b = getattr(ours, name), getattr(theirs, name)
        assert a.shape == b.shape, name
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * np.abs(b).max(),
                                   err_msg=name)


@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("dataset", DATASETS, ids=lambda s: "n{1}-d{2}-k{3}".format(*s))
def test_same_init_same_fit(dataset, cov_type):
    seed, n, d, k = dataset
    X, means, rng = _mixture_data(seed, n, d, k, cov_type)
    kwargs = dict(n_components=k, covariance_type=cov_type, max_iter=200,
                  **_given_init(rng, means, cov_type))
    ours = GaussianMixture(**kwargs).fit(X)
    theirs = SkGaussianMixture(**kwargs).fit(X)
    assert theirs.converged_  # so that the comparison covers convergence
    _assert_same_fit(ours, theirs)

    # Everything computed from the fitted parameters agrees too.
    X_new = X[::7] + 0.1
    np.testing.assert_allclose(ours.score_samples(X_new), theirs.score_samples(X_new),
                               rtol=1e-9)
    np.testing.assert_allclose(ours.predict_proba(X_new), theirs.predict_proba(X_new),
                               rtol=1e-6, atol=1e-9)
    np.testing.assert_array_equal(ours.predict(X_new), theirs.predict(X_new))
    np.testing.assert_allclose(ours.score(X), theirs.score(X), rtol=1e-9)
    np.testing.assert_allclose(ours.bic(X), theirs.bic(X), rtol=1e-9)
    np.testing.assert_allclose(ours.aic(X), theirs.aic(X), rtol=1e-9)


@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
def test_same_init_same_iterations_without_convergence(cov_type):
    """A capped run (tol=0) follows sklearn iteration by iteration."""
    X, means, rng = _mixture_data(10, 400, 3, 3, cov_type)
    kwargs = dict(n_components=3, covariance_type=cov_type, max_iter=7, tol=0.0,
                  **_given_init(rng, means, cov_type))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = GaussianMixture(**kwargs).fit(X)
        theirs = SkGaussianMixture(**kwargs).fit(X)
    assert ours.n_iter_ == 7 and not ours.converged_
    _assert_same_fit(ours, theirs)


@pytest.mark.parametrize(("init_params", "cov_type"), RANDOM_INITS)
def test_random_inits_reproduce_sklearn(init_params, cov_type):
    """fastgmm draws sklearn's random numbers in sklearn's order."""
    X, _, _ = _mixture_data(11, 500, 2, 3, cov_type)
    kwargs = dict(n_components=3, covariance_type=cov_type, init_params=init_params,
                  random_state=7, max_iter=300, n_init=2)
    ours = GaussianMixture(**kwargs).fit(X)
    theirs = SkGaussianMixture(**kwargs).fit(X)
    # 'random_from_data' starts from single rows, so covariances = reg_covar:
    # sklearn's E[x^2] - mu^2 leaves ~eps |x|^2 of noise on them, which the
    # 1e6 precisions turn into ~1e-8 relative on the first bound.
    _assert_same_fit(ours, theirs,
                     first_bound_rtol=1e-7 if init_params == "random_from_data" else 1e-10)


@pytest.mark.parametrize(("init_params", "cov_type"), RANDOM_INITS)
def test_random_inits_max_iter_0_give_sklearn_initial_parameters(init_params, cov_type):
    X, _, _ = _mixture_data(12, 300, 3, 2, cov_type)
    kwargs = dict(n_components=2, covariance_type=cov_type, init_params=init_params,
                  random_state=3, max_iter=0)
    ours = GaussianMixture(**kwargs).fit(X)
    theirs = SkGaussianMixture(**kwargs).fit(X)
    assert ours.n_iter_ == theirs.n_iter_ == 0
    assert ours.lower_bounds_ == theirs.lower_bounds_ == []
    # Same tolerance story as above: for single-row starts the covariances
    # are reg_covar plus sklearn's rounding noise (~1e-14 absolute).
    for name in PARAMS:
        np.testing.assert_allclose(getattr(ours, name), getattr(theirs, name),
                                   rtol=1e-6, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
def test_kmeans_plus_plus_max_iter_0_gives_sklearn_initial_parameters(cov_type):
    """The seeds are single rows drawn as kmeans_plusplus draws them (README:
    'Initialisation is scikit-learn's'), so the initial model is sklearn's."""
    X, _, _ = _mixture_data(12, 300, 3, 2, cov_type)
    kwargs = dict(n_components=2, covariance_type=cov_type, init_params="k-means++",
                  random_state=3, max_iter=0, reg_covar=1e-3)
    ours = GaussianMixture(**kwargs).fit(X)
    theirs = SkGaussianMixture(**kwargs).fit(X)
    for name in PARAMS:
        np.testing.assert_allclose(getattr(ours, name), getattr(theirs, name),
                                   rtol=1e-6, atol=1e-12, err_msg=name)


def _sorted_by_first_mean(gm):
    order = np.argsort(gm.means_[:, 0])
    cov = gm.covariances_ if gm.covariance_type == "tied" else gm.covariances_[order]
    return gm.weights_[order], gm.means_[order], cov


@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("init_params", ["kmeans", "k-means++"])
def test_kmeans_inits_as_good_as_sklearn(init_params, cov_type):
    """On clear data both k-means starts (scikit-learn's own seeds and labels)
    lead to sklearn's optimum."""
    X, _, _ = _mixture_data(13, 900, 2, 3, cov_type, separation=10.0)
    kwargs = dict(n_components=3, covariance_type=cov_type, init_params=init_params,
                  random_state=0, tol=1e-8, max_iter=500)
    ours = GaussianMixture(**kwargs).fit(X)
    theirs = SkGaussianMixture(**kwargs).fit(X)
    assert ours.converged_
    assert ours.lower_bound_ >= theirs.lower_bound_ - 1e-6
    for a, b in zip(_sorted_by_first_mean(ours), _sorted_by_first_mean(theirs)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
def test_far_from_origin_keeps_precision(cov_type):
    """Data shifted by 1e6 give the unshifted fit; sklearn does no better."""
    X, means, rng = _mixture_data(14, 600, 2, 3, cov_type)
    X -= X.mean(axis=0)
    init = _given_init(rng, means, cov_type)
    shift = 1e6
    init_far = dict(init, means_init=init["means_init"] + shift)
    n_iter = 8
    kwargs = dict(n_components=3, covariance_type=cov_type, max_iter=n_iter, tol=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        near = GaussianMixture(**kwargs, **init).fit(X)
        far = GaussianMixture(**kwargs, **init_far).fit(X + shift)
        sk_far = SkGaussianMixture(**kwargs, **init_far).fit(X + shift)

    # The slow two-pass reference on the shifted data agrees with fastgmm.
    bounds, (weights, means_ref, cov) = naive.fit(
        X + shift, init["weights_init"], init_far["means_init"],
        naive.inverse(init["precisions_init"], cov_type), cov_type, far.reg_covar, n_iter)
    np.testing.assert_allclose(far.lower_bounds_, bounds, rtol=1e-9)
    np.testing.assert_allclose(far.weights_, weights, rtol=1e-8)
    np.testing.assert_allclose(far.means_ - shift, means_ref - shift, rtol=0, atol=1e-8)
    np.testing.assert_allclose(far.covariances_, cov, rtol=1e-8,
                               atol=1e-9 * np.abs(cov).max())

    def errors(gm):
        scale = np.abs(near.covariances_).max()
        return (np.abs(gm.covariances_ - near.covariances_).max() / scale,
                np.abs(gm.means_ - shift - near.means_).max(),
                np.abs(np.subtract(gm.lower_bounds_, near.lower_bounds_)).max())

    ours, theirs = errors(far), errors(sk_far)
    assert max(ours) < 1e-8, ours
    for mine, sklearn_error in zip(ours, theirs):
        assert mine <= max(sklearn_error, 1e-9)


@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
def test_sample_matches_sklearn(cov_type):
    X, means, rng = _mixture_data(15, 300, 2, 3, cov_type)
    kwargs = dict(n_components=3, covariance_type=cov_type, random_state=5,
                  **_given_init(rng, means, cov_type))
    ours = GaussianMixture(**kwargs).fit(X)
    theirs = SkGaussianMixture(**kwargs).fit(X)
    Xo, yo = ours.sample(50)
    Xt, yt = theirs.sample(50)
    np.testing.assert_array_equal(yo, yt)
    np.testing.assert_allclose(Xo, Xt, rtol=1e-6, atol=1e-6)
