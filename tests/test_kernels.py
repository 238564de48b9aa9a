"""The fused kernels (``_engine.accumulate`` + ``_model.m_step``, ``_engine.score``)
against the slow reference in ``naive.py``, and the row-blocking helpers."""

import numba
import numpy as np
import pytest

import naive
from fastgmm._model import gaussian as _model
from fastgmm._kernels import layout as _blocks
from fastgmm._kernels import vecmath
from fastgmm._kernels.layout import BLOCK_ROWS, CHUNK_ROWS
from fastgmm._data.arrays import accumulate, score

COVARIANCE_TYPES = naive.COVARIANCE_TYPES

DTYPES = (np.float32, np.float64)
# Fewer rows than a block, exactly a block, not a multiple of the block,
# and several chunks with a ragged last block.
SIZES = (1, 7, BLOCK_ROWS, BLOCK_ROWS + 44, 2 * CHUNK_ROWS + 77)
REG = 1e-6


def _tolerance(dtype):
    """Relative tolerance of a kernel result against the float64 reference."""
    return 1e-10 if dtype == np.float64 else 2e-5


def _problem(seed, n, cov_type, dtype, n_features=3, n_components=3):
    """Data from a mixture of overlapping components, and the mixture itself."""
    rng = np.random.default_rng(seed)
    k, d = n_components, n_features
    weights = rng.dirichlet(np.full(k, 5.0))
    means = rng.normal(scale=1.5, size=(k, d))
    cov = naive.random_covariances(rng, cov_type, k, d)
    X, _ = naive.sample(rng, n, weights, means, cov, cov_type)
    # The E-step model is a perturbed mixture, so it is not the data's own.
    means_model = means + rng.normal(scale=0.3, size=means.shape)
    return X.astype(dtype), weights, means_model, cov


def _kernel_model(weights, means, cov, cov_type, dtype):
    return _model.kernel_model(weights, means, naive.precision_cholesky(cov, cov_type),
                               cov_type, dtype)


def _assert_params_close(actual, expected, dtype, scale=1.0, cov_type=None,
                         nk=None, radius=None):
    """Parameters agree to the dtype's tolerance.

    The ``e = 10 eps`` that both add to ``nk`` acts differently: the
    reference divides ``sum r x`` by ``nk``, fastgmm adds ``sum r (x - c) /
    nk`` to the shift ``c``. The means then differ by up to ``e R / nk`` and
    the covariances by up to ``(e / nk)^2 R^2`` (``R`` bounds ``|x|`` and
    ``|c|``), which only shows for float32 components with almost no weight.
    """
    rtol = _tolerance(dtype)
    slack = [0.0, 0.0, 0.0]
    if nk is not None:
        ratio = 10 * np.finfo(dtype).eps / nk
        slack[1] = 2 * radius * ratio[:, None]
        cov_slack = (2 * radius * ratio) ** 2
        if cov_type == "tied":
            slack[2] = np.sum(cov_slack * nk) / nk.sum()
        else:
            slack[2] = cov_slack[:, None, None] if cov_type == "full" else (
                cov_slack[:, None] if cov_type == "diag" else cov_slack)
    for a, e, extra, name in zip(actual, expected, slack,
                                 ("weights", "means", "covariances")):
        bound = rtol * scale + extra + rtol * np.abs(e)
        worst = np.max(np.abs(a - e) - bound)
        assert worst <= 0, f"{name}: {a} != {e} (excess {worst:.3g})"


# ----------------------------------------------------------------- blocks
# The block helpers are internal (no CPython wrapper): Python reaches them
# through a kernel, as the real callers do.
@numba.njit
def n_blocks(n, size):
    return _blocks.n_blocks(n, size)


@numba.njit
def block_bounds(index, n, size):
    return _blocks.block_bounds(index, n, size)


@numba.njit
def vector_log(x):
    out = np.empty_like(x)
    vecmath._log_inplace(x, out, np.empty_like(x), x.shape[0])
    return out


@pytest.mark.parametrize("dtype, ulps", [(np.float64, 4), (np.float32, 3)])
def test_vectorised_log_of_share_totals(dtype, ulps):
    """A point's total of shares lies in [1, k]: the vectorised log matches
    NumPy's to a few units in the last place there, and NaN stays NaN."""
    x = np.concatenate([np.linspace(1.0, 64.0, 50_001), [1.0, 2.0, np.sqrt(2.0), np.nan]])
    x = x.astype(dtype)
    got = vector_log(x)
    assert got.dtype == dtype
    expected = np.log(x.astype(np.float64))
    finite = ~np.isnan(expected)
    tolerance = ulps * np.spacing(np.maximum(np.abs(expected[finite]), 1.0).astype(dtype))
    assert np.all(np.abs(got[finite] - expected[finite]) <= tolerance)
    assert got[x == 1.0][0] == 0.0
    assert np.isnan(got[-1])


