"""How fastgmm's Numba kernels are compiled and where their machine code is cached.

Every kernel module declares its functions with :func:`kernel` instead of
``numba.njit(cache=True)``. The differences:

* **The cache can never be stale.** Numba keys a cached function on the
  source of the file that defines it, so an upgrade that changes only a
  helper module (a block size, a threshold) would load old machine code.
  Here the cache directory is named after the fastgmm version and a hash
  of every module in the kernels' folder, ``fastgmm/_kernels``
  (:func:`source_hash`), so any change to any kernel source selects a new,
  empty directory, and a change anywhere else in the package none.
* **Nothing lands in site-packages.** The directory is under the user's
  cache directory (``$XDG_CACHE_HOME``, else ``~/.cache``; ``%LOCALAPPDATA%``
  on Windows, ``~/Library/Caches`` on macOS), or under ``NUMBA_CACHE_DIR``
  when that is set. ``pip uninstall`` then leaves nothing behind in the
  package, and no leftover ``__pycache__`` can shadow a later install.
* **Unwritable is not an error.** If no directory can be written (a
  read-only home, a locked-down container), kernels compile in memory for
  each process, with one ``RuntimeWarning`` saying so.
* **Concurrent first use is serialised.** Processes that find an empty
  cache at once (Dask workers) take an exclusive ``flock`` on the cache
  directory to write an entry, and a shared one to read it, so no process
  reads an index or data file another one is halfway through replacing.
* **A damaged entry is rebuilt.** An index or data file that cannot be
  read (truncated by an interrupted write or a full disk, overwritten,
  emptied) is removed, with one ``RuntimeWarning`` naming the directory,
  and its kernel is compiled and saved again.
* **Parallel kernels use only ``prange``.** Numba's other automatic
  parallel transforms (array expressions, reductions, fusion) are switched
  off: the kernels are written as explicit loops, and each of those passes
  only costs compile time.

Nothing here compiles anything; kernels compile when first called.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import sys
import threading
import warnings
from pathlib import Path

from numba import njit
from numba.core import config
from numba.core.caching import FunctionCache, NullCache, _CacheLocator, _Cache
from numba.core.caching import CompileResultCacheImpl

from .._version import __version__

try:  # POSIX advisory locks; elsewhere entries are written without one
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

# Numba's parallel transforms other than prange, all off (see module docstring).
PARALLEL = {
    "comprehension": False,
    "reduction": False,
    "inplace_binop": False,
    "setitem": False,
    "numpy": False,
    "stencil": False,
    "fusion": False,
    "prange": True,
}

# NumPy's semantics for a float division by zero (inf or NaN, no exception):
# Python's check is a branch per division, which keeps loops with a division
# (the responsibilities' w_i / total_i) from vectorising. No kernel divides
# by zero on valid data; NaN data give NaN either way.
ERROR_MODEL = "numpy"

# Every module of this folder is a kernel module or feeds one (constants,
# overloads): the cache key is the folder, not a search for some import.
_KERNELS_DIR = Path(__file__).resolve().parent


def kernel_sources(kernels_dir: Path = _KERNELS_DIR) -> list[Path]:
    """The kernel modules: every ``.py`` file in the kernels' folder (``fastgmm/_kernels``)."""
    return sorted(Path(kernels_dir).glob("*.py"))


def _hash_sources(kernels_dir: Path) -> str:
    """SHA-256 (16 hex digits) of the names and bytes of :func:`kernel_sources`."""
    digest = hashlib.sha256()
    for path in kernel_sources(kernels_dir):
        digest.update(path.name.encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


_source_hash: str | None = None


def source_hash(kernels_dir: Path | None = None) -> str:
    """SHA-256 (16 hex digits) of the names and contents of the kernel modules.

    Computed once per process for the installed package (on the first
    compilation, not at import); ``kernels_dir`` hashes another copy of
    the kernels' folder.
    """
    global _source_hash
    if kernels_dir is not None:
        return _hash_sources(kernels_dir)
    if _source_hash is None:
        _source_hash = _hash_sources(_KERNELS_DIR)
    return _source_hash


def user_cache_root() -> Path:
    """The user's cache directory on this platform (fastgmm's caches go in ``fastgmm/``)."""
    if sys.platform == "win32":  # pragma: no cover
        base = os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local"
    elif sys.platform == "darwin":  # pragma: no cover
        base = Path.home() / "Library" / "Caches"
    else:
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base)


def cache_dir(version: str = __version__, sources: str | None = None) -> Path:
    """Directory of the compiled kernels for this fastgmm version and kernel source.

    ``NUMBA_CACHE_DIR`` (read by Numba at start-up) takes precedence over the
    user cache directory; either way the last component is
    ``fastgmm/<version>-<source hash>``.
    """
    root = Path(config.CACHE_DIR) if config.CACHE_DIR else user_cache_root()
    return root / "fastgmm" / f"{version}-{sources or source_hash()}"


