"""The benchmarks run: every asv suite on tiny sizes, and ``fastgmm bench``.

Nothing here asserts a speed; a broken benchmark fails the test suite
instead of the next ``asv run``. Each ``benchmarks/bench_*.py`` module may
declare ``TINY = {"NAME": value, ...}``: module constants that are
monkeypatched to make its suites quick here.
"""

import importlib
import importlib.util
import inspect
import math
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = ROOT / "benchmarks"
PREFIXES = ("time_", "timeraw_", "peakmem_", "mem_", "track_")


def _import(name):
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return importlib.import_module(f"benchmarks.{name}")


def _suites():
    """``(module name, class name)`` of every asv benchmark class."""
    found = []
    for path in sorted(BENCH_DIR.glob("bench_*.py")):
        module = _import(path.stem)
        for name, obj in vars(module).items():
            if (inspect.isclass(obj) and obj.__module__ == module.__name__
                    and any(attr.startswith(PREFIXES) for attr in dir(obj))):
                found.append((path.stem, name))
    return found


def _run_raw(stmt, setup):
    """Run a ``timeraw_`` benchmark's code once in a fresh interpreter, as asv does."""
    code = f"{setup}\n{stmt}\n"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr


def test_every_module_has_suites():
    modules = {m for m, _ in _suites()}
    assert modules == {p.stem for p in BENCH_DIR.glob("bench_*.py")}


def _covering(params):
    """Every value of every parameter axis at least once, the others at their first.

    Not the full product: EMIterations alone has 48 combinations, which took
    2.5 minutes of the CI suite, and a combination fails through one of its
    values (each value here is a covariance type, size or dtype that the
    others do not change how the benchmark code runs).
    """
    if not params:
        yield ()
        return
    first = tuple(axis[0] for axis in params)
    yield first
    for i, axis in enumerate(params):
        for value in axis[1:]:
            yield first[:i] + (value,) + first[i + 1:]


@pytest.mark.parametrize("module_name, class_name", _suites())
def test_asv_suite_runs(module_name, class_name, monkeypatch):
    module = _import(module_name)
    for attr, value in getattr(module, "TINY", {}).items():
        monkeypatch.setattr(module, attr, value)
    cls = getattr(module, class_name)
    params = getattr(cls, "params", ())
    if params and not isinstance(params[0], (list, tuple)):
        params = (params,)  # a single parameter axis may be given as one list
    methods = sorted(a for a in dir(cls) if a.startswith(PREFIXES))
    cache = cls().setup_cache() if hasattr(cls, "setup_cache") else None
    ran = 0
    for combo in _covering(params):
        args = ((cache,) if hasattr(cls, "setup_cache") else ()) + combo
        for name in methods:
            bench = cls()
            try:
                if hasattr(bench, "setup"):
                    bench.setup(*args)
            except NotImplementedError:  # asv's way of skipping a combination
                continue
            try:
                result = getattr(bench, name)(*args)
                if name.startswith("timeraw_"):
                    stmt, setup = result if isinstance(result, tuple) else (result, "")
                    _run_raw(stmt, setup)
                elif name.startswith("track_"):
                    assert isinstance(result, (int, float)), result
                    assert math.isnan(result) or result >= 0, result
            finally:
                if hasattr(bench, "teardown"):
                    bench.teardown(*args)
            ran += 1
    assert ran > 0


