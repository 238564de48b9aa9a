"""The fit a user waits for: every parameter at its default but ``random_state=0``.

``GaussianMixture(k, covariance_type=..., random_state=0).fit(X)``: the
k-means initialisation (scikit-learn's k-means++ seeds and Lloyd
iterations) and EM until ``tol=1e-3``, timed whole. Beside the fixed-work
suites, this one shows where initialisation and fixed costs eat the
engine's speed; ``track_iterations`` says how many EM iterations it ran.
"""

import warnings

from .common import GaussianMixture, make_data

N_SAMPLES = 200_000
TINY = {"N_SAMPLES": 500}  # used by tests/test_asv.py


def _default_fit(X, k, covariance_type):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return GaussianMixture(k, covariance_type=covariance_type, random_state=0).fit(X)


class DefaultFit:
    params = (["full", "diag"], [0.5, 3.0], ["float64", "float32"])
    param_names = ["covariance_type", "separation", "dtype"]
    timeout = 600

    def setup(self, covariance_type, separation, dtype):
        self.X = make_data(N_SAMPLES, 16, 16, dtype=dtype, separation=separation)
        _default_fit(self.X[:20_000], 16, covariance_type)  # warm the kernels

    def time_fit_default(self, covariance_type, separation, dtype):
        _default_fit(self.X, 16, covariance_type)

    def track_iterations(self, covariance_type, separation, dtype):
        return _default_fit(self.X, 16, covariance_type).n_iter_
