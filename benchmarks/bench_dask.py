"""What fitting through Dask costs, per EM iteration, against the in-memory fit.

Run as a script (needs ``pip install fastgmm[dask]``)::

    python benchmarks/bench_dask.py                      # 2e6 x 16, k=8, full
    python benchmarks/bench_dask.py --n 500000 --cov diag --iters 5

It fits the same data from the same initial parameters (``tol=0``, a fixed
number of iterations) in memory, with Dask's threaded scheduler, and on a
``distributed.LocalCluster`` (worker processes, data persisted on them),
and prints each iteration's wall time and the overhead ratio of the medians
(Dask / in-memory). Iteration times come from the estimator's private
progress hook, so initialisation and validation are not in them.

For asv, :class:`DaskThreadedEM` times the same comparison with the threaded
scheduler on small data (skipped when Dask is not installed).
"""

import argparse
import os
import sys
import time
import warnings

import numpy as np

try:
    import fastgmm  # noqa: F401
except ImportError:  # run from a checkout that is not installed
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from fastgmm import GaussianMixture  # noqa: E402

N_SAMPLES = 200_000
N_ITER = 5
CHUNK_ROWS = 25_000
TINY = {"N_SAMPLES": 4_000, "N_ITER": 2, "CHUNK_ROWS": 1_000}  # used by tests/test_asv.py


def make_data(n, d, k, seed=0):
    """``k`` centres ``normal(scale=3)``, points = centre + standard normal noise."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=3, size=(k, d))
    X = np.empty((n, d))
    for start in range(0, n, 65_536):
        stop = min(start + 65_536, n)
        X[start:stop] = (centres[rng.integers(0, k, stop - start)]
                         + rng.standard_normal((stop - start, d)))
    return X


def fixed_init(d, k, covariance_type, seed=0):
    """Perturbed centres and unit covariances: no initialisation runs."""
    centres = np.random.default_rng(seed).normal(scale=3, size=(k, d))
    means = centres + 0.5 * np.random.default_rng(seed + 1).standard_normal((k, d))
    precisions = {"full": np.broadcast_to(np.eye(d), (k, d, d)).copy(), "tied": np.eye(d),
                  "diag": np.ones((k, d)), "spherical": np.ones(k)}[covariance_type]
    return dict(weights_init=np.full(k, 1.0 / k), means_init=means,
                precisions_init=precisions)


def timed_fit(X, k, covariance_type, n_iter, init):
    """``(model, [seconds of iteration 1, 2, ...])`` for ``n_iter`` EM iterations."""
    gm = GaussianMixture(k, covariance_type=covariance_type, max_iter=n_iter, tol=0.0, **init)
    stamps = []

    def stamp(*event):
        stamps.append(time.perf_counter())

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: tol=0 never converges
        if hasattr(fastgmm, "on_iteration"):
            with fastgmm.on_iteration(stamp):
                gm.fit(X)
        else:  # commits before fastgmm.on_iteration
            gm._iteration_hook = stamp
            gm.fit(X)
    return gm, list(np.diff(stamps))


def _report(label, seconds, reference=None):
    median = float(np.median(seconds))
    line = f"{label:<34} median {median * 1e3:7.1f}  min {min(seconds) * 1e3:7.1f} ms/iter   "
    line += " ".join(f"{s * 1e3:.0f}" for s in seconds)
    if reference is not None:
        line += f"   overhead x{median / reference:.2f}"
    print(line, flush=True)
    return median


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2_000_000, help="rows (default 2e6)")
    parser.add_argument("--d", type=int, default=16, help="features (default 16)")
    parser.add_argument("--k", type=int, default=8, help="components (default 8)")
    parser.add_argument("--cov", default="full", choices=["full", "tied", "diag", "spherical"])
    parser.add_argument("--iters", type=int, default=8, help="timed EM iterations (default 8)")
    parser.add_argument("--chunk-rows", type=int, default=250_000,
                        help="rows per Dask chunk (default 250000)")
    parser.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes")
    parser.add_argument("--threads-per-worker", type=int, default=1)
    args = parser.parse_args(argv)

    import dask
    import dask.array as da
    import distributed

    X = make_data(args.n, args.d, args.k)
    init = fixed_init(args.d, args.k, args.cov)
    # Iteration times exclude the first iteration's difference (it is the
    # time between iterations 1 and 2, so warm-up and validation are out).
    n_iter = args.iters + 1
    print(f"n={args.n} d={args.d} k={args.k} covariance_type={args.cov} "
          f"chunks of {args.chunk_rows} rows, {args.iters} timed iterations (ms each)")

    timed_fit(X[:10_000], args.k, args.cov, 2, init)  # compile / load the kernels
    reference_model, seconds = timed_fit(X, args.k, args.cov, n_iter, init)
    reference = _report("in memory", seconds)

    Xd = da.from_array(X, chunks=(args.chunk_rows, args.d))
    with dask.config.set(scheduler="threads"):
        model, seconds = timed_fit(Xd, args.k, args.cov, n_iter, init)
    _report("dask, threaded scheduler", seconds, reference)
    np.testing.assert_allclose(model.means_, reference_model.means_, rtol=1e-8)

    with distributed.LocalCluster(n_workers=args.workers,
                                  threads_per_worker=args.threads_per_worker,
                                  processes=True, dashboard_address=None) as cluster, \
            distributed.Client(cluster):
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "Sending large graph": intended
            Xp = Xd.persist()
            distributed.wait(Xp)
        print(f"{'(persist on the workers)':<34} {time.perf_counter() - start:.2f} s")
        timed_fit(Xp, args.k, args.cov, 2, init)  # workers load the kernels
        model, seconds = timed_fit(Xp, args.k, args.cov, n_iter, init)
        label = f"dask, LocalCluster {args.workers}x{args.threads_per_worker}"
        _report(label, seconds, reference)
        np.testing.assert_allclose(model.means_, reference_model.means_, rtol=1e-8)
    return 0


class DaskThreadedEM:
    """EM iterations on a Dask array (threaded scheduler) next to the same in memory."""

    params = (["full", "diag"],)
    param_names = ["covariance_type"]
    timeout = 300

    def setup(self, covariance_type):
        try:
            import dask.array as da
        except ImportError:
            raise NotImplementedError from None  # asv skips: Dask is optional
        self.X = make_data(N_SAMPLES, 8, 4)
        self.Xd = da.from_array(self.X, chunks=(CHUNK_ROWS, 8))
        self.init = fixed_init(8, 4, covariance_type)
        timed_fit(self.X[:2_000], 4, covariance_type, 1, self.init)

    def time_em_in_memory(self, covariance_type):
        timed_fit(self.X, 4, covariance_type, N_ITER, self.init)

    def time_em_dask_threads(self, covariance_type):
        import dask

        with dask.config.set(scheduler="threads"):
            timed_fit(self.Xd, 4, covariance_type, N_ITER, self.init)


if __name__ == "__main__":
    sys.exit(main())
