"""A damaged kernel cache is rebuilt: one warning, the clean result, a usable cache.

Fault injection: a cache is populated in a temporary directory by a fit in
a fresh interpreter; then every file of it is damaged in one of three ways
(truncated as an interrupted write or a full disk leaves it, overwritten
with random bytes, emptied) and the same fit runs in another fresh
interpreter. It must print the clean run's result bit for bit, warn once
naming the directory, and leave a cache from which the next process loads
every kernel again without a warning.

A kernel compiled in the process and one loaded from the cache can differ
in the last bit (see conftest.py), so the damaged run (every kernel
recompiled) is compared with the populating run (every kernel compiled),
and the run after it (every kernel loaded) with a clean run from the cache.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

_FIT = """
import hashlib, warnings
import numpy as np
warnings.simplefilter("always")
from fastgmm import GaussianMixture
from fastgmm._kernels import passes as _passes
from fastgmm._kernels.layout import DIAG
rng = np.random.default_rng(0)
X = np.r_[rng.normal(0, 1, (300, 3)), rng.normal(6, 1, (300, 3))]
gm = GaussianMixture(2, covariance_type="diag", init_params="random_from_data",
                     random_state=0).fit(X)
out = np.concatenate([gm.means_.ravel(), gm.covariances_.ravel(), [gm.lower_bound_]])
print(hashlib.sha256(out.tobytes()).hexdigest())
task = _passes.stats_task(DIAG, "float64")
print("loaded" if task.loaded_from_cache else "compiled")
"""


def _run(cache: Path):
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR",)}
    env["NUMBA_CACHE_DIR"] = str(cache)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    result = subprocess.run([sys.executable, "-c", _FIT], capture_output=True, text=True,
                            env=env, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    digest, how = result.stdout.split()
    return digest, how, result.stderr


def _files(cache: Path):
    return sorted(p for p in cache.rglob("*") if p.is_file() and p.name != ".lock")


def _truncate(path: Path):
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])


def _random(path: Path):
    rng = np.random.default_rng(len(path.name))
    path.write_bytes(rng.integers(0, 256, max(path.stat().st_size, 64),
                                  dtype=np.uint8).tobytes())


def _empty(path: Path):
    path.write_bytes(b"")


@pytest.fixture(scope="module")
def populated(tmp_path_factory):
    cache = tmp_path_factory.mktemp("clean-cache")
    fresh, how, _ = _run(cache)
    assert how == "compiled"
    cached, how, stderr = _run(cache)
    assert how == "loaded" and "Warning" not in stderr
    return cache, fresh, cached


@pytest.mark.parametrize("damage", [_truncate, _random, _empty],
                         ids=["truncated", "random bytes", "emptied"])
def test_a_damaged_cache_is_rebuilt_with_one_warning(populated, tmp_path, damage):
    clean, fresh, cached = populated
    cache = tmp_path / "cache"
    shutil.copytree(clean, cache)
    files = _files(cache)
    assert any(p.suffix == ".nbi" for p in files) and any(p.suffix == ".nbc" for p in files)
    for path in files:
        damage(path)

    digest, how, stderr = _run(cache)
    assert digest == fresh  # every kernel compiled again: the clean fit, bit for bit
    assert how == "compiled"
    assert stderr.count("held a damaged entry") == 1, stderr[-3000:]
    directory = str(next(p.parent for p in files))
    assert directory in stderr

    digest, how, stderr = _run(cache)  # the rebuilt cache is usable
    assert digest == cached
    assert how == "loaded"
    assert "Warning" not in stderr, stderr[-3000:]
