"""One fresh kernel cache for each test session.

Several tests compare *different* kernels bit for bit: the serial path of
small inputs with the parallel one, ``fit_many`` with ``fit``. That holds
when all of them are compiled in one process, not when some are loaded from
the cache. A freshly compiled kernel calls the process's one compiled copy
of each shared helper; a kernel loaded from the cache carries its own copies,
re-optimised inside it, and under ``reassoc`` those can round a reduction
one ulp apart (docs/user_guide/startup.md, "Last bits"). So every session
compiles into its own empty directory, as CI's clean machine does. Set
``FASTGMM_TEST_CACHE_DIR`` to keep a cache between runs instead: faster, but
the bitwise cross-kernel tests may then fail in the last bits.

``NUMBA_CPU_NAME=haswell`` runs the suite with AVX2 code on an AVX-512 host,
but only with ``NUMBA_CPU_FEATURES`` set too: Numba takes the features from
the host unless told otherwise, and haswell with the host's avx512f still
emits AVX-512 code. A CPU name given without features here means that CPU's
own features (an empty feature string), in this process and in the processes
the tests start."""

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
_cpu_features_of_name = (bool(os.environ.get("NUMBA_CPU_NAME"))
                         and "NUMBA_CPU_FEATURES" not in os.environ)
if _cpu_features_of_name:
    os.environ["NUMBA_CPU_FEATURES"] = ""

import numba.core.config  # noqa: E402  (after the variable: Numba reads it once)

numba.core.config.CACHE_DIR = _cache
if _cpu_features_of_name:
    numba.core.config.CPU_FEATURES = ""
