"""Fits on Dask arrays, on a real two-process LocalCluster.

A Dask fit runs the in-memory driver on each chunk and adds the chunks'
statistics in chunk order, so from the same initial parameters it follows
the in-memory fit to rounding, even when a worker dies during the fit.
"""

import contextlib
import logging
import os
import signal
import subprocess
import sys
import warnings

import numpy as np
import pytest

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

from sklearn.exceptions import ConvergenceWarning  # noqa: E402

from fastgmm import GaussianMixture, on_iteration  # noqa: E402

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
PARAMS = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_")
CENTRES = np.array([[0.0, 0.0, 0.0], [8.0, 0.0, 2.0], [0.0, 9.0, -3.0]])


@pytest.fixture(scope="module")
def client():
    # Compile (or load) the kernels here first, so that the worker processes
    # find them in Numba's on-disk cache instead of compiling them twice more.
    for dtype in (np.float64, np.float32):
        warm = _blobs(0, n=500, dtype=dtype)
        GaussianMixture(3, random_state=0).fit(warm, sample_weight=np.ones(len(warm)))
        GaussianMixture(3, random_state=0).fit(warm).predict_proba(warm)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None,
                                  silence_logs=logging.CRITICAL) as cluster:
        with distributed.Client(cluster) as client:
            yield client


def _blobs(seed, n=12_000, dtype=np.float64):
    rng = np.random.default_rng(seed)
    labels = rng.choice(3, size=n, p=[0.5, 0.3, 0.2])
    scales = np.array([1.0, 0.6, 1.4])
    X = CENTRES[labels] + rng.normal(size=(n, 3)) * scales[labels, None]
    return X.astype(dtype)


def _given_init(X, cov_type, seed=0):
    """Initial parameters away from the answer, so that EM has work to do."""
    rng = np.random.default_rng(seed)
    k, d = 3, X.shape[1]
    shapes = {"full": (k, d, d), "tied": (d, d), "diag": (k, d), "spherical": (k,)}
    eye = np.broadcast_to(np.eye(d), shapes[cov_type]) if cov_type in ("full", "tied") else 1
    return dict(weights_init=np.full(k, 1 / k),
                means_init=CENTRES[:, :d] + rng.normal(scale=1.5, size=(k, d)),
                precisions_init=0.3 * np.ones(shapes[cov_type]) * eye)


def _assert_same_model(got, expected, rtol=1e-10):
    assert got.n_iter_ == expected.n_iter_
    assert got.converged_ == expected.converged_
    np.testing.assert_allclose(got.lower_bounds_, expected.lower_bounds_, rtol=rtol)
    for name in PARAMS:
        a, b = getattr(got, name), getattr(expected, name)
        assert type(a) is np.ndarray and a.dtype == b.dtype and a.shape == b.shape
        # Relative to the array's scale: near-zero off-diagonal entries carry
        # the same absolute rounding as the large ones.
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * np.abs(b).max(), err_msg=name)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("cov_type", COVARIANCE_TYPES)
def test_fit_matches_in_memory_fit(client, cov_type, weighted):
    X = _blobs(1, n=6_000)
    w = np.random.default_rng(2).integers(0, 4, size=len(X)).astype(float) if weighted else None
    kwargs = dict(n_components=3, covariance_type=cov_type, tol=1e-6, max_iter=40,
                  **_given_init(X, cov_type))
    expected = GaussianMixture(**kwargs).fit(X, sample_weight=w)
    Xd = da.from_array(X, chunks=(2_300, 2)).persist()  # ragged rows, split features
    got = GaussianMixture(**kwargs).fit(Xd, sample_weight=w)
    assert expected.n_iter_ > 3
    _assert_same_model(got, expected)
    assert got.n_features_in_ == 3


@pytest.mark.parametrize("cov_type", ["full", "spherical"])
def test_bayesian_fit_on_the_workers_matches_in_memory_fit(client, cov_type):
    """BayesianGaussianMixture through the same chunked source: priors from
    chunk passes, variational iterations with the entropy summed per chunk."""
    import copy

    from fastgmm import BayesianGaussianMixture

    X = _blobs(5, n=6_000)
    w = np.random.default_rng(6).integers(0, 3, size=len(X)).astype(float)
    kwargs = dict(n_components=4, covariance_type=cov_type, init_params="random",
                  random_state=0)
    # Dask's 'random' init draws per chunk: both continue from one state.
    start = BayesianGaussianMixture(max_iter=0, warm_start=True, **kwargs).fit(
        X, sample_weight=w)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        expected = copy.deepcopy(start).set_params(max_iter=25).fit(X, sample_weight=w)
        got = copy.deepcopy(start).set_params(max_iter=25).fit(
            da.from_array(X, chunks=(2_300, 3)), sample_weight=w)
    _assert_same_model(got, expected, rtol=1e-9)
    for name in ("mean_precision_", "degrees_of_freedom_", "mean_prior_",
                 "covariance_prior_"):
        np.testing.assert_allclose(getattr(got, name), getattr(expected, name),
                                   rtol=1e-9, err_msg=name)


