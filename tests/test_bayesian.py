"""``BayesianGaussianMixture``: parity with scikit-learn, properties, bad input.

From the same initialisation (``init_params='random'`` or
``'random_from_data'`` with the same ``random_state``, whose draws fastgmm
reproduces) both run the same variational iterations, so on float64 data
they agree to rounding. Far from the origin scikit-learn loses precision in
its 'tied', 'diag' and 'spherical' scatter (it forms ``E[x x^T] - mu mu^T``),
so for data shifted by 1e6 the reference is scikit-learn's fit of the
centred data, shifted back.
"""

import copy
import warnings

import numba
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.mixture import BayesianGaussianMixture as SkBayesianGaussianMixture
from sklearn.utils.estimator_checks import parametrize_with_checks

import naive
from fastgmm import BayesianGaussianMixture

COVARIANCE_TYPES = naive.COVARIANCE_TYPES
PRIOR_TYPES = ("dirichlet_process", "dirichlet_distribution")
PARAMS = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_",
          "mean_precision_", "degrees_of_freedom_", "mean_prior_", "covariance_prior_")
# Parity for every combination (random_from_data with tied included: the
# tied start counts every row as scikit-learn's X^T X does).
INITS = [pytest.param(init, cov, id=f"{init}-{cov}")
         for init in ("random", "random_from_data") for cov in COVARIANCE_TYPES]
# (seed, n_samples, n_features, n_generating_components, n_components)
DATASETS = [(0, 400, 2, 3, 5), (1, 300, 1, 2, 3), (2, 600, 4, 3, 4)]
QUIET = settings(deadline=None, max_examples=25,
                 suppress_health_check=[HealthCheck.too_slow])


def _mixture_data(seed, n, d, k, cov_type="full", separation=4.0):
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.full(k, 5.0))
    means = rng.normal(scale=separation, size=(k, d))
    cov = naive.random_covariances(rng, cov_type, k, d)
    X, _ = naive.sample(rng, n, weights, means, cov, cov_type)
    return X


def _fit_both(X, X_sklearn=None, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = BayesianGaussianMixture(**kwargs).fit(X)
        theirs = SkBayesianGaussianMixture(**kwargs).fit(X if X_sklearn is None else X_sklearn)
    return ours, theirs


def _concentration(model):
    return np.atleast_2d(np.asarray(model.weight_concentration_, dtype=np.float64))


def _assert_same_fit(ours, theirs, shift=0.0, rtol=1e-6):
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.converged_ == theirs.converged_
    # sklearn's tied lower bound is an array of one element.
    np.testing.assert_allclose(ours.lower_bound_, float(np.squeeze(theirs.lower_bound_)),
                               rtol=1e-8)
    np.testing.assert_allclose(ours.lower_bounds_,
                               [float(np.squeeze(b)) for b in theirs.lower_bounds_],
                               rtol=1e-8)
    for name in PARAMS:
        a, b = np.asarray(getattr(ours, name)), np.asarray(getattr(theirs, name))
        if name in ("means_", "mean_prior_"):
            b = b + shift
        assert a.shape == b.shape, name
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * np.abs(b).max(),
                                   err_msg=name)
    b = _concentration(theirs)
    np.testing.assert_allclose(_concentration(ours), b, rtol=rtol,
                               atol=rtol * np.abs(b).max())
    for name in ("weight_concentration_prior_", "mean_precision_prior_",
                 "degrees_of_freedom_prior_"):
        assert getattr(ours, name) == getattr(theirs, name), name


# ------------------------------------------------------------------ parity
@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
@pytest.mark.parametrize(("init_params", "cov_type"), INITS)
@pytest.mark.parametrize("dataset", DATASETS, ids=lambda s: "n{1}-d{2}-k{4}".format(*s))
def test_same_init_same_fit(dataset, init_params, cov_type, prior_type):
    seed, n, d, k_true, k = dataset
    X = _mixture_data(seed, n, d, k_true, cov_type)
    ours, theirs = _fit_both(X, n_components=k, covariance_type=cov_type,
                             init_params=init_params, random_state=seed,
                             weight_concentration_prior_type=prior_type, max_iter=300)
    _assert_same_fit(ours, theirs)
    X_new = X[::5] + 0.1
    np.testing.assert_allclose(ours.score_samples(X_new), theirs.score_samples(X_new),
                               rtol=1e-9)
    np.testing.assert_allclose(ours.predict_proba(X_new), theirs.predict_proba(X_new),
                               rtol=1e-6, atol=1e-9)
    np.testing.assert_array_equal(ours.predict(X_new), theirs.predict(X_new))


