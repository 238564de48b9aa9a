"""Safe model files: a versioned ``.npz`` archive with a JSON header, no pickle.

A model file is a zip archive written by :func:`numpy.savez` and read with
``allow_pickle=False``. It holds

- ``header``: UTF-8 JSON (as a ``uint8`` array) with the format name and
  version, the fastgmm version that wrote it, ``get_params()``, the scalar
  fitted attributes and the declared dtype and shape of every array;
- one plain float array per fitted parameter (``weights_``, ``means_``,
  ``covariances_``, ``precisions_``, ``precisions_cholesky_``) and per
  array-valued hyper-parameter (``weights_init`` ...);
- ``checksum``: the hex SHA-256 of the header bytes and of every array's
  name, dtype, shape and bytes.

Writes are atomic: the archive goes to a temporary file in the target
directory, is flushed and fsynced, and replaces the target with
:func:`os.replace`, so a crash leaves either the old file or the new one.
:func:`load` refuses anything it cannot vouch for with a ``ValueError``
that names the file and the problem.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
import zipfile
from numbers import Integral
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ._files import atomic_write
from ._version import __version__

if TYPE_CHECKING:
    from .mixture import GaussianMixture

FORMAT_NAME = "fastgmm-model"
FORMAT_VERSION = 1

_FITTED_ARRAYS = ("weights_", "means_", "covariances_", "precisions_",
                  "precisions_cholesky_")
_INIT_ARRAYS = ("weights_init", "means_init", "precisions_init")
_RESERVED = ("header", "checksum")
_ZIP_MAGIC = b"PK\x03\x04"


# ----------------------------------------------------------------- writing
def save(model: GaussianMixture, path: str | os.PathLike) -> None:
    """Write a fitted :class:`~fastgmm.GaussianMixture` to ``path`` atomically.

    Parameters
    ----------
    model : GaussianMixture
        A fitted mixture.
    path : str or path-like
        Destination, written exactly as given (no suffix is added; ``.npz``
        is the conventional one). An existing file is replaced only once the
        new one is completely on disk.

    See Also
    --------
    load : Read the file back.
    """
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(model)
    params = model.get_params(deep=False)
    arrays: dict[str, np.ndarray] = {}
    for name in _INIT_ARRAYS:
        if params[name] is not None:
            arrays[name] = np.asarray(params[name], dtype=np.float64)
            params[name] = None  # the array is stored beside the header
    params["random_state"] = _json_random_state(params["random_state"])
    dtype = np.asarray(model.means_).dtype
    for name in _FITTED_ARRAYS:
        arrays[name] = np.ascontiguousarray(getattr(model, name))
    fitted: dict[str, Any] = {
        "n_features_in_": int(model.n_features_in_),
        "n_iter_": int(model.n_iter_),
        "converged_": bool(model.converged_),
        "lower_bound_": float(model.lower_bound_),
        "lower_bounds_": [float(b) for b in model.lower_bounds_],
    }
    if hasattr(model, "feature_names_in_"):
        fitted["feature_names_in_"] = [str(n) for n in model.feature_names_in_]
    header = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "fastgmm_version": __version__,
        "estimator": type(model).__name__,
        "dtype": dtype.name,
        "params": params,
        "param_arrays": sorted(n for n in _INIT_ARRAYS if n in arrays),
        "fitted": fitted,
        "arrays": {n: {"dtype": a.dtype.str, "shape": list(a.shape)}
                   for n, a in sorted(arrays.items())},
    }
    _write_archive(path, header, arrays)


def _json_random_state(random_state):
    if random_state is None or isinstance(random_state, (bool, np.bool_)):
        return None if random_state is None else bool(random_state)
    if isinstance(random_state, Integral):
        return int(random_state)
    warnings.warn(
        f"random_state={random_state!r} cannot be stored in a model file; it "
        "is saved as None. Pass an int as random_state to keep it.",
        UserWarning, stacklevel=3)
    return None


def _checksum(header_bytes: bytes, arrays: dict[str, np.ndarray]) -> str:
    digest = hashlib.sha256(FORMAT_NAME.encode() + b"\n" + header_bytes)
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        digest.update(f"\n{name}\0{a.dtype.str}\0{a.shape}\0".encode())
        digest.update(a.tobytes())
    return digest.hexdigest()


def _write_archive(path, header: dict, arrays: dict[str, np.ndarray]) -> None:
    """Serialise ``header`` and ``arrays`` with their checksum, atomically."""
    header_bytes = json.dumps(header, sort_keys=True).encode("utf-8")
    members = dict(arrays)
    members["header"] = np.frombuffer(header_bytes, dtype=np.uint8)
    members["checksum"] = np.frombuffer(
        _checksum(header_bytes, arrays).encode("ascii"), dtype=np.uint8)
    atomic_write(path, lambda f: np.savez(f, **members))


# ----------------------------------------------------------------- reading
class _Refuse(ValueError):
    pass


def load(path: str | os.PathLike) -> GaussianMixture:
    """Read a model written by :meth:`GaussianMixture.save`.

    The file is checked before anything is built from it: archive
    integrity, format name and version (files from a newer format are
    refused), checksum, hyper-parameters, dtypes, shapes, finite values,
    weights and positive-definite precisions. The loaded model predicts
    bitwise like the one that was saved.

    Parameters
    ----------
    path : str or path-like
        A file written by :meth:`GaussianMixture.save` or :func:`save`.

    Returns
    -------
    model : GaussianMixture
        The fitted mixture.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not a fastgmm model, is truncated or tampered with,
        comes from a newer format version or holds invalid parameters; the
        message names the file and what is wrong.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from fastgmm import GaussianMixture, load
    >>> X = np.random.default_rng(0).normal(size=(200, 2))
    >>> gm = GaussianMixture(2, random_state=0).fit(X)
    >>> path = os.path.join(tempfile.mkdtemp(), "model.npz")
    >>> gm.save(path)
    >>> bool((load(path).predict(X) == gm.predict(X)).all())
    True
    """
    try:
        header, arrays = _read_archive(Path(os.fspath(path)))
        return _build(header, arrays)
    except _Refuse as exc:
        raise ValueError(f"cannot load model file '{os.fspath(path)}': {exc}") from None


def _read_archive(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    with open(path, "rb") as f:
        magic = f.read(4)
    if not magic:
        raise _Refuse("the file is empty")
    if magic != _ZIP_MAGIC:
        raise _Refuse("not a fastgmm model (not an .npz archive)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            members = {name: archive[name] for name in archive.files}
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise _Refuse("it holds Python objects, which cannot be read without pickle "
                          "(never enabled for model files)") from None
        raise _Refuse(f"the archive is truncated or corrupted ({exc})") from None
    except (zipfile.BadZipFile, EOFError, OSError, KeyError) as exc:
        raise _Refuse(f"the archive is truncated or corrupted ({exc})") from None
    missing = [n for n in _RESERVED if n not in members]
    if missing:
        raise _Refuse(f"not a fastgmm model (no {' or '.join(missing)} entry)")
    header_bytes = _as_bytes(members.pop("header"), "header")
    stored_checksum = _as_bytes(members.pop("checksum"), "checksum").decode("ascii", "replace")
    try:
        header = json.loads(header_bytes.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _Refuse(f"the header is not valid JSON ({exc})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise _Refuse(f"not a fastgmm model (format is not '{FORMAT_NAME}')")
    version = header.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise _Refuse(f"invalid format version {version!r}")
    if version > FORMAT_VERSION:
        raise _Refuse(
            f"it uses model format version {version}, newer than the version "
            f"{FORMAT_VERSION} this fastgmm {__version__} reads (written by fastgmm "
            f"{header.get('fastgmm_version', '?')}); upgrade fastgmm to load it")
    if _checksum(header_bytes, members) != stored_checksum:
        raise _Refuse("checksum mismatch: the file was modified or corrupted "
                      "after it was written")
    return header, members


def _as_bytes(member: np.ndarray, name: str) -> bytes:
    if member.dtype != np.uint8 or member.ndim != 1:
        raise _Refuse(f"the {name} entry is not a byte string")
    return member.tobytes()


def _build(header: dict, arrays: dict[str, np.ndarray]) -> GaussianMixture:
    """A fitted estimator from a checksummed archive, after checking its contents."""
    from .mixture import GaussianMixture

    if header.get("estimator") != "GaussianMixture":
        raise _Refuse(f"unknown estimator {header.get('estimator')!r}")
    try:
        params = dict(header["params"])
        fitted = dict(header["fitted"])
        declared = dict(header["arrays"])
        param_arrays = list(header["param_arrays"])
        dtype = np.dtype(header["dtype"])
    except (KeyError, TypeError, ValueError) as exc:
        raise _Refuse(f"the header is incomplete ({exc})") from None
    if dtype not in (np.float32, np.float64):
        raise _Refuse(f"dtype must be float32 or float64, got {dtype}")
    expected = set(_FITTED_ARRAYS) | set(param_arrays)
    if set(arrays) != expected or set(declared) != expected:
        raise _Refuse(f"the archive holds arrays {sorted(arrays)}, expected {sorted(expected)}")
    for name in param_arrays:
        if name not in _INIT_ARRAYS:
            raise _Refuse(f"unknown parameter array {name!r}")
        params[name] = arrays[name]
    try:
        model = GaussianMixture(**params)
        model._validate_params()
    except (TypeError, ValueError) as exc:
        raise _Refuse(f"invalid hyper-parameters ({exc})") from None
    try:
        n_features = int(fitted["n_features_in_"])
        k = model.n_components
        shapes = _shapes(model.covariance_type, k, n_features)
        for name in _FITTED_ARRAYS:
            _check_array(name, arrays[name], dtype, shapes[name], declared[name])
        _check_weights(arrays["weights_"])
        _check_positive_definite(arrays, model.covariance_type)
        model.weights_ = arrays["weights_"]
        model.means_ = arrays["means_"]
        model.covariances_ = arrays["covariances_"]
        model.precisions_ = arrays["precisions_"]
        model.precisions_cholesky_ = arrays["precisions_cholesky_"]
        model.n_features_in_ = n_features
        model.n_iter_ = int(fitted["n_iter_"])
        model.converged_ = bool(fitted["converged_"])
        model.lower_bound_ = float(fitted["lower_bound_"])
        model.lower_bounds_ = [float(b) for b in fitted["lower_bounds_"]]
        if "feature_names_in_" in fitted:
            names = np.asarray(fitted["feature_names_in_"], dtype=object)
            if names.shape != (n_features,):
                raise _Refuse("feature_names_in_ does not have n_features_in_ entries")
            model.feature_names_in_ = names
    except (KeyError, TypeError) as exc:
        raise _Refuse(f"the header is incomplete ({exc!r})") from None
    return model


def _shapes(covariance_type: str, k: int, d: int) -> dict[str, tuple[int, ...]]:
    cov = {"full": (k, d, d), "tied": (d, d), "diag": (k, d), "spherical": (k,)}[covariance_type]
    return {"weights_": (k,), "means_": (k, d), "covariances_": cov,
            "precisions_": cov, "precisions_cholesky_": cov}


def _check_array(name: str, a: np.ndarray, dtype: np.dtype, shape: tuple,
                 declared: dict) -> None:
    if a.dtype != dtype:
        raise _Refuse(f"{name} has dtype {a.dtype}, expected {dtype}")
    if a.shape != shape:
        raise _Refuse(f"{name} has shape {a.shape}, expected {shape} for the "
                      "model's covariance_type, n_components and n_features")
    if declared.get("dtype") != a.dtype.str or tuple(declared.get("shape", ())) != a.shape:
        raise _Refuse(f"{name} does not match the dtype and shape the header declares")
    if not np.all(np.isfinite(a)):
        raise _Refuse(f"{name} contains non-finite values (NaN or infinity)")


def _check_weights(weights: np.ndarray) -> None:
    tol = 1e-5 if weights.dtype == np.float32 else 1e-10
    if np.any(weights < 0) or np.any(weights > 1) or abs(float(weights.sum()) - 1.0) > tol:
        raise _Refuse("weights_ must lie in [0, 1] and sum to 1, got sum "
                      f"{float(weights.sum())!r}")


def _check_positive_definite(arrays: dict[str, np.ndarray], covariance_type: str) -> None:
    chol = arrays["precisions_cholesky_"]
    if covariance_type in ("diag", "spherical"):
        for name in ("covariances_", "precisions_", "precisions_cholesky_"):
            if np.any(arrays[name] <= 0):
                raise _Refuse(f"{name} must be positive (positive-definite precisions)")
        return
    diagonal = np.diagonal(chol, axis1=-2, axis2=-1)
    lower = np.tril(chol, -1)
    if np.any(diagonal <= 0) or np.any(lower != 0):
        raise _Refuse("precisions_cholesky_ must be upper-triangular with a positive "
                      "diagonal (the precisions are not positive-definite)")
    rtol = 1e-4 if chol.dtype == np.float32 else 1e-10
    for name in ("precisions_", "covariances_"):
        matrix = np.asarray(arrays[name], dtype=np.float64)
        scale = rtol * float(np.abs(matrix).max())
        if np.any(np.abs(matrix - np.swapaxes(matrix, -1, -2)) > scale):
            raise _Refuse(f"{name} is not symmetric")
        try:
            np.linalg.cholesky(matrix)
        except np.linalg.LinAlgError:
            raise _Refuse(f"{name} is not positive-definite") from None
