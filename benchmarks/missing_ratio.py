"""Cost of missing values per EM iteration, as a ratio to the same data complete.

Not an asv suite (no ``time_`` names; ``bench_missing.py`` is the asv one):
run it as ``python -m benchmarks.missing_ratio [--n 1000000] [--repeats 5]``
from the repository root. The data are ``common.make_data`` (1e6 x 16,
16 components); the two patterns of issue 24 (``fastgmm.bench.cases.with_missing``) are

* ``scattered``: each entry missing at random with probability 0.1
  (about 81% of the rows lose at least one entry);
* ``block``: 30% of the rows miss the same 4 columns.

One EM iteration is one pass (``fastgmm._data.arrays.accumulate`` on the fit's
data source, the complete data or the :class:`fastgmm._data.missing.MissingValues`
source) plus the M-step, from the parameters of ``common.fixed_init``. The
complete and incomplete passes alternate in one process, so a machine that
others share slows both alike; the ratio of medians is reported.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np

from fastgmm._data.arrays import accumulate
from fastgmm._data.missing import fit_data
from fastgmm._model import gaussian as _model
from fastgmm.bench.cases import with_missing

from .common import fixed_init, make_data


def model_for(init, covariance_type, dtype):
    prec = np.asarray(init["precisions_init"], dtype=np.float64)
    prec_chol = _model.precision_cholesky_from_precisions(prec, covariance_type)
    return _model.kernel_model(init["weights_init"], init["means_init"], prec_chol,
                               covariance_type, dtype)


def one_iteration(source, model, covariance_type, dtype):
    start = time.perf_counter()
    stats = accumulate(source, None, model)
    _model.m_step(stats, covariance_type, 1e-6, dtype)
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--d", type=int, default=16)
    parser.add_argument("--k", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--covariance-type", nargs="+", default=["full", "diag"])
    parser.add_argument("--dtype", nargs="+", default=["float64", "float32"])
    parser.add_argument("--pattern", nargs="+", default=["scattered", "block"])
    args = parser.parse_args(argv)
    print(f"# {platform.processor() or platform.machine()}, n={args.n}, d={args.d}, "
          f"k={args.k}; median of {args.repeats} alternated iterations")
    print("covariance dtype    pattern    complete_s  missing_s  ratio")
    for dtype in args.dtype:
        X = make_data(args.n, args.d, args.k, dtype)
        for pattern in args.pattern:
            Xm = with_missing(X, pattern)
            source, _ = fit_data(Xm, None, "marginalize", args.k)
            for cov in args.covariance_type:
                model = model_for(fixed_init(args.d, args.k, cov), cov, np.dtype(dtype))
                one_iteration(X[:8192], model, cov, dtype)  # compile / load kernels
                one_iteration(source, model, cov, dtype)
                a, b = [], []
                for _ in range(args.repeats):
                    a.append(one_iteration(X, model, cov, dtype))
                    b.append(one_iteration(source, model, cov, dtype))
                ta, tb = float(np.median(a)), float(np.median(b))
                print(f"{cov:10s} {dtype:7s} {pattern:10s} {ta:10.3f} {tb:10.3f} "
                      f"{tb / ta:6.2f}", flush=True)


if __name__ == "__main__":
    main()
