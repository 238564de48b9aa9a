"""``GaussianMixture.partial_fit``: stepwise EM on the accumulate -> Stats -> M-step path."""

import copy
import itertools
import warnings

import numba
import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import naive
from fastgmm import GaussianMixture
from fastgmm._kernels.layout import CHUNK_ROWS
from fastgmm._init.resp import stats_from_resp
from fastgmm._model.gaussian import m_step
from fastgmm._em.stream import blend, step_size

COVARIANCE_TYPES = naive.COVARIANCE_TYPES
PARAMS = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_")


def _mixture(seed, n, d=2, k=3, cov_type="full", location=0.0, separation=5.0):
    rng = np.random.default_rng(seed)
    weights = rng.dirichlet(np.full(k, 5.0))
    means = location + rng.normal(scale=separation, size=(k, d))
    cov = naive.random_covariances(rng, cov_type, k, d)
    X, _ = naive.sample(rng, n, weights, means, cov, cov_type)
    return X, dict(weights=weights, means=means, covariances=cov)


def _given_init(truth, cov_type, seed=1):
    rng = np.random.default_rng(seed)
    k, d = truth["means"].shape
    return dict(weights_init=np.full(k, 1.0 / k),
                means_init=truth["means"] + rng.normal(scale=0.3, size=(k, d)),
                precisions_init=naive.inverse(
                    naive.random_covariances(rng, cov_type, k, d, scale=2.0), cov_type))


def _resp_stats(X, R, shift, cov_type):
    return stats_from_resp(X, None, lambda a, b: R[a:b], shift, cov_type)


def _lower(S2, cov_type):
    """The lower triangle the M-step reads (a kernel leaves the upper one partial)."""
    if cov_type in ("full", "tied"):
        return np.tril(S2)
    return S2


# ---------------------------------------------------------- Stats algebra
@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
def test_reshifted_equals_statistics_taken_about_the_new_shift(cov_type):
    X, _ = _mixture(0, 2000, d=3, k=3, cov_type=cov_type, location=50.0)
    R = np.random.default_rng(1).dirichlet(np.ones(3), size=len(X))
    shift_a = X[:3] + 1.5
    shift_b = X[10:13] - 2.0
    a = _resp_stats(X, R, shift_a, cov_type)
    b = _resp_stats(X, R, shift_b, cov_type)
    moved = a.reshifted(b.shift, b.center, cov_type)
    np.testing.assert_array_equal(moved.shift, b.shift)
    np.testing.assert_array_equal(moved.center, b.center)
    np.testing.assert_array_equal(moved.N, b.N)
    np.testing.assert_allclose(moved.S1, b.S1, rtol=0, atol=1e-12 * np.abs(a.S1).max())
    scale = np.abs(b.S2).max()
    np.testing.assert_allclose(_lower(moved.S2, cov_type), _lower(b.S2, cov_type),
                               rtol=0, atol=1e-12 * scale)
    if cov_type in ("full", "tied"):  # both triangles filled
        np.testing.assert_array_equal(moved.S2, np.swapaxes(moved.S2, -1, -2))
    # and the M-step does not depend on the shift
    for ours, ref in zip(m_step(moved, cov_type, 1e-6, np.float64),
                         m_step(b, cov_type, 1e-6, np.float64)):
        np.testing.assert_allclose(ours, ref, rtol=1e-12)


@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
def test_blend_averages_per_sample_statistics(cov_type):
    X, _ = _mixture(1, 3000, d=2, k=2, cov_type=cov_type)
    R = np.random.default_rng(2).dirichlet(np.ones(2), size=len(X))
    first = _resp_stats(X[:1000], R[:1000], X[:2] + 1.0, cov_type)
    batch = _resp_stats(X[1000:], R[1000:], X[5:7], cov_type)
    rho = 0.3
    blended = blend(first, batch, rho, cov_type)
    # The same blend from statistics computed directly about the batch's shift.
    direct = _resp_stats(X[:1000], R[:1000], X[5:7], cov_type)
    w_batch = batch.weight
    assert blended.weight == pytest.approx(w_batch, rel=1e-15)
    for name in ("N", "S1", "S2"):
        expected = (1 - rho) * getattr(direct, name) / direct.weight * w_batch \
            + rho * getattr(batch, name)
        got = getattr(blended, name)
        np.testing.assert_allclose(_lower(got, cov_type) if name == "S2" else got,
                                   _lower(expected, cov_type) if name == "S2" else expected,
                                   rtol=1e-12, atol=1e-12 * np.abs(expected).max())


def test_step_size_is_the_online_lda_schedule():
    assert step_size(1, 10.0, 0.7) == 11.0 ** -0.7
    assert step_size(5, 1.0, 1.0) == 1.0 / 6.0
    gm = GaussianMixture()
    assert (gm.learning_offset, gm.learning_decay) == (10.0, 0.7)


