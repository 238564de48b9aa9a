"""Properties that hold for every well-posed problem (hypothesis)."""

import warnings

import numba
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning

import naive
from fastgmm import GaussianMixture
from fastgmm._kernels.layout import CHUNK_ROWS
from strategies import problems

# deadline=None: the first example of a dtype may compile the kernels.
FAST = settings(deadline=None, max_examples=50,
                suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(deadline=None, max_examples=10,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
PARAMS = ("weights_", "means_", "covariances_", "precisions_cholesky_")
EPS32 = float(np.finfo(np.float32).eps)


def _rtol(X):
    return 1e-10 if X.dtype == np.float64 else 2e-4


def _fit_quietly(problem, X=None, **extra):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return GaussianMixture(**problem.kwargs(**extra)).fit(
            problem.X if X is None else X)


@FAST
@given(problems())
def test_predict_proba_rows_sum_to_one(problem):
    gm = _fit_quietly(problem, max_iter=20)
    resp = gm.predict_proba(problem.X)
    assert resp.shape == (len(problem.X), problem.n_components)
    assert np.all(resp >= 0) and np.all(resp <= 1 + 1e-6)
    atol = 1e-12 if problem.X.dtype == np.float64 else 1e-5
    np.testing.assert_allclose(resp.sum(axis=1), 1.0, rtol=0, atol=atol)
    # and the labels are the most probable components
    np.testing.assert_array_equal(np.argmax(resp, axis=1)[resp.max(axis=1) > 0.51],
                                  gm.predict(problem.X)[resp.max(axis=1) > 0.51])


@FAST
@given(problems())
def test_lower_bound_never_decreases(problem):
    """EM never lowers the likelihood (reg_covar perturbs it only to second order)."""
    gm = _fit_quietly(problem, max_iter=50, tol=1e-10)
    bounds = np.asarray(gm.lower_bounds_)
    # float32: 16 ulps of the bound (seen: below 0.4, AVX2 and AVX-512).
    rounding = ((1e-9 if problem.X.dtype == np.float64 else 16 * EPS32)
                * max(1.0, np.abs(bounds).max()))
    assert np.all(np.diff(bounds) >= -rounding), np.diff(bounds).min()
    assert gm.lower_bound_ == bounds[-1]


@FAST
@given(problems())
def test_score_samples_is_the_mixture_density(problem):
    gm = _fit_quietly(problem, max_iter=10)
    X_new = problem.X[::3] + 0.25
    expected = naive.log_prob(X_new, gm.weights_, gm.means_, gm.covariances_,
                              problem.covariance_type)
    if problem.X.dtype == np.float64:
        rtol, atol = _rtol(problem.X), 0
    else:
        # The kernel forms x - mu in float32, so each coordinate carries the
        # rounding of the data, eps * |x|, which the variances of order one of
        # these problems turn into about |z| eps |x| nats per feature (seen:
        # at most 3 eps max|x| in all). A log-density term such as
        # -1/2 log(2 pi) = -0.92 per feature is hundreds of times this.
        rtol = 16 * EPS32
        atol = 16 * X_new.shape[1] * EPS32 * max(1.0, np.abs(X_new).max())
    np.testing.assert_allclose(gm.score_samples(X_new), expected, rtol=rtol, atol=atol)
    np.testing.assert_allclose(gm.score(X_new), expected.mean(), rtol=rtol, atol=atol)


@FAST
@given(problems(), st.integers(0, 2**16))
def test_row_order_does_not_change_the_fit(problem, seed):
    """Given initial parameters, the fit depends on the set of rows only."""
    perm = np.random.default_rng(seed).permutation(len(problem.X))
    a = _fit_quietly(problem, max_iter=10, tol=0.0)
    b = _fit_quietly(problem, X=problem.X[perm], max_iter=10, tol=0.0)
    rtol = 1e-9 if problem.X.dtype == np.float64 else 2e-4
    np.testing.assert_allclose(b.lower_bounds_, a.lower_bounds_, rtol=rtol)
    for name in PARAMS:
        ref = getattr(a, name)
        np.testing.assert_allclose(getattr(b, name), ref, rtol=rtol,
                                   atol=rtol * np.abs(ref).max(), err_msg=name)


@FAST
@given(problems())
def test_fit_predict_equals_fit_then_predict(problem):
    kwargs = dict(n_components=problem.n_components,
                  covariance_type=problem.covariance_type, random_state=0, max_iter=15)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        labels = GaussianMixture(**kwargs).fit_predict(problem.X)
        gm = GaussianMixture(**kwargs).fit(problem.X)
    np.testing.assert_array_equal(labels, gm.predict(problem.X))


def _fit_with_threads(problem, n_threads, **extra):
    previous = numba.get_num_threads()
    numba.set_num_threads(n_threads)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            gm = GaussianMixture(n_components=problem.n_components,
                                 covariance_type=problem.covariance_type, **extra)
            gm.fit(problem.X)
            return gm, gm.predict_proba(problem.X), gm.score_samples(problem.X)
    finally:
        numba.set_num_threads(previous)


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 Numba threads")
@SLOW
@given(problems(min_rows=CHUNK_ROWS + 1, max_rows=3 * CHUNK_ROWS + 100))
def test_same_bits_for_any_thread_count(problem):
    """Fixed blocks reduced in block order: 1 and 2 threads give identical bits,
    for the k-means initialisation and the EM iterations alike."""
    before = numba.get_num_threads()
    kwargs = dict(random_state=0, max_iter=5, tol=0.0)
    one = _fit_with_threads(problem, 1, **kwargs)
    two = _fit_with_threads(problem, 2, **kwargs)
    assert numba.get_num_threads() == before
    assert one[0].lower_bounds_ == two[0].lower_bounds_
    for name in PARAMS:
        np.testing.assert_array_equal(getattr(one[0], name), getattr(two[0], name),
                                      err_msg=name)
    np.testing.assert_array_equal(one[1], two[1])
    np.testing.assert_array_equal(one[2], two[2])
