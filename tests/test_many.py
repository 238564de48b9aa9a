"""``fastgmm.fit_many``: every model is bitwise ``GaussianMixture(**params).fit(X_i)``."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

import naive
import fastgmm
from fastgmm import GaussianMixture
from fastgmm._kernels.layout import CHUNK_ROWS

COVARIANCE_TYPES = naive.COVARIANCE_TYPES
INIT_PARAMS = ("kmeans", "k-means++", "random", "random_from_data")
ATTRIBUTES = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_",
              "lower_bound_", "lower_bounds_", "n_iter_", "converged_", "n_features_in_")


def _datasets(seed, count, d=2, k=2, low=40, high=200, dtype=np.float64):
    """Problems of different sizes, each a mixture of ``k`` separated blobs."""
    rng = np.random.default_rng(seed)
    out = []
    for n in rng.integers(low, high, size=count):
        centres = rng.normal(scale=5.0, size=(k, d))
        labels = rng.integers(k, size=n)
        out.append((centres[labels] + rng.normal(size=(n, d))).astype(dtype))
    return out


def _quietly(call):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return call()


def _assert_same_model(ours, ref, where=""):
    for name in ATTRIBUTES:
        a, b = getattr(ours, name), getattr(ref, name)
        if isinstance(b, np.ndarray):
            assert a.dtype == b.dtype, (where, name)
            np.testing.assert_array_equal(a, b, err_msg=f"{where} {name}")
        else:
            assert a == b, (where, name, a, b)
    assert ours.get_params() == ref.get_params(), where


def _assert_same_fits(datasets, n_components, sample_weights=None, **params):
    """Every problem gives its own fit's model, or fails with its own fit's error."""
    models = _quietly(lambda: fastgmm.fit_many(datasets, n_components, errors="return",
                                               sample_weights=sample_weights, **params))
    assert len(models) == len(datasets)
    n_fitted = 0
    for i, X in enumerate(datasets):
        w = None if sample_weights is None else sample_weights[i]
        try:
            ref = _quietly(lambda: GaussianMixture(n_components, **params).fit(
                X, sample_weight=w))
        except ValueError as error:
            assert isinstance(models[i], ValueError), f"datasets[{i}]"
            assert str(models[i]) == str(error)
            continue
        assert isinstance(models[i], GaussianMixture), (i, models[i])
        _assert_same_model(models[i], ref, where=f"datasets[{i}]")
        n_fitted += 1
    assert n_fitted > 0
    return models


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("init_params", INIT_PARAMS)
@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
def test_each_model_is_bitwise_its_own_fit(cov_type, init_params, dtype):
    datasets = _datasets(0, 6, d=2, k=3, dtype=dtype)
    _assert_same_fits(datasets, 3, covariance_type=cov_type, init_params=init_params,
                      random_state=5, n_init=2, max_iter=30)


@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
def test_given_initial_parameters_and_sample_weights(cov_type):
    datasets = _datasets(1, 5, d=3, k=2)
    rng = np.random.default_rng(2)
    weights = [rng.uniform(0.0, 3.0, size=len(X)) for X in datasets]
    weights[2] = None  # a problem without weights among weighted ones
    init = dict(weights_init=[0.4, 0.6], means_init=np.array([[0.0] * 3, [4.0] * 3]),
                precisions_init=naive.inverse(
                    naive.random_covariances(rng, cov_type, 2, 3), cov_type))
    _assert_same_fits(datasets, 2, sample_weights=weights, covariance_type=cov_type,
                      tol=1e-6, **init)


def test_weighted_problems_with_k_means_initialisation():
    datasets = _datasets(3, 4, d=1, k=2)
    rng = np.random.default_rng(4)
    weights = [rng.integers(0, 3, size=len(X)).astype(float) + (np.arange(len(X)) < 3)
               for X in datasets]
    _assert_same_fits(datasets, 2, sample_weights=weights, random_state=0, n_init=3)


def test_a_3d_array_and_problems_larger_than_a_chunk():
    rng = np.random.default_rng(5)
    stacked = rng.normal(size=(3, 40, 2))
    stacked[:, :20] += 6.0
    _assert_same_fits(stacked, 2, random_state=1, covariance_type="diag")
    big = _datasets(6, 2, d=2, k=2, low=CHUNK_ROWS + 10, high=3 * CHUNK_ROWS)
    _assert_same_fits(big + _datasets(7, 2), 2, random_state=0, max_iter=5, tol=0.0)


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++"])
def test_k_means_with_too_few_distinct_points_and_empty_clusters(init_params):
    """k-means++ runs out of distinct points (its draws fall back to any row),
    and a duplicated centre leaves a cluster empty, which Lloyd moves to the
    farthest rows: the lockstep k-means of fit_many follows each problem's own."""
    rng = np.random.default_rng(11)
    two_values = np.repeat(np.array([[0.0, 0.0], [3.0, 1.0]]), 30, axis=0)
    weights = [None, rng.uniform(0.5, 2.0, size=60), None]
    datasets = [two_values, two_values + rng.normal(scale=1e-3, size=two_values.shape),
                rng.normal(size=(80, 2))]
    models = _assert_same_fits(datasets, 3, sample_weights=weights, init_params=init_params,
                               reg_covar=0.1, random_state=3, n_init=2, max_iter=20)
    assert all(isinstance(m, GaussianMixture) for m in models)


