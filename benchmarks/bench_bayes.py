"""The main case (full covariance, d = k = 16) for the variational mixture.

``track_seconds_per_iteration`` is fastgmm's ``BayesianGaussianMixture``
time per variational iteration, ``(t(max_iter=B) - t(max_iter=A)) / (B - A)``
(best of ``REPEAT``), so initialisation and validation cancel;
``track_sklearn_seconds_per_iteration`` is the same for
``sklearn.mixture.BayesianGaussianMixture`` on the same data from the same
initial parameters (``init_params='random_from_data'``, ``random_state=0``:
fastgmm draws scikit-learn's rows), one run each; ``track_speedup`` is
their ratio. Both do exactly the same work (``tol=0``, ``n_init=1``).
"""

import time
import warnings

from .common import make_data

N_SAMPLES = 1_000_000
N_FEATURES = 16
N_COMPONENTS = 16
ITERS = (1, 3)
REPEAT = 3
TINY = {"N_SAMPLES": 500, "REPEAT": 1}  # used by tests/test_asv.py


def _seconds(cls, X, max_iter):
    model = cls(n_components=N_COMPONENTS, covariance_type="full", max_iter=max_iter,
                tol=0, n_init=1, init_params="random_from_data", random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: tol=0 never converges
        start = time.perf_counter()
        model.fit(X)
        return time.perf_counter() - start


def _per_iteration(cls, X, repeat):
    a, b = ITERS
    t_a = min(_seconds(cls, X, a) for _ in range(repeat))
    t_b = min(_seconds(cls, X, b) for _ in range(repeat))
    return max(t_b - t_a, 1e-9) / (b - a)


class BayesianMainCase:
    timeout = 1200

    def setup(self):
        try:
            from fastgmm import BayesianGaussianMixture
        except ImportError:  # a commit before the variational mixture
            raise NotImplementedError from None
        self.cls = BayesianGaussianMixture
        self.X = make_data(N_SAMPLES, N_FEATURES, N_COMPONENTS)
        _seconds(self.cls, self.X[:4096], 1)  # compile or load the kernels

    def track_seconds_per_iteration(self):
        return _per_iteration(self.cls, self.X, REPEAT)

    track_seconds_per_iteration.unit = "s"

    def track_sklearn_seconds_per_iteration(self):
        from sklearn.mixture import BayesianGaussianMixture

        return _per_iteration(BayesianGaussianMixture, self.X, 1)

    track_sklearn_seconds_per_iteration.unit = "s"

    def track_speedup(self):
        return (self.track_sklearn_seconds_per_iteration()
                / self.track_seconds_per_iteration())

    track_speedup.unit = "x"
