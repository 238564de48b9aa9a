"""Model files as arrays: a versioned ``.npz`` archive with a JSON header, no pickle.

This module knows archives, headers and arrays, never an estimator class:
an estimator describes itself as ``(header, arrays)`` and :mod:`fastgmm.io`
builds an estimator from what :func:`read_archive` returns.

A model file is a zip archive written by :func:`numpy.savez` and read with
``allow_pickle=False``. It holds

- ``header``: UTF-8 JSON (as a ``uint8`` array) with the format name and
  version, the fastgmm version that wrote it, the estimator's name,
  ``get_params()``, the scalar fitted attributes and the declared dtype and
  shape of every array;
- one plain float array per fitted array attribute and per array-valued
  hyper-parameter;
- ``checksum``: the hex SHA-256 of the header bytes and of every array's
  name, dtype, shape and bytes.

Writes are atomic (see :func:`fastgmm._files.datafile.atomic_write`), so a crash
leaves either the old file or the new one.
"""

from __future__ import annotations

import hashlib
import json
import warnings
import zipfile
from numbers import Integral
from pathlib import Path

import numpy as np

from .datafile import atomic_write
from .._version import __version__

FORMAT_NAME = "fastgmm-model"
FORMAT_VERSION = 1

_RESERVED = ("header", "checksum")
_ZIP_MAGIC = b"PK\x03\x04"


class Refuse(ValueError):
    """A model file that cannot be vouched for; the message says why."""


# ----------------------------------------------------------------- writing
def json_random_state(random_state):
    """``random_state`` as JSON can hold it (an int, a bool or None)."""
    if random_state is None or isinstance(random_state, (bool, np.bool_)):
        return None if random_state is None else bool(random_state)
    if isinstance(random_state, Integral):
        return int(random_state)
    warnings.warn(
        f"random_state={random_state!r} cannot be stored in a model file; it "
        "is saved as None. Pass an int as random_state to keep it.",
        UserWarning, stacklevel=3)
    return None


def header(estimator: str, dtype: np.dtype, params: dict, param_arrays: list[str],
           fitted: dict, arrays: dict[str, np.ndarray]) -> dict:
    """The JSON header of a model file (format, versions, what the arrays are)."""
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "fastgmm_version": __version__,
        "estimator": estimator,
        "dtype": np.dtype(dtype).name,
        "params": params,
        "param_arrays": sorted(param_arrays),
        "fitted": fitted,
        "arrays": {n: {"dtype": a.dtype.str, "shape": list(a.shape)}
                   for n, a in sorted(arrays.items())},
    }


