"""``fastgmm bench many``: ``fit_many`` against loops of single fits.

Three ways to fit the same problems: a Python loop of scikit-learn fits, a
loop of fastgmm fits, and one ``fastgmm.fit_many`` call. All use the same
parameters; with ``init_params='random_from_data'`` (the default here)
fastgmm reproduces scikit-learn's random draws, so all three give the same
models (fastgmm's loop and ``fit_many`` bitwise when their kernels were
compiled in one process, to the last bits when loaded from the cache;
scikit-learn to rounding), and the report checks it. The loops are timed on the first ``--loop``
problems and reported per problem; ``fit_many`` on all of them.
"""

from __future__ import annotations

import argparse
import time
import warnings
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ManyCase:
    name: str
    n_problems: int
    n_samples: int
    n_features: int
    n_components: int
    covariance_type: str


MANY_CASES = (
    ManyCase("bimodal-1d", 10_000, 500, 1, 2, "full"),
    ManyCase("full-8d", 1_000, 2_000, 8, 4, "full"),
)
_MANY = {case.name: case for case in MANY_CASES}
GOALS = {"sklearn": 20.0, "fastgmm": 5.0}


def make_problems(case: ManyCase, n_problems: int, seed: int = 0) -> np.ndarray:
    """``(n_problems, n, d)``: each problem ``k`` centres ``normal(scale=3)`` + unit noise."""
    rng = np.random.default_rng(seed)
    k, n, d = case.n_components, case.n_samples, case.n_features
    centres = rng.normal(scale=3.0, size=(n_problems, k, d))
    labels = rng.integers(0, k, size=(n_problems, n))
    X = np.take_along_axis(centres, labels[:, :, None], axis=1)
    return X + rng.standard_normal((n_problems, n, d))


def _quiet(call):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return call()


def run_case(case: ManyCase, scale: float, loop: int, params: dict) -> dict:
    """Timings (seconds per problem) and model agreement for one case."""
    from sklearn.mixture import GaussianMixture as SkGaussianMixture

    import fastgmm

    n_problems = max(1, int(round(case.n_problems * scale)))
    data = make_problems(case, n_problems)
    n_loop = max(1, min(loop, n_problems))
    kwargs = dict(n_components=case.n_components, covariance_type=case.covariance_type,
                  **params)
    _quiet(lambda: fastgmm.fit_many(data[:2], **kwargs))  # warm the kernels
    _quiet(lambda: fastgmm.GaussianMixture(**kwargs).fit(data[0]))

    t0 = time.perf_counter()
    many = _quiet(lambda: fastgmm.fit_many(data, **kwargs))
    t_many = (time.perf_counter() - t0) / n_problems
    t0 = time.perf_counter()
    ours = [_quiet(lambda X=X: fastgmm.GaussianMixture(**kwargs).fit(X)) for X in data[:n_loop]]
    t_ours = (time.perf_counter() - t0) / n_loop
    t0 = time.perf_counter()
    theirs = [_quiet(lambda X=X: SkGaussianMixture(**kwargs).fit(X)) for X in data[:n_loop]]
    t_sk = (time.perf_counter() - t0) / n_loop

    bitwise = all(np.array_equal(a.means_, b.means_) and a.lower_bounds_ == b.lower_bounds_
                  for a, b in zip(many, ours))
    ours_rel = max(abs(a.lower_bound_ - b.lower_bound_) / abs(b.lower_bound_)
                   for a, b in zip(many, ours))
    rel = max(abs(a.lower_bound_ - b.lower_bound_) / abs(b.lower_bound_)
              for a, b in zip(many, theirs))
    return dict(case=case, n_problems=n_problems, n_loop=n_loop, sklearn=t_sk,
                fastgmm=t_ours, fit_many=t_many, bitwise=bitwise, ours_rel=ours_rel,
                sklearn_rel=rel,
                iterations=float(np.mean([m.n_iter_ for m in many])))


def format_rows(rows) -> str:
    lines = ["| case | problems | n | d | k | sklearn loop ms/problem | fastgmm loop "
             "ms/problem | fit_many ms/problem | vs sklearn (goal 20x) | vs fastgmm "
             "(goal 5x) | same as fastgmm loop | lower_bound_ rel. diff vs sklearn |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        c = r["case"]
        same = ("bitwise" if r["bitwise"]
                else f"NO (lower_bound_ rel. diff {r['ours_rel']:.1e})")
        lines.append(
            f"| {c.name} | {r['n_problems']:,} | {c.n_samples:,} | {c.n_features} | "
            f"{c.n_components} | {1e3 * r['sklearn']:.3f} | {1e3 * r['fastgmm']:.3f} | "
            f"{1e3 * r['fit_many']:.4f} | {r['sklearn'] / r['fit_many']:.1f}x | "
            f"{r['fastgmm'] / r['fit_many']:.1f}x | {same} | {r['sklearn_rel']:.1e} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="fastgmm bench many",
        description="Time fastgmm.fit_many against Python loops of scikit-learn and "
                    "fastgmm fits on the same problems, and check that they agree.")
    p.add_argument("--cases", default=",".join(_MANY),
                   help="comma-separated cases (default: all of %(default)s)")
    p.add_argument("--scale", type=float, default=1.0,
                   help="multiply the number of problems by this")
    p.add_argument("--loop", type=int, default=500,
                   help="problems the two loops are timed on (default %(default)s)")
    p.add_argument("--init", default="random_from_data",
                   help="init_params of every fit (default %(default)s: all three "
                        "give the same models)")
    p.add_argument("--markdown", help="also write the table to this file")
    args = p.parse_args(argv)
    names = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [c for c in names if c not in _MANY]
    if unknown:
        p.error(f"unknown case(s) {unknown}; choose from {list(_MANY)}")
    if args.scale <= 0 or args.loop < 1:
        p.error("--scale must be positive and --loop at least 1")
    params = dict(init_params=args.init, random_state=0)
    rows = [run_case(_MANY[name], args.scale, args.loop, params) for name in names]
    table = format_rows(rows)
    print(table)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(table + "\n")
    return 0
