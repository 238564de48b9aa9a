"""``fastgmm bench``: the command line: options, the run over the cases, the report."""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

from .cases import CASES_BY_NAME, SEPARATIONS
from .extras import EXTRAS, missing_value_rows, run_extras
from .peers import PEERS, peer_available, peer_hint
from .report import Report, _loadavg, format_missing_text, format_text, machine_info
from .timing import add_float32_gains, compare_case


def _parse_args(argv):
    p = argparse.ArgumentParser(
        prog="fastgmm bench",
        description="Time fastgmm against scikit-learn (and optional peers) per EM "
                    "iteration, from the same initial parameters, on benchmark cases at "
                    "three centre scales and in both dtypes. For a fair baseline unset "
                    "OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE: "
                    "env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE fastgmm bench. "
                    "'fastgmm bench many --help': fit_many against loops of fits.")
    p.add_argument("--cases", default=",".join(CASES_BY_NAME),
                   help="comma-separated cases (default: all of %(default)s); 'none' "
                        "for the extras alone")
    p.add_argument("--scale", type=float, default=1.0,
                   help="multiply every n by this, e.g. 0.1 for a quick run")
    p.add_argument("--iters", default="2,7",
                   help="A,B: per iteration = (t(B) - t(A)) / (B - A) (default %(default)s)")
    p.add_argument("--repeat", type=int, default=3,
                   help="runs per timing, best kept (scikit-learn: only while a run "
                        "takes < 20 s)")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                   help="threads for both libraries (default: all cores)")
    p.add_argument("--separations", default=",".join(f"{v:g}" for v in SEPARATIONS),
                   help="centre scales of the data (default: %(default)s)")
    p.add_argument("--sklearn-separations", default="3",
                   help="separations at which scikit-learn is timed too; 'all' or 'none' "
                        "(default: %(default)s)")
    p.add_argument("--dtypes", default="float64,float32",
                   help="dtypes of the data (default: %(default)s)")
    p.add_argument("--peers", default="",
                   help=f"comma-separated optional peers from {','.join(PEERS)} "
                        "(skipped with a note when not installed; armadillo: diag "
                        "case only)")
    p.add_argument("--extras", default="all",
                   help=f"comma-separated extra measurements on the main case, from "
                        f"{','.join(EXTRAS)}; 'all' or 'none' (missing: the time per "
                        "iteration with missing values, full and diag, in --dtypes)")
    p.add_argument("--markdown", help="also write the report as Markdown to this file")
    p.add_argument("--png", help="also draw speedups vs goals to this PNG file")
    args = p.parse_args(argv)
    args.cases = ([] if args.cases == "none" else
                  [c.strip() for c in args.cases.split(",") if c.strip()])
    unknown = [c for c in args.cases if c not in CASES_BY_NAME]
    if unknown:
        p.error(f"unknown case(s) {unknown}; choose from {list(CASES_BY_NAME)}")
    args.iters = tuple(int(v) for v in args.iters.split(","))
    if len(args.iters) != 2 or not 0 < args.iters[0] < args.iters[1]:
        p.error(f"--iters must be A,B with 0 < A < B, got {args.iters}")
    extras = {"all": list(EXTRAS), "none": []}.get(args.extras)
    if extras is None:
        extras = [e.strip() for e in args.extras.split(",") if e.strip()]
        bad = [e for e in extras if e not in EXTRAS]
        if bad:
            p.error(f"unknown extra(s) {bad}; choose from {list(EXTRAS)}")
    args.extras = extras
    try:
        args.separations = [float(v) for v in args.separations.split(",") if v.strip()]
        args.sklearn_separations = (
            args.separations if args.sklearn_separations == "all" else
            [] if args.sklearn_separations == "none" else
            [float(v) for v in args.sklearn_separations.split(",") if v.strip()])
    except ValueError:
        p.error("--separations and --sklearn-separations take numbers, e.g. 0.5,3,10")
    args.dtypes = [d.strip() for d in args.dtypes.split(",") if d.strip()]
    if not args.dtypes or any(d not in ("float64", "float32") for d in args.dtypes):
        p.error(f"--dtypes takes float64 and/or float32, got {args.dtypes}")
    args.peers = [q.strip() for q in args.peers.split(",") if q.strip()]
    bad = [q for q in args.peers if q not in PEERS]
    if bad:
        p.error(f"unknown peer(s) {bad}; choose from {list(PEERS)}")
    if args.scale <= 0:
        p.error(f"--scale must be positive, got {args.scale}")
    return args


def main(argv=None):
    """Run the comparison; print the table and write the optional files.

    ``fastgmm bench many ...`` runs the ``fit_many`` comparison instead
    (:mod:`fastgmm.bench.many`).
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["many"]:
        from .many import main as many_main

        return many_main(argv[1:])
    args = _parse_args(argv)

    def log(msg):
        print(msg, flush=True)

    info = machine_info()
    peers = [q for q in args.peers if peer_available(q)]
    missing = [q for q in args.peers if q not in peers]
    note = (f"Peer(s) {', '.join(missing)} skipped: not installed "
            f"({'; '.join(peer_hint(q) for q in missing)})." if missing else "")
    report = Report(info, {"iters": args.iters, "threads": args.threads,
                           "scale": args.scale, "repeat": args.repeat, "peer_note": note})
    if note:
        log(f"note: {note}")
    log(f"{info['cpu']}, {info['cores']} cores; BLAS: {info['blas']}")
    if info["blas_env"] != "unset":
        log(f"warning: {info['blas_env']} is set and may slow scikit-learn's BLAS; "
            "for a fair baseline run: env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "
            "fastgmm bench")
    if args.cases:
        log("")
        log(format_text([]))
    for name in args.cases:
        for separation in args.separations:
            for dtype in args.dtypes:
                row = compare_case(CASES_BY_NAME[name], args.scale, args.iters, args.repeat,
                                   args.threads, separation, dtype,
                                   with_sklearn=separation in args.sklearn_separations,
                                   peers=peers)
                report.rows.append(row)
                add_float32_gains(report.rows)
                log(format_text([row], header=False))
                if np.isfinite(row["armadillo_ll_rel_diff"]):
                    log(f"  Armadillo's mean log-likelihood after at most {args.iters[1]}"
                        f" iterations vs fastgmm's after {args.iters[1]}:"
                        f" {row['armadillo_ll_rel_diff']:.1e} relative")
    main_case = CASES_BY_NAME["main"]
    others = [e for e in args.extras if e != "missing"]
    if others:
        log("")
        log("main case:")
        report.extras = run_extras(others, main_case, args.scale, args.iters, args.repeat,
                                   args.threads, log)
    if "missing" in args.extras:  # a table of its own
        log("")
        log("missing values, main case (nan_policy='marginalize'; goal: ratio <= goal):")
        log(format_missing_text([]))
        for row in missing_value_rows(main_case, args.scale, args.iters, args.repeat,
                                      args.threads, args.dtypes):
            report.missing.append(row)
            log(format_missing_text([row], header=False))
    info["load_end"] = _loadavg()
    log(f"load average at start: {info['load']}, at end: {info['load_end']}")
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(report.markdown())
    if args.png:
        report.png(args.png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