@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
def test_same_iterations_without_convergence_and_given_priors(cov_type, prior_type):
    """A capped run (tol=0) with every prior given follows sklearn step by step."""
    X = _mixture_data(5, 500, 3, 3, cov_type)
    rng = np.random.default_rng(5)
    covariance_prior = {"full": np.cov(X.T) * 0.5, "tied": np.cov(X.T) * 2.0,
                        "diag": X.var(axis=0) * 0.7, "spherical": 1.3}[cov_type]
    ours, theirs = _fit_both(
        X, n_components=4, covariance_type=cov_type, init_params="random",
        random_state=3, weight_concentration_prior_type=prior_type, max_iter=6, tol=0.0,
        weight_concentration_prior=0.3, mean_precision_prior=0.5,
        mean_prior=rng.normal(size=3), degrees_of_freedom_prior=4.5,
        covariance_prior=covariance_prior)
    assert ours.n_iter_ == 6 and not ours.converged_
    _assert_same_fit(ours, theirs)


@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
def test_far_from_the_origin(cov_type, prior_type):
    """Data shifted by 1e6: fastgmm's fit is sklearn's fit of the centred data, shifted."""
    X = _mixture_data(7, 500, 2, 3, cov_type)
    X -= X.mean(axis=0)
    shift = 1e6
    ours, theirs = _fit_both(X + shift, X_sklearn=X, n_components=4,
                             covariance_type=cov_type, init_params="random",
                             random_state=0, weight_concentration_prior_type=prior_type,
                             max_iter=300)
    _assert_same_fit(ours, theirs, shift=shift)


def test_dirichlet_process_switches_off_unneeded_components():
    X = _mixture_data(11, 2000, 2, 3, separation=8.0)
    bgm = BayesianGaussianMixture(n_components=10, random_state=0, max_iter=500,
                                  weight_concentration_prior=1e-3).fit(X)
    assert bgm.converged_
    assert int(np.sum(bgm.weights_ > 0.01)) == 3
    np.testing.assert_allclose(bgm.weights_.sum(), 1.0, rtol=1e-12)


# --------------------------------------------------------- the contract
@parametrize_with_checks([
    BayesianGaussianMixture(),
    BayesianGaussianMixture(covariance_type="tied", init_params="random",
                            weight_concentration_prior_type="dirichlet_distribution"),
    BayesianGaussianMixture(covariance_type="diag", init_params="k-means++", n_init=2),
    BayesianGaussianMixture(covariance_type="spherical", init_params="random_from_data"),
])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_parameters_and_defaults_are_sklearns():
    ours, theirs = BayesianGaussianMixture(), SkBayesianGaussianMixture()
    assert ours.get_params() == theirs.get_params()
    with pytest.raises(TypeError):
        BayesianGaussianMixture(3)  # keyword-only, as in sklearn


@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
def test_fitted_attributes_have_sklearns_shapes_and_dtypes(cov_type):
    X = _mixture_data(3, 300, 3, 2, cov_type).astype(np.float32)
    kwargs = dict(n_components=3, covariance_type=cov_type, random_state=0)
    ours, theirs = _fit_both(X, **kwargs)
    for name in PARAMS + ("weight_concentration_",):
        a, b = getattr(ours, name), getattr(theirs, name)
        if name == "weight_concentration_":
            assert isinstance(a, tuple) and len(a) == 2
            a, b = a[0], b[0]
        assert np.shape(a) == np.shape(b), name
        # The model stays in X's dtype (as GaussianMixture's); the default
        # covariance_prior_ is np.cov's float64 for 'full'/'tied', as sklearn's.
        expected = (np.float64 if name == "covariance_prior_"
                    and cov_type in ("full", "tied") else np.float32)
        assert np.asarray(a).dtype == expected, name
    assert ours.n_features_in_ == 3
    assert ours.score_samples(X).dtype == np.float32