def test_bench_main_writes_report(tmp_path, capsys):
    """The report's structure, on the smallest run that has all of it: the main
    case (where the extras run) and diag (Armadillo's case) at one separation,
    in both dtypes. The figure only where matplotlib is installed."""
    from fastgmm import bench
    from fastgmm.bench import peer_available

    md, png = tmp_path / "bench.md", tmp_path / "bench.png"
    draw = importlib.util.find_spec("matplotlib") is not None
    # One thread: tiny multithreaded BLAS calls crawl on a loaded machine.
    rc = bench.main(["--cases", "main,diag", "--separations", "3", "--scale", "0.0005",
                     "--iters", "1,2", "--repeat", "1", "--threads", "1",
                     "--extras", "float32,threads,gflops,kmeans,memory",
                     "--peers", "onedal,armadillo", "--markdown", str(md)]
                    + (["--png", str(png)] if draw else []))
    assert rc == 0
    assert png.exists() == draw
    if draw:
        assert png.stat().st_size > 0
    text = md.read_text()
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    for case in ("main", "diag"):
        for dtype in ("float64", "float32"):
            assert any(row.startswith(f"| {case} | 3 | {dtype} |") for row in rows), (case, dtype)
    assert not any(row.startswith(("| wide |", "| low-dim |")) for row in rows)
    for what in ("float32", "threads", "GFLOP/s", "k-means", "peak memory"):
        assert what in text, what
    assert ("oneDAL" in text) and (peer_available("onedal") or "skipped" in text)
    out = capsys.readouterr().out
    # Armadillo runs on the diag rows (it reports its log-likelihood), or is skipped.
    assert "Armadillo s/iter" in text
    if peer_available("armadillo"):
        assert out.count("Armadillo's mean log-likelihood") == 2
    else:
        assert "armadillo" in text and "skipped" in text
    assert "speedup" in out and "main" in out


def test_bench_rejects_unknown_case():
    from fastgmm import bench

    with pytest.raises(SystemExit):
        bench.main(["--cases", "nope"])


def test_bench_missing_extra_reports_its_table(tmp_path, capsys):
    """``--extras missing`` alone: a table of full and diag in the dtypes asked,
    each row with three per-iteration cells, two ratios and the goal (no
    timing value is asserted)."""
    import re

    from fastgmm import bench

    md = tmp_path / "bench.md"
    rc = bench.main(["--cases", "none", "--scale", "0.0005", "--iters", "1,2",
                     "--repeat", "1", "--threads", "1", "--dtypes", "float32",
                     "--extras", "missing", "--markdown", str(md)])
    assert rc == 0
    out = capsys.readouterr().out
    text = md.read_text()
    head = ("| covariance | dtype | n | d | k | (a) complete s/iter | (b) 10% entries missing "
            "s/iter | (b)/(a) | (c) 30% rows miss 4 columns s/iter | (c)/(a) | goal |")
    assert head in text
    assert "goal: (b)/(a) and (c)/(a) at most 3x for full, 1.5x for diag" in text
    rows = [line.split(" | ") for line in text.splitlines()
            if line.startswith(("| full |", "| diag |"))]
    assert [(r[0], r[1]) for r in rows] == [("| full", "float32"), ("| diag", "float32")]
    seconds = re.compile(r"^(\d+\.\d{4}|noise)$")
    ratio = re.compile(r"^(\d+\.\d\dx \((ok|above)\)|noise)$")
    for r in rows:
        assert len(r) == 11 and r[2:5] == ["1,088", "16", "16"], r
        assert all(seconds.match(c) for c in (r[5], r[6], r[8])), r
        assert ratio.match(r[7]) and ratio.match(r[9]), r
    assert [r[10] for r in rows] == ["<= 3x |", "<= 1.5x |"]
    # Only what was asked for: no case of the main table, not the other extras.
    assert "| main |" not in text and "| main case | measured |" not in text
    assert "(b) 10% entries missing s/iter" in out and "float64" not in out.split(
        "missing values, main case")[1]


def test_bench_missing_table_marks_each_ratio_against_its_goal():
    from fastgmm.bench.report import format_missing_text

    row = {"covariance": "diag", "dtype": "float64", "n": 1000, "d": 16, "k": 16,
           "complete_s": 0.5, "scattered_s": 1.0, "scattered_ratio": 2.0,
           "block_s": 0.6, "block_ratio": 1.2, "goal": 1.5}
    line = format_missing_text([row], header=False)
    assert "2.00x (above)" in line and "1.20x (ok)" in line and "<= 1.5x" in line
    lost = dict(row, scattered_s=float("nan"), scattered_ratio=float("nan"))
    assert format_missing_text([lost], header=False).split().count("noise") == 2
    assert format_missing_text([]).startswith("covariance  dtype")