def test_dask_sample_weight_and_float32(client):
    X = _blobs(3, dtype=np.float32)
    w = np.random.default_rng(4).random(len(X))
    kwargs = dict(n_components=3, covariance_type="diag", tol=1e-6, max_iter=30,
                  **_given_init(X, "diag"))
    expected = GaussianMixture(**kwargs).fit(X, sample_weight=w)
    Xd = da.from_array(X, chunks=(4_000, 3))
    got = GaussianMixture(**kwargs).fit(Xd, sample_weight=da.from_array(w, chunks=5_000))
    assert got.means_.dtype == np.float32
    assert got.n_iter_ == expected.n_iter_
    for name in PARAMS:
        np.testing.assert_allclose(getattr(got, name), getattr(expected, name), rtol=2e-5)


def test_warm_start_follows_in_memory(client):
    X = _blobs(11, n=4_000)
    kwargs = dict(n_components=3, covariance_type="diag", max_iter=3, tol=0.0,
                  warm_start=True, **_given_init(X, "diag"))
    expected, got = GaussianMixture(**kwargs), GaussianMixture(**kwargs)
    Xd = da.from_array(X, chunks=1_500)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(2):
            expected.fit(X)
            got.fit(Xd)
    _assert_same_model(got, expected)
    got.set_params(n_components=2)
    with pytest.raises(ValueError, match="these parameters were changed after fit"):
        got.fit(Xd)
    with pytest.raises(ValueError, match="these parameters were changed after fit"):
        got.predict(Xd)


