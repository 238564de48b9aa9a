"""scikit-learn's estimator contract, and the estimator's own behaviour:
meta-estimators, pickling, warm starts, n_init, verbosity, warnings, errors."""

import pickle
import re
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.mixture import GaussianMixture as SkGaussianMixture
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import naive
from fastgmm import GaussianMixture

COVARIANCE_TYPES = naive.COVARIANCE_TYPES
DTYPES = (np.float32, np.float64)


@parametrize_with_checks([
    GaussianMixture(),
    GaussianMixture(covariance_type="tied", init_params="random"),
    GaussianMixture(covariance_type="diag", init_params="k-means++", n_init=2),
    GaussianMixture(covariance_type="spherical", init_params="random_from_data"),
])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def _blobs(seed=0, n=300, centers=((0.0, 0.0), (8.0, 0.0), (0.0, 8.0)), dtype=np.float64):
    rng = np.random.default_rng(seed)
    centers = np.asarray(centers)
    labels = rng.integers(len(centers), size=n)
    return (centers[labels] + rng.normal(size=(n, centers.shape[1]))).astype(dtype)


def _given_init(cov_type, X, k=3, seed=0):
    rng = np.random.default_rng(seed)
    d = X.shape[1]
    return dict(weights_init=np.full(k, 1.0 / k),
                means_init=X[rng.choice(len(X), size=k, replace=False)],
                precisions_init=naive.inverse(
                    naive.random_covariances(rng, cov_type, k, d), cov_type))


# ------------------------------------------------------------ API plumbing
def test_clone_copies_parameters_not_the_fit():
    X = _blobs()
    gm = GaussianMixture(3, covariance_type="diag", means_init=X[:3], random_state=1)
    gm.fit(X)
    copy = clone(gm)
    assert copy.get_params().keys() == gm.get_params().keys()
    for name, value in gm.get_params().items():
        np.testing.assert_array_equal(copy.get_params()[name], value)
    assert not hasattr(copy, "means_")
    with pytest.raises(NotFittedError):
        copy.predict(X)
    np.testing.assert_array_equal(copy.fit(X).means_, gm.means_)


def test_get_params_set_params():
    gm = GaussianMixture()
    assert set(gm.get_params()) == {
        "n_components", "covariance_type", "tol", "reg_covar", "max_iter", "n_init",
        "init_params", "weights_init", "means_init", "precisions_init", "random_state",
        "warm_start", "verbose", "verbose_interval", "learning_offset",
        "learning_decay", "on_collapse", "reseed_min_weight", "nan_policy"}
    assert gm.set_params(n_components=4, covariance_type="spherical") is gm
    assert gm.get_params()["n_components"] == 4
    gm.fit(_blobs())
    assert gm.means_.shape == (4, 2) and gm.covariances_.shape == (4,)
    with pytest.raises(ValueError, match="Invalid parameter 'bogus'"):
        gm.set_params(bogus=1)


def test_fit_does_not_write_back_validated_inits():
    X = _blobs()
    means_init = X[:3].tolist()
    gm = GaussianMixture(3, means_init=means_init).fit(X)
    assert gm.means_init is means_init


def test_pipeline():
    X = _blobs() * [1.0, 30.0] + [5.0, -2.0]
    pipe = make_pipeline(StandardScaler(), GaussianMixture(3, random_state=0)).fit(X)
    Z = StandardScaler().fit_transform(X)
    gm = GaussianMixture(3, random_state=0).fit(Z)
    np.testing.assert_array_equal(pipe.predict(X), gm.predict(Z))
    np.testing.assert_allclose(pipe.score_samples(X), gm.score_samples(Z), rtol=1e-12)
    np.testing.assert_allclose(pipe.score(X), gm.score(Z), rtol=1e-12)
    np.testing.assert_array_equal(pipe.fit_predict(X), gm.predict(Z))


def test_grid_search_scores_by_mean_log_likelihood():
    X = _blobs(n=240)
    cv = KFold(3, shuffle=True, random_state=0)
    search = GridSearchCV(GaussianMixture(random_state=0),
                          {"n_components": [1, 2, 3]}, cv=cv).fit(X)
    assert search.best_params_ == {"n_components": 3}
    held_out = [GaussianMixture(3, random_state=0).fit(X[train]).score(X[test])
                for train, test in cv.split(X)]
    np.testing.assert_allclose(search.best_score_, np.mean(held_out), rtol=1e-12)
    assert search.best_estimator_.n_components == 3


@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
def test_pickle_round_trip(cov_type):
    X = _blobs()
    gm = GaussianMixture(3, covariance_type=cov_type, random_state=0).fit(X)
    restored = pickle.loads(pickle.dumps(gm))
    X_new = _blobs(seed=5, n=50)
    np.testing.assert_array_equal(restored.predict(X_new), gm.predict(X_new))
    np.testing.assert_array_equal(restored.predict_proba(X_new), gm.predict_proba(X_new))
    np.testing.assert_array_equal(restored.score_samples(X_new), gm.score_samples(X_new))
    assert restored.get_params() == gm.get_params()