def test_n_blocks_empty_and_partial():
    assert n_blocks(0, BLOCK_ROWS) == 0
    assert n_blocks(1, BLOCK_ROWS) == 1
    assert n_blocks(BLOCK_ROWS - 1, BLOCK_ROWS) == 1
    assert n_blocks(BLOCK_ROWS, BLOCK_ROWS) == 1
    assert n_blocks(BLOCK_ROWS + 1, BLOCK_ROWS) == 2
    assert n_blocks(3 * CHUNK_ROWS, CHUNK_ROWS) == 3


def test_block_bounds_fewer_rows_than_a_block():
    assert block_bounds(0, 5, BLOCK_ROWS) == (0, 5)
    assert block_bounds(0, 1, BLOCK_ROWS) == (0, 1)


@pytest.mark.parametrize("n", [0, 1, 5, BLOCK_ROWS - 1, BLOCK_ROWS, BLOCK_ROWS + 1,
                               CHUNK_ROWS + 3])
@pytest.mark.parametrize("size", [1, 7, BLOCK_ROWS])
def test_block_bounds_tile_the_rows(n, size):
    """Consecutive, non-empty, at most ``size`` rows, all full but the last."""
    bounds = [block_bounds(b, n, size) for b in range(n_blocks(n, size))]
    if n == 0:
        assert bounds == []
        return
    assert bounds[0][0] == 0
    assert bounds[-1][1] == n
    for (_, stop), (start, _) in zip(bounds, bounds[1:]):
        assert stop == start
    sizes = [stop - start for start, stop in bounds]
    assert all(s == size for s in sizes[:-1])
    assert 1 <= sizes[-1] <= size


# ------------------------------------------------------------ E-step + M-step
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("n", SIZES)
def test_em_pass_matches_naive(n, cov_type, dtype):
    X, weights, means, cov = _problem(n, n, cov_type, dtype)
    model = _kernel_model(weights, means, cov, cov_type, X.dtype)
    stats = accumulate(X, None, model)

    # The reference E-step uses the parameters exactly as the kernel saw them.
    means_seen = model.means.astype(np.float64)
    resp = np.exp(naive.log_responsibilities(X, weights, means_seen, cov, cov_type))
    expected_ll = naive.log_prob(X, weights, means_seen, cov, cov_type).sum()

    rtol = _tolerance(dtype)
    assert stats.weight == n
    np.testing.assert_allclose(stats.loglik, expected_ll, rtol=rtol)
    np.testing.assert_allclose(stats.N, resp.sum(axis=0), rtol=rtol, atol=rtol * n)
    eps = np.finfo(dtype).eps
    expected = naive.m_step(X, resp, cov_type, REG, eps=eps)
    actual = _model.m_step(stats, cov_type, REG, dtype)
    radius = max(np.abs(X).max(), np.abs(means_seen).max())
    _assert_params_close(actual, expected, dtype, scale=10.0, cov_type=cov_type,
                         nk=resp.sum(axis=0), radius=radius)



@pytest.mark.parametrize("dtype, k, d", [(np.float32, 4, 12), (np.float64, 4, 12),
                                         (np.float64, 70, 64)])