class _VersionedLocator(_CacheLocator):
    """Numba cache locator: :func:`cache_dir`, stamped with the source hash.

    ``_variant`` tells apart two compilations of one Python function (the
    parallel and the serial driver), which would otherwise share an index.
    """

    _variant = ""

    def __init__(self, py_func, py_file):
        """Where and how the cache of ``py_func`` (defined in ``py_file``) is found."""
        self._py_file = py_file
        self._lineno = py_func.__code__.co_firstlineno
        self._path = str(cache_dir())

    def get_cache_path(self):
        """The cache directory, :func:`cache_dir`."""
        return self._path

    def get_source_stamp(self):
        """What an index entry must match: the version and the source hash."""
        return (__version__, source_hash())

    def get_disambiguator(self):
        """Tells apart functions of one file: the first line, and the variant."""
        return f"{self._lineno}{self._variant}"

    @classmethod
    def from_function(cls, py_func, py_file):
        """The locator of ``py_func``, or None when its directory cannot be made."""
        locator = cls(py_func, py_file)
        try:
            locator.ensure_cache_path()
        except OSError:
            return None
        return locator


def _function_cache_class(variant: str):
    """A ``FunctionCache`` class whose entries live in :func:`cache_dir`."""

    class Locator(_VersionedLocator):
        """The locator of this variant."""
        _variant = variant

    class Impl(CompileResultCacheImpl):
        """Numba's cache implementation, with this locator."""
        _locator_classes = [Locator]

    class Cache(FunctionCache):
        """Numba's function cache, with this implementation."""
        _impl_class = Impl

    return Cache


_warned_unwritable = False
_warn_lock = threading.Lock()


def _warn_unwritable(reason: str) -> None:
    """Warn, once per process, that kernels compile in memory (``reason``: why)."""
    global _warned_unwritable
    with _warn_lock:
        if _warned_unwritable:
            return
        _warned_unwritable = True
    warnings.warn(
        f"fastgmm cannot write its kernel cache in {cache_dir()} ({reason}); "
        "kernels are compiled in every process instead of once. Set "
        "NUMBA_CACHE_DIR to a writable directory to cache them.",
        RuntimeWarning,
        stacklevel=4,
    )


@contextlib.contextmanager
def _locked_dir(path: str, exclusive: bool):
    """An advisory lock on the cache directory (no-op without ``fcntl``)."""
    if fcntl is None:  # pragma: no cover
        yield
        return
    try:
        handle = open(os.path.join(path, ".lock"), "a+b")
    except OSError:
        yield
        return
    with handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


class _KernelCache(_Cache):
    """The versioned on-disk cache of one kernel, opened on its first compilation.

    Opening it late keeps ``import fastgmm`` free of file-system work and
    lets an unwritable directory degrade to :class:`NullCache` with a
    warning at the first fit, never an error.
    """

    def __init__(self, py_func, variant: str = ""):
        """The cache of ``py_func``; nothing is opened until it is used."""
        self._py_func = py_func
        self._variant = variant
        self._cache = None

    def _open(self):
        """The function cache, opened now (a ``NullCache`` with a warning if it cannot be)."""
        if self._cache is None:
            try:
                self._cache = _function_cache_class(self._variant)(self._py_func)
            except (RuntimeError, OSError) as exc:
                _warn_unwritable(str(exc) or type(exc).__name__)
                self._cache = NullCache()
        return self._cache

    @property
    def cache_path(self):
        """The directory of the cache (opening it)."""
        return self._open().cache_path

    def load_overload(self, sig, target_context):
        """The cached compilation of ``sig``, or None, read under a shared lock."""
        cache = self._open()
        if isinstance(cache, NullCache):
            return None
        try:
            with _locked_dir(cache.cache_path, exclusive=False):
                return cache.load_overload(sig, target_context)
        except Exception:  # noqa: BLE001 - any failure to read is a damaged entry
            return _reload_or_discard(cache, sig, target_context)

    def save_overload(self, sig, data):
        """Store the compilation of ``sig`` under an exclusive lock (warn if it fails)."""
        cache = self._open()
        if isinstance(cache, NullCache):
            return
        try:
            with _locked_dir(cache.cache_path, exclusive=True):
                try:
                    cache.save_overload(sig, data)
                except OSError:
                    raise
                except Exception as exc:  # noqa: BLE001 - an unreadable index
                    # Saving reads the index first: a damaged one is replaced.
                    _discard(cache, exc)
                    cache.save_overload(sig, data)
        except OSError as exc:  # e.g. the directory became read-only
            _warn_unwritable(str(exc))

    def enable(self):
        """Enable the underlying cache."""
        self._open().enable()

    def disable(self):
        """Disable the underlying cache."""
        self._open().disable()

    def flush(self):
        """Empty the underlying cache."""
        self._open().flush()