def test_fit_survives_a_worker_killed_mid_fit(client):
    """A worker that dies while it runs a task of an EM pass: its tasks and the
    chunks it held are recomputed elsewhere and the fit is the in-memory one.
    The worker kills itself at the start of its next task after iteration 3,
    so the death lands inside a pass by construction, not by a timer."""
    X = _blobs(5, n=30_000)
    kwargs = dict(n_components=3, covariance_type="full", tol=0.0, max_iter=12,
                  **_given_init(X, "full"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        expected = GaussianMixture(**kwargs).fit(X)
    Xd = da.from_array(X, chunks=(5_000, 3)).persist()
    distributed.wait(Xd)
    # A worker that holds chunks: the tasks of those chunks are scheduled there.
    holders = sorted({w for ws in client.who_has(Xd).values() for w in ws})
    victim_address = holders[0]
    victim = client.run(os.getpid, workers=[victim_address])[victim_address]
    armed = []

    def die_in_the_next_task():
        # Runs in the victim: every task asks _worker_threads for its thread
        # budget first (a module global, looked up at each call).
        import fastgmm._data.dask

        def die():
            os.kill(os.getpid(), signal.SIGKILL)

        fastgmm._data.dask._worker_threads = die

    def arm_after_third_iteration(event):
        if event.n_iter == 3:
            client.run(die_in_the_next_task, workers=[victim_address])
            armed.append(event.n_iter)

    gm = GaussianMixture(**kwargs)
    with warnings.catch_warnings(), on_iteration(arm_after_third_iteration):
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm.fit(Xd)
    assert armed == [3] and gm.n_iter_ == 12
    _assert_same_model(gm, expected)
    # The victim died (during one of the passes after iteration 3: nothing
    # else runs a task there); the nanny restarts it. Leave the cluster as we
    # found it.
    client.wait_for_workers(2, timeout=60)
    assert victim not in client.run(os.getpid).values()


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++"])
def test_kmeans_parallel_init_on_separated_data(client, init_params):
    rng = np.random.default_rng(6)
    centres = np.array([[0, 0], [20, 0], [0, 20], [20, 20], [-20, 10]], dtype=float)
    sizes = [6000, 3000, 1500, 800, 200]  # unequal: the small ones must be found too
    X = np.vstack([c + rng.normal(size=(m, 2)) for c, m in zip(centres, sizes)])
    X = X[rng.permutation(len(X))]
    Xd = da.from_array(X, chunks=3_000)
    start = GaussianMixture(5, init_params=init_params, max_iter=0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start.fit(Xd)
    # Every true centre has an initial mean next to it.
    nearest = np.linalg.norm(centres[:, None] - start.means_[None], axis=2).min(axis=1)
    assert nearest.max() < (0.2 if init_params == "kmeans" else 4.0)
    gm = GaussianMixture(5, init_params=init_params, random_state=0).fit(Xd)
    # The fit finds the blobs: each mean is its blob's sample mean.
    blob = np.linalg.norm(X[:, None] - centres[None], axis=2).argmin(axis=1)
    sample_means = np.array([X[blob == j].mean(axis=0) for j in range(5)])
    match = np.linalg.norm(sample_means[:, None] - gm.means_[None], axis=2).argmin(axis=1)
    assert sorted(match) == list(range(5))
    np.testing.assert_allclose(gm.means_[match], sample_means, atol=0.02)
    np.testing.assert_allclose(gm.weights_[match], np.array(sizes) / sum(sizes), atol=1e-3)


def test_kmeans_parallel_init_is_reproducible(client):
    """The same random_state and chunks give the same start bit for bit however
    the tasks are scheduled: on the two worker processes, or one after the
    other in this process. Other chunks draw other random numbers (a seed per
    pass and chunk) but k-means reaches the same centres on these separated
    blobs: equal up to the order of the sums."""
    X = _blobs(10, n=6_000)

    def start(chunks, scheduler=None):
        with dask.config.set(scheduler=scheduler) if scheduler else contextlib.nullcontext():
            means = GaussianMixture(3, max_iter=0, random_state=3).fit(
                da.from_array(X, chunks=chunks)).means_
        return means[np.argsort(means[:, 1] - means[:, 0])]

    on_workers = start(1_500)
    np.testing.assert_array_equal(start(1_500, "synchronous"), on_workers)
    for chunks in (1_000, 2_000, 6_000):
        np.testing.assert_allclose(start(chunks), on_workers, rtol=0, atol=1e-12)


def test_kmeans_parallel_weights_seed_a_heavy_far_cluster(client):
    rng = np.random.default_rng(7)
    X = np.vstack([rng.normal(size=(5000, 2)), rng.normal(size=(5000, 2)) + [10, 0],
                   rng.normal(size=(3, 2)) * 0.1 + [0, 10]])
    w = np.ones(len(X))
    w[-3:] = 1e5
    gm = GaussianMixture(2, init_params="k-means++", max_iter=0, random_state=0)
    gm.fit(da.from_array(X, chunks=4_000), sample_weight=w)
    assert np.linalg.norm(gm.means_ - [0, 10], axis=1).min() < 1.0


def test_lazy_inference_matches_in_memory(client):
    X = _blobs(8)
    gm = GaussianMixture(3, covariance_type="full", random_state=0).fit(X)
    Xd = da.from_array(X, chunks=(5_000, 1))
    labels, log_prob, resp = gm.predict(Xd), gm.score_samples(Xd), gm.predict_proba(Xd)
    for lazy in (labels, log_prob, resp):
        assert isinstance(lazy, da.Array)
    assert labels.dtype == np.int64 and resp.chunks[1] == (3,)
    np.testing.assert_array_equal(labels.compute(), gm.predict(X))
    np.testing.assert_allclose(log_prob.compute(), gm.score_samples(X), rtol=1e-12)
    np.testing.assert_allclose(resp.compute(), gm.predict_proba(X), rtol=1e-12, atol=1e-15)
    assert gm.score(Xd) == pytest.approx(gm.score(X), rel=1e-12)
    fitted = GaussianMixture(3, random_state=0)
    lazy_labels = fitted.fit_predict(Xd)
    assert isinstance(lazy_labels, da.Array)
    np.testing.assert_array_equal(lazy_labels.compute(), fitted.predict(X))


def test_validation_errors(client):
    X = _blobs(9, n=2_000)
    Xd = da.from_array(X, chunks=500)
    gm = GaussianMixture(2, random_state=0)
    import dask

    with pytest.raises(TypeError, match="fastgmm fits Dask arrays, got a dask.delayed"):
        gm.fit(dask.delayed(np.ones)((10, 2)))
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array"):
        gm.fit(Xd[:, 0])
    with pytest.raises(ValueError, match="Unsupported dtype complex128"):
        gm.fit(Xd.astype(complex))
    with pytest.raises(ValueError, match="minimum of 2 is required"):
        gm.fit(Xd[:1])
    with pytest.raises(ValueError, match=r"sample_weight.shape == \(3,\), expected \(2000,\)"):
        gm.fit(Xd, sample_weight=np.ones(3))
    with pytest.raises(ValueError, match="Negative values in data passed to `sample_weight`"):
        gm.fit(Xd, sample_weight=-da.ones(2_000, chunks=500))
    with pytest.raises(ValueError, match="Sample weights must contain at least one non-zero"):
        gm.fit(Xd, sample_weight=da.zeros(2_000, chunks=500))
    bad = X.copy()
    bad[1234, 1] = np.nan
    with pytest.raises(ValueError, match=r"Input X contains NaN or infinity.*rows 1000 to 1499"):
        gm.fit(da.from_array(bad, chunks=500))
    with pytest.raises(ValueError, match="Input X contains NaN or infinity"):
        GaussianMixture(3, **_given_init(X, "full")).fit(da.from_array(bad, chunks=500))
    gm.fit(Xd)
    with pytest.raises(ValueError, match="X has 2 features, but GaussianMixture is "
                                         "expecting 3 features"):
        gm.predict(Xd[:, :2])
    assert isinstance(gm.predict(Xd.astype(np.int64)), da.Array)


def test_importing_fastgmm_does_not_import_dask():
    code = ("import sys, numpy as np, fastgmm\n"
            "X = np.random.default_rng(0).normal(size=(100, 2))\n"
            "fastgmm.GaussianMixture(2, random_state=0).fit(X).predict(X)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('dask', 'distributed')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=os.path.dirname(os.path.dirname(__file__)))
    assert out.stdout.strip() == "[]"
