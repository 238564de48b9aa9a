"""k-means++ seeding, fastgmm vs scikit-learn, in one process with alternating runs.

Run from the repository root (``python benchmarks/seeding_speed.py``;
``--help`` for options). For each dtype and centre scale it times
``fastgmm._init.kmeans.kmeans_plusplus(X, k, RandomState(0))`` and
``sklearn.cluster.kmeans_plusplus(X, k, random_state=RandomState(0))`` on
the same data (runs alternating, best of ``--repeat``), checks that both
pick the same rows, and prints the times and their ratio. With
``--rounds`` it also prints the time of the two steps of a round of
fastgmm's seeding: the candidates' pass over the data and a draw.

On a shared machine the absolute times move with the load; the ratios of
alternating runs move much less. Quote the ratios and the load average
printed at the end.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from fastgmm._init import kmeans as _kmeans  # noqa: E402
from fastgmm._kernels import kmeans as _kernels  # noqa: E402
from fastgmm.bench.cases import make_data  # noqa: E402


def _best_of(repeat, *runs):
    """Best wall time of each callable, the callables run in turn ``repeat`` times."""
    best = [math.inf] * len(runs)
    results = [None] * len(runs)
    for _ in range(repeat):
        for i, run in enumerate(runs):
            start = time.perf_counter()
            results[i] = run()
            best[i] = min(best[i], time.perf_counter() - start)
    return best, results


def _steps(X, k, repeat):
    """Best time of one round's candidate pass and of one draw over every row (seconds)."""
    problems = _kernels.Problems.one(X)
    everyone = np.zeros(1, np.int64)
    n_trials = 2 + int(math.log(k))
    pool = np.full((1 + n_trials, X.shape[0]), np.inf)
    rows = np.random.default_rng(0).choice(X.shape[0], 1 + n_trials, replace=False)
    cands = X[rows].astype(np.float64)
    _kernels.seed_pass(problems, everyone, pool, [0], [[0]], cands[None, :1])
    into = [np.arange(1, 1 + n_trials)]
    proto = np.zeros(1, X.dtype)
    # Targets past the end: the draw runs over every row, its worst case.
    targets = np.full(n_trials, np.inf)
    empty = np.empty(0, X.dtype)
    best, _ = _best_of(
        repeat,
        lambda: _kernels.seed_pass(problems, everyone, pool, [0], into, cands[None, 1:]),
        lambda: _kernels.pick_rows(pool[0], empty, targets, proto))
    return best


def main(argv=None):
    """Print the seeding times and ratios for each dtype and centre scale."""
    from sklearn.cluster import kmeans_plusplus

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-samples", type=int, default=1_000_000)
    parser.add_argument("--n-features", type=int, default=16)
    parser.add_argument("--n-clusters", type=int, default=16)
    parser.add_argument("--scales", type=float, nargs="+", default=[0.5, 3.0])
    parser.add_argument("--dtypes", nargs="+", default=["float64", "float32"])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rounds", action="store_true",
                        help="also time the steps of one round of fastgmm's seeding")
    args = parser.parse_args(argv)
    k = args.n_clusters
    # Compile (or load) the kernels of both dtypes outside the timings.
    for dtype in args.dtypes:
        _kmeans.kmeans_plusplus(make_data(5000, args.n_features, k, dtype=dtype), k,
                                np.random.RandomState(0))
    print(f"k-means++ seeding, {args.n_samples} x {args.n_features}, k = {k}, "
          f"best of {args.repeat} alternating runs")
    print(f"{'dtype':8} {'scale':>5} {'fastgmm':>9} {'sklearn':>9} {'ratio':>6}  same seeds")
    for dtype in args.dtypes:
        for scale in args.scales:
            X = make_data(args.n_samples, args.n_features, k, dtype=dtype, separation=scale)
            (ours, theirs), (a, b) = _best_of(
                args.repeat,
                lambda: _kmeans.kmeans_plusplus(X, k, np.random.RandomState(0))[1],
                lambda: kmeans_plusplus(X, k, random_state=np.random.RandomState(0))[1])
            print(f"{dtype:8} {scale:5.1f} {ours * 1e3:7.1f}ms {theirs * 1e3:7.1f}ms "
                  f"{theirs / ours:5.1f}x  {np.array_equal(a, b)}")
            if args.rounds:
                seed, pick = _steps(X, k, args.repeat)
                print(f"{'':15} per round: candidate pass {seed * 1e3:.2f} ms, "
                      f"draw over all rows {pick * 1e3:.2f} ms")
    print("load average:", " ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
