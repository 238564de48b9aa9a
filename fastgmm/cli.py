"""The ``fastgmm`` command line: fit, predict, score, sample, select, plot, demo, bench, warmup.

Every command exits with status 0 on success and 2 with a one-line
``fastgmm: error: ...`` message on stderr (no traceback) when its input is
wrong: a missing or unreadable file, non-numeric or non-finite data, an
invalid option, a model file that is truncated, tampered with or newer
than this fastgmm. While EM runs, a live progress line (iteration,
log-likelihood, change, seconds per iteration) is drawn on stderr when
stderr is a terminal, unless ``--quiet``.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import warnings
from pathlib import Path
from time import perf_counter

import numpy as np

from ._files.datafile import DataFileError, read_data, write_array
from ._files.datafile import one_line as _one_line
from ._em.progress import on_iteration
from ._kernels.layout import COVARIANCE_TYPES
from ._version import __version__



class CLIError(Exception):
    """A user error: reported as one line on stderr, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


# ---------------------------------------------------------------- data files
def _check_output(path: str, suffixes: tuple[str, ...]) -> None:
    """Fail before any work if ``path`` cannot be an output of this command."""
    p = Path(path)
    if suffixes and p.suffix.lower() not in suffixes:
        raise CLIError(f"{path}: output file must end with {' or '.join(suffixes)}")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise CLIError(f"{path}: directory '{parent}' does not exist")


def _check_matplotlib() -> None:
    if importlib.util.find_spec("matplotlib") is None:
        raise CLIError("plotting needs matplotlib; install it with "
                       "`pip install \"fastgmm[plot]\"`")


def load_model(path: str):
    """A model file, or a :class:`CLIError` saying why it cannot be used."""
    from .io import load

    if not Path(path).is_file():
        raise CLIError(f"{path}: no such model file")
    try:
        return load(path)
    except ValueError as exc:
        raise CLIError(_one_line(exc)) from None


# ------------------------------------------------------------------ progress
class Progress:
    """A live ``\\r``-rewritten progress line on stderr, one line per EM run.

    Called as ``progress(n_iter, lower_bound, change)``, or with an
    iteration event as :meth:`event` (the callback a fit is wrapped in with
    :func:`fastgmm.on_iteration`); draws nothing unless enabled. A warning printed while a
    line is open first ends that line.
    """

    _open: Progress | None = None

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.label = ""
        self.quantity = "log-likelihood"  # what the fit monitors
        self._run = 0
        self._last = perf_counter()

    def start(self, label: str = "") -> None:
        """Begin a new fit: its first iteration is timed from now."""
        self.finish()
        self.label = label
        self._run = 0
        self._last = perf_counter()

    def __call__(self, n_iter: int, lower_bound: float, change: float) -> None:
        now = perf_counter()
        seconds, self._last = now - self._last, now
        if n_iter == 1:
            self._run += 1
        if not self.enabled:
            return
        if n_iter == 1:
            self.finish()
        run = f"run {self._run}, " if self._run > 1 else ""
        change_text = f"{change:+.3e}" if np.isfinite(change) else "-"
        line = (f"{self.label}{run}iteration {n_iter:4d}  {self.quantity} {lower_bound:.6f}  "
                f"change {change_text:>10}  {seconds:.3f} s/iteration")
        sys.stderr.write("\r" + line + "\x1b[K")
        sys.stderr.flush()
        Progress._open = self

    def event(self, event) -> None:
        """The :func:`fastgmm.on_iteration` callback: draw the event's iteration."""
        self(event.n_iter, event.lower_bound, event.change)

    def finish(self) -> None:
        """End the current line, if one is open."""
        if Progress._open is self:
            sys.stderr.write("\n")
            sys.stderr.flush()
            Progress._open = None


def _progress(args) -> Progress:
    return Progress(not args.quiet and sys.stderr.isatty())


# ------------------------------------------------------------------ commands
def _estimator_kwargs(args) -> dict:
    return dict(max_iter=args.max_iter, tol=args.tol, n_init=args.n_init,
                reg_covar=args.reg_covar, init_params=args.init_params,
                random_state=args.seed)


