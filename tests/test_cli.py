"""The command line, driven as users drive it: ``python -m fastgmm`` in a subprocess.

Each subprocess pays the import and Numba cache load (about a second), so
the bad-input cases that never reach a kernel share one data directory and
the round trips are few. Progress and ``bench`` delegation are checked
in-process, where a fake terminal and a fake module are easy to arrange.
"""

import importlib.util
import io
import json
import os
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

import fastgmm
from fastgmm._files.modelfile import write_archive
from fastgmm import cli

ROOT = Path(__file__).resolve().parents[1]


def run(*args, cwd, exe=(sys.executable, "-m", "fastgmm")):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run([*exe, *map(str, args)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


def blobs(n_per=200, seed=0):
    rng = np.random.default_rng(seed)
    return np.vstack([rng.normal(size=(n_per, 2)) * s + c for c, s in
                      (([0, 0], 1.0), ([8, 0], 0.7), ([0, 8], 1.3))])


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    X = blobs()
    np.save(d / "x.npy", X)
    np.savetxt(d / "x.csv", X, delimiter=",", header="a,b", comments="", fmt="%.17g")
    return d


def assert_ok(result):
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result


def assert_usage_error(result, pattern):
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("fastgmm"), lines[0]
    assert re.search(pattern, lines[0]), lines[0]


# -------------------------------------------------------------- round trips
@pytest.mark.parametrize("suffix", [".npy", ".csv"])
def test_fit_predict_score_round_trip(workdir, suffix):
    data = f"x{suffix}"
    model = f"model{suffix}.npz"
    out = assert_ok(run("fit", data, "-k", "3", "--covariance-type", "diag", "-o", model,
                        cwd=workdir))
    assert re.search(r"fitted 3 diag components to 600 x 2 float64 points", out.stdout)
    gm = fastgmm.load(workdir / model)
    assert gm.n_components == 3 and gm.covariance_type == "diag"
    X = blobs()
    np.testing.assert_allclose(np.sort(gm.means_[:, 0]), [0, 0, 8], atol=0.3)

    labels_path = f"labels{suffix}"
    assert_ok(run("predict", model, data, "-o", labels_path, cwd=workdir))
    if suffix == ".npy":
        labels = np.load(workdir / labels_path)
    else:
        labels = np.loadtxt(workdir / labels_path, dtype=np.int64)
    np.testing.assert_array_equal(labels, gm.predict(X))

    score = float(assert_ok(run("score", model, data, cwd=workdir)).stdout)
    assert score == pytest.approx(gm.score(X), rel=1e-9)


def test_predict_proba_to_stdout_and_sample(workdir):
    assert_ok(run("fit", "x.npy", "-k", "3", "-o", "m.npz", "--seed", "1", cwd=workdir))
    gm = fastgmm.load(workdir / "m.npz")
    X = blobs()
    proba = assert_ok(run("predict", "m.npz", "x.npy", "--proba", cwd=workdir)).stdout
    proba = np.loadtxt(io.StringIO(proba), delimiter=",")
    np.testing.assert_allclose(proba, gm.predict_proba(X), rtol=1e-6, atol=1e-12)

    assert_ok(run("sample", "m.npz", "-n", "500", "-o", "s.npy", "--labels", "s_labels.csv",
                  cwd=workdir))
    S = np.load(workdir / "s.npy")
    y = np.loadtxt(workdir / "s_labels.csv", dtype=np.int64)
    assert S.shape == (500, 2) and y.shape == (500,)
    # Samples land near the means of the components they were drawn from.
    assert np.mean(np.linalg.norm(S - gm.means_[y], axis=1)) < 3


def test_bayesian_fit_then_predict_score_sample_plot(workdir):
    """``fit --bayesian``: k is an upper bound, the report counts the kept components."""
    out = assert_ok(run("fit", "x.npy", "-k", "8", "--bayesian", "--weight-concentration-prior",
                        "0.01", "--weight-concentration-prior-type", "dirichlet_process",
                        "-o", "bayes.npz", "--max-iter", "500", cwd=workdir)).stdout
    assert re.search(r"fitted 8 full components to 600 x 2 float64 points.*lower bound",
                     out)
    kept = re.search(r"^(\d+) of 8 components kept a weight above 1%: ([\d. ]+)$", out, re.M)
    assert kept, out
    bgm = fastgmm.load(workdir / "bayes.npz")
    assert isinstance(bgm, fastgmm.BayesianGaussianMixture)
    assert bgm.weight_concentration_prior == 0.01
    assert int(kept.group(1)) == int(np.sum(bgm.weights_ > 0.01)) == 3
    weights = [float(w) for w in kept.group(2).split()]
    np.testing.assert_allclose(weights, np.sort(bgm.weights_[bgm.weights_ > 0.01])[::-1],
                               atol=5e-4)
    X = blobs()
    score = float(assert_ok(run("score", "bayes.npz", "x.npy", cwd=workdir)).stdout)
    assert score == pytest.approx(bgm.score(X), rel=1e-9)
    assert_ok(run("predict", "bayes.npz", "x.npy", "-o", "bayes_labels.npy", cwd=workdir))
    np.testing.assert_array_equal(np.load(workdir / "bayes_labels.npy"), bgm.predict(X))
    assert_ok(run("sample", "bayes.npz", "-n", "300", "-o", "bayes_s.npy", cwd=workdir))
    assert np.load(workdir / "bayes_s.npy").shape == (300, 2)
    if importlib.util.find_spec("matplotlib") is not None:
        assert_ok(run("plot", "bayes.npz", "x.npy", "-o", "bayes.png", cwd=workdir))
        assert (workdir / "bayes.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.skipif(shutil.which("fastgmm") is None, reason="fastgmm is not installed")
def test_installed_entry_point(workdir):
    out = assert_ok(run("--version", cwd=workdir, exe=(shutil.which("fastgmm"),)))
    assert out.stdout.startswith("fastgmm ")
    assert_usage_error(run("fit", "missing.npy", "-k", "2", "-o", "m.npz", cwd=workdir,
                           exe=(shutil.which("fastgmm"),)), "missing.npy: no such file")


# --------------------------------------------------------------- bad input
@pytest.fixture(scope="module")
def bad(workdir):
    """Broken inputs next to a good model (``good.npz``)."""
    assert_ok(run("fit", "x.npy", "-k", "2", "-o", "good.npz", cwd=workdir))
    raw = (workdir / "good.npz").read_bytes()
    (workdir / "truncated.npz").write_bytes(raw[: len(raw) // 2])
    with np.load(workdir / "good.npz") as archive:
        members = {name: archive[name] for name in archive.files}
    tampered = dict(members, means_=members["means_"] + 1e-6)
    np.savez(workdir / "tampered.npz", **tampered)
    header = json.loads(members["header"].tobytes())
    header["format_version"] = 99
    arrays = {k: v for k, v in members.items() if k not in ("header", "checksum")}
    write_archive(workdir / "newer.npz", header, arrays)
    (workdir / "words.csv").write_text("a,b\n1,2\n3,oops\n")
    X = blobs()
    X[7, 1] = np.nan
    np.save(workdir / "nan.npy", X)
    np.savetxt(workdir / "nan.csv", X, delimiter=",")
    np.save(workdir / "three.npy", np.ones((10, 3)))
    np.save(workdir / "small.npy", np.ones((4, 2)))
    (workdir / "x.txt").write_text("1 2\n")
    return workdir


# The cases go through a real process; the rest run main() in-process
# (same code path, no interpreter start-up).
SUBPROCESS_CASES = [
    (["fit", "nope.npy", "-k", "2", "-o", "m.npz"], r"nope\.npy: no such file"),
    (["fit", "words.csv", "-k", "2", "-o", "m.npz"],
     r"words\.csv: not a numeric CSV file \(could not convert string 'oops'"),
    (["fit", "x.npy", "-k", "0", "-o", "m.npz"], r"argument -k.*must be an integer >= 1"),
    (["predict", "truncated.npz", "x.npy"], r"truncated\.npz.*truncated or corrupted"),
    (["predict", "tampered.npz", "x.npy"], r"tampered\.npz.*checksum mismatch"),
    (["score", "newer.npz", "x.npy"], r"newer\.npz.*format version 99.*upgrade fastgmm"),
    (["fit", "nan.npy", "-k", "2", "-o", "m.npz"], r"nan\.npy: data contain NaN.*row 8"),
]
IN_PROCESS_CASES = [
    (["fit", "x.npy", "-k", "two", "-o", "m.npz"], r"argument -k.*invalid integer 'two'"),
    (["fit", "small.npy", "-k", "5", "-o", "m.npz"], r"n_samples >= n_components"),
    (["fit", "x.txt", "-k", "2", "-o", "m.npz"], r"unsupported data file type '\.txt'"),
    (["fit", "x.npy", "-k", "2", "-o", "no/such/dir/m.npz"], r"directory .* does not exist"),
    (["fit", "x.npy", "-k", "2", "--tol", "-1", "-o", "m.npz"], r"'tol' parameter"),
    (["score", "missing.npz", "x.npy"], r"missing\.npz: no such model file"),
    (["score", "x.npy", "x.npy"], r"x\.npy.*not an \.npz archive"),
    (["score", "good.npz", "nan.csv"], r"nan\.csv: data contain NaN"),
    (["predict", "good.npz", "three.npy"], r"3 features.*expecting 2 features"),
    (["sample", "good.npz", "-n", "10", "-o", "s.txt"], r"must end with \.npy or \.csv"),
    (["select", "x.npy", "-k", "5..2", "-o", "m.npz"], r"invalid range '5\.\.2'"),
    (["demo", "--n-samples", "10"], r"--n-samples must be at least twice --n-components"),
    (["frobnicate"], r"invalid choice: 'frobnicate'"),
    (["fit", "x.npy", "-k", "2", "--weight-concentration-prior", "0.1", "-o", "m.npz"],
     r"--weight-concentration-prior sets the prior of a variational fit: add --bayesian"),
    (["fit", "x.npy", "-k", "2", "--bayesian", "--weight-concentration-prior", "0",
      "-o", "m.npz"], r"argument --weight-concentration-prior: must be a number > 0, got 0"),
    (["fit", "x.npy", "-k", "2", "--bayesian", "--weight-concentration-prior-type", "beta",
      "-o", "m.npz"], r"--weight-concentration-prior-type: invalid choice: 'beta'"),
]


@pytest.mark.parametrize("args, pattern", SUBPROCESS_CASES)
def test_bad_input_exits_2_with_one_line(bad, args, pattern):
    assert_usage_error(run(*args, cwd=bad), pattern)


@pytest.mark.parametrize("args, pattern", IN_PROCESS_CASES)
def test_bad_input_in_process(bad, monkeypatch, capsys, args, pattern):
    monkeypatch.chdir(bad)
    try:
        code = cli.main(args)
    except SystemExit as exc:  # argparse exits by itself
        code = exc.code
    captured = capsys.readouterr()
    assert_usage_error(subprocess.CompletedProcess(args, code, captured.out, captured.err),
                       pattern)


# ---------------------------------------------------------------------- demo
def test_demo_recovers_the_true_mixture(tmp_path):
    out = assert_ok(run("demo", "--n-samples", "20000", "--seed", "3", cwd=tmp_path)).stdout
    assert "20,000 points from a known 16-component" in out
    assert re.search(r"X: 20,000 x 16 float64 = 2\.4 MiB", out)
    assert re.search(r"fit: [\d.]+ s, \d+ iterations", out)
    errors = {name: float(value) for name, value in
              re.findall(r"^\s+(weights|means|covariances)\s+(\S+)$", out, re.M)}
    assert errors["weights"] < 0.02
    assert errors["means"] < 0.3
    assert errors["covariances"] < 0.5
    fitted, true = map(float, re.search(r"fitted (\S+), true parameters (\S+)", out).groups())
    assert fitted >= true - 0.01


# ----------------------------------------------------------- in-process bits
class _Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("tty, quiet, expect", [(True, False, True), (True, True, False),
                                                (False, False, False)])
def test_progress_line_only_on_a_terminal(workdir, monkeypatch, capsys, tty, quiet, expect):
    err = _Terminal() if tty else io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    argv = ["fit", str(workdir / "x.npy"), "-k", "3", "--tol", "0", "--max-iter", "3",
            "-o", str(workdir / "p.npz")] + (["--quiet"] if quiet else [])
    assert cli.main(argv) == 0
    text = err.getvalue()
    if expect:
        lines = re.findall(r"\riteration +(\d+)  log-likelihood (-?[\d.]+)  change +(\S+)  "
                           r"([\d.]+) s/iteration", text)
        assert [int(n) for n, *_ in lines] == [1, 2, 3]
        assert lines[0][2] == "-"
        # The ConvergenceWarning starts on a fresh line, as one line.
        assert "\nfastgmm: warning: Best performing initialization did not converge" in text
    else:
        assert "iteration" not in text
        assert "fastgmm: warning:" in text


def test_bench_delegates_to_fastgmm_bench(monkeypatch):
    calls = []
    fake = types.ModuleType("fastgmm.bench")
    fake.main = lambda argv: calls.append(argv) or 3
    monkeypatch.setitem(sys.modules, "fastgmm.bench", fake)
    monkeypatch.setattr(fastgmm, "bench", fake, raising=False)
    assert cli.main(["bench", "--quick", "x"]) == 3
    assert calls == [["--quick", "x"]]


def test_bench_missing_is_a_clear_error(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "fastgmm.bench", None)
    monkeypatch.delattr(fastgmm, "bench", raising=False)
    assert cli.main(["bench"]) == 2
    assert capsys.readouterr().err == ("fastgmm: error: the bench command is not available: "
                                       "fastgmm.bench is missing from this installation\n")


@pytest.mark.parametrize("text, expected", [("1..4", [1, 2, 3, 4]), ("2,4,8", [2, 4, 8]),
                                            ("1-3,7", [1, 2, 3, 7]), ("5", [5])])
def test_parse_k_range(text, expected):
    assert cli.parse_k_range(text) == expected


def test_csv_without_header_and_integer_npy_are_read(tmp_path):
    (tmp_path / "plain.csv").write_text("1,2\n3,4\n5,6.5\n")
    X = cli.read_data(str(tmp_path / "plain.csv"))
    np.testing.assert_array_equal(X, [[1, 2], [3, 4], [5, 6.5]])
    np.save(tmp_path / "ints.npy", np.arange(6).reshape(3, 2))
    assert cli.read_data(str(tmp_path / "ints.npy")).dtype == np.float64
    np.save(tmp_path / "f32.npy", np.ones((3, 2), dtype=np.float32))
    X = cli.read_data(str(tmp_path / "f32.npy"))
    assert isinstance(X, np.memmap) and X.dtype == np.float32 and X.mode == "r"


@pytest.mark.parametrize("suffix", [".npy", ".csv"])
def test_crash_while_writing_output_keeps_the_previous_file(tmp_path, monkeypatch, suffix):
    """Labels and samples are written like model files: whole or not at all."""
    target = tmp_path / f"labels{suffix}"
    cli.write_array(str(target), np.arange(5), "%d")
    before = target.read_bytes()

    def half_written(file, *args, **kwargs):
        file.write(b"half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "save" if suffix == ".npy" else "savetxt", half_written)
    with pytest.raises(KeyboardInterrupt):
        cli.write_array(str(target), np.arange(7), "%d")
    assert target.read_bytes() == before
    assert os.listdir(tmp_path) == [target.name]


def test_warmup_command(workdir):
    done = assert_ok(run("warmup", "--covariance-type", "spherical", "--dtype", "float64",
                         cwd=workdir))
    lines = done.stdout.strip().splitlines()
    assert lines[0].startswith("fastgmm warmup: spherical float64")
    assert "kernels cached in" in lines[1]
    assert lines[-1].startswith("fastgmm warmup: done in")
    assert_usage_error(run("warmup", "--dtype", "int8", cwd=workdir), "invalid choice")