@pytest.mark.parametrize("dtype", DTYPES)
def test_dtype_is_preserved(dtype):
    X = _blobs(dtype=dtype)
    gm = GaussianMixture(3, random_state=0).fit(X)
    for name in ("weights_", "means_", "covariances_", "precisions_",
                 "precisions_cholesky_"):
        assert getattr(gm, name).dtype == dtype, name
    assert gm.score_samples(X).dtype == dtype
    assert gm.predict_proba(X).dtype == dtype


# -------------------------------------------------------------- warm start
@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
def test_warm_start_continues_where_it_left_off(cov_type):
    """n warm fits of one iteration are one fit of n iterations."""
    X = _blobs()
    kwargs = dict(n_components=3, covariance_type=cov_type, tol=0.0,
                  **_given_init(cov_type, X))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        cold = GaussianMixture(max_iter=5, **kwargs).fit(X)
        warm = GaussianMixture(max_iter=1, warm_start=True, **kwargs)
        bounds = []
        for _ in range(5):
            warm.fit(X)
            assert warm.n_iter_ == 1
            bounds += warm.lower_bounds_
    np.testing.assert_allclose(bounds, cold.lower_bounds_, rtol=1e-13)
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        np.testing.assert_allclose(getattr(warm, name), getattr(cold, name),
                                   rtol=1e-12, atol=1e-14, err_msg=name)


def test_warm_start_converges_immediately_and_ignores_n_init():
    X = _blobs()
    gm = GaussianMixture(3, warm_start=True, n_init=3, tol=1e-6, random_state=0,
                         max_iter=500, verbose=1)
    gm.fit(X)
    assert gm.converged_
    means = gm.means_.copy()
    gm.fit(X)
    assert gm.n_iter_ == 1 and gm.converged_
    np.testing.assert_allclose(gm.means_, means, atol=1e-5)


@pytest.mark.parametrize("change", [{"n_components": 4}, {"covariance_type": "diag"},
                                    {"covariance_type": "tied"},
                                    {"covariance_type": "spherical"}])
def test_warm_start_after_changing_the_model_shape_is_a_clear_error(change):
    """Used to be a Numba TypingError (covariance_type) or a silently wrong
    model (n_components); now a ValueError that says what to do."""
    X = _blobs()
    gm = GaussianMixture(3, warm_start=True, random_state=0).fit(X)
    gm.set_params(**change)
    with pytest.raises(ValueError, match="changed after fit: set warm_start=False"):
        gm.fit(X)
    gm.set_params(warm_start=False)
    with pytest.raises(ValueError, match="changed after fit: call fit again"):
        gm.predict(X)
    with pytest.raises(ValueError, match="changed after fit: call fit again"):
        gm.sample(3)
    gm.fit(X)
    assert gm.predict(X).shape == (len(X),)


def test_warm_start_with_other_features_is_a_clear_error():
    X = _blobs()
    gm = GaussianMixture(3, warm_start=True, random_state=0).fit(X)
    with pytest.raises(ValueError, match="X has 3 features, but GaussianMixture is "
                                         "expecting 2 features"):
        gm.fit(np.hstack([X, X[:, :1]]))
    assert gm.n_features_in_ == 2


def test_warm_start_after_a_failed_first_fit_initialises():
    """A fit that raised leaves nothing a warm start could continue from."""
    X = np.repeat(_blobs(n=3), 10, axis=0)
    gm = GaussianMixture(3, warm_start=True, reg_covar=0.0, random_state=0)
    with pytest.raises(ValueError, match="reg_covar"):
        gm.fit(X)
    gm.set_params(reg_covar=1e-3).fit(X)
    assert gm.converged_ and gm.means_.shape == (3, 2)


# ------------------------------------------------------------------ n_init
def test_n_init_keeps_the_best_initialisation():
    """n_init=5 equals the best of five single fits drawing from the same stream."""
    X = _blobs(n=200, centers=[(0, 0), (3, 0), (0, 3), (3, 3), (1.5, 1.5)])
    kwargs = dict(n_components=5, init_params="random", max_iter=300)
    best = GaussianMixture(n_init=5, random_state=np.random.RandomState(3),
                           **kwargs).fit(X)
    stream = np.random.RandomState(3)
    singles = [GaussianMixture(n_init=1, random_state=stream, **kwargs).fit(X)
               for _ in range(5)]
    bounds = [gm.lower_bound_ for gm in singles]
    assert len(set(np.round(bounds, 6))) > 1  # the inits do reach different optima
    winner = singles[int(np.argmax(bounds))]
    assert best.lower_bound_ == max(bounds)
    assert best.n_iter_ == winner.n_iter_
    assert best.lower_bounds_ == winner.lower_bounds_
    np.testing.assert_array_equal(best.means_, winner.means_)


# ------------------------------------------------------- verbose, warnings
def _mask_times(text):
    return re.sub(r"time lapse [0-9.]+s", "time lapse Ts", text)