def test_float32_is_not_copied(monkeypatch):
    """The kernels read the caller's float32 array: validation makes no copy."""
    X = _mixture_data(3, 300, 3, 2).astype(np.float32)
    from fastgmm._data import arrays as _engine

    seen = []
    original = _engine.contiguous_rows

    def spy(A, start, stop):
        block = original(A, start, stop)
        if A.ndim == 2:
            seen.append(np.shares_memory(block, X))
        return block

    monkeypatch.setattr(_engine, "contiguous_rows", spy)
    BayesianGaussianMixture(n_components=2, random_state=0, max_iter=3).fit(X)
    assert seen and all(seen)


def test_clone_pickle_and_not_fitted():
    import pickle

    X = _mixture_data(4, 300, 2, 2)
    bgm = BayesianGaussianMixture(n_components=3, mean_prior=[0.0, 1.0], random_state=0)
    with pytest.raises(NotFittedError):
        bgm.predict(X)
    bgm.fit(X)
    assert not hasattr(clone(bgm), "means_")
    restored = pickle.loads(pickle.dumps(bgm))
    np.testing.assert_array_equal(restored.score_samples(X), bgm.score_samples(X))
    np.testing.assert_array_equal(clone(bgm).fit(X).means_, bgm.means_)


def test_grid_search_and_pipeline():
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X = _mixture_data(6, 300, 2, 3)
    search = GridSearchCV(BayesianGaussianMixture(random_state=0),
                          {"covariance_type": ["full", "spherical"]}, cv=3).fit(X)
    assert search.best_estimator_.covariance_type in ("full", "spherical")
    pipe = make_pipeline(StandardScaler(),
                         BayesianGaussianMixture(n_components=3, random_state=0)).fit(X)
    Z = StandardScaler().fit_transform(X)
    np.testing.assert_array_equal(
        pipe.predict(X), BayesianGaussianMixture(n_components=3, random_state=0).fit(Z).predict(Z))