def test_queued_points_give_the_statistics_of_every_point(dtype, k, d):
    # Separated components: most shares are exactly 0, so the full kind
    # queues each block's points with a share per component and sums a
    # queue when it fills or the chunk ends. Rows sorted by component make
    # blocks where one component holds every share (summed in place), and
    # shuffled rows blocks where each holds a few (queued). 70 components
    # of 64 features would need over 4 MB of queues: they share one.
    assert (k * d * BLOCK_ROWS // 2 * 8 > 1 << 22) == (k == 70)
    rng = np.random.default_rng(7)
    weights = np.full(k, 1.0 / k)
    means = rng.normal(scale=8.0, size=(k, d))
    cov = naive.random_covariances(rng, "full", k, d)
    n = CHUNK_ROWS + 3 * BLOCK_ROWS + 10
    X, labels = naive.sample(rng, n, weights, means, cov, "full")
    half = n // 2
    order = np.argsort(labels[:half], kind="stable")
    X = np.concatenate([X[:half][order], X[half:]]).astype(dtype)
    model = _kernel_model(weights, means, cov, "full", X.dtype)
    stats = accumulate(X, None, model)

    means_seen = model.means.astype(np.float64)
    resp = np.exp(naive.log_responsibilities(X, weights, means_seen, cov, "full"))
    assert (resp < 1e-30).mean() > 0.5  # mostly queued, not dense
    rtol = _tolerance(dtype)
    np.testing.assert_allclose(stats.N, resp.sum(axis=0), rtol=rtol)
    expected = naive.m_step(X, resp, "full", REG, eps=np.finfo(dtype).eps)
    actual = _model.m_step(stats, "full", REG, dtype)
    _assert_params_close(actual, expected, dtype, scale=10.0, cov_type="full")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("n_features", [1, 2, 3, 4, 5, 8, 9, 16])
def test_em_pass_and_score_every_feature_padding(n_features, cov_type, dtype):
    """Features are padded to a multiple of 4; full covariance with 1-2, 3-4
    and 5-8 features has register code of its own (task kind FULL_FEW), 9
    and more the tiles."""
    n = BLOCK_ROWS + 44
    X, weights, means, cov = _problem(40 + n_features, n, cov_type, dtype,
                                      n_features=n_features)
    model = _kernel_model(weights, means, cov, cov_type, X.dtype)
    means = model.means.astype(np.float64)  # the reference sees what the kernel saw
    stats = accumulate(X, None, model)
    resp = np.exp(naive.log_responsibilities(X, weights, means, cov, cov_type))
    expected_lp = naive.log_prob(X, weights, means, cov, cov_type)
    rtol = _tolerance(dtype)
    np.testing.assert_allclose(stats.loglik, expected_lp.sum(), rtol=rtol)
    expected = naive.m_step(X, resp, cov_type, REG, eps=np.finfo(dtype).eps)
    actual = _model.m_step(stats, cov_type, REG, dtype)
    _assert_params_close(actual, expected, dtype, scale=10.0)
    np.testing.assert_allclose(score(X, model)[0], expected_lp, rtol=rtol, atol=rtol)

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
def test_em_pass_with_sample_weight_matches_naive(cov_type, dtype):
    n = BLOCK_ROWS * 3 + 11
    X, weights, means, cov = _problem(1, n, cov_type, dtype)
    rng = np.random.default_rng(2)
    sw = rng.uniform(0.0, 3.0, size=n)
    sw[rng.choice(n, size=20, replace=False)] = 0.0
    sw = sw.astype(dtype)
    model = _kernel_model(weights, means, cov, cov_type, X.dtype)
    stats = accumulate(X, sw, model)

    means_seen = model.means.astype(np.float64)
    resp = np.exp(naive.log_responsibilities(X, weights, means_seen, cov, cov_type))
    lp = naive.log_prob(X, weights, means_seen, cov, cov_type)
    rtol = _tolerance(dtype)
    np.testing.assert_allclose(stats.weight, sw.astype(np.float64).sum(), rtol=rtol)
    np.testing.assert_allclose(stats.loglik, (sw * lp).sum(), rtol=rtol)
    expected = naive.m_step(X, resp, cov_type, REG, sample_weight=sw,
                            eps=np.finfo(dtype).eps)
    _assert_params_close(_model.m_step(stats, cov_type, REG, dtype), expected, dtype, 10.0)


@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
def test_integer_sample_weight_equals_repeated_rows(cov_type):
    X, weights, means, cov = _problem(3, 300, cov_type, np.float64)
    sw = np.random.default_rng(4).integers(0, 4, size=len(X))
    model = _kernel_model(weights, means, cov, cov_type, X.dtype)
    weighted = accumulate(X, sw.astype(np.float64), model)
    repeated = accumulate(np.repeat(X, sw, axis=0), None, model)
    assert weighted.weight == repeated.weight == sw.sum()
    np.testing.assert_allclose(weighted.loglik, repeated.loglik, rtol=1e-12)
    for a, b in zip(_model.m_step(weighted, cov_type, REG, np.float64),
                    _model.m_step(repeated, cov_type, REG, np.float64)):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
def test_stats_are_additive(cov_type):
    """accumulate(A) + accumulate(B) == accumulate(A u B), block edges anywhere."""
    X, weights, means, cov = _problem(5, 1000, cov_type, np.float64)
    model = _kernel_model(weights, means, cov, cov_type, X.dtype)
    whole = accumulate(X, None, model)
    parts = accumulate(X[:333], None, model) + accumulate(X[333:], None, model)
    for name in ("N", "S1", "S2", "loglik", "weight"):
        np.testing.assert_allclose(getattr(parts, name), getattr(whole, name),
                                   rtol=1e-12, atol=1e-10, err_msg=name)


@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
def test_rounds_of_one_chunk_give_the_same_result(cov_type, monkeypatch):
    """Large data go through the kernels in several rounds whose Stats are
    added; with one chunk per round the results are those of a single call."""
    import fastgmm._data.arrays as engine

    n = 2 * CHUNK_ROWS + 77
    X, weights, means, cov = _problem(12, n, cov_type, np.float64)
    model = _kernel_model(weights, means, cov, cov_type, X.dtype)
    single = accumulate(X, None, model)
    log_prob, labels, log_resp = score(X, model, want_log_resp=True)
    monkeypatch.setattr(engine, "_PARTIALS_BUDGET", 1)
    monkeypatch.setattr(engine, "ROUND_MAX_ROWS", CHUNK_ROWS)
    assert engine.round_rows(model, X.shape[1]) == CHUNK_ROWS
    rounds = accumulate(X, None, model)
    for name in ("N", "S1", "S2", "loglik", "weight"):
        np.testing.assert_allclose(getattr(rounds, name), getattr(single, name),
                                   rtol=1e-13, atol=1e-12, err_msg=name)
    lp2, labels2, lr2 = score(X, model, want_log_resp=True)
    np.testing.assert_array_equal(lp2, log_prob)
    np.testing.assert_array_equal(labels2, labels)
    np.testing.assert_array_equal(lr2, log_resp)


@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
def test_non_contiguous_input_gives_the_same_stats(cov_type):
    X, weights, means, cov = _problem(6, 600, cov_type, np.float64)
    model = _kernel_model(weights, means, cov, cov_type, X.dtype)
    expected = accumulate(X, None, model)
    for view in (np.asfortranarray(X), np.repeat(X, 2, axis=0)[::2]):
        got = accumulate(view, None, model)
        for name in ("N", "S1", "S2", "loglik"):
            np.testing.assert_array_equal(getattr(got, name), getattr(expected, name))


def test_accumulate_empty_input_gives_zero_stats():
    """The identity of Stats addition (an empty Dask partition or memmap slice)."""
    X, weights, means, cov = _problem(7, 10, "full", np.float64)
    model = _kernel_model(weights, means, cov, "full", X.dtype)
    empty = accumulate(X[:0], None, model)
    assert empty is not None
    assert empty.weight == 0.0 and empty.loglik == 0.0
    assert not np.any(empty.N)
    total = accumulate(X, None, model) + empty
    np.testing.assert_array_equal(total.N, accumulate(X, None, model).N)


# --------------------------------------------------------------------- score
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("n", SIZES)
def test_score_matches_naive(n, cov_type, dtype):
    X, weights, means, cov = _problem(100 + n, n, cov_type, dtype)
    model = _kernel_model(weights, means, cov, cov_type, X.dtype)
    log_prob, labels, log_resp = score(X, model, want_log_resp=True)
    assert log_prob.dtype == dtype and log_resp.dtype == dtype
    assert log_prob.shape == (n,) and labels.shape == (n,)
    assert log_resp.shape == (n, 3)

    means_seen = model.means.astype(np.float64)
    wlp = naive.weighted_log_prob(X, weights, means_seen, cov, cov_type)
    expected_lp = naive.log_prob(X, weights, means_seen, cov, cov_type)
    atol = 1e-10 if dtype == np.float64 else 2e-4
    np.testing.assert_allclose(log_prob, expected_lp, rtol=_tolerance(dtype), atol=atol)
    np.testing.assert_allclose(log_resp, wlp - expected_lp[:, None],
                               rtol=_tolerance(dtype), atol=atol)
    # Labels are the argmax except where two components are tied to rounding.
    top2 = np.sort(wlp, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 1e-3
    np.testing.assert_array_equal(labels[clear], np.argmax(wlp, axis=1)[clear])
    log_prob_only, labels_only, none = score(X, model)
    assert none is None
    np.testing.assert_array_equal(log_prob_only, log_prob)
    np.testing.assert_array_equal(labels_only, labels)


# ------------------------------------------------------------- model algebra
@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
def test_precision_cholesky_matches_naive(cov_type):
    rng = np.random.default_rng(8)
    cov = naive.random_covariances(rng, cov_type, 3, 4)
    U = _model.precision_cholesky(cov, cov_type)
    np.testing.assert_allclose(U, naive.precision_cholesky(cov, cov_type), rtol=1e-12,
                               atol=1e-14)
    if cov_type in ("full", "tied"):
        assert not np.any(np.tril(U, -1))
    P = _model.precisions_from_cholesky(U, cov_type)
    np.testing.assert_allclose(P, naive.inverse(cov, cov_type), rtol=1e-10)
    np.testing.assert_allclose(_model.precision_cholesky_from_precisions(P, cov_type), U,
                               rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(_model.covariances_from_cholesky(U, cov_type), cov,
                               rtol=1e-10, atol=1e-12)


def test_precision_cholesky_is_exactly_triangular_where_solve_pivots():
    """An LU solve with ``cov``'s Cholesky factor pivots and leaves ~1e-17 below
    the diagonal of the inverse; the factor must still be exactly
    upper-triangular (a model file refuses anything else)."""
    cov = np.array([[[2.54610002, 5.86602141, 6.00513418],
                     [5.86602141, 20.07141461, -21.82181785],
                     [6.00513418, -21.82181785, 208.4302923]]])
    U = _model.precision_cholesky(cov, "full")
    assert not np.any(np.tril(U[0], -1))
    np.testing.assert_allclose(U[0] @ U[0].T, np.linalg.inv(cov[0]), rtol=1e-10)


@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
def test_m_step_far_from_origin_loses_no_precision(cov_type):
    """Shifted statistics: data at 1e6 give the same covariances as centred data."""
    X, weights, means, cov = _problem(9, 2000, cov_type, np.float64)
    shift = 1e6
    model = _kernel_model(weights, means, cov, cov_type, np.float64)
    model_far = _kernel_model(weights, means + shift, cov, cov_type, np.float64)
    near = _model.m_step(accumulate(X, None, model), cov_type, REG, np.float64)
    far = _model.m_step(accumulate(X + shift, None, model_far), cov_type, REG, np.float64)
    np.testing.assert_allclose(far[0], near[0], rtol=1e-8)
    np.testing.assert_allclose(far[1] - shift, near[1], rtol=0, atol=1e-8)
    np.testing.assert_allclose(far[2], near[2], rtol=1e-7)


# ------------------------------------------------- entropy and subnormals
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
def test_entropy_statistic_matches_naive(cov_type, dtype):
    """``Stats.entropy`` is ``sum_i w_i sum_j r_ij log r_ij``, only when asked for."""
    X, weights, means, cov = _problem(3, 2 * BLOCK_ROWS + 17, cov_type, dtype)
    sw = np.random.default_rng(4).uniform(0.0, 3.0, size=len(X)).astype(dtype)
    model = _kernel_model(weights, means, cov, cov_type, X.dtype)
    assert accumulate(X, sw, model).entropy == 0.0
    model.want_entropy = True
    stats = accumulate(X, sw, model)
    log_resp = naive.log_responsibilities(X, weights, model.means.astype(np.float64),
                                          cov, cov_type)
    expected = np.sum(sw[:, None] * np.exp(log_resp) * log_resp)
    assert expected < 0
    np.testing.assert_allclose(stats.entropy, expected, rtol=_tolerance(dtype))


def _far_component_problem(dtype, gap):
    """Two unit components; the second one's share of every point is ~exp(-gap^2/2)."""
    rng = np.random.default_rng(0)
    X = rng.uniform(-0.2, 0.2, size=(3 * BLOCK_ROWS, 1)).astype(dtype)
    means = np.array([[0.0], [gap]])
    cov = np.ones((2, 1, 1))
    return X, _kernel_model(np.array([0.5, 0.5]), means, cov, "full", dtype)


@pytest.mark.parametrize("dtype, gap", [
    # Shares between 1e-45 and 1e-38: float32's subnormal band.
    (np.float32, 13.8),
    # Shares near 1e-300, whose products with (x - mu)^2 go subnormal in float64.
    (np.float64, 37.0),
])
def test_subnormal_responsibilities_never_reach_the_statistics(dtype, gap):
    """A component whose every share lies in the subnormal band gets exactly nothing."""
    X, model = _far_component_problem(dtype, gap)
    shares = np.exp(-0.5 * (gap - X[:, 0].astype(np.float64)) ** 2
                    + 0.5 * X[:, 0].astype(np.float64) ** 2)
    tiny = np.finfo(dtype).tiny
    if dtype == np.float32:
        assert np.all((shares > 1e-45) & (shares < tiny))  # the data are in the band
    else:
        assert np.all((shares > 1e-310) & (shares < 1e-290))
    stats = accumulate(X, None, model)
    assert stats.N[1] == 0.0
    assert np.all(stats.S1[1] == 0.0) and np.all(stats.S2[1] == 0.0)
    # The near component is untouched: it holds every point.
    np.testing.assert_allclose(stats.N[0], len(X), rtol=1e-6)
    assert stats.weight == len(X)


def test_shares_above_the_flush_threshold_are_kept():
    """Small but normal shares (1e-20) still count, so nearly-empty components move."""
    X, model = _far_component_problem(np.float64, 9.5)
    stats = accumulate(X, None, model)
    assert 1e-22 * len(X) < stats.N[1] < 1e-17 * len(X)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
def test_seed_row_statistics_equal_a_pass_over_all_rows(cov_type, weighted):
    """A seeded init (k-means++, random_from_data) takes its statistics from
    its k seed rows alone: the same as responsibility 1 at those rows and 0
    elsewhere summed over every row (exactly for the per-component sums,
    to rounding for the pooled tied scatter), the total weight included."""
    from fastgmm._init.dispatch import seed_stats
    from fastgmm._init.resp import one_hot_rows, stats_from_resp

    rng = np.random.default_rng(7)
    X = rng.normal(size=(3 * BLOCK_ROWS + 5, 3)) + 100.0
    w = rng.uniform(0.5, 2.0, size=len(X)) if weighted else None
    seeds = np.array([700, 3, 512, 41])
    full_pass = stats_from_resp(X, w, one_hot_rows(seeds, len(seeds)), X[seeds], cov_type)
    naive.assert_seed_stats_match(seed_stats(X, w, seeds, cov_type), full_pass, cov_type,
                                  tied_rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
def test_labels_give_the_statistics_of_their_one_hot_rows(cov_type, weighted, dtype):
    """k-means labels reach the statistics pass as labels, not as an n x k
    array: bitwise the statistics of the one-hot responsibilities (-1: a row
    of zeros), over several slices and chunks."""
    from fastgmm._init.resp import SLICE_ROWS, labelled, stats_from_resp

    rng = np.random.default_rng(3)
    k, n = 5, SLICE_ROWS + 3 * BLOCK_ROWS + 7
    X = (rng.normal(size=(n, 3)) + rng.integers(0, k, (n, 1))).astype(dtype)
    w = rng.uniform(0.5, 2.0, size=n).astype(dtype) if weighted else None
    labels = rng.integers(-1, k, n)
    shift = rng.normal(size=(k, 3))

    def one_hot(start, stop):
        R = np.zeros((stop - start, k))
        hit = labels[start:stop] >= 0
        R[np.flatnonzero(hit), labels[start:stop][hit]] = 1.0
        return R

    ours = stats_from_resp(X, w, labelled(labels), shift, cov_type)
    dense = stats_from_resp(X, w, one_hot, shift, cov_type)
    for name in ("N", "S1", "S2"):
        np.testing.assert_array_equal(getattr(ours, name), getattr(dense, name))
    assert ours.weight == dense.weight
    assert ours.N.sum() < ours.weight  # the unlabelled rows count in neither N


_BOUNDS = """
import warnings
import numpy as np
import fastgmm
warnings.simplefilter("ignore")
rng = np.random.default_rng(0)
for cov, d in [("full", 1), ("full", 3), ("full", 5), ("full", 9), ("tied", 1), ("diag", 1)]:
    X = rng.normal(size=(300, d))
    gm = fastgmm.GaussianMixture(2, covariance_type=cov, max_iter=2, random_state=0).fit(X)
    gm.predict_proba(X)
print("ok")
"""


def test_kernels_index_only_inside_their_arrays(tmp_path):
    """Every kernel a fit and predict_proba run, compiled with Numba's bounds
    checks (NUMBA_BOUNDSCHECK=1, fresh cache), on the padding edges: one
    feature, each few-features class and the tiles. An index past an array's
    end is an IndexError there (in a task function, a failed fit). Such a
    write once landed in the next task's partial sums, a race between threads."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, NUMBA_BOUNDSCHECK="1", NUMBA_CACHE_DIR=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", _BOUNDS], env=env, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-2000:]
