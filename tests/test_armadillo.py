"""The Armadillo peer of ``fastgmm bench`` (``fastgmm.bench.peers.armadillo``).

Armadillo is optional: where ``g++`` or Armadillo is missing the tests of the
program itself skip; the tests of the error messages run everywhere.
"""

import numpy as np
import pytest
from sklearn.mixture import GaussianMixture


def test_armadillo_peer_missing_compiler_is_reported(tmp_path, monkeypatch):
    from fastgmm.bench.peers import armadillo as _armadillo

    monkeypatch.setenv("CXX", "no-such-compiler-for-fastgmm")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert _armadillo.available() == (False, "no C++ compiler (g++) on PATH")
    with pytest.raises(RuntimeError, match="no C.. compiler"):
        _armadillo.build()


def test_armadillo_peer_failed_compilation_is_reported(tmp_path, monkeypatch):
    from fastgmm.bench.peers import armadillo as _armadillo

    monkeypatch.setenv("CXX", "false")  # a "compiler" that always fails
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert not _armadillo.available()[0]
    with pytest.raises(RuntimeError, match="compiling .*armadillo_gmm_diag.cpp failed"):
        _armadillo.build()
    assert not list(tmp_path.rglob("armadillo_gmm_diag-*"))


def test_armadillo_peer_runs_from_the_given_parameters():
    from fastgmm.bench.peers import armadillo as _armadillo
    from fastgmm.bench import initial_parameters, make_data

    if not _armadillo.available()[0]:
        pytest.skip(_armadillo.available()[1])
    X = make_data(2000, 3, 2)
    init = initial_parameters(X, 2, "diag")
    # Two EM steps from the same start: scikit-learn's parameters (which add
    # reg_covar=1e-6 to the variances). A wrong layout would move far away.
    sk = GaussianMixture(2, covariance_type="diag", max_iter=2, tol=0, **init).fit(X)
    for dtype in ("float64", "float32"):
        _, model = _armadillo.seconds_per_iteration(X.astype(dtype), init, (1, 2), 1, 1)
        for name in ("weights", "means", "covariances"):
            np.testing.assert_allclose(model[name], getattr(sk, name + "_"), rtol=1e-4,
                                       atol=1e-4, err_msg=f"{dtype} {name}")
    full = initial_parameters(X, 2, "full")
    with pytest.raises(ValueError, match="diagonal parameters of shape"):
        _armadillo.seconds_per_iteration(X, full, (1, 2), 1, 1)