def test_streams_give_each_problem_its_own_seeded_draws():
    """Streams interleaves the problems' calls and shares equal histories; each
    problem still gets exactly what a RandomState(seed) of its own returns."""
    from fastgmm._init.random import Streams

    rng = np.random.default_rng(0)
    calls = [("randint", 5), ("randint", 7), ("uniform", 3), ("randint", 9, 4), ("uniform", 1),
             ("choice", 11, 3)]
    for trial in range(20):
        count = int(rng.integers(1, 6))
        plans = [[calls[i] for i in rng.integers(0, 2 if p % 2 else len(calls), size=4)]
                 for p in range(count)]
        shared = np.random.RandomState(123)
        streams = Streams(shared, np.random.RandomState(42).get_state(), count)
        got = [[] for _ in range(count)]
        for step, p in sorted((s, p) for p in range(count) for s in range(4)):
            got[p].append(streams.draw(p, plans[p][step]))
        for p in range(count):
            own = np.random.RandomState(42)
            for call, value in zip(plans[p], got[p]):
                kind, *args = call
                expected = (own.uniform(size=args[0]) if kind == "uniform"
                            else own.choice(args[0], size=args[1], replace=False)
                            if kind == "choice"
                            else own.randint(args[0], size=args[1]) if len(args) == 2
                            else own.randint(args[0]))
                np.testing.assert_array_equal(value, expected, err_msg=f"{trial} {p} {call}")
    view = Streams(np.random.RandomState(5), None, 1).problem(0)  # RandomState's methods
    own = np.random.RandomState(5)
    np.testing.assert_array_equal(view.choice(20, size=4, replace=False),
                                  own.choice(20, size=4, replace=False))
    np.testing.assert_array_equal(view.uniform(size=(2, 3)), own.uniform(size=(2, 3)))
    assert view.randint(9) == own.randint(9)
    one = np.random.RandomState(7)
    Streams(one, None, 1).draw(0, ("uniform", 2))
    twin = np.random.RandomState(7)
    twin.uniform(size=2)
    assert one.uniform() == twin.uniform()  # one problem leaves rng where its own draws would


def test_a_shared_random_state_is_consumed_in_problem_order():
    datasets = _datasets(8, 5)
    models = _quietly(lambda: fastgmm.fit_many(
        datasets, 2, init_params="random_from_data", n_init=2,
        random_state=np.random.RandomState(11)))
    rng = np.random.RandomState(11)
    for X, model in zip(datasets, models):
        ref = _quietly(lambda: GaussianMixture(2, init_params="random_from_data", n_init=2,
                                               random_state=rng).fit(X))
        for name in ("means_", "covariances_", "lower_bounds_", "n_iter_"):
            np.testing.assert_array_equal(getattr(model, name), getattr(ref, name))


def test_max_iter_zero_keeps_the_last_initialisation():
    datasets = _datasets(9, 3)
    _assert_same_fits(datasets, 2, random_state=0, n_init=3, max_iter=0)


def test_not_converged_problems_warn_once_naming_them():
    datasets = _datasets(10, 4, k=3)
    with pytest.warns(ConvergenceWarning,
                      match=r"did not converge for 4 of 4 data sets \(datasets 0, 1, 2, 3\)"):
        models = fastgmm.fit_many(datasets, 3, max_iter=1, random_state=0)
    assert not any(m.converged_ for m in models)


def _with_a_collapsed_problem():
    datasets = _datasets(11, 4, d=2, k=2)
    collapsed = np.zeros((30, 2))
    collapsed[15:] = 1.0  # two points repeated: singular without reg_covar
    datasets.insert(2, collapsed)
    return datasets


