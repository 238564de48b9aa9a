"""Start-up: where compiled kernels are cached, and that a stale cache can never load.

The slow cases run fresh interpreters (the cache directory is chosen when
Numba starts) with their own ``NUMBA_CACHE_DIR`` or ``XDG_CACHE_HOME``.
"""

import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fastgmm
from fastgmm._kernels import compile as _compile

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path(fastgmm.__file__).resolve().parent


def _run(code, env_extra, timeout=600):
    env = {k: v for k, v in os.environ.items()
           if k not in ("NUMBA_CACHE_DIR", "XDG_CACHE_HOME")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(env_extra)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr
    return done


def _cache_files(root):
    return sorted(p for p in Path(root).rglob("*") if p.suffix in (".nbi", ".nbc"))


# Prints, as ``[hits, misses]``, whether the spherical float64 statistics
# task and the serial driver (one chunk of rows) were loaded from the cache
# or compiled.
_LOADED = """
from fastgmm._kernels import passes as _passes
from fastgmm._kernels.layout import SPHERICAL, DIAG
task = _passes.stats_task({kind}, "float64")
driver = _passes._stats_serial.stats
loaded = [int(task.loaded_from_cache is True) + len(driver.cache_hits),
          int(task.loaded_from_cache is False) + len(driver.cache_misses)]
"""

# A small spherical fit from random responsibilities: the cheapest kernel
# set to compile (no k-means kernels, one chunk of rows so only the serial
# driver). Prints whether its kernels were compiled or loaded, and the
# fitted means.
_FIT = """
import json, warnings
import numpy as np
import fastgmm
X = np.random.default_rng(0).normal(size=(600, 2))
X[300:] += 5
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    gm = fastgmm.GaussianMixture(2, covariance_type="spherical", init_params="random",
                                 max_iter=3, tol=0, random_state=0).fit(X)
""" + _LOADED.format(kind="SPHERICAL") + """
print(json.dumps({"means": gm.means_.tolist(), "hits": loaded[0], "misses": loaded[1],
                  "warnings": [str(w.message) for w in caught
                               if issubclass(w.category, RuntimeWarning)]}))
"""


def _fit(env_extra):
    return json.loads(_run(_FIT, env_extra).stdout.strip().splitlines()[-1])


# ---------------------------------------------------------- the locator
def test_cache_directory_depends_on_version_and_kernel_sources():
    here = _compile.cache_dir()
    assert here.name == f"{fastgmm.__version__}-{_compile.source_hash()}"
    assert _compile.cache_dir("0.0.1") != here
    assert _compile.cache_dir(sources="0" * 16) != here


def test_editing_a_helper_module_changes_the_source_hash(tmp_path):
    """An upgrade that touches only ``_kernels/layout.py`` (its constants are frozen
    into every kernel) selects a new cache directory; a module outside the
    kernels' folder does not, not even the warm-up command that runs them."""
    copy = tmp_path / "fastgmm"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    kernels = copy / "_kernels"
    original = _compile.source_hash(kernels)
    assert original == _compile.source_hash()
    names = {p.name for p in _compile.kernel_sources(kernels)}
    assert {"compile.py", "layout.py", "chunk.py", "kmeans.py", "passes.py"} <= names
    assert names == {p.name for p in kernels.glob("*.py")}

    for outside in ("cli.py", "_warmup.py", "_data/arrays.py"):
        (copy / outside).write_text((copy / outside).read_text() + "\n# comment\n")
    assert _compile.source_hash(kernels) == original
    layout = kernels / "layout.py"
    layout.write_text(layout.read_text().replace("BLOCK_ROWS = 256", "BLOCK_ROWS = 128"))
    assert _compile.source_hash(kernels) != original


def test_cache_lives_outside_the_package(tmp_path):
    """With neither variable set the cache is in the user cache directory, so
    ``pip uninstall`` leaves nothing in site-packages; a second process loads
    the kernels instead of compiling them."""
    before = set(_cache_files(PACKAGE))
    first = _fit({"XDG_CACHE_HOME": str(tmp_path)})
    assert (first["hits"], first["misses"]) == (0, 2) and first["warnings"] == []
    assert set(_cache_files(PACKAGE)) == before
    versioned = tmp_path / "fastgmm" / f"{fastgmm.__version__}-{_compile.source_hash()}"
    assert _cache_files(versioned)
    second = _fit({"XDG_CACHE_HOME": str(tmp_path)})
    assert (second["hits"], second["misses"]) == (2, 0)
    # Not bitwise: the chunk code loaded from the cache calls its own copies
    # of the shared helpers, freshly compiled code the process's (docs/user_guide/
    # startup.md, "Last bits").
    np.testing.assert_allclose(second["means"], first["means"], rtol=1e-12)
    # That another version finds nothing to load follows from the entries
    # being under cache_dir() (above) and cache_dir() naming the version and
    # the source hash (test_cache_directory_depends_on_version_and_kernel_sources);
    # a third cold compile here to show it again cost a minute.


def test_unwritable_cache_warns_once_and_fits(tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    result = _fit({"NUMBA_CACHE_DIR": str(blocker / "cache")})
    assert len(result["warnings"]) == 1
    assert "cannot write its kernel cache" in result["warnings"][0]
    X = np.random.default_rng(0).normal(size=(600, 2))
    X[300:] += 5
    reference = fastgmm.GaussianMixture(2, covariance_type="spherical", init_params="random",
                                        max_iter=3, tol=0, random_state=0).fit(X)
    np.testing.assert_allclose(result["means"], reference.means_, rtol=1e-12)


# ------------------------------------------------------- concurrent first use
_THIRD = """
import json
import numpy as np
from fastgmm._data import arrays as _engine
from fastgmm._model import gaussian as _model
X = np.random.default_rng(1).normal(size=(1000, 3))
model = _model.kernel_model(np.full(3, 1 / 3), X[:3], np.ones((3, 3)), "diag", X.dtype)
_engine.accumulate(X, None, model)  # a chunk of the size the workers saw: serial driver
""" + _LOADED.format(kind="DIAG") + """
print(json.dumps(loaded))
"""


def test_cold_cache_local_cluster(tmp_path, monkeypatch):
    """Two worker processes that both find an empty cache compile and write the
    same entries at once; the fit equals the in-memory one and a third process
    then loads the kernels without compiling."""
    da = pytest.importorskip("dask.array")
    distributed = pytest.importorskip("distributed")
    cache = tmp_path / "cache"
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(cache))  # read by the new workers
    rng = np.random.default_rng(1)
    X = np.concatenate([rng.normal(size=(2000, 3)), rng.normal(size=(2000, 3)) + 6])
    params = dict(covariance_type="diag", weights_init=[0.5, 0.5],
                  means_init=[[0.5, 0, 0], [5, 5, 5]], precisions_init=np.ones((2, 3)),
                  max_iter=5, tol=0)
    expected = fastgmm.GaussianMixture(2, **params).fit(X)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None,
                                  silence_logs=logging.CRITICAL) as cluster:
        with distributed.Client(cluster):
            got = fastgmm.GaussianMixture(2, **params).fit(da.from_array(X, chunks=1000))
    np.testing.assert_allclose(got.means_, expected.means_, rtol=1e-10)
    np.testing.assert_allclose(got.covariances_, expected.covariances_, rtol=1e-10)
    assert _cache_files(cache)
    done = _run(_THIRD, {"NUMBA_CACHE_DIR": str(cache)})
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [2, 0]


