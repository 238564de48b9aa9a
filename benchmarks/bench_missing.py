"""EM iterations with missing values (issue 24): complete data against the two patterns.

``time_em`` times a fit of exactly ``N_ITER`` iterations from fixed initial
parameters with ``nan_policy='marginalize'`` (which fits complete data
exactly as ``'raise'``), on 16 features and 16 components:

* ``complete``: the data as they are (the reference);
* ``scattered``: each entry missing at random with probability 0.1;
* ``block``: 30% of the rows miss the same 4 columns.

The fit's one-off work (the scan for NaN, splitting the rows by pattern) is
included once. ``python -m benchmarks.missing_ratio`` measures the ratio
per iteration at 1e6 rows, alternating the cases in one process, and
``fastgmm bench --extras missing`` reports it next to the goals.

The patterns come from ``fastgmm.bench.cases.with_missing``, the one
definition the three share: unlike the other suites this one imports from
``fastgmm.bench``, and skips a commit whose fastgmm does not have it.
"""

import warnings

from .common import fixed_init, make_data, warm
from fastgmm import GaussianMixture

N_SAMPLES = 200_000
N_ITER = 3
TINY = {"N_SAMPLES": 3000, "N_ITER": 1}  # used by tests/test_asv.py


class MissingEM:
    params = (["full", "diag"], ["float64", "float32"], ["complete", "scattered", "block"])
    param_names = ["covariance_type", "dtype", "pattern"]
    timeout = 300

    def setup(self, covariance_type, dtype, pattern):
        if "nan_policy" not in GaussianMixture().get_params():
            raise NotImplementedError  # a commit before missing values
        try:
            from fastgmm.bench.cases import with_missing
        except ImportError:  # a commit before the patterns moved into fastgmm.bench
            raise NotImplementedError from None
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