@pytest.mark.parametrize("argv, message", [
    (["--extras", "missing,nope"], "unknown extra(s) ['nope']; choose from"),
    (["--extras", "missing", "--dtypes", "float16"], "--dtypes takes float64 and/or float32"),
])
def test_bench_missing_extra_rejects_bad_values(argv, message, capsys):
    from fastgmm import bench

    with pytest.raises(SystemExit) as exc:
        bench.main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    if "nope" in message:
        assert "'missing'" in err


def test_missing_patterns_have_one_definition():
    """The CLI, the asv suite and the ratio script share ``with_missing``."""
    from fastgmm.bench.cases import with_missing

    assert _import("missing_ratio").with_missing is with_missing
    assert not hasattr(_import("bench_missing"), "with_missing")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_with_missing_patterns(dtype):
    import numpy as np

    from fastgmm.bench.cases import with_missing

    X = np.arange(40_000 * 16, dtype=dtype).reshape(40_000, 16)
    before = X.copy()
    complete = with_missing(X, "complete")
    assert complete is not X and complete.dtype == X.dtype
    np.testing.assert_array_equal(complete, X)
    scattered = with_missing(X, "scattered")
    block = with_missing(X, "block")
    np.testing.assert_array_equal(X, before)  # the input is left alone
    assert scattered.dtype == block.dtype == X.dtype
    # Every entry that is not NaN is the original one.
    for Xm in (scattered, block):
        kept = ~np.isnan(Xm)
        np.testing.assert_array_equal(Xm[kept], X[kept])
    assert 0.09 < np.isnan(scattered).mean() < 0.11
    assert np.isnan(scattered[:, :12]).any()  # scattered over every column
    holes = np.isnan(block)
    assert not holes[:, :12].any()
    rows = holes[:, 12:].any(axis=1)
    assert (holes[:, 12:].all(axis=1) == rows).all()  # the same 4 columns together
    assert 0.28 < rows.mean() < 0.32
    # Seeded: the same holes every time, other ones for another seed.
    np.testing.assert_array_equal(np.isnan(with_missing(X, "scattered")), np.isnan(scattered))
    assert (np.isnan(with_missing(X, "scattered", seed=2)) != np.isnan(scattered)).any()


def test_with_missing_rejects_bad_patterns():
    import numpy as np

    from fastgmm.bench.cases import with_missing

    with pytest.raises(ValueError, match=r"pattern='rows': choose from \['complete', "
                                         r"'scattered', 'block'\]"):
        with_missing(np.zeros((4, 8)), "rows")
    with pytest.raises(ValueError, match="pattern='block' removes 4 columns; X has only 3"):
        with_missing(np.zeros((4, 3)), "block")


def test_bench_data_is_the_issue_recipe():
    import numpy as np

    from fastgmm.bench import make_data

    rng = np.random.default_rng(0)
    centres = rng.normal(scale=3, size=(3, 2))
    labels = rng.integers(0, 3, 100_000)
    expected = centres[labels] + rng.standard_normal((100_000, 2))
    np.testing.assert_array_equal(make_data(100_000, 2, 3), expected)
    assert make_data(10, 2, 3, np.float32).dtype == np.float32



def test_bench_armadillo_skip_note_names_the_install(monkeypatch):
    from fastgmm import bench

    monkeypatch.setenv("CXX", "no-such-compiler-for-fastgmm")
    assert not bench.peer_available("armadillo")
    hint = bench.peer_hint("armadillo")
    assert "no C++ compiler" in hint and "libarmadillo-dev" in hint


