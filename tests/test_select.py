"""fastgmm.select: the number of components of a well-separated mixture is found."""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import fastgmm
from fastgmm import GaussianMixture, select
from fastgmm.selection import Candidate

ROOT = Path(__file__).resolve().parents[1]


def four_blobs(seed=0):
    rng = np.random.default_rng(seed)
    centers = [[0, 0, 0], [10, 0, 0], [0, 10, 0], [0, 0, 10]]
    return np.vstack([rng.normal(size=(250, 3)) + c for c in centers])


def test_select_finds_the_true_number_of_components():
    X = four_blobs()
    best, table = select(X, n_components=range(1, 8), random_state=0)
    assert isinstance(best, GaussianMixture)
    assert best.n_components == 4
    assert [c.n_components for c in table] == list(range(1, 8))
    assert all(isinstance(c, Candidate) and c.error is None for c in table)
    row = table[3]
    assert row.bic == pytest.approx(best.bic(X))
    assert row.aic == pytest.approx(best.aic(X))
    assert row.as_dict()["covariance_type"] == "full"


def test_select_over_covariance_types_and_aic():
    X = four_blobs(1).astype(np.float32)
    best, table = select(X, [2, 4, 6], covariance_types=["spherical", "diag"],
                         criterion="aic", random_state=0, max_iter=200)
    assert best.n_components == 4
    assert best.means_.dtype == np.float32
    assert [(c.covariance_type, c.n_components) for c in table] == [
        ("spherical", 2), ("spherical", 4), ("spherical", 6),
        ("diag", 2), ("diag", 4), ("diag", 6)]
    assert min(table, key=lambda c: c.aic).n_components == 4


def test_candidates_that_cannot_be_fitted_are_reported():
    X = four_blobs()[:5]
    best, table = select(X, [1, 10], random_state=0)
    assert best.n_components == 1
    assert np.isnan(table[1].bic) and "n_samples >= n_components" in table[1].error


@pytest.mark.parametrize("kwargs, message", [
    ({"criterion": "icl"}, "criterion must be one of"),
    ({"n_components": []}, "non-empty"),
    ({"n_components": [0, 1]}, ">= 1"),
    ({"covariance_types": ["banana"]}, "covariance_types must be taken from"),
])
def test_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        select(four_blobs(), **kwargs)


def test_nan_in_data_is_an_error_not_a_failed_candidate():
    X = four_blobs()
    X[3, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        select(X, [1, 2])


def test_cli_select_picks_the_true_number_and_saves_it(tmp_path):
    np.save(tmp_path / "x.npy", four_blobs())
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    result = subprocess.run(
        [sys.executable, "-m", "fastgmm", "select", "x.npy", "-k", "1..6",
         "--covariance-type", "full", "diag", "-o", "best.npz"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert re.search(r"best by BIC: 4 components", result.stdout)
    starred = [line for line in result.stdout.splitlines() if line.startswith("*")]
    assert len(starred) == 1 and re.match(r"\*\s+4\s", starred[0])
    assert len(re.findall(r"^[ *]\s+\d+\s+(full|diag)\s", result.stdout, re.M)) == 12
    assert fastgmm.load(tmp_path / "best.npz").n_components == 4
