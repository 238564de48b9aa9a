"""``fastgmm.warmup``: compile and cache the kernels ahead of the first fit."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from time import perf_counter

import numpy as np

from ._kernels.layout import COVARIANCE_TYPES, FLOAT_DTYPES

DTYPES = tuple(np.dtype(t).name for t in FLOAT_DTYPES)


def warmup(covariance_types: Iterable[str] = COVARIANCE_TYPES,
           dtypes: Iterable[str] = DTYPES,
           progress: Callable[[str], None] | None = None) -> dict[tuple[str, str], float]:
    """Compile every kernel a fit, ``predict`` and ``score`` use, and cache it on disk.

    Each (covariance type, dtype) pair is compiled by two small fits (k-means
    initialisation, two EM iterations) and scoring, one of a single chunk of
    rows (the serial kernels) and one of three (the parallel ones), so that later processes
    load machine code from the cache instead of compiling. Run it once when
    building a Docker image or a CI cache; the user guide's "Start-up and
    the kernel cache" says where the cache lives. Cached code is specific to this CPU model and this fastgmm
    version: a different CPU, or another version, compiles afresh.

    Parameters
    ----------
    covariance_types : iterable of {'full', 'tied', 'diag', 'spherical'}, \
            default=all four
        The covariance types to compile.
    dtypes : iterable of {'float64', 'float32'}, default=both
        The data types to compile.
    progress : callable, default=None
        Called with one line of text after each pair (e.g. ``print``).

    Returns
    -------
    seconds : dict
        Wall time per ``(covariance_type, dtype)``, compilation or cache
        load included.

    Examples
    --------
    >>> import fastgmm
    >>> times = fastgmm.warmup(["diag"], ["float64"])
    >>> list(times)
    [('diag', 'float64')]
    """
    from ._kernels.compile import cache_dir
    from .mixture import GaussianMixture

    covariance_types = [covariance_types] if isinstance(covariance_types, str) \
        else list(covariance_types)
    dtypes = [np.dtype(d).name for d in ([dtypes] if isinstance(dtypes, str) else dtypes)]
    for cov in covariance_types:
        if cov not in COVARIANCE_TYPES:
            raise ValueError(f"covariance_types must be among {COVARIANCE_TYPES}, "
                             f"got {cov!r}")
    for dt in dtypes:
        if dt not in DTYPES:
            raise ValueError(f"dtypes must be among {DTYPES}, got {dt!r}")
    from ._kernels.layout import CHUNK_ROWS, FEW_FEATURES

    # One chunk of rows takes the serial kernels, more rows the parallel ones:
    # warm both. The full kind has chunk code of its own for few features.
    X = np.random.default_rng(0).normal(size=(2 * CHUNK_ROWS + 1, FEW_FEATURES + 1))
    X[::2] += 4.0
    seconds = {}
    for dt in dtypes:
        for cov in covariance_types:
            start = perf_counter()
            widths = (3, FEW_FEATURES + 1) if cov == "full" else (3,)
            for data in [A.astype(dt) for d in widths for A in (X[:512, :d], X[:, :d])]:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", category=UserWarning)
                    gm = GaussianMixture(2, covariance_type=cov, max_iter=2, tol=0.0,
                                         random_state=0).fit(data)
                    gm.predict_proba(data)
            seconds[(cov, dt)] = perf_counter() - start
            if progress is not None:
                progress(f"fastgmm warmup: {cov:9s} {dt}  {seconds[(cov, dt)]:6.1f} s")
    if progress is not None:
        progress(f"fastgmm warmup: kernels cached in {cache_dir()}")
    return seconds