def test_a_failing_problem_does_not_stop_the_others():
    datasets = _with_a_collapsed_problem()
    kwargs = dict(covariance_type="full", reg_covar=0.0, random_state=0, n_init=2)
    with pytest.raises(ValueError, match=r"1 of 5 fits failed \(datasets 2\); datasets\[2\]: "
                                         "Fitting the mixture model failed because some "
                                         "components have ill-defined empirical covariance"):
        fastgmm.fit_many(datasets, 2, **kwargs)
    models = _quietly(lambda: fastgmm.fit_many(datasets, 2, errors="return", **kwargs))
    assert isinstance(models[2], ValueError)
    with pytest.raises(ValueError, match="ill-defined empirical covariance"):
        GaussianMixture(2, **kwargs).fit(datasets[2])
    for i in (0, 1, 3, 4):
        ref = _quietly(lambda: GaussianMixture(2, **kwargs).fit(datasets[i]))
        _assert_same_model(models[i], ref, where=f"datasets[{i}]")


@pytest.mark.parametrize("datasets, kwargs, message", [
    ([np.zeros((10, 2))], dict(covariance_type="bogus"),
     "The 'covariance_type' parameter of GaussianMixture must be a str among"),
    ([np.zeros((10, 2))], dict(errors="ignore"), "errors must be 'raise' or 'return'"),
    ([np.zeros((10, 2))], dict(on_collapse="reseed"),
     "fit_many does not support on_collapse='reseed'"),
    ([np.ones((10, 2)), np.ones((10, 3))], {}, r"datasets\[1\] has 3 features, but "
                                             "datasets\\[0\\] has 2"),
    ([np.ones((10, 2)), np.ones((1, 2))], {},
     r"datasets\[1\]: Found array with 1 sample\(s\) \(shape=\(1, 2\)\) while a minimum "
     "of 2 is required by GaussianMixture"),
    ([np.ones((10, 2)), np.ones(5)], {}, r"datasets\[1\]: Expected 2D array, got 1D array"),
    ([np.ones((10, 2)), np.array([[1.0, np.nan], [0.0, 0.0]])], {},
     r"datasets\[1\]: Input X contains NaN"),
    ([np.ones((10, 2)), np.ones((2, 2))], dict(n_components=3),
     r"datasets\[1\]: Expected n_samples >= n_components but got n_components = 3, "
     "n_samples = 2"),
    ([np.ones((10, 2))], dict(means_init=np.zeros((3, 2))),
     r"The parameter 'means' should have the shape of \(2, 2\), but got \(3, 2\)"),
    (np.ones((10, 2)), {}, "datasets must be a list of 2-D arrays or a 3-D array"),
    ([], {}, "datasets is empty"),
])
def test_invalid_input_is_reported_before_any_work(datasets, kwargs, message):
    n_components = kwargs.pop("n_components", 2)
    with pytest.raises(ValueError, match=message):
        fastgmm.fit_many(datasets, n_components, **kwargs)


def test_invalid_sample_weights_name_the_data_set():
    datasets = [np.ones((10, 2)), np.ones((12, 2))]
    with pytest.raises(ValueError, match=r"sample_weights\[1\]: sample_weight.shape == "
                                         r"\(3,\), expected \(12,\)"):
        fastgmm.fit_many(datasets, 2, sample_weights=[None, np.ones(3)])
    with pytest.raises(ValueError, match="sample_weights has 1 entries for 2 data sets"):
        fastgmm.fit_many(datasets, 2, sample_weights=[None])


def test_mixed_dtypes_fit_in_float64():
    a, b = _datasets(12, 2)
    models = _quietly(lambda: fastgmm.fit_many([a.astype(np.float32), b], 2, random_state=0))
    assert models[0].means_.dtype == np.float64
    ref = _quietly(lambda: GaussianMixture(2, random_state=0).fit(
        a.astype(np.float32).astype(np.float64)))
    np.testing.assert_array_equal(models[0].means_, ref.means_)


