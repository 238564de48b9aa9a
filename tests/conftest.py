"""One fresh kernel cache for each test session.

Several tests compare *different* kernels bit for bit: the serial path of
small inputs with the parallel one, ``fit_many`` with ``fit``. That holds
when all of them are compiled in one process, and it holds when all of them
were loaded from one cache, but not for a mix. Numba's machine code for a
kernel calls the shared helpers it was compiled with; a freshly compiled
kernel reaches the process's own compiled helpers, one loaded from the cache
its own copies, re-optimised inside the kernel, and under ``reassoc`` those
can round a reduction one ulp apart. A cache filled piecemeal by earlier
runs would make these tests depend on which subset ran before. So every
session compiles into its own empty directory, as CI's clean machine does.
Set ``FASTGMM_TEST_CACHE_DIR`` to keep a cache between runs instead (faster,
but then run every test module against it or none).
"""

import atexit
import os
import shutil
import tempfile

if "FASTGMM_TEST_CACHE_DIR" in os.environ:
    _cache = os.environ["FASTGMM_TEST_CACHE_DIR"]
else:
    _cache = tempfile.mkdtemp(prefix="fastgmm-test-cache-")
    atexit.register(shutil.rmtree, _cache, ignore_errors=True)
os.environ["NUMBA_CACHE_DIR"] = _cache

import numba.core.config  # noqa: E402  (after the variable: Numba reads it once)

numba.core.config.CACHE_DIR = _cache