def _fit_estimator(args):
    """The estimator ``fastgmm fit`` asks for: maximum likelihood or ``--bayesian``."""
    if not args.bayesian:
        for option, value in (("--weight-concentration-prior-type",
                               args.weight_concentration_prior_type),
                              ("--weight-concentration-prior", args.weight_concentration_prior)):
            if value is not None:
                raise CLIError(f"{option} sets the prior of a variational fit: add --bayesian")
        from .mixture import GaussianMixture

        return GaussianMixture(args.k, covariance_type=args.covariance_type,
                               on_collapse="reseed" if args.reseed else "raise",
                               nan_policy=args.nan_policy, **_estimator_kwargs(args))
    if args.nan_policy != "raise":
        raise CLIError(f"--nan-policy {args.nan_policy}: missing values are supported by the "
                       "maximum-likelihood fit only; drop --bayesian")
    if args.reseed:
        raise CLIError("--reseed re-seeds collapsed components of a maximum-likelihood "
                       "fit; the variational mixture (--bayesian) does not collapse: drop one")
    from .bayesian import BayesianGaussianMixture

    return BayesianGaussianMixture(
        n_components=args.k, covariance_type=args.covariance_type,
        weight_concentration_prior_type=(args.weight_concentration_prior_type
                                         or "dirichlet_process"),
        weight_concentration_prior=args.weight_concentration_prior,
        **_estimator_kwargs(args))


def cmd_fit(args) -> int:
    """``fastgmm fit``: fit a mixture (``--bayesian``: a variational one) to DATA and save it."""
    _check_output(args.output, ())
    gm = _fit_estimator(args)
    X = read_data(args.data, args.dtype, allow_nan=args.nan_policy != "raise")
    progress = _progress(args)
    if args.bayesian:
        progress.quantity = "lower bound"
    start = perf_counter()
    try:
        with on_iteration(progress.event):
            gm.fit(X)
    finally:
        progress.finish()
    seconds = perf_counter() - start
    gm.save(args.output)
    state = "converged" if gm.converged_ else "did not converge"
    bound = "lower bound" if args.bayesian else "mean log-likelihood"
    print(f"fitted {gm.n_components} {gm.covariance_type} components to "
          f"{X.shape[0]:,} x {X.shape[1]} {X.dtype} points in {seconds:.2f} s: "
          f"{gm.n_iter_} iterations, {state}, {bound} {gm.lower_bound_:.6f}")
    if args.bayesian:
        kept = np.sort(gm.weights_[gm.weights_ > 0.01])[::-1]
        print(f"{len(kept)} of {gm.n_components} components kept a weight above 1%: "
              + " ".join(f"{w:.3f}" for w in kept))
    if args.reseed:
        print(f"re-seeded collapsed components: {int(np.sum(gm.n_reseeds_))} times")
    print(f"saved model to {args.output}")
    return 0


def cmd_predict(args) -> int:
    """``fastgmm predict``: labels (or probabilities) of DATA under MODEL."""
    if args.output:
        _check_output(args.output, (".npy", ".csv"))
    gm = load_model(args.model)
    X = read_data(args.data, allow_nan=_takes_nan(gm))
    if args.proba:
        result, fmt, what = gm.predict_proba(X), "%.9g", "probabilities"
    else:
        result, fmt, what = gm.predict(X), "%d", "labels"
    if args.output:
        write_array(args.output, result, fmt)
        print(f"wrote {what} of {X.shape[0]:,} points to {args.output}")
    else:
        np.savetxt(sys.stdout, result, fmt=fmt, delimiter=",")
    return 0


def cmd_score(args) -> int:
    """``fastgmm score``: print the mean log-likelihood of DATA."""
    gm = load_model(args.model)
    X = read_data(args.data, allow_nan=_takes_nan(gm))
    print(f"{gm.score(X):.10g}")
    return 0


def _takes_nan(gm) -> bool:
    """A model fitted under a nan_policy scores rows with missing values."""
    return getattr(gm, "nan_policy", "raise") != "raise"


def cmd_impute(args) -> int:
    """``fastgmm impute``: DATA with each missing value replaced by its expectation under MODEL."""
    _check_output(args.output, (".npy", ".csv"))
    gm = load_model(args.model)
    if not hasattr(gm, "impute"):
        raise CLIError(f"{args.model}: a {type(gm).__name__} does not impute; fit a "
                       "GaussianMixture (fastgmm fit without --bayesian)")
    X = read_data(args.data, allow_nan=True)
    filled = gm.impute(X)
    count = int(np.isnan(X).sum()) if X.shape[0] <= 10_000_000 else None
    write_array(args.output, filled, "%.9g" if filled.dtype == np.float32 else "%.17g")
    what = f"{count:,} missing values" if count is not None else "missing values"
    print(f"imputed {what} of {X.shape[0]:,} x {X.shape[1]} points; wrote {args.output}")
    return 0