# ------------------------------------------------------------------ warmup
def test_warmup_compiles_what_a_fit_needs(tmp_path):
    code = """
import fastgmm
from fastgmm._kernels import passes as _passes
from fastgmm._kernels.layout import DIAG
fastgmm.warmup(["diag"], ["float32"], progress=print)
print(*(len(driver.signatures) for driver in _passes.DRIVERS),
      *(task(DIAG, "float32").loaded_from_cache for task in (_passes.stats_task,
                                                              _passes.score_task)))
"""
    lines = _run(code, {"NUMBA_CACHE_DIR": str(tmp_path)}).stdout.strip().splitlines()
    assert lines[0].startswith("fastgmm warmup: diag      float32")
    assert str(tmp_path) in lines[1]
    # parallel and serial drivers of statistics and scoring; both task functions compiled
    assert lines[-1] == "1 1 1 1 False False"
    assert _cache_files(tmp_path)


def test_warmup_rejects_unknown_types():
    with pytest.raises(ValueError, match="covariance_types must be among"):
        fastgmm.warmup(["round"])
    with pytest.raises(ValueError, match="dtypes must be among"):
        fastgmm.warmup(["full"], ["int64"])


def test_the_library_imports_nothing_from_the_benchmark_tooling():
    """``fastgmm bench`` is a command of its own: fitting, predicting, saving and
    every public name leave ``fastgmm.bench`` (and its g++ builder) unimported."""
    code = """
import sys, warnings, tempfile, os
import numpy as np
import fastgmm
X = np.random.default_rng(0).normal(size=(300, 2))
warnings.simplefilter("ignore")
gm = fastgmm.GaussianMixture(2, covariance_type="diag", max_iter=2, random_state=0).fit(X)
gm.predict(X)
gm.save(os.path.join(tempfile.mkdtemp(), "m.npz"))
for name in fastgmm.__all__:
    getattr(fastgmm, name)
import fastgmm.cli, fastgmm.demo
print(sorted(m for m in sys.modules if m.startswith("fastgmm.bench")))
"""
    assert _run(code, {}).stdout.strip().splitlines()[-1] == "[]"