# ------------------------------------------------------------ damaged entries
# An index or data file that was truncated (an interrupted write, a full
# disk), overwritten or emptied makes Numba's loader raise (UnpicklingError,
# EOFError, ...) in every process that reads it. Such an entry is removed
# and its kernel compiled again (then saved afresh), with one warning.
_warned_damaged: set[str] = set()


def _entry_files(cache) -> list[str]:
    """The index file of one kernel and its data files."""
    index = cache._cache_file._index_path
    base = index[:-len(".nbi")]
    return [index] + sorted(glob.glob(glob.escape(base) + ".*.nbc"))


def _discard(cache, exc: BaseException) -> None:
    """Remove a kernel's entry from the cache (called under the exclusive lock)."""
    removed = True
    for path in _entry_files(cache):
        try:
            os.remove(path)
        except FileNotFoundError:
            pass
        except OSError:  # a read-only directory: the entry stays, compiled each time
            removed = False
    path = str(cache.cache_path)
    with _warn_lock:
        if path in _warned_damaged:
            return
        _warned_damaged.add(path)
    warnings.warn(
        f"fastgmm's kernel cache in {path} held a damaged entry "
        f"({type(exc).__name__}: {exc}); "
        + ("it was removed and the kernel is compiled again."
           if removed else "it could not be removed, so the kernel is compiled in "
           "every process; delete the entry's files to rebuild it."),
        RuntimeWarning,
        stacklevel=5,
    )


def _reload_or_discard(cache, sig, target_context):
    """After a failed load: load again under the exclusive lock, else discard.

    Another process may have replaced the entry since (it holds the lock
    while it writes); only an entry that still fails is removed.
    """
    with _locked_dir(cache.cache_path, exclusive=True):
        try:
            return cache.load_overload(sig, target_context)
        except Exception as again:  # noqa: BLE001
            _discard(cache, again)
    return None


def kernel(*, parallel: bool = False, internal: bool = False, **options):
    """``numba.njit`` with fastgmm's cache, for a kernel module's functions.

    Parameters
    ----------
    parallel : bool, default=False
        Compile ``prange`` loops as parallel loops (and nothing else, see
        :data:`PARALLEL`). One Python function may be compiled both ways
        (the task drivers): the two get cache entries of their own.
    internal : bool, default=False
        Called only from other kernels: no CPython wrapper is compiled.
    **options
        Passed to ``numba.njit`` (``fastmath``, ...).
    """
    if parallel:
        options["parallel"] = PARALLEL
    if internal:
        options["no_cpython_wrapper"] = True
    options.setdefault("error_model", ERROR_MODEL)

    def wrap(func):
        """The dispatcher of ``func``, with fastgmm's cache unless it is internal."""
        dispatcher = njit(cache=False, **options)(func)
        if not internal:
            dispatcher._cache = _KernelCache(dispatcher.py_func, "p" if parallel else "")
        return dispatcher

    return wrap


class TaskFunction:
    """A kernel compiled once, as a C-callable function, for drivers to call by address.

    The heavy per-chunk code (the fused E-step and statistics of a block of
    rows, its scoring) is a *task function*: its machine code is built once
    per covariance kind and dtype, cached on disk, and every driver (the
    row-parallel pass, the serial pass of small inputs, ``fit_many``'s pass
    over problems) receives it as an argument of ``numba`` type
    ``FunctionType`` and calls it through its address. Two things follow:

    * A driver does not carry a copy of the task's code. Numba links every
      callee of a kernel into the kernel's own module and optimises and
      generates it again, once more at each of the levels a ``prange`` loop
      adds (the loop body, two wrappers, the kernel); that copying was most
      of the cold-start time. The drivers are small and shared by all kinds.
    * All drivers run the very same machine code for a chunk, so they agree
      to the last bit whether that code was compiled in this process or
      loaded from the cache (copies re-optimised inside each caller could
      vectorise a reduction differently).

    Parameters
    ----------
    func : function
        The Python function, which may call internal kernels.
    signature : numba Signature
        Its exact argument and return types (inputs are read-only arrays).
    **options
        Passed to Numba's ``cfunc`` compiler (``fastmath``).
    """

    def __init__(self, func, signature, **options):
        """Keep what compiles the task; nothing is compiled yet."""
        self._func = func
        self._signature = signature
        self._options = options
        self._compiled = None
        self._lock = threading.Lock()
        self.loaded_from_cache = None  # set when compiled: True, False

    @property
    def signature(self):
        """The task function's Numba signature."""
        return self._signature

    def get(self):
        """The compiled function (compiled, or loaded from the cache, on first use)."""
        if self._compiled is None:
            with self._lock:
                if self._compiled is None:
                    from numba.core.ccallback import CFunc

                    sig = self._signature
                    options = {"error_model": ERROR_MODEL, **self._options}
                    compiled = CFunc(self._func, (sig.args, sig.return_type), locals={},
                                     options=options)
                    compiled._cache = _KernelCache(self._func, "c")
                    compiled.compile()
                    self.loaded_from_cache = compiled.cache_hits > 0
                    self._compiled = compiled
        return self._compiled
