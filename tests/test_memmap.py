"""Fits and predictions on ``numpy.memmap`` data, streamed in row blocks.

A memmap goes through the same code as an in-memory array (validation
keeps a view, each kernel call gets a view of a bounded block of rows), so
results are bitwise those of the in-memory array, and the Python-side
memory of a fit (``tracemalloc``, which sees NumPy's allocations but not
the file's pages) does not grow with the number of rows.
"""

import os
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

import naive
from fastgmm import GaussianMixture
from fastgmm._data import source
from fastgmm._init import scalable

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
        # Compile first (more than one chunk of rows: the parallel kernels):
        # LLVM's own memory would count against the bound.
        GaussianMixture(2, covariance_type="diag", **user_init).fit(mm[:10_000]).predict(
            mm[:10_000])
        for init in (user_init, dict(init_params="random", random_state=0)):
            gm = GaussianMixture(2, covariance_type="diag", max_iter=2, tol=0.0, **init)
            with pytest.warns(Warning):
                _, peak = _peak(lambda: gm.fit(mm))
            assert peak < BOUND, (init, peak / MiB)
        # k-means|| over blocks of rows: no array of n either (this memmap
        # has more than PARTITION_ROWS rows).
        gm = GaussianMixture(2, covariance_type="diag", max_iter=1, random_state=0)
        with pytest.warns(Warning):
            _, peak = _peak(lambda: gm.fit(mm))
        assert peak < BOUND, peak / MiB
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


def test_fit_a_1gb_read_only_memmap(gib_memmap):
    """A read-only 1 GiB memmap (the file of the resident-memory test below,
    not one more of its own) fits to its two clusters in bounded memory."""
    path, n, d = gib_memmap
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


INITS = ["kmeans", "k-means++", "random_from_data", "random"]


@pytest.mark.parametrize("init_params", INITS)
def test_large_memmap_initialises_over_row_blocks(tmp_path, monkeypatch, init_params):
    """A memmap of more than PARTITION_ROWS rows is initialised by the partitioned code
    the Dask path runs, one block of rows per chunk: bitwise the initial model
    of a Dask array with those chunks ('random' draws a slice at a time in
    every case, so it stays the in-memory draw)."""
    da = pytest.importorskip("dask.array")
    monkeypatch.setattr(source, "PARTITION_ROWS", 5000)
    n, d = 32_000, 3
    path = _write_memmap(tmp_path / "x.dat", n, d, np.float32)
    mm = np.memmap(path, dtype=np.float32, mode="r", shape=(n, d))
    X = np.array(mm)
    kwargs = dict(n_components=3, init_params=init_params, random_state=0, max_iter=0)
    ours = GaussianMixture(**kwargs).fit(mm)
    again = GaussianMixture(**kwargs).fit(mm)
    other = (X if init_params == "random" else da.from_array(X, chunks=(5000, -1)))
    reference = GaussianMixture(**kwargs).fit(other)
    for name in ("weights_", "means_", "covariances_"):
        np.testing.assert_array_equal(getattr(ours, name), getattr(again, name))
        np.testing.assert_array_equal(getattr(ours, name), getattr(reference, name))
    if init_params == "kmeans":  # Lloyd's centres sit in the two clusters (at 0 and 5)
        assert np.all(np.abs(ours.means_ - np.where(ours.means_ > 2.5, 5, 0)) < 1.0)
    del mm


_CHILD = """
import sys
import warnings
import numpy as np
from fastgmm import GaussianMixture
from fastgmm._data import source
from fastgmm._init import scalable
path, n, d, init_params = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
warnings.simplefilter("ignore")
X = np.memmap(path, dtype=np.float32, mode="r", shape=(n, d))
kwargs = dict(n_components=2, covariance_type="diag", init_params=init_params,
              random_state=0, max_iter=1, tol=0.0)
# Warm up the same (chunked) path on a few small blocks, so that the fit
# below reuses no memory the warm-up left behind.
partition_rows, source.PARTITION_ROWS = source.PARTITION_ROWS, 1000
GaussianMixture(**kwargs).fit(X[:5000])
source.PARTITION_ROWS = partition_rows
print("ready", flush=True)
sys.stdin.readline()
gm = GaussianMixture(**kwargs).fit(X)
print(" ".join(f"{m:.3f}" for m in np.sort(gm.means_.mean(axis=1))), flush=True)
"""