def cmd_sample(args) -> int:
    """``fastgmm sample``: draw points from MODEL."""
    _check_output(args.output, (".npy", ".csv"))
    if args.labels:
        _check_output(args.labels, (".npy", ".csv"))
    gm = load_model(args.model)
    if args.seed is not None:
        gm.random_state = args.seed
    X, y = gm.sample(args.n)
    write_array(args.output, X, "%.17g")
    if args.labels:
        write_array(args.labels, y, "%d")
    print(f"wrote {args.n:,} samples to {args.output}")
    return 0


def parse_k_range(text: str) -> list[int]:
    """``'1..20'``, ``'2,4,8'``, ``'1-5,10'`` or ``'3'`` as a list of ints >= 1."""
    values: list[int] = []
    try:
        for part in text.split(","):
            for sep in ("..", "-", ":"):
                if sep in part:
                    low, high = (int(v) for v in part.split(sep))
                    if low > high:
                        raise ValueError
                    values.extend(range(low, high + 1))
                    break
            else:
                values.append(int(part))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid range {text!r} (expected e.g. 1..20, 2,4,8 or 5)") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(
            f"invalid range {text!r} (numbers of components must be >= 1)")
    return sorted(set(values))


def _format_table(table, best) -> str:
    lines = [f"  {'k':>3}  {'covariance':<10} {'BIC':>14} {'AIC':>14} {'loglik/n':>11} "
             f"{'iter':>5} {'conv':>5} {'time':>8}"]
    for c in table:
        mark = "*" if best is not None and (c.n_components, c.covariance_type) == best else " "
        if c.error:
            lines.append(f"{mark} {c.n_components:>3}  {c.covariance_type:<10} failed: "
                         f"{c.error[:60]}")
            continue
        lines.append(f"{mark} {c.n_components:>3}  {c.covariance_type:<10} {c.bic:>14.2f} "
                     f"{c.aic:>14.2f} {c.lower_bound:>11.5f} {c.n_iter:>5} "
                     f"{'yes' if c.converged else 'no':>5} {c.fit_time:>7.2f}s")
    return "\n".join(lines)


def cmd_select(args) -> int:
    """``fastgmm select``: fit the candidates, print the table, save the best."""
    from .selection import select

    _check_output(args.output, ())
    if args.plot:
        _check_output(args.plot, ())
        _check_matplotlib()
    X = read_data(args.data, args.dtype)
    progress = _progress(args)

    def starting(gm, k, covariance_type):
        progress.start(f"k={k} {covariance_type}: ")

    try:
        with on_iteration(progress.event):
            best, table = select(X, args.k, args.covariance_type, args.criterion,
                                 callback=starting, **_estimator_kwargs(args))
    finally:
        progress.finish()
    best.save(args.output)
    print(_format_table(table, (best.n_components, best.covariance_type)))
    print(f"best by {args.criterion.upper()}: {best.n_components} components "
          f"({best.covariance_type}); saved model to {args.output}")
    if args.plot:
        from .plot import plot_criterion

        plot_criterion(table, args.plot, criterion=args.criterion)
        print(f"saved {args.criterion.upper()} curve to {args.plot}")
    return 0


def cmd_plot(args) -> int:
    """``fastgmm plot``: DATA coloured by component with 1- and 2-sigma ellipses."""
    _check_output(args.output, ())
    _check_matplotlib()
    gm = load_model(args.model)
    X = read_data(args.data)
    from .plot import plot_mixture

    plot_mixture(gm, X, args.output, max_points=args.max_points)
    print(f"saved figure to {args.output}")
    return 0


def cmd_demo(args) -> int:
    """``fastgmm demo``: fit a known mixture and report the errors."""
    import numba

    from . import demo

    k, d, n = args.n_components, args.n_features, args.n_samples
    if n < 2 * k:
        raise CLIError(f"--n-samples must be at least twice --n-components, got {n} < {2 * k}")
    print(f"fastgmm demo: {n:,} points from a known {k}-component full-covariance "
          f"mixture in {d} dimensions (seed {args.seed})")
    progress = _progress(args)
    progress.start("fit: ")
    try:
        result = demo.run(n, k, d, args.seed, np.dtype(args.dtype), max_iter=args.max_iter,
                          tol=args.tol, n_init=args.n_init, iteration_hook=progress)
    finally:
        progress.finish()
    hint = "; --dtype float32 halves it" if args.dtype == "float64" else ""
    print(f"X: {n:,} x {d} {result.dtype} = {result.x_bytes / 2**20:.1f} MiB in memory "
          f"(sampled in {result.sample_time:.2f} s{hint})")
    state = "converged" if result.converged else "did not converge"
    per_iteration = (f", {result.iteration_time:.3f} s per EM iteration after the first"
                     if np.isfinite(result.iteration_time) else "")
    print(f"fit: {result.fit_time:.2f} s, {result.n_iter} iterations{per_iteration}, "
          f"{state}, {numba.get_num_threads()} threads")
    print(f"mean log-likelihood: fitted {result.loglik_fitted:.6f}, "
          f"true parameters {result.loglik_true:.6f}")
    print("max abs error vs the truth (components matched by Hungarian assignment "
          "on the means):")
    print(f"  weights      {result.error_weights:.3e}")
    print(f"  means        {result.error_means:.3e}")
    print(f"  covariances  {result.error_covariances:.3e}")
    return 0


