"""EM iterations over covariance type, dimension, components and dtype.

``time_em`` times a fit of exactly ``N_ITER`` EM iterations from fixed
initial parameters (``tol=0``, so nothing converges early, and every
``*_init`` is given, so no initialisation runs): divide by ``N_ITER`` for
the time of one iteration. The fixed part of a fit (input validation, the
``O(k d^2)`` model set-up) is included once; ``bench_main.MainCase`` gets the
per-iteration time without it, by a difference of two fits.
"""

from .common import COVARIANCE_TYPES, SEPARATIONS, fit, fixed_init, make_data, warm

N_SAMPLES = 50_000
N_ITER = 5
TINY = {"N_SAMPLES": 4200, "N_ITER": 2}  # enough rows for d=64, k=16  # used by tests/test_asv.py


class EMIterations:
    params = (COVARIANCE_TYPES, [2, 8, 16, 64], [4, 16], ["float64", "float32"])
    param_names = ["covariance_type", "n_features", "n_components", "dtype"]
    timeout = 300

    def setup(self, covariance_type, n_features, n_components, dtype):
        if n_features == 64 and covariance_type in ("tied", "spherical"):
            raise NotImplementedError  # the wide case is full (and diag)
        self.X = make_data(N_SAMPLES, n_features, n_components, dtype)
        self.init = fixed_init(n_features, n_components, covariance_type)
        warm(n_features, n_components, covariance_type, dtype)

    def time_em(self, covariance_type, n_features, n_components, dtype):
        fit(self.X, n_components, covariance_type, N_ITER, self.init)


class EMSeparation:
    """The same EM iterations at three centre scales, both dtypes (d=16, k=16).

    A cliff that only some data shapes hit (float32 responsibilities in the
    subnormal band cost a microcode assist each on Intel cores) shows up as
    one number out of line with its neighbours.
    """

    params = (COVARIANCE_TYPES, ["float64", "float32"], SEPARATIONS)
    param_names = ["covariance_type", "dtype", "separation"]
    timeout = 300

    def setup(self, covariance_type, dtype, separation):
        self.X = make_data(N_SAMPLES, 16, 16, dtype, separation=separation)
        self.init = fixed_init(16, 16, covariance_type, separation=separation)
        warm(16, 16, covariance_type, dtype)

    def time_em(self, covariance_type, dtype, separation):
        fit(self.X, 16, covariance_type, N_ITER, self.init)
