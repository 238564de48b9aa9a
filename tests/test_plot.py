"""Figures: PNGs from ``fastgmm plot`` and ``fastgmm select --plot`` are valid.

The tests that draw need matplotlib (the ``plot`` extra); the last two check
what happens without it and run everywhere.
"""

import importlib.util
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from fastgmm import GaussianMixture

needs_matplotlib = pytest.mark.skipif(importlib.util.find_spec("matplotlib") is None,
                                      reason="matplotlib (the plot extra) is not installed")

ROOT = Path(__file__).resolve().parents[1]


def run(*args, cwd):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    result = subprocess.run([sys.executable, "-m", "fastgmm", *map(str, args)], cwd=cwd,
                            env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return result


def png_size(path):
    """(width, height) from a PNG's signature and IHDR chunk, checking its CRC."""
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    (crc,) = struct.unpack(">I", data[29:33])
    assert crc == zlib.crc32(data[12:29])
    assert data.endswith(b"IEND\xaeB`\x82")
    return struct.unpack(">II", data[16:24])


def blobs(d, seed=0):
    rng = np.random.default_rng(seed)
    centers = np.eye(d)[:3] * 8
    return np.vstack([rng.normal(size=(300, d)) + c for c in centers])


@needs_matplotlib
def test_cli_plot_png(tmp_path):
    X = blobs(2)
    np.save(tmp_path / "x.npy", X)
    GaussianMixture(3, random_state=0).fit(X).save(tmp_path / "m.npz")
    run("plot", "m.npz", "x.npy", "-o", "fig.png", cwd=tmp_path)
    width, height = png_size(tmp_path / "fig.png")
    assert (width, height) == (640, 560)
    assert 5_000 < (tmp_path / "fig.png").stat().st_size < 500_000


@needs_matplotlib
def test_cli_select_plot_png(tmp_path):
    np.save(tmp_path / "x.npy", blobs(2))
    run("select", "x.npy", "-k", "1..5", "-o", "best.npz", "--plot", "bic.png", cwd=tmp_path)
    assert png_size(tmp_path / "bic.png") == (640, 420)
    image = __import__("matplotlib.image").image.imread(tmp_path / "bic.png")
    assert image.shape[:2] == (420, 640) and image.std() > 0.05


@needs_matplotlib
@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
def test_plot_mixture_projects_higher_dimensions(tmp_path, covariance_type):
    from fastgmm.plot import plot_mixture, principal_axes

    X = blobs(5)
    gm = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X)
    axes = principal_axes(gm)
    assert axes.shape == (5, 2)
    np.testing.assert_allclose(axes.T @ axes, np.eye(2), atol=1e-12)
    figure = plot_mixture(gm, X, tmp_path / "f.png", max_points=500)
    ax = figure.axes[0]
    assert ax.get_xlabel() == "principal axis 1"
    assert len(ax.patches) == 6  # a 1- and a 2-sigma ellipse per component
    assert len(ax.collections[0].get_offsets()) == 500
    png_size(tmp_path / "f.png")


@needs_matplotlib
def test_plot_one_feature(tmp_path):
    from fastgmm.plot import plot_mixture

    X = np.concatenate([np.zeros(50), np.ones(50) * 5])[:, None]
    X += np.random.default_rng(0).normal(size=X.shape) * 0.3
    gm = GaussianMixture(2, random_state=0).fit(X)
    plot_mixture(gm, X, tmp_path / "f.png")
    png_size(tmp_path / "f.png")


def test_missing_matplotlib_is_a_clear_error(monkeypatch):
    from fastgmm import plot

    for name in list(sys.modules):
        if name == "matplotlib" or name.startswith("matplotlib."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r'pip install "fastgmm\[plot\]"'):
        plot.plot_criterion([])


def test_import_fastgmm_does_not_import_matplotlib():
    code = "import sys, fastgmm; print(any(m.startswith('matplotlib') for m in sys.modules))"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == "False"
