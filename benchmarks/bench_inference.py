"""Inference on a fitted model: ``predict`` and ``score_samples``."""

from .common import COVARIANCE_TYPES, fit, fixed_init, make_data, warm

N_SAMPLES = 200_000
N_FEATURES = 16
N_COMPONENTS = 16
TINY = {"N_SAMPLES": 300}  # used by tests/test_asv.py


class Inference:
    params = (COVARIANCE_TYPES, ["float64", "float32"])
    param_names = ["covariance_type", "dtype"]

    def setup(self, covariance_type, dtype):
        d, k = N_FEATURES, N_COMPONENTS
        self.X = make_data(N_SAMPLES, d, k, dtype)
        warm(d, k, covariance_type, dtype)
        self.model = fit(self.X[:4096], k, covariance_type, 2,
                         fixed_init(d, k, covariance_type))

    def time_predict(self, covariance_type, dtype):
        self.model.predict(self.X)

    def time_score_samples(self, covariance_type, dtype):
        self.model.score_samples(self.X)