@pytest.mark.parametrize("verbose", [1, 2])
def test_verbose_output_matches_sklearn(verbose, capsys):
    X = _blobs()
    kwargs = dict(n_components=3, verbose=verbose, verbose_interval=2, n_init=2,
                  init_params="random", random_state=0, max_iter=100)
    GaussianMixture(**kwargs).fit(X)
    ours = capsys.readouterr().out
    SkGaussianMixture(**kwargs).fit(X)
    theirs = capsys.readouterr().out
    assert "Initialization 0" in ours and "Initialization 1" in ours
    assert "  Iteration 2" in ours and "Initialization converged." in ours
    if verbose == 2:
        assert "ll change" in ours and "lower bound" in ours
    assert _mask_times(ours) == _mask_times(theirs)


def test_not_verbose_prints_nothing(capsys):
    GaussianMixture(3, random_state=0).fit(_blobs())
    assert capsys.readouterr().out == ""


def test_convergence_warning():
    X = _blobs()
    with pytest.warns(ConvergenceWarning, match="did not converge.*increase max_iter"):
        gm = GaussianMixture(3, max_iter=2, tol=0.0, random_state=0).fit(X)
    assert not gm.converged_ and gm.n_iter_ == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gm = GaussianMixture(3, max_iter=200, random_state=0).fit(X)
    assert gm.converged_ and gm.n_iter_ < 200


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
def test_singular_covariance_suggests_reg_covar(cov_type, dtype):
    """Three clusters of identical rows: zero covariances without reg_covar."""
    X = np.repeat(_blobs(n=3, dtype=dtype), 10, axis=0)
    if cov_type == "tied":  # pooled, so every component must collapse
        X = np.repeat(X[:1], 30, axis=0)
    if cov_type in ("diag", "spherical"):
        # Their variances keep the rounding floor spacing(mu)^2 / 12 (docs/user_guide/
        # degenerate_data.md), which is 0 only for a cluster at the origin.
        X = X - X[0]
    match = ("ill-defined empirical covariance.*increase reg_covar, "
             "or scale the input data")
    with pytest.raises(ValueError, match=match) as info:
        GaussianMixture(3, covariance_type=cov_type, reg_covar=0.0).fit(X)
    assert ("float64 data instead of float32" in str(info.value)) == (dtype == np.float32)
    # The same data fit once reg_covar keeps the covariances positive.
    GaussianMixture(3, covariance_type=cov_type, reg_covar=1e-3).fit(X)


def test_singular_covariance_during_em_suggests_reg_covar():
    """Collapse in the M-step (not at initialisation) gives the same message."""
    X = np.repeat(_blobs(n=3), 10, axis=0)
    with pytest.raises(ValueError, match="increase reg_covar"):
        GaussianMixture(3, reg_covar=0.0, means_init=X[::10],
                        precisions_init=np.repeat(np.eye(2)[None], 3, axis=0)).fit(X)


# ------------------------------------------------------------- max_iter=0
@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
def test_max_iter_0_returns_the_initial_parameters(cov_type):
    X = _blobs()
    init = _given_init(cov_type, X)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # in particular no ConvergenceWarning
        gm = GaussianMixture(3, covariance_type=cov_type, max_iter=0, **init).fit(X)
    assert gm.n_iter_ == 0 and not gm.converged_
    assert gm.lower_bounds_ == [] and gm.lower_bound_ == -np.inf
    np.testing.assert_array_equal(gm.weights_, init["weights_init"])
    np.testing.assert_array_equal(gm.means_, init["means_init"])
    np.testing.assert_allclose(gm.precisions_, init["precisions_init"], rtol=1e-12)
    np.testing.assert_allclose(gm.covariances_,
                               naive.inverse(init["precisions_init"], cov_type),
                               rtol=1e-10)
    # The initial model is usable.
    np.testing.assert_allclose(
        gm.score_samples(X),
        naive.log_prob(X, gm.weights_, gm.means_, gm.covariances_, cov_type),
        rtol=1e-10)


# ------------------------------------------------------------------ sample
def test_sample_with_float32_weights_next_to_an_empty_component():
    """float32 weights such as a fit leaves when a component empties: their
    float64 sum exceeds 1, which numpy's multinomial used to reject."""
    X = _blobs(dtype=np.float32)
    gm = GaussianMixture(3, random_state=0).fit(X)
    weights = np.array([0.08, 0.92 - 1e-10, 1e-10])
    weights32 = weights.astype(np.float32)
    assert weights32[:-1].astype(np.float64).sum() > 1.0 + 1e-12  # the troublesome case
    gm.weights_ = weights32
    samples, labels = gm.sample(200)
    assert samples.shape == (200, 2)
    assert np.all(labels < 2)
    assert 3 < np.sum(labels == 0) < 40


@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
def test_sample_follows_the_model(cov_type):
    X = _blobs()
    gm = GaussianMixture(3, covariance_type=cov_type, random_state=0).fit(X)
    samples, labels = gm.sample(3000)
    assert np.all(np.diff(labels) >= 0)  # grouped by component
    np.testing.assert_allclose(np.bincount(labels, minlength=3) / 3000, gm.weights_,
                               atol=0.03)
    for j in range(3):
        np.testing.assert_allclose(samples[labels == j].mean(axis=0), gm.means_[j],
                                   atol=0.15)