# ------------------------------------------------------------ the first call
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("init_params", ["kmeans", "random", "random_from_data", "k-means++"])
@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
def test_one_call_on_all_data_is_the_first_em_step_of_fit(cov_type, init_params, dtype):
    """Same initialisation (same random_state), one E-step and M-step on the
    same rows: every fitted array and lower_bound_ are bitwise those of
    ``fit(max_iter=1)``."""
    X, _ = _mixture(2, 1500, d=2, k=3, cov_type=cov_type)
    X = X.astype(dtype)
    kwargs = dict(n_components=3, covariance_type=cov_type, init_params=init_params,
                  random_state=7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fitted = GaussianMixture(max_iter=1, **kwargs).fit(X)
    streamed = GaussianMixture(**kwargs).partial_fit(X)
    for name in PARAMS:
        assert getattr(streamed, name).dtype == dtype
        np.testing.assert_array_equal(getattr(streamed, name), getattr(fitted, name),
                                      err_msg=name)
    assert streamed.lower_bound_ == fitted.lower_bound_
    assert streamed.lower_bounds_ == fitted.lower_bounds_
    assert streamed.n_iter_ == fitted.n_iter_ == 1
    assert streamed.converged_ is False


def test_first_call_respects_given_initial_parameters():
    X, truth = _mixture(3, 800, cov_type="diag")
    init = _given_init(truth, "diag")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fitted = GaussianMixture(3, covariance_type="diag", max_iter=1, **init).fit(X)
    streamed = GaussianMixture(3, covariance_type="diag", **init).partial_fit(X)
    np.testing.assert_array_equal(streamed.means_, fitted.means_)
    np.testing.assert_array_equal(streamed.covariances_, fitted.covariances_)


# ------------------------------------------------------------- the stream
def test_one_pass_over_a_stream_reaches_the_batch_fit():
    """200 batches of 5,000 points from 8 full components in 4 dimensions:
    held-out mean log-likelihood within 0.02 nats per point of ``fit``.

    The batch fit starts from the true parameters, so it is the maximum
    likelihood fit of all the data (from a k-means start on the 1e6 rows it
    lands in a worse local optimum for some seeds; docs/user_guide/streams.md).
    """
    rng = np.random.default_rng(42)
    k, d, n_batches, batch = 8, 4, 200, 5_000
    weights = rng.dirichlet(np.full(k, 10.0))
    corners = np.array(list(itertools.product([0.0, 6.0], repeat=d)))
    means = corners[rng.choice(len(corners), size=k, replace=False)]
    covariances = naive.random_covariances(rng, "full", k, d)
    X, _ = naive.sample(rng, n_batches * batch + 100_000, weights, means, covariances,
                        "full")
    X_train, X_test = X[:-100_000], X[-100_000:]
    stream = GaussianMixture(k, random_state=0)
    for start in range(0, len(X_train), batch):
        stream.partial_fit(X_train[start:start + batch])
    full = GaussianMixture(k, weights_init=weights, means_init=means,
                           precisions_init=naive.inverse(covariances, "full")).fit(X_train)
    gap = full.score(X_test) - stream.score(X_test)
    assert abs(gap) < 0.02, (gap, full.score(X_test), stream.score(X_test))
    assert stream.n_iter_ == n_batches == len(stream.lower_bounds_)
    assert stream.lower_bound_ == stream.lower_bounds_[-1]


def test_later_batches_may_be_smaller_than_n_components():
    X, _ = _mixture(4, 600, k=3)
    gm = GaussianMixture(3, random_state=0).partial_fit(X[:300])
    before = copy.deepcopy(gm)
    gm.partial_fit(X[300:301])
    assert not np.array_equal(gm.means_, before.means_)
    before = copy.deepcopy(gm)
    gm.partial_fit(X[301:303], sample_weight=[1.0, 2.0])
    assert gm.n_iter_ == 3 and len(gm.lower_bounds_) == 3
    assert np.all(np.isfinite(gm.means_))
    # lower_bound_ is the batch's mean log-likelihood under the model before the step
    expected = np.average(before.score_samples(X[301:303]), weights=[1.0, 2.0])
    assert gm.lower_bound_ == pytest.approx(expected, rel=1e-12)
    assert gm.lower_bounds_[:2] == before.lower_bounds_


def test_first_batch_needs_n_components_samples():
    X, _ = _mixture(5, 100, k=3)
    with pytest.raises(ValueError, match="Expected n_samples >= n_components but got "
                                         "n_components = 3, n_samples = 2"):
        GaussianMixture(3).partial_fit(X[:2])


def test_later_batches_must_have_the_same_features():
    X, _ = _mixture(6, 300, d=3, k=2)
    gm = GaussianMixture(2, random_state=0).partial_fit(X)
    with pytest.raises(ValueError, match="X has 2 features, but GaussianMixture is "
                                         "expecting 3 features as input"):
        gm.partial_fit(X[:10, :2])


@pytest.mark.parametrize("param, value, message", [
    ("learning_decay", 1.5, "'learning_decay' parameter of GaussianMixture must be a "
                            r"float in the range \[0.0, 1.0\]. Got 1.5"),
    ("learning_offset", 0.5, "'learning_offset' parameter of GaussianMixture must be a "
                             r"float in the range \[1.0, inf\)"),
])
def test_learning_parameters_are_validated(param, value, message):
    X, _ = _mixture(7, 100, k=2)
    with pytest.raises(ValueError, match=message):
        GaussianMixture(2, **{param: value}).partial_fit(X)


def test_fit_ends_the_stream():
    """After fit, partial_fit initialises again instead of blending into stale statistics."""
    X, _ = _mixture(8, 900, k=3)
    kwargs = dict(n_components=3, random_state=0)
    gm = GaussianMixture(**kwargs)
    gm.partial_fit(X[:300]).partial_fit(X[300:600])
    gm.fit(X[600:])
    gm.partial_fit(X)
    assert gm.n_iter_ == 1
    fresh = GaussianMixture(**kwargs).partial_fit(X)
    np.testing.assert_array_equal(gm.means_, fresh.means_)


def test_changed_n_components_is_reported():
    X, _ = _mixture(9, 300, k=3)
    gm = GaussianMixture(3, random_state=0).partial_fit(X)
    gm.set_params(n_components=2)
    with pytest.raises(ValueError, match="does not match n_components=2"):
        gm.partial_fit(X)


def _stream(X, batches, **kwargs):
    gm = GaussianMixture(**kwargs)
    for start, stop, *weights in batches:
        gm.partial_fit(X[start:stop], sample_weight=weights[0] if weights else None)
    return gm


def test_float32_stream_stays_float32_and_close_to_float64():
    X, truth = _mixture(10, 4000, d=3, k=3)
    init = _given_init(truth, "full")
    batches = [(s, s + 500) for s in range(0, 4000, 500)]
    ours = _stream(X.astype(np.float32), batches, n_components=3, **init)
    ref = _stream(X, batches, n_components=3, **init)
    for name in PARAMS:
        assert getattr(ours, name).dtype == np.float32
        np.testing.assert_allclose(getattr(ours, name), getattr(ref, name), rtol=1e-4,
                                   atol=1e-4 * np.abs(getattr(ref, name)).max(),
                                   err_msg=name)
    np.testing.assert_allclose(ours.lower_bounds_, ref.lower_bounds_, rtol=1e-5)


@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
def test_integer_sample_weight_is_repeating_rows(cov_type):
    X, truth = _mixture(11, 1200, k=2, cov_type=cov_type)
    init = _given_init(truth, cov_type)
    counts = np.random.default_rng(3).integers(0, 3, size=len(X))
    counts[:2] = 1
    cut = [0, 400, 401, 800, 1200]
    weighted = _stream(X, [(a, b, counts[a:b].astype(float)) for a, b in zip(cut, cut[1:])],
                       n_components=2, covariance_type=cov_type, **init)
    repeated = GaussianMixture(2, covariance_type=cov_type, **init)
    for a, b in zip(cut, cut[1:]):
        rows = np.repeat(X[a:b], counts[a:b], axis=0)
        if len(rows):
            repeated.partial_fit(rows)
    # A batch whose weights are all zero is refused; here every batch has weight.
    for name in PARAMS:
        ref = getattr(repeated, name)
        np.testing.assert_allclose(getattr(weighted, name), ref, rtol=1e-10,
                                   atol=1e-10 * np.abs(ref).max(), err_msg=name)


def test_memmap_slices_stream_like_in_memory_batches(tmp_path):
    X, _ = _mixture(12, 30_000, d=3, k=3)
    mm = np.memmap(tmp_path / "x.f32", dtype=np.float32, mode="w+", shape=X.shape)
    mm[:] = X
    mm.flush()
    mm = np.memmap(tmp_path / "x.f32", dtype=np.float32, mode="r", shape=X.shape)
    batches = [(s, s + 7_000) for s in range(0, 30_000, 7_000)]
    on_disk = _stream(mm, batches, n_components=3, random_state=0)
    in_memory = _stream(np.array(mm), batches, n_components=3, random_state=0)
    for name in PARAMS:
        np.testing.assert_array_equal(getattr(on_disk, name), getattr(in_memory, name),
                                      err_msg=name)
    assert on_disk.lower_bounds_ == in_memory.lower_bounds_


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 Numba threads")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_same_bits_for_any_thread_count(dtype):
    """Batches spanning several row chunks: 1 and 2 threads give identical bits."""
    X, _ = _mixture(13, 5 * CHUNK_ROWS, d=2, k=3)
    X = X.astype(dtype)
    step = 2 * CHUNK_ROWS + 123
    batches = [(s, s + step) for s in range(0, len(X), step)]
    previous = numba.get_num_threads()
    results = []
    try:
        for n_threads in (1, 2):
            numba.set_num_threads(n_threads)
            results.append(_stream(X, batches, n_components=3, random_state=0))
    finally:
        numba.set_num_threads(previous)
    one, two = results
    for name in PARAMS:
        np.testing.assert_array_equal(getattr(one, name), getattr(two, name), err_msg=name)
    assert one.lower_bounds_ == two.lower_bounds_