def _rss_anon(pid):
    """Anonymous resident memory of a process in bytes, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


@pytest.fixture(scope="module")
def gib_memmap(tmp_path_factory):
    n, d = (1 << 30) // 64, 16  # 1 GiB of float32
    path = _write_memmap(tmp_path_factory.mktemp("gib") / "big.dat", n, d, np.float32)
    yield path, n, d
    path.unlink()


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
@pytest.mark.parametrize("init_params", INITS)
def test_fit_1gib_memmap_in_bounded_anonymous_memory(gib_memmap, init_params):
    """Each init_params fits a 1 GiB float32 memmap with its anonymous resident
    memory (RssAnon: NumPy's and Numba's allocations, not the file's pages)
    under 64 MiB above its level before the fit. A fresh process is sampled
    from outside every 2 ms, so kernels holding the GIL do not hide a peak."""
    path, n, d = gib_memmap
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=str(root) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    child = subprocess.Popen([sys.executable, "-c", _CHILD, str(path), str(n), str(d),
                              init_params], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True, cwd=root, env=env)
    try:
        assert child.stdout.readline().strip() == "ready"
        baseline = _rss_anon(child.pid)
        child.stdin.write("go\n")
        child.stdin.flush()
        peak = baseline
        while child.poll() is None:
            peak = max(peak, _rss_anon(child.pid) or 0)
            time.sleep(0.002)
        means = child.stdout.read().split()
    finally:
        child.kill()
        child.wait()
    assert child.returncode == 0
    print(f"{init_params}: RssAnon peak {(peak - baseline) / MiB:.1f} MiB above "
          f"{baseline / MiB:.1f} MiB")
    assert peak - baseline < BOUND, (peak - baseline) / MiB
    assert len(means) == 2 and all(np.isfinite(float(m)) for m in means)
    if init_params in ("kmeans", "k-means++"):  # seeds in both clusters (at 0 and 5)
        assert float(means[0]) < 1.0 and float(means[-1]) > 4.0


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("init_params", ["random_from_data", "k-means++"])
@pytest.mark.parametrize("cov_type", ["full", "tied", "diag", "spherical"])
def test_chunked_seeded_init_needs_no_pass_over_the_data(cov_type, init_params, weighted):
    """Seeded inits over row blocks: the chosen rows alone (the race's
    winners, or the k-means++ seeds among the k-means|| candidates) give the
    statistics of responsibility 1 at those rows over every row (exact for
    the per-component sums, to rounding for the pooled tied scatter)."""
    from fastgmm._init.resp import one_hot_rows, stats_from_resp

    rng = np.random.default_rng(3)
    X = rng.normal(size=(12_000, 3)).astype(np.float32) + 50.0
    w = rng.uniform(0.0, 2.0, size=len(X)).astype(np.float32) if weighted else None
    data = source.RowPartitions(X, w, partition_rows=5000)
    stats = scalable.partitioned_initial_stats(data, 4, cov_type, init_params,
                                               np.random.RandomState(0))
    # The seed rows are where the statistics are shifted to; find their indices.
    index = np.array([int(np.flatnonzero((X == row).all(axis=1))[0])
                      for row in stats.shift.astype(np.float32)])
    full_pass = stats_from_resp(X, w, one_hot_rows(index, 4), X[index].astype(np.float64),
                                cov_type)
    naive.assert_seed_stats_match(stats, full_pass, cov_type, tied_rtol=1e-6)
