"""Fits and predictions on ``numpy.memmap`` data, streamed in row blocks.

A memmap goes through the same code as an in-memory array (validation
keeps a view, each kernel call gets a view of a bounded block of rows), so
results are bitwise those of the in-memory array, and the Python-side
memory of a fit (``tracemalloc``, which sees NumPy's allocations but not
the file's pages) does not grow with the number of rows.
"""

import tracemalloc

import numpy as np
import pytest

from fastgmm import GaussianMixture

MiB = 2**20
BOUND = 64 * MiB
PARAMS = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_",
          "lower_bound_", "n_iter_")


def _write_memmap(path, n, d, dtype, seed=0, block=1 << 20):
    """Two clusters (at 0 and at 5); one block of rows written over and over."""
    rng = np.random.default_rng(seed)
    rows = rng.standard_normal((min(block, n), d), dtype=np.float32)
    rows[rng.random(len(rows)) < 0.4] += 5.0
    out = np.memmap(path, dtype=dtype, mode="w+", shape=(n, d))
    for start in range(0, n, block):
        stop = min(start + block, n)
        out[start:stop] = rows[: stop - start]
    out.flush()
    del out
    return path


def _peak(call):
    """``(result, peak bytes)`` of the Python-side allocations made by ``call``."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        result = call()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _two_cluster_init(d, cov_type="diag"):
    precisions = {"diag": np.ones((2, d)), "spherical": np.ones(2)}[cov_type]
    return dict(weights_init=[0.5, 0.5], means_init=[np.full(d, -1.0), np.full(d, 4.0)],
                precisions_init=precisions)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_memmap_fit_and_inference_equal_in_memory(tmp_path, dtype):
    path = _write_memmap(tmp_path / "x.dat", 60_000, 3, dtype)
    mm = np.memmap(path, dtype=dtype, mode="c", shape=(60_000, 3))  # copy-on-write
    X = np.array(mm)
    for cov_type in ("full", "spherical"):
        kwargs = dict(n_components=2, covariance_type=cov_type, random_state=0)
        a, b = GaussianMixture(**kwargs).fit(mm), GaussianMixture(**kwargs).fit(X)
        for name in PARAMS:
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
        np.testing.assert_array_equal(a.predict(mm), b.predict(X))
        np.testing.assert_array_equal(a.score_samples(mm), b.score_samples(X))
        np.testing.assert_array_equal(a.predict_proba(mm), b.predict_proba(X))
    weights = np.random.default_rng(1).random(60_000)
    a = GaussianMixture(2, random_state=0).fit(mm, sample_weight=weights)
    b = GaussianMixture(2, random_state=0).fit(X, sample_weight=weights)
    np.testing.assert_array_equal(a.means_, b.means_)


def test_memmap_memory_does_not_grow_with_rows(tmp_path):
    n, d = 1 << 23, 4  # 128 MiB of float32, twice the bound
    path = _write_memmap(tmp_path / "x.dat", n, d, np.float32)
    mm = np.memmap(path, dtype=np.float32, mode="c", shape=(n, d))
    try:
        user_init = _two_cluster_init(d)
        GaussianMixture(2, covariance_type="diag", **user_init).fit(mm[:10_000])  # warm up
        for init in (user_init, dict(init_params="random", random_state=0)):
            gm = GaussianMixture(2, covariance_type="diag", max_iter=2, tol=0.0, **init)
            with pytest.warns(Warning):
                _, peak = _peak(lambda: gm.fit(mm))
            assert peak < BOUND, (init, peak / MiB)
        # k-means initialisation keeps O(n) label and distance arrays (and
        # k-means++ its distances and their running sum): 16 bytes a row.
        gm = GaussianMixture(2, covariance_type="diag", max_iter=1, random_state=0)
        with pytest.warns(Warning):
            _, peak = _peak(lambda: gm.fit(mm))
        assert peak < 18 * n, peak / n
        # Inference: the scoring pass writes n labels and n log-densities
        # (the outputs), and nothing else of size n.
        labels, peak = _peak(lambda: gm.predict(mm))
        assert labels.shape == (n,)
        assert peak < n * (8 + 4) + MiB
        log_prob, peak = _peak(lambda: gm.score_samples(mm))
        assert log_prob.dtype == np.float32
        assert peak < n * (8 + 4) + MiB
    finally:
        del mm
        path.unlink()


def test_fit_a_1gb_read_only_memmap(tmp_path):
    n, d = (1 << 30) // 32, 8  # 1 GiB of float32
    path = _write_memmap(tmp_path / "big.dat", n, d, np.float32)
    mm = np.memmap(path, dtype=np.float32, mode="r", shape=(n, d))
    try:
        gm = GaussianMixture(2, covariance_type="spherical", max_iter=2, tol=0.0,
                             **_two_cluster_init(d, "spherical"))
        with pytest.warns(Warning):
            _, peak = _peak(lambda: gm.fit(mm))
        assert peak < BOUND, peak / MiB
        order = np.argsort(gm.means_[:, 0])
        np.testing.assert_allclose(gm.means_[order], [np.zeros(d), np.full(d, 5.0)],
                                   atol=0.05)
        np.testing.assert_allclose(gm.weights_[order], [0.6, 0.4], atol=0.01)
    finally:
        del mm
        path.unlink()


def test_nan_in_a_memmap_is_found_without_a_copy(tmp_path):
    """The finite check sums the data (O(1) memory); only when the sum is not
    finite does scikit-learn look for the culprit, with an n x d boolean mask
    (its Cython scan is skipped in 1.9: ``xp is np`` fails), never a copy."""
    n, d = 1 << 22, 4  # 64 MiB
    path = _write_memmap(tmp_path / "nan.dat", n, d, np.float32)
    mm = np.memmap(path, dtype=np.float32, mode="r+", shape=(n, d))
    try:
        mm[n - 3, 2] = np.nan
        gm = GaussianMixture(2, covariance_type="diag", **_two_cluster_init(d))
        tracemalloc.start()
        try:
            with pytest.raises(ValueError, match="Input X contains NaN"):
                gm.fit(mm)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < n * d + MiB, peak / MiB
    finally:
        del mm
        path.unlink()