def cmd_warmup(args) -> int:
    """``fastgmm warmup``: compile and cache the kernels, one progress line per kind."""
    from ._warmup import warmup

    start = perf_counter()
    warmup(args.covariance_type, args.dtype, progress=lambda line: print(line, flush=True))
    print(f"fastgmm warmup: done in {perf_counter() - start:.1f} s")
    return 0


def run_bench(argv: list[str]) -> int:
    """``fastgmm bench ...``: hand the arguments to :func:`fastgmm.bench.main`."""
    try:
        from . import bench
    except ModuleNotFoundError as exc:
        if exc.name != f"{__package__}.bench":
            raise
        raise CLIError("the bench command is not available: fastgmm.bench is missing "
                       "from this installation") from None
    return int(bench.main(argv) or 0)


# -------------------------------------------------------------------- parser
def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number {text!r}") from None
    if not value > 0 or not np.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid integer {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {value}")
    return value


def _add_em_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-iter", type=_positive_int, default=100,
                   help="EM iterations at most (default: 100)")
    p.add_argument("--tol", type=float, default=1e-3,
                   help="stop when the mean log-likelihood changes less (default: 1e-3)")
    p.add_argument("--n-init", type=_positive_int, default=1,
                   help="initialisations; the best is kept (default: 1)")
    p.add_argument("--reg-covar", type=float, default=1e-6,
                   help="added to covariance diagonals (default: 1e-6)")
    p.add_argument("--init-params", default="kmeans",
                   choices=("kmeans", "k-means++", "random", "random_from_data"),
                   help="initialisation (default: kmeans)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--dtype", choices=("float32", "float64"), default=None,
                   help="convert the data to this dtype (default: keep float32/float64)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress line on stderr")