@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
def test_warm_start_continues_where_it_left_off(cov_type):
    X = _mixture_data(8, 400, 2, 3, cov_type)
    kwargs = dict(n_components=3, covariance_type=cov_type, tol=0.0, init_params="random",
                  random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        cold = BayesianGaussianMixture(max_iter=4, **kwargs).fit(X)
        warm = BayesianGaussianMixture(max_iter=1, warm_start=True, **kwargs)
        bounds = []
        for _ in range(4):
            bounds += warm.fit(X).lower_bounds_
    np.testing.assert_allclose(bounds, cold.lower_bounds_, rtol=1e-12)
    np.testing.assert_allclose(warm.means_, cold.means_, rtol=1e-12)


def test_convergence_warning_and_verbose_output_match_sklearn(capsys):
    X = _mixture_data(9, 300, 2, 3)
    kwargs = dict(n_components=3, init_params="random", random_state=0, max_iter=4,
                  tol=0.0, verbose=2, verbose_interval=2)
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        BayesianGaussianMixture(**kwargs).fit(X)
    ours = capsys.readouterr().out
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        SkBayesianGaussianMixture(**kwargs).fit(X)
    theirs = capsys.readouterr().out
    import re

    mask = lambda s: re.sub(r"time lapse [0-9.]+s", "", s)  # noqa: E731
    assert "  Iteration 2" in ours
    assert mask(ours) == mask(theirs)


def test_sample_follows_the_model():
    X = _mixture_data(10, 600, 2, 2, separation=8.0)
    bgm = BayesianGaussianMixture(n_components=2, random_state=0).fit(X)
    samples, labels = bgm.sample(4000)
    np.testing.assert_allclose(np.bincount(labels, minlength=2) / 4000, bgm.weights_,
                               atol=0.03)
    for j in range(2):
        np.testing.assert_allclose(samples[labels == j].mean(axis=0), bgm.means_[j],
                                   atol=0.15)


# -------------------------------------------------------------- properties
@st.composite
def _problems(draw):
    cov_type = draw(st.sampled_from(COVARIANCE_TYPES))
    prior_type = draw(st.sampled_from(PRIOR_TYPES))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    k, d = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    n = draw(st.integers(40 * k, 300))
    location = draw(st.sampled_from([0.0, 100.0, -1e4]))
    seed = draw(st.integers(0, 2**32 - 1))
    X = _mixture_data(seed % 2**31, n, d, k, cov_type) + location
    return X.astype(dtype), dict(n_components=k + 1, covariance_type=cov_type,
                                 weight_concentration_prior_type=prior_type,
                                 init_params="random", random_state=seed % 1000)


@QUIET
@given(_problems())
def test_lower_bound_never_decreases(problem):
    X, kwargs = problem
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        bgm = BayesianGaussianMixture(max_iter=40, tol=1e-9, **kwargs).fit(X)
    bounds = np.asarray(bgm.lower_bounds_)
    # The E-step evaluates float32 distances, so the float32 bound (a sum over
    # rows) carries rounding noise: seen at most 1.3 ulps of the bound per
    # step (AVX2 and AVX-512); 64 allowed, where 1e-3 of the bound per step
    # (8000 ulps) was allowed before.
    eps32 = float(np.finfo(np.float32).eps)
    rounding = (1e-9 if X.dtype == np.float64 else 64 * eps32) * max(1.0, np.abs(bounds).max())
    assert np.all(np.diff(bounds) >= -rounding), np.diff(bounds).min()
    assert bgm.lower_bound_ == bounds[-1]


@QUIET
@given(_problems())
def test_responsibilities_sum_to_one(problem):
    X, kwargs = problem
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        bgm = BayesianGaussianMixture(max_iter=10, **kwargs)
        labels = bgm.fit_predict(X)
    resp = bgm.predict_proba(X)
    atol = 1e-12 if X.dtype == np.float64 else 1e-5
    np.testing.assert_allclose(resp.sum(axis=1), 1.0, rtol=0, atol=atol)
    np.testing.assert_array_equal(labels, bgm.predict(X))


@settings(deadline=None, max_examples=10, suppress_health_check=[HealthCheck.too_slow])
@given(_problems(), st.integers(0, 2**31 - 1))
def test_integer_weights_equal_repeated_rows(problem, seed):
    """Both fits continue (warm start) from one initial state, so only the
    weights differ; the data-dependent priors see the same rows too."""
    X, kwargs = problem
    X = X.astype(np.float64)
    counts = np.random.default_rng(seed).integers(0, 4, size=len(X))
    counts[:2] = 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = BayesianGaussianMixture(max_iter=0, warm_start=True, **kwargs).fit(
            X, sample_weight=counts)
        weighted = copy.deepcopy(start).set_params(max_iter=8, tol=0.0).fit(
            X, sample_weight=counts.astype(float))
        repeated = copy.deepcopy(start).set_params(max_iter=8, tol=0.0).fit(
            np.repeat(X, counts, axis=0))
    np.testing.assert_allclose(weighted.lower_bounds_, repeated.lower_bounds_, rtol=1e-9)
    for name in PARAMS:
        b = np.asarray(getattr(repeated, name))
        np.testing.assert_allclose(getattr(weighted, name), b, rtol=1e-8,
                                   atol=1e-8 * np.abs(b).max(), err_msg=name)


# --------------------------------------------------------------- bad input
def _sklearn_message(X, **kwargs):
    with pytest.raises(ValueError) as info:
        SkBayesianGaussianMixture(**kwargs).fit(X)
    return str(info.value)


@pytest.mark.parametrize(("kwargs", "match"), [
    (dict(weight_concentration_prior=0.0), "'weight_concentration_prior' parameter"),
    (dict(weight_concentration_prior_type="beta"),
     "'weight_concentration_prior_type' parameter"),
    (dict(mean_precision_prior=-1.0), "'mean_precision_prior' parameter"),
    (dict(degrees_of_freedom_prior=0.5),
     "The parameter 'degrees_of_freedom_prior' should be greater than 1, but got 0.500"),
    (dict(mean_prior=[0.0, 1.0, 2.0]),
     r"The parameter 'means' should have the shape of \(2,\), but got \(3,\)"),
    (dict(covariance_prior=np.eye(3)),
     r"The parameter 'full covariance_prior' should have the shape of \(2, 2\)"),
    (dict(covariance_type="tied", covariance_prior=[[1.0, 2.0], [2.0, 1.0]]),
     "'tied precision' should be symmetric, positive-definite"),
    (dict(covariance_type="diag", covariance_prior=[1.0, 0.0]),
     "'diag precision' should be positive"),
    (dict(covariance_type="diag", covariance_prior=[1.0]),
     r"The parameter 'diag covariance_prior' should have the shape of \(2,\)"),
    (dict(covariance_type="spherical", covariance_prior=-2.0),
     "'covariance_prior' parameter"),
])
def test_bad_priors_get_sklearns_messages(kwargs, match):
    X = _mixture_data(0, 100, 2, 2)
    with pytest.raises(ValueError, match=match) as info:
        BayesianGaussianMixture(**kwargs).fit(X)
    assert str(info.value) == _sklearn_message(X, **kwargs)


def test_nan_and_bad_shapes():
    X = _mixture_data(0, 100, 2, 2)
    X[5, 1] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        BayesianGaussianMixture().fit(X)
    with pytest.raises(ValueError, match="Expected n_samples >= n_components"):
        BayesianGaussianMixture(n_components=5).fit(np.zeros((3, 2)) + np.arange(3)[:, None])
    bgm = BayesianGaussianMixture(random_state=0).fit(_mixture_data(0, 100, 2, 2))
    with pytest.raises(ValueError, match="X has 3 features, but BayesianGaussianMixture "
                                         "is expecting 2 features"):
        bgm.predict(np.zeros((4, 3)))


# ------------------------------------------------ data sources and threads
@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
def test_memmap_fit_equals_in_memory_fit(tmp_path, cov_type):
    X = _mixture_data(12, 3000, 3, 3, cov_type).astype(np.float32)
    mm = np.memmap(tmp_path / "x.dat", dtype=np.float32, mode="w+", shape=X.shape)
    mm[:] = X
    mm.flush()
    ro = np.memmap(tmp_path / "x.dat", dtype=np.float32, mode="r", shape=X.shape)
    kwargs = dict(n_components=4, covariance_type=cov_type, random_state=0, max_iter=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = BayesianGaussianMixture(**kwargs).fit(ro)
        b = BayesianGaussianMixture(**kwargs).fit(X)
    assert a.lower_bounds_ == b.lower_bounds_
    for name in PARAMS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 Numba threads")
@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
def test_same_bits_for_any_thread_count(cov_type):
    from fastgmm._kernels.layout import CHUNK_ROWS

    X = _mixture_data(13, 2 * CHUNK_ROWS + 77, 3, 3, cov_type)
    previous = numba.get_num_threads()
    fits = []
    try:
        for threads in (1, 2):
            numba.set_num_threads(threads)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                fits.append(BayesianGaussianMixture(n_components=4, covariance_type=cov_type,
                                                    random_state=0, max_iter=5).fit(X))
    finally:
        numba.set_num_threads(previous)
    assert fits[0].lower_bounds_ == fits[1].lower_bounds_
    for name in PARAMS:
        np.testing.assert_array_equal(getattr(fits[0], name), getattr(fits[1], name))


def test_dask_fit_follows_the_in_memory_fit():
    """With Dask's synchronous scheduler: chunks, the same driver, the same fit."""
    da = pytest.importorskip("dask.array")
    import dask

    X = _mixture_data(14, 3000, 2, 3)
    w = np.random.default_rng(0).integers(1, 3, size=len(X)).astype(float)
    kwargs = dict(n_components=4, random_state=0, init_params="random", max_iter=30)
    # Dask's 'random' init draws per chunk; start both from the same state.
    with dask.config.set(scheduler="synchronous"), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = BayesianGaussianMixture(**kwargs).set_params(max_iter=0, warm_start=True)
        start.fit(X, sample_weight=w)
        a = copy.deepcopy(start).set_params(max_iter=30).fit(X, sample_weight=w)
        b = copy.deepcopy(start).set_params(max_iter=30).fit(
            da.from_array(X, chunks=700), sample_weight=da.from_array(w, chunks=700))
        labels = b.predict(da.from_array(X, chunks=700)).compute()
    assert a.n_iter_ == b.n_iter_
    np.testing.assert_allclose(a.lower_bounds_, b.lower_bounds_, rtol=1e-10)
    for name in PARAMS:
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=1e-9,
                                   atol=1e-12, err_msg=name)
    np.testing.assert_array_equal(labels, a.predict(X))