def _checksum(header_bytes: bytes, arrays: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256(FORMAT_NAME.encode() + b"\n" + header_bytes)
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        digest.update(f"\n{name}\0{a.dtype.str}\0{a.shape}\0".encode())
        digest.update(a.tobytes())
    return digest.hexdigest()


def write_archive(path, header: dict, arrays: dict[str, np.ndarray]) -> None:
    """Serialise ``header`` and ``arrays`` with their checksum, atomically."""
    header_bytes = json.dumps(header, sort_keys=True).encode("utf-8")
    members = dict(arrays)
    members["header"] = np.frombuffer(header_bytes, dtype=np.uint8)
    members["checksum"] = np.frombuffer(
        _checksum(header_bytes, arrays).encode("ascii"), dtype=np.uint8)
    atomic_write(path, lambda f: np.savez(f, **members))


# ----------------------------------------------------------------- reading
def read_archive(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    """``(header, arrays)`` of a model file whose format and checksum are good."""
    with open(path, "rb") as f:
        magic = f.read(4)
    if not magic:
        raise Refuse("the file is empty")
    if magic != _ZIP_MAGIC:
        raise Refuse("not a fastgmm model (not an .npz archive)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            members = {name: archive[name] for name in archive.files}
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise Refuse("it holds Python objects, which cannot be read without pickle "
                         "(never enabled for model files)") from None
        raise Refuse(f"the archive is truncated or corrupted ({exc})") from None
    except (zipfile.BadZipFile, EOFError, OSError, KeyError) as exc:
        raise Refuse(f"the archive is truncated or corrupted ({exc})") from None
    missing = [n for n in _RESERVED if n not in members]
    if missing:
        raise Refuse(f"not a fastgmm model (no {' or '.join(missing)} entry)")
    header_bytes = _as_bytes(members.pop("header"), "header")
    stored_checksum = _as_bytes(members.pop("checksum"), "checksum").decode("ascii", "replace")
    try:
        header = json.loads(header_bytes.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Refuse(f"the header is not valid JSON ({exc})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise Refuse(f"not a fastgmm model (format is not '{FORMAT_NAME}')")
    version = header.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise Refuse(f"invalid format version {version!r}")
    if version > FORMAT_VERSION:
        raise Refuse(
            f"it uses model format version {version}, newer than the version "
            f"{FORMAT_VERSION} this fastgmm {__version__} reads (written by fastgmm "
            f"{header.get('fastgmm_version', '?')}); upgrade fastgmm to load it")
    if _checksum(header_bytes, members) != stored_checksum:
        raise Refuse("checksum mismatch: the file was modified or corrupted "
                      "after it was written")
    return header, members


def _as_bytes(member: np.ndarray, name: str) -> bytes:
    if member.dtype != np.uint8 or member.ndim != 1:
        raise Refuse(f"the {name} entry is not a byte string")
    return member.tobytes()


def json_value(fitted: dict, name: str, kind: type):
    """``fitted[name]`` if it has the JSON type ``kind`` (int, float, bool or list).

    A bool is not an int here, and a float field accepts an int (JSON
    writes 2.0 as 2.0, but a hand-edited file may say 2).
    """
    value = fitted[name]
    if kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, kind)
    if not ok:
        raise Refuse(f"{name} in the header must be of type {kind.__name__}, got {value!r}")
    return value


# ------------------------------------------------------- checks of arrays
def check_array(name: str, a: np.ndarray, dtype: np.dtype, shape: tuple,
                declared: dict) -> None:
    """``a`` has the dtype, shape and finite values the model needs and the header declares."""
    if a.dtype != dtype:
        raise Refuse(f"{name} has dtype {a.dtype}, expected {dtype}")
    if a.shape != shape:
        raise Refuse(f"{name} has shape {a.shape}, expected {shape} for the "
                     "model's covariance_type, n_components and n_features")
    if declared.get("dtype") != a.dtype.str or tuple(declared.get("shape", ())) != a.shape:
        raise Refuse(f"{name} does not match the dtype and shape the header declares")
    if not np.all(np.isfinite(a)):
        raise Refuse(f"{name} contains non-finite values (NaN or infinity)")


def check_weights(weights: np.ndarray) -> None:
    """Mixture weights in [0, 1] that sum to 1."""
    tol = 1e-5 if weights.dtype == np.float32 else 1e-10
    if np.any(weights < 0) or np.any(weights > 1) or abs(float(weights.sum()) - 1.0) > tol:
        raise Refuse("weights_ must lie in [0, 1] and sum to 1, got sum "
                     f"{float(weights.sum())!r}")


def check_positive_definite(arrays: dict[str, np.ndarray], covariance_type: str) -> None:
    """Covariances, precisions and their Cholesky factor describe positive-definite matrices."""
    chol = arrays["precisions_cholesky_"]
    if covariance_type in ("diag", "spherical"):
        for name in ("covariances_", "precisions_", "precisions_cholesky_"):
            if np.any(arrays[name] <= 0):
                raise Refuse(f"{name} must be positive (positive-definite precisions)")
        return
    diagonal = np.diagonal(chol, axis1=-2, axis2=-1)
    lower = np.tril(chol, -1)
    if np.any(diagonal <= 0) or np.any(lower != 0):
        raise Refuse("precisions_cholesky_ must be upper-triangular with a positive "
                     "diagonal (the precisions are not positive-definite)")
    rtol = 1e-4 if chol.dtype == np.float32 else 1e-10
    for name in ("precisions_", "covariances_"):
        matrix = np.asarray(arrays[name], dtype=np.float64)
        scale = rtol * float(np.abs(matrix).max())
        if np.any(np.abs(matrix - np.swapaxes(matrix, -1, -2)) > scale):
            raise Refuse(f"{name} is not symmetric")
        try:
            np.linalg.cholesky(matrix)
        except np.linalg.LinAlgError:
            raise Refuse(f"{name} is not positive-definite") from None