def build_parser() -> argparse.ArgumentParser:
    """The ``fastgmm`` argument parser with all its subcommands."""
    parser = _Parser(prog="fastgmm", description="Gaussian mixture models fitted by EM "
                     "with fast multithreaded kernels.")
    parser.add_argument("--version", action="version", version=f"fastgmm {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("fit", help="fit a mixture to DATA and save it")
    p.add_argument("data", metavar="DATA", help=".npy (memory-mapped) or .csv file")
    p.add_argument("-k", "--n-components", dest="k", type=_positive_int, required=True,
                   help="number of components")
    p.add_argument("--covariance-type", choices=COVARIANCE_TYPES, default="full")
    p.add_argument("-o", "--output", required=True, metavar="MODEL",
                   help="model file to write (.npz)")
    p.add_argument("--bayesian", action="store_true",
                   help="variational Bayesian mixture (BayesianGaussianMixture): -k is an "
                        "upper bound, the prior switches off unneeded components")
    p.add_argument("--weight-concentration-prior-type", default=None,
                   choices=("dirichlet_process", "dirichlet_distribution"),
                   help="prior on the weights with --bayesian (default: dirichlet_process)")
    p.add_argument("--weight-concentration-prior", type=_positive_float, default=None,
                   metavar="GAMMA", help="concentration of the weight prior with --bayesian; "
                   "smaller keeps fewer components (default: 1 / k)")
    p.add_argument("--nan-policy", choices=("raise", "omit", "marginalize"), default="raise",
                   help="NaN entries and empty CSV cells: 'raise' an error (default), "
                        "'omit' the incomplete rows, or 'marginalize' them as values "
                        "missing at random (exact EM on the observed entries)")
    p.add_argument("--reseed", action="store_true",
                   help="re-seed a component whose covariance collapses instead of "
                        "failing (on_collapse='reseed')")
    _add_em_options(p)
    p.set_defaults(func=cmd_fit)

    p = sub.add_parser("predict", help="most likely component (or probabilities) of each point")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("data", metavar="DATA")
    p.add_argument("-o", "--output", help="labels.npy or .csv (default: print to stdout)")
    p.add_argument("--proba", action="store_true",
                   help="write component probabilities instead of labels")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("impute", help="fill the missing values (NaN, empty CSV cells) of DATA")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("data", metavar="DATA")
    p.add_argument("-o", "--output", required=True, help="filled.npy or .csv")
    p.set_defaults(func=cmd_impute)

    p = sub.add_parser("score", help="print the mean log-likelihood of DATA")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("data", metavar="DATA")
    p.set_defaults(func=cmd_score)

    p = sub.add_parser("sample", help="draw points from a model")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("-n", type=_positive_int, required=True, help="number of points")
    p.add_argument("-o", "--output", required=True, help="out.npy or .csv")
    p.add_argument("--labels", help="also write the component of each point (.npy or .csv)")
    p.add_argument("--seed", type=int, default=None,
                   help="random seed (default: the model's random_state)")
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("select", help="choose the number of components by BIC or AIC")
    p.add_argument("data", metavar="DATA")
    p.add_argument("-k", "--n-components", dest="k", type=parse_k_range, default="1..10",
                   help="candidates, e.g. 1..20 or 2,4,8 (default: 1..10)")
    p.add_argument("--covariance-type", nargs="+", choices=COVARIANCE_TYPES,
                   default=["full"], help="one or more types to compare (default: full)")
    p.add_argument("--criterion", choices=("bic", "aic"), default="bic")
    p.add_argument("-o", "--output", required=True, metavar="MODEL",
                   help="file for the best model (.npz)")
    p.add_argument("--plot", metavar="CURVE.png", help="draw the criterion curve")
    _add_em_options(p)
    p.set_defaults(func=cmd_select)

    p = sub.add_parser("plot", help="draw DATA coloured by component with 1/2-sigma ellipses")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("data", metavar="DATA")
    p.add_argument("-o", "--output", required=True, help="figure file (.png, .svg, .pdf)")
    p.add_argument("--max-points", type=_positive_int, default=20_000,
                   help="points drawn at most (default: 20000)")
    p.set_defaults(func=cmd_plot)

    p = sub.add_parser("demo", help="fit a known 16-component mixture and compare with the truth")
    p.add_argument("--n-samples", type=_positive_int, default=1_000_000)
    p.add_argument("--n-components", type=_positive_int, default=16)
    p.add_argument("--n-features", type=_positive_int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dtype", choices=("float32", "float64"), default="float64")
    p.add_argument("--max-iter", type=_positive_int, default=100)
    p.add_argument("--tol", type=float, default=1e-3)
    p.add_argument("--n-init", type=_positive_int, default=1)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress line on stderr")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("warmup", help="compile and cache the kernels (for Docker images and CI)")
    p.add_argument("--covariance-type", nargs="+", choices=COVARIANCE_TYPES,
                   default=list(COVARIANCE_TYPES), help="types to compile (default: all)")
    p.add_argument("--dtype", nargs="+", choices=("float64", "float32"),
                   default=["float64", "float32"], help="dtypes to compile (default: both)")
    p.set_defaults(func=cmd_warmup)

    sub.add_parser("bench", help="benchmarks (fastgmm.bench; see 'fastgmm bench --help')",
                   add_help=False)
    return parser


# ---------------------------------------------------------------------- main
def _show_warning(message, category, filename, lineno, file=None, line=None):
    if Progress._open is not None:
        Progress._open.finish()
    sys.stderr.write(f"fastgmm: warning: {_one_line(message)}\n")


def main(argv: list[str] | None = None) -> int:
    """Run the ``fastgmm`` command line; returns the exit status.

    Parameters
    ----------
    argv : list of str, default=None
        Arguments without the program name (default: ``sys.argv[1:]``).
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        try:
            if argv[:1] == ["bench"]:
                return run_bench(argv[1:])
            args = build_parser().parse_args(argv)
            return args.func(args)
        except BrokenPipeError:
            # The reader went away (e.g. `| head`): stop quietly, like cat does.
            import os

            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 1
        except (CLIError, DataFileError) as exc:
            message = str(exc)
        except (ValueError, OSError) as exc:
            message = _one_line(exc)
        except KeyboardInterrupt:
            sys.stderr.write("fastgmm: interrupted\n")
            return 130
    sys.stderr.write(f"fastgmm: error: {message}\n")
    return 2
