"""Initialisation alone: k-means (k-means++ seeding + Lloyd), k-means++ and random rows.

``max_iter=0`` stops the fit right after the initial parameters are made,
so the time is the initialisation only (including its one M-step).
"""

import warnings

from .common import GaussianMixture, make_data

N_SAMPLES = 200_000
TINY = {"N_SAMPLES": 500}  # used by tests/test_asv.py


def _init_only(X, k, init_params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return GaussianMixture(k, max_iter=0, init_params=init_params,
                               random_state=0).fit(X)


class Initialisation:
    params = (["kmeans", "k-means++", "random_from_data"], [2, 16], [8, 16])
    param_names = ["init_params", "n_features", "n_components"]
    timeout = 300

    def setup(self, init_params, n_features, n_components):
        self.X = make_data(N_SAMPLES, n_features, n_components)
        _init_only(self.X[:4096], n_components, init_params)  # warm the kernels

    def time_init(self, init_params, n_features, n_components):
        _init_only(self.X, n_components, init_params)