# --------------------------------------------- serial paths of small inputs
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
def test_serial_and_parallel_drivers_give_the_same_bits(cov_type, dtype, monkeypatch):
    """Inputs of one chunk skip the parallel launch. Both drivers call the same
    compiled chunk code, so they agree to the last bit, on any number of chunks."""
    from fastgmm._kernels import kmeans as _kmeans
    from fastgmm._model import gaussian as _model
    from fastgmm._kernels import passes as _passes
    from fastgmm._kernels.layout import KIND_CODES, s2_shape

    def forced(which):
        def launch(parallel, serial, n_tasks, *args):
            (parallel if which == "parallel" else serial)(*args)
        return launch

    rng = np.random.default_rng(0)
    k, d = 3, 3
    kind = KIND_CODES[cov_type]
    s2 = s2_shape(kind, k, d)
    for n in (1, 200, CHUNK_ROWS, 2 * CHUNK_ROWS + 5):
        X = np.ascontiguousarray(rng.normal(size=(n, d)) * 3, dtype=dtype)
        sw = rng.uniform(0, 2, size=n).astype(dtype)
        cov = naive.random_covariances(rng, cov_type, k, d)
        prec_chol = _model.precision_cholesky(cov, cov_type)
        model = _model.kernel_model(np.full(k, 1 / k), rng.normal(size=(k, d)), prec_chol,
                                    cov_type, dtype)
        R = rng.dirichlet(np.ones(k), size=n).astype(dtype)
        shift = np.ascontiguousarray(X[:1].repeat(k, axis=0))
        results = {}
        for which in ("parallel", "serial"):
            monkeypatch.setattr(_passes, "launch", forced(which))
            out = []
            for w in (np.empty(0, dtype), sw):
                out += _passes.em_pass(X, w, *model.args(), s2[0], s2[2], want_entropy=True)
                out += _passes.resp_stats_pass(X, w, R, kind, shift,
                                               np.ascontiguousarray(shift[0]), s2[0], s2[2])
            scores = (np.empty(n, dtype), np.empty(n, np.int64), np.empty((n, k), dtype))
            _passes.score_pass(X, *model.args(), *scores)
            results[which] = out + list(scores)
        for a, b in zip(results["parallel"], results["serial"]):
            np.testing.assert_array_equal(a, b)
        # k-means: the Lloyd step, and the k-means++ first centre and candidates.
        w = np.ones(n)
        centers = np.ascontiguousarray(X[:1].repeat(k, axis=0), dtype=np.float64) + 1.0
        # Five candidates: a group of four and one left over.
        candidates = centers[:1] + np.arange(5)[:, None]
        problems = _kmeans.Problems.one(X, w)
        everyone = np.zeros(1, np.int64)
        outs = {}
        for which in ("parallel", "serial"):
            monkeypatch.setattr(_kmeans, "launch", forced(which))
            labels, dist = np.full(n, -1, np.int64), np.empty(n)
            pool = np.full((6, n), np.inf)
            first = _kmeans.seed_pass(problems, everyone, pool, [0], [[0]], candidates[None, :1])
            potentials = _kmeans.seed_pass(problems, everyone, pool, [0], [np.arange(1, 6)],
                                           candidates[None])
            outs[which] = (_kmeans.lloyd_pass(problems, everyone, centers[None], labels, dist)
                           + (labels, dist, first, potentials, pool))
        for a, b in zip(outs["parallel"], outs["serial"]):
            np.testing.assert_array_equal(a, b)


def test_a_problem_failing_during_em_does_not_stop_the_others():
    """Given initial parameters, the collapsed problem fails at its first M-step."""
    datasets = _with_a_collapsed_problem()
    kwargs = dict(reg_covar=0.0, weights_init=[0.5, 0.5], means_init=[[0.0, 0.0], [1.0, 1.0]],
                  precisions_init=np.stack([np.eye(2)] * 2), max_iter=20)
    models = _quietly(lambda: fastgmm.fit_many(datasets, 2, errors="return", **kwargs))
    assert isinstance(models[2], ValueError)
    assert "ill-defined empirical covariance" in str(models[2])
    with pytest.raises(ValueError, match="ill-defined empirical covariance"):
        GaussianMixture(2, **kwargs).fit(datasets[2])
    for i in (0, 1, 3, 4):
        ref = _quietly(lambda: GaussianMixture(2, **kwargs).fit(datasets[i]))
        _assert_same_model(models[i], ref, where=f"datasets[{i}]")


def test_data_frames_give_their_models_feature_names():
    pd = pytest.importorskip("pandas")
    arrays = _datasets(12, 3)
    frames = [pd.DataFrame(arrays[0], columns=["height", "width"]), arrays[1],
              pd.DataFrame(arrays[2], columns=["a", "b"])]
    models = _quietly(lambda: fastgmm.fit_many(frames, 2, random_state=0))
    for frame, model in zip(frames, models):
        ref = _quietly(lambda: GaussianMixture(2, random_state=0).fit(frame))
        _assert_same_model(model, ref)
        if isinstance(frame, pd.DataFrame):
            np.testing.assert_array_equal(model.feature_names_in_, ref.feature_names_in_)
        else:
            assert not hasattr(model, "feature_names_in_")
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        models[0].predict(arrays[0])
