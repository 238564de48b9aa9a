"""Armadillo's ``gmm_diag`` as an optional peer of ``fastgmm bench``.

A small C++ program shipped with the package (``armadillo_gmm_diag.cpp``, next
to this module)
is compiled on first use with the system's ``g++`` against the Armadillo
headers and library (Debian: ``apt-get install libarmadillo-dev``), with
OpenMP, which Armadillo's ``gmm_diag`` uses to split the data over threads.
The binary is cached in the user cache directory, keyed by the source, the
compiler and the CPU (it is built with ``-march=native``). Armadillo is
never a dependency of fastgmm: :func:`available` says why it cannot run.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile

import numpy as np

from ..._kernels.compile import user_cache_root
from ..._kernels.layout import FLOAT_DTYPES

SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                      "armadillo_gmm_diag.cpp")
# ARMA_NO_DEBUG drops Armadillo's argument checks, as its docs advise for speed.
FLAGS = ("-O3", "-march=native", "-fopenmp", "-DARMA_NO_DEBUG", "-std=c++17")
LIBS = ("-larmadillo",)
# learn()'s variance floor: tiny, so that it never binds on the bench data
# (scikit-learn adds reg_covar=1e-6 instead).
VAR_FLOOR = 1e-10
INSTALL_HINT = "apt-get install g++ libarmadillo-dev"


def _compiler():
    return shutil.which(os.environ.get("CXX", "g++"))


def available():
    """``(True, "")`` when the peer can be built, else ``(False, reason)``."""
    cxx = _compiler()
    if cxx is None:
        return False, "no C++ compiler (g++) on PATH"
    probe = subprocess.run([cxx, "-x", "c++", "-E", "-o", os.devnull, "-"],
                           input="#include <armadillo>\n", capture_output=True, text=True)
    if probe.returncode != 0:
        return False, "Armadillo headers not found (#include <armadillo> fails)"
    lib = subprocess.run([cxx, "-print-file-name=libarmadillo.so"],
                         capture_output=True, text=True).stdout.strip()
    if not os.path.isabs(lib):  # g++ echoes the bare name when it finds nothing
        return False, "Armadillo library (libarmadillo.so) not found"
    return True, ""


def _cache_dir():
    path = os.path.join(user_cache_root(), "fastgmm", "peers")
    try:
        os.makedirs(path, exist_ok=True)
        if os.access(path, os.W_OK):
            return path
    except OSError:
        pass
    path = os.path.join(tempfile.gettempdir(), f"fastgmm-peers-{os.getuid()}")
    os.makedirs(path, exist_ok=True)
    return path


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            return next((line for line in f if line.startswith("model name")), "")
    except OSError:
        return ""


def build():
    """Path of the compiled peer program, compiling it first if it is not cached.

    Raises
    ------
    RuntimeError
        If the compiler is missing or the compilation fails (with its output).
    """
    cxx = _compiler()
    if cxx is None:
        raise RuntimeError("Armadillo peer: no C++ compiler (g++) on PATH; "
                           f"install one: {INSTALL_HINT}")
    version = subprocess.run([cxx, "--version"], capture_output=True, text=True).stdout
    with open(SOURCE, "rb") as f:
        source = f.read()
    key = hashlib.sha256(b"\0".join([source, " ".join(FLAGS + LIBS).encode(),
                                     version.encode(), _cpu_model().encode()]))
    exe = os.path.join(_cache_dir(), f"armadillo_gmm_diag-{key.hexdigest()[:16]}")
    if os.path.exists(exe):
        return exe
    tmp = f"{exe}.{os.getpid()}.tmp"
    proc = subprocess.run([cxx, *FLAGS, SOURCE, "-o", tmp, *LIBS],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"Armadillo peer: compiling {SOURCE} failed "
                           f"({cxx} {' '.join(FLAGS)} ... {' '.join(LIBS)}):\n{proc.stderr}")
    os.replace(tmp, exe)  # atomic: a concurrent run sees the old state or the whole file
    return exe


def seconds_per_iteration(X, init, iters, repeat, threads):
    """Seconds per EM iteration of Armadillo's ``gmm_diag`` and its final model.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float64 or float32
        The data; float32 runs ``gmm_diag<float>`` (``fgmm_diag``).
    init : dict
        ``weights_init``, ``means_init`` and ``precisions_init`` (diagonal,
        shape (n_components, n_features)), as scikit-learn takes them.
    iters : (int, int)
        ``A, B``: per iteration = ``(t(B) - t(A))`` (best of each) divided by
        the iterations the two runs really made: ``learn()`` stops once the
        mean log-likelihood changes by at most machine epsilon.
    repeat : int
        Rounds of ``learn(A)``, ``learn(B)``.
    threads : int
        OpenMP threads (``OMP_NUM_THREADS``).

    Returns
    -------
    seconds : float
        NaN when the difference is lost in noise.
    model : dict
        After ``B`` iterations: ``avg_log_p`` (mean log-likelihood of ``X``),
        ``weights``, ``means`` and ``covariances`` (float64 arrays).
    """
    X = np.ascontiguousarray(X)
    if X.dtype not in FLOAT_DTYPES:
        raise ValueError(f"Armadillo peer takes float64 or float32 data, got {X.dtype}")
    n, d = X.shape
    weights = np.asarray(init["weights_init"], dtype=np.float64)
    means = np.asarray(init["means_init"], dtype=np.float64)
    covariances = 1.0 / np.asarray(init["precisions_init"], dtype=np.float64)
    k = weights.shape[0]
    if means.shape != (k, d) or covariances.shape != (k, d):
        raise ValueError("Armadillo peer needs diagonal parameters of shape "
                         f"({k}, {d}), got means {means.shape} and precisions "
                         f"{covariances.shape}")
    exe = build()
    a, b = iters
    with tempfile.TemporaryDirectory(prefix="fastgmm-armadillo-") as tmp:
        x_path, p_path = os.path.join(tmp, "X.bin"), os.path.join(tmp, "params.bin")
        X.tofile(x_path)  # C order: the D x N column-major matrix Armadillo reads
        np.concatenate([weights, means.ravel(), covariances.ravel()]).tofile(p_path)
        env = dict(os.environ, OMP_NUM_THREADS=str(threads))
        args = (exe, x_path, X.dtype.name, n, d, k, p_path, a, b, repeat, repr(VAR_FLOOR))
        proc = subprocess.run([str(v) for v in args], capture_output=True, text=True,
                              env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"Armadillo peer failed:\n{proc.stderr}")
    out = json.loads(proc.stdout)
    if out["threads"] != threads:
        raise RuntimeError(f"Armadillo peer ran on {out['threads']} OpenMP threads, "
                           f"not {threads}")
    diff = min(out["t_b"]) - min(out["t_a"])
    # learn() stops early on converged (e.g. well-separated) data; without
    # its iteration lines (another Armadillo build) assume it ran them all.
    ran = out["ran_b"] - out["ran_a"] if out["ran_b"] > 0 else b - a
    model = {"avg_log_p": out["avg_log_p"], "weights": np.array(out["weights"]),
             "means": np.array(out["means"]).reshape(k, d),
             "covariances": np.array(out["covariances"]).reshape(k, d)}
    return (diff / ran if diff > 0 and ran > 0 else float("nan")), model
