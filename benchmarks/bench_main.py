"""The main case (full covariance, d = k = 16): throughput.

``track_seconds_per_iteration`` is ``(t(max_iter=B) - t(max_iter=A)) /
(B - A)`` (best of ``REPEAT`` each), so fixed costs cancel;
``track_gflops`` turns it into GFLOP/s with the nominal count of
``1.5 n k d^2`` multiply-adds (2 flops each) per full-covariance iteration;
``track_iterations`` is how many iterations a default fit (k-means init,
``tol=1e-3``, ``random_state=0``) takes to converge.
"""

import time
import warnings

from .common import GaussianMixture, fit, fixed_init, make_data, warm

N_SAMPLES = 200_000
N_FEATURES = 16
N_COMPONENTS = 16
ITERS = (1, 4)
REPEAT = 3
TINY = {"N_SAMPLES": 500, "REPEAT": 1}  # used by tests/test_asv.py


def _fit_seconds(X, init, max_iter):
    start = time.perf_counter()
    fit(X, N_COMPONENTS, "full", max_iter, init)
    return time.perf_counter() - start


class MainCase:
    timeout = 300

    def setup(self):
        d, k = N_FEATURES, N_COMPONENTS
        self.X = make_data(N_SAMPLES, d, k)
        self.init = fixed_init(d, k, "full")
        warm(d, k, "full")

    def track_seconds_per_iteration(self):
        a, b = ITERS
        t_a = min(_fit_seconds(self.X, self.init, a) for _ in range(REPEAT))
        t_b = min(_fit_seconds(self.X, self.init, b) for _ in range(REPEAT))
        return max(t_b - t_a, 1e-9) / (b - a)

    track_seconds_per_iteration.unit = "s"

    def track_gflops(self):
        n, d, k = self.X.shape[0], N_FEATURES, N_COMPONENTS
        return 2 * 1.5 * n * k * d * d / self.track_seconds_per_iteration() / 1e9

    track_gflops.unit = "GFLOP/s"

    def track_iterations(self):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            gm = GaussianMixture(N_COMPONENTS, random_state=0, tol=1e-3).fit(self.X)
        return gm.n_iter_

    track_iterations.unit = "iterations"
