"""Files in and out: atomic writes, and the data files of the command line.

Everything fastgmm writes (model files, labels, samples, figures) goes to a
temporary sibling first and is renamed over the target, so a crash leaves
the old file or the new one, never half of one (a device or a FIFO is
written directly instead: it is never replaced). Data are read from ``.npy``
(as a read-only memmap, never loaded whole) or numeric ``.csv``.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from pathlib import Path

import numpy as np

from .._kernels.layout import FLOAT_DTYPES

# Rows checked for NaN/inf at a time, so a memmap is never loaded whole.
_CHECK_ROWS = 65536


class DataFileError(ValueError):
    """A data file that cannot be used; the message names the file and why."""


def one_line(exc: BaseException) -> str:
    """An exception's message folded onto one line."""
    return " ".join(str(exc).split()) or type(exc).__name__


# ------------------------------------------------------------------ writing
def atomic_write(path: str | os.PathLike, write) -> None:
    """Call ``write(file)`` on a temporary sibling of ``path``, then swap it in.

    ``file`` is opened in binary mode. On any exception (even
    ``KeyboardInterrupt``) the temporary file is removed and ``path`` is
    left as it was.

    Only a regular file (or a path that does not exist yet) is replaced
    atomically. A target that exists and is not a regular file is never
    renamed over, since that would replace the device or pipe itself with
    a plain file (``os.devnull`` would stop being the null device for the
    whole machine):

    * a character or block device (``/dev/null``, ``/dev/stdout``) or a
      FIFO (a named pipe, the ``/dev/fd/N`` of a shell's process
      substitution) is opened and written directly, as any program writes
      to a device: not atomic, and opening a FIFO waits for its reader;
    * a directory raises ``IsADirectoryError`` and a socket (which cannot
      be opened) an ``OSError``, both naming the path.

    A symbolic link is followed to decide: a link to a device is written
    through, a link to a regular file is replaced as before.
    """
    path = Path(os.fspath(path))
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        mode = None
    except OSError:  # a link loop, no permission: the write below reports it
        mode = None
    if mode is not None and not stat.S_ISREG(mode):
        _write_special(path, mode, write)
        return
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    # os.open honours the umask, unlike mkstemp's 0600.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_directory(path.parent)


def _write_special(path: Path, mode: int, write) -> None:
    """Write to an existing target that is not a regular file (see :func:`atomic_write`)."""
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, "cannot write a file over a directory",
                                str(path))
    if not (stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode)):
        raise OSError(errno.EINVAL, "cannot write to it: it is neither a regular file, "
                      "a device nor a FIFO (a socket?)", str(path))
    # No O_CREAT, no O_TRUNC: the target exists and is not ours to truncate
    # or replace (truncating a device or a pipe means nothing anyway).
    with open(os.open(path, os.O_WRONLY), "wb") as f:
        write(f)
        f.flush()


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable where the platform allows it."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_array(path: str, array: np.ndarray, fmt: str) -> None:
    """Write ``array`` atomically as ``.npy`` or ``.csv`` (chosen by the suffix).

    ``fmt`` is the ``numpy.savetxt`` format of a CSV value.
    """
    suffix = Path(path).suffix.lower()
    if suffix == ".npy":
        atomic_write(path, lambda f: np.save(f, array, allow_pickle=False))
    elif suffix == ".csv":
        atomic_write(path, lambda f: np.savetxt(f, array, fmt=fmt, delimiter=","))
    else:
        raise DataFileError(f"{path}: unsupported output file type '{suffix}' "
                            "(use .npy or .csv)")


# ------------------------------------------------------------------ reading
def read_data(path: str, dtype: str | None = None, allow_nan: bool = False) -> np.ndarray:
    """Open a ``.npy`` file as a read-only memmap, or parse a numeric ``.csv``.

    Parameters
    ----------
    path : str
        A ``.npy`` or ``.csv`` file (numeric columns, optional header line).
    dtype : {'float32', 'float64'}, default=None
        Force this dtype; by default float32 and float64 are kept and other
        numeric dtypes become float64.
    allow_nan : bool, default=False
        Accept missing values: NaN entries, and in a CSV file empty cells
        (read as NaN). Infinity is refused either way.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
        Checked for NaN and infinity a block of rows at a time.

    Raises
    ------
    DataFileError
        Naming the file and what is wrong with it.
    """
    p = Path(path)
    if not p.exists():
        raise DataFileError(f"{path}: no such file")
    if not p.is_file():
        raise DataFileError(f"{path}: not a file")
    suffix = p.suffix.lower()
    if suffix == ".npy":
        try:
            X = np.load(p, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise DataFileError(f"{path}: not a readable .npy array ({one_line(exc)})") from None
    elif suffix == ".csv":
        X = _read_csv(p, allow_nan)
    else:
        raise DataFileError(f"{path}: unsupported data file type '{suffix}' (use .npy or .csv)")
    if X.ndim == 1:
        X = X.reshape(-1, 1)
    if X.ndim != 2:
        raise DataFileError(f"{path}: expected a 2-D array (n_samples, n_features), "
                            f"got shape {X.shape}")
    if X.dtype.kind not in "fiu":
        raise DataFileError(f"{path}: expected numeric data, got dtype {X.dtype}")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise DataFileError(f"{path}: no data (shape {X.shape})")
    if dtype is not None and X.dtype != np.dtype(dtype):
        X = np.asarray(X, dtype=dtype)
    elif X.dtype not in FLOAT_DTYPES:
        X = np.asarray(X, dtype=np.float64)
    _check_finite(X, path, allow_nan)
    return X


def _cell(text: str) -> float:
    """A CSV cell, an empty one read as NaN (a missing value)."""
    text = text.strip()
    return float(text) if text else np.nan


def _read_csv(p: Path, allow_nan: bool = False) -> np.ndarray:
    with open(p, encoding="utf-8-sig") as f:
        first = f.readline()
    if not first.strip():
        raise DataFileError(f"{p}: empty CSV file")
    header = not _is_numeric_row(first)
    try:
        return np.loadtxt(p, delimiter=",", skiprows=int(header), ndmin=2,
                          dtype=np.float64, encoding="utf-8-sig",
                          converters=_cell if allow_nan else None)
    except ValueError as exc:
        reason = one_line(exc).split(";")[0].rstrip(".")
        hint = ("" if allow_nan else "; empty cells are missing values only when asked for "
                "(fastgmm fit --nan-policy marginalize or omit)")
        raise DataFileError(f"{p}: not a numeric CSV file ({reason}); expected numeric "
                            "columns separated by commas, with an optional header "
                            f"line{hint}") from None


def _is_numeric_row(line: str) -> bool:
    try:
        [float(field) for field in line.split(",")]
    except ValueError:
        return False
    return True


def _check_finite(X: np.ndarray, path: str, allow_nan: bool = False) -> None:
    for start in range(0, X.shape[0], _CHECK_ROWS):
        block = np.asarray(X[start:start + _CHECK_ROWS])
        ok = (~np.isinf(block) if allow_nan else np.isfinite(block)).all(axis=1)
        if not ok.all():
            row = start + int(np.flatnonzero(~ok)[0])
            if allow_nan:
                raise DataFileError(f"{path}: data contain infinity (first in data row "
                                    f"{row + 1}); remove those values first")
            raise DataFileError(f"{path}: data contain NaN or infinity (first in data "
                                f"row {row + 1}); remove or impute those values first, "
                                "or fit with --nan-policy marginalize (or omit) to treat "
                                "NaN as missing values")
