"""EM iterations with missing values (issue 24): complete data against the two patterns.

``time_em`` times a fit of exactly ``N_ITER`` iterations from fixed initial
parameters with ``nan_policy='marginalize'`` (which fits complete data
exactly as ``'raise'``), on 16 features and 16 components:

* ``complete``: the data as they are (the reference);
* ``scattered``: each entry missing at random with probability 0.1;
* ``block``: 30% of the rows miss the same 4 columns.

The fit's one-off work (the scan for NaN, splitting the rows by pattern) is
included once. ``python -m benchmarks.missing_ratio`` measures the ratio
per iteration at 1e6 rows, alternating the cases in one process.
"""

import warnings

import numpy as np

from .common import fixed_init, make_data, warm
from fastgmm import GaussianMixture

N_SAMPLES = 200_000
N_ITER = 3
TINY = {"N_SAMPLES": 3000, "N_ITER": 1}  # used by tests/test_asv.py


def with_missing(X, pattern, seed=1):
    """A copy of X with the entries of ``pattern`` set to NaN."""
    X = X.copy()
    if pattern == "complete":
        return X
    rng = np.random.default_rng(seed)
    n, d = X.shape
    if pattern == "scattered":
        for start in range(0, n, 65_536):
            block = X[start:start + 65_536]
            block[rng.random(block.shape) < 0.1] = np.nan
    else:
        rows = np.flatnonzero(rng.random(n) < 0.3)
        X[np.ix_(rows, np.arange(d - 4, d))] = np.nan
    return X


class MissingEM:
    params = (["full", "diag"], ["float64", "float32"], ["complete", "scattered", "block"])
    param_names = ["covariance_type", "dtype", "pattern"]
    timeout = 300

    def setup(self, covariance_type, dtype, pattern):
        if "nan_policy" not in GaussianMixture().get_params():
            raise NotImplementedError  # a commit before missing values
        self.X = with_missing(make_data(N_SAMPLES, 16, 16, dtype), pattern)
        self.init = fixed_init(16, 16, covariance_type)
        warm(16, 16, covariance_type, dtype)
        self.fit(covariance_type, self.X[:4096], 1)  # the missing-value kernels too

    def fit(self, covariance_type, X, max_iter):
        gm = GaussianMixture(16, covariance_type=covariance_type, max_iter=max_iter, tol=0,
                             nan_policy="marginalize", **self.init)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning: tol=0 never converges
            return gm.fit(X)

    def time_em(self, covariance_type, dtype, pattern):
        self.fit(covariance_type, self.X, N_ITER)
