"""``fastgmm.fit_many`` against loops of single fits.

The same problems are fitted three ways: a loop of scikit-learn fits, a
loop of fastgmm fits and one ``fit_many`` call; ``init_params=
'random_from_data'`` gives all three the same models. Divide by the
number of problems for the time per problem (``fastgmm bench many`` prints
the ratios directly).
"""

import warnings

import numpy as np
from sklearn.mixture import GaussianMixture as SkGaussianMixture

from .common import GaussianMixture, fastgmm

# (n_problems, n_samples, n_features, n_components) of the two issue cases
CASES = {"bimodal-1d": (10_000, 500, 1, 2), "full-8d": (1_000, 2_000, 8, 4)}
# The loops are timed on this many problems (the scikit-learn loop of all
# 10,000 would take minutes).
LOOP_PROBLEMS = 200
TINY = {"CASES": {"bimodal-1d": (6, 60, 1, 2), "full-8d": (3, 80, 8, 4)},
            "LOOP_PROBLEMS": 2}  # used by tests/test_asv.py


def _problems(n_problems, n, d, k, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=3.0, size=(n_problems, k, d))
    labels = rng.integers(0, k, size=(n_problems, n))
    return np.take_along_axis(centres, labels[:, :, None], axis=1) + rng.standard_normal(
        (n_problems, n, d))


def _quiet(call):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return call()


class FitMany:
    params = (list(CASES),)
    param_names = ["case"]
    timeout = 900

    def setup(self, case):
        n_problems, n, d, k = CASES[case]
        self.data = _problems(n_problems, n, d, k)
        self.kwargs = dict(n_components=k, init_params="random_from_data", random_state=0)
        _quiet(lambda: fastgmm.fit_many(self.data[:2], **self.kwargs))  # warm the kernels
        _quiet(lambda: GaussianMixture(**self.kwargs).fit(self.data[0]))

    def time_fit_many(self, case):
        _quiet(lambda: fastgmm.fit_many(self.data, **self.kwargs))

    def time_fastgmm_loop(self, case):
        for X in self.data[:LOOP_PROBLEMS]:
            _quiet(lambda X=X: GaussianMixture(**self.kwargs).fit(X))

    def time_sklearn_loop(self, case):
        for X in self.data[:LOOP_PROBLEMS]:
            _quiet(lambda X=X: SkGaussianMixture(**self.kwargs).fit(X))