def test_bench_many_compares_the_three_ways(tmp_path, capsys):
    from fastgmm import bench

    md = tmp_path / "many.md"
    assert bench.main(["many", "--scale", "0.0003", "--loop", "2", "--markdown", str(md)]) == 0
    out = capsys.readouterr().out
    for name in ("bimodal-1d", "full-8d"):
        assert f"| {name} |" in out
    assert "| bitwise |" in out and "NO" not in out
    assert md.read_text().startswith("| case | problems |")
    with pytest.raises(SystemExit):
        bench.main(["many", "--cases", "nope"])


class _StopsEarly:
    """A fit that runs at most ``stop`` iterations, one second each on a fake clock."""

    clock = 0.0

    def __init__(self, n_components, covariance_type, max_iter, tol, n_init, **init):
        self.max_iter = max_iter

    def fit(self, X):
        self.n_iter_ = min(self.max_iter, 3)
        type(self).clock += self.n_iter_
        return self


@pytest.mark.parametrize("iters, expected", [((2, 7), 1.0), ((1, 7), 1.0), ((3, 7), None)])
def test_per_iteration_divides_by_the_iterations_that_ran(monkeypatch, iters, expected):
    # oneDAL ends a fit after 3 iterations on separated data whatever
    # maxIterations says; (t(7) - t(2)) / 5 made it look 5x faster.
    from fastgmm.bench import CASES, timing

    monkeypatch.setattr(timing.time, "perf_counter", lambda: _StopsEarly.clock)
    t, model = timing.per_iteration(_StopsEarly, None, CASES[0], {}, iters, repeat=2)
    assert model.n_iter_ == 3
    if expected is None:
        assert math.isnan(t)
    else:
        assert t == expected


class _StandIn:
    """A stand-in for one daal4py algorithm: records its parameters, returns a result."""

    calls = []

    def __init__(self, name, **params):
        self.name, self.params = name, params

    def compute(self, X, *start):
        _StandIn.calls.append((self.name, self.params, len(start)))
        k, d = self.params["nComponents"], X.shape[1]
        return types.SimpleNamespace(weights=np.full((1, k), 1.0 / k), means=X[:k].copy(),
                                     covariances=[np.eye(d)] * k,
                                     goalFunction=np.array([[-1.0 * len(X)]]),
                                     nIterations=np.array([[min(self.params.get("maxIterations", 0), 4)]]))


def test_onedal_peer_plumbing(monkeypatch):
    """``--peers onedal`` times oneDAL per iteration and its whole default fit
    (its own init, then EM to scikit-learn's max_iter with tol x n as threshold);
    checked against a stand-in module, since daal4py is rarely installed."""
    from fastgmm.bench.cases import CASES_BY_NAME
    from fastgmm.bench.timing import compare_case

    fake = types.ModuleType("daal4py")
    fake.daalinit = lambda threads: None
    fake.em_gmm_init = lambda **p: _StandIn("init", **p)
    fake.em_gmm = lambda **p: _StandIn("em", **p)
    monkeypatch.setitem(sys.modules, "daal4py", fake)
    _StandIn.calls.clear()
    row = compare_case(CASES_BY_NAME["main"], 0.001, (1, 2), 1, 1, with_sklearn=False,
                       peers=("onedal",))
    # Per iteration: EM runs of 1 and 2 iterations from the shared start.
    assert [c[1]["maxIterations"] for c in _StandIn.calls[:2]] == [1, 2]
    assert "onedal_s" in row
    # Default fit: one init of its own, then EM from the init's result.
    assert [c[0] for c in _StandIn.calls[2:]] == ["init", "em"]
    em = _StandIn.calls[-1]
    assert em[2] == 3 and em[1]["maxIterations"] == 100
    assert em[1]["accuracyThreshold"] == pytest.approx(1e-3 * row["n"])
    assert math.isfinite(row["fit_onedal_s"]) and row["fit_onedal_iters"] == 4
    assert row["fit_vs_onedal"] == row["fit_onedal_s"] / row["fit_fastgmm_s"]
