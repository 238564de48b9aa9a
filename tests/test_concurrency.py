"""Fits from several Python threads at once.

Every parallel kernel launch holds ``fastgmm._kernels.threads.KERNEL_LOCK``: under
Numba's ``workqueue`` threading layer two concurrent launches abort the
process, and under any layer the kernels are deterministic, so concurrent
fits give bitwise the results of the same fits one at a time.
"""

import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from fastgmm import GaussianMixture

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = [
    dict(covariance_type="full", init_params="kmeans"),
    dict(covariance_type="tied", init_params="k-means++"),
    dict(covariance_type="diag", init_params="random_from_data"),
    dict(covariance_type="spherical", init_params="random"),
]
OUTPUTS = ("weights_", "means_", "covariances_", "precisions_cholesky_", "lower_bound_")


def _data(seed=0, n=40_000):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=5.0, size=(4, 3))
    return centres[rng.integers(0, 4, size=n)] + rng.normal(size=(n, 3))


def _fit_and_infer(X, config):
    gm = GaussianMixture(4, random_state=1, max_iter=30, **config).fit(X)
    out = {name: getattr(gm, name) for name in OUTPUTS}
    out["labels"] = gm.predict(X)
    out["log_prob"] = gm.score_samples(X)
    out["proba"] = gm.predict_proba(X[:5000])
    return out


def _assert_bitwise_equal(got, expected):
    for name in expected:
        np.testing.assert_array_equal(got[name], expected[name], err_msg=name)


def test_concurrent_fits_equal_sequential_fits():
    X = _data()
    sequential = [_fit_and_infer(X, config) for config in CONFIGS]
    with ThreadPoolExecutor(max_workers=4) as pool:
        concurrent = list(pool.map(lambda config: _fit_and_infer(X, config), CONFIGS * 2))
    for got, expected in zip(concurrent, sequential * 2):
        _assert_bitwise_equal(got, expected)


def test_dask_threaded_scheduler_fit_equals_in_memory_fit():
    dask = pytest.importorskip("dask")
    da = pytest.importorskip("dask.array")
    X = _data(1, n=30_000)
    start = GaussianMixture(4, max_iter=0, random_state=0).fit(X)
    kwargs = dict(n_components=4, tol=1e-6, weights_init=start.weights_,
                  means_init=start.means_, precisions_init=start.precisions_)
    expected = GaussianMixture(**kwargs).fit(X)
    with dask.config.set(scheduler="threads", num_workers=4):
        got = GaussianMixture(**kwargs).fit(da.from_array(X, chunks=2_000))
        labels = got.predict(da.from_array(X, chunks=2_000)).compute()
    assert got.n_iter_ == expected.n_iter_
    np.testing.assert_allclose(got.means_, expected.means_, rtol=1e-10)
    np.testing.assert_allclose(got.covariances_, expected.covariances_, rtol=1e-10,
                               atol=1e-12)
    np.testing.assert_array_equal(labels, expected.predict(X))


SCRIPT = textwrap.dedent("""
    import sys
    from concurrent.futures import ThreadPoolExecutor

    import dask
    import dask.array as da
    import numba
    import numpy as np

    sys.path.insert(0, {tests!r})
    import test_concurrency as t

    X = t._data(n=20_000)
    sequential = [t._fit_and_infer(X, config) for config in t.CONFIGS]
    with ThreadPoolExecutor(max_workers=4) as pool:
        concurrent = list(pool.map(lambda c: t._fit_and_infer(X, c), t.CONFIGS * 2))
    for got, expected in zip(concurrent, sequential * 2):
        t._assert_bitwise_equal(got, expected)
    with dask.config.set(scheduler="threads", num_workers=4):
        gm = t.GaussianMixture(4, random_state=0).fit(da.from_array(X, chunks=1_000))
        gm.predict_proba(da.from_array(X, chunks=1_000)).compute()
    print(numba.threading_layer())
""")


def test_concurrent_fits_under_workqueue_layer(tmp_path):
    """The layer that aborts on concurrent launches, in a fresh process."""
    pytest.importorskip("dask.array")
    script = tmp_path / "concurrent_workqueue.py"
    script.write_text(SCRIPT.format(tests=os.path.join(ROOT, "tests")))
    env = dict(os.environ, NUMBA_THREADING_LAYER="workqueue",
               PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])))
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                            env=env, cwd=ROOT, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "workqueue"
