"""Data, fixed initial parameters and fits shared by the asv suites.

The suites run against every commit asv checks out, so they use only
fastgmm's public estimator (never private modules, and ``fastgmm.bench``
only where a suite shares a definition with ``fastgmm bench``: then its
``setup`` raises ``NotImplementedError`` on a commit without it).
The data follow the benchmark cases (the same recipe as ``fastgmm.bench.make_data``):
``k`` centres ``rng.normal(scale=3, size=(k, d))``, labels
``rng.integers(0, k, n)``, points = centre + standard normal noise. The
centre scale sets how far apart the components are (issue 14 compares 0.5,
3 and 10: overlapping, the float32 subnormal band on Intel, well separated).
"""

import os
import sys
import warnings

import numpy as np

try:
    import fastgmm
except ImportError:  # ``asv run --python=same`` in a checkout that is not installed
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import fastgmm

from fastgmm import GaussianMixture

# Where the benchmarked fastgmm lives, for code run in fresh interpreters.
FASTGMM_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(fastgmm.__file__)))

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]


SEPARATIONS = [0.5, 3.0, 10.0]


def make_data(n, d, k, dtype="float64", seed=0, separation=3.0):
    """``(n, d)`` points around ``k`` centres of scale ``separation``, a slice at a time."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=separation, size=(k, d))
    labels = rng.integers(0, k, n)
    X = np.empty((n, d), dtype=dtype)
    for start in range(0, n, 65_536):
        stop = min(start + 65_536, n)
        X[start:stop] = centres[labels[start:stop]] + rng.standard_normal((stop - start, d))
    return X


def fixed_init(d, k, covariance_type, seed=0, separation=3.0):
    """Initial parameters near the truth: perturbed centres, unit covariances.

    Passing all three ``*_init`` skips the initialisation, so a timed fit is
    EM iterations only, the same work on every commit.
    """
    centres = np.random.default_rng(seed).normal(scale=separation, size=(k, d))
    means = centres + 0.5 * np.random.default_rng(seed + 1).standard_normal((k, d))
    precisions = {
        "full": np.broadcast_to(np.eye(d), (k, d, d)).copy(),
        "tied": np.eye(d),
        "diag": np.ones((k, d)),
        "spherical": np.ones(k),
    }[covariance_type]
    return {"weights_init": np.full(k, 1.0 / k), "means_init": means,
            "precisions_init": precisions}


def fit(X, k, covariance_type, max_iter, init):
    """A fit of exactly ``max_iter`` EM iterations (``tol=0``, ``n_init=1``)."""
    gm = GaussianMixture(k, covariance_type=covariance_type, max_iter=max_iter, tol=0,
                         n_init=1, **init)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: tol=0 never converges
        return gm.fit(X)


def warm(d, k, covariance_type, dtype="float64"):
    """Compile or load the kernels for this dtype and kind before timing."""
    init = fixed_init(d, k, covariance_type)
    gm = fit(make_data(4096, d, k, dtype), k, covariance_type, 1, init)
    gm.predict(make_data(16, d, k, dtype))
