"""Start-up in a fresh interpreter with a warm on-disk Numba cache.

asv's ``timeraw_`` benchmarks return ``(statement, setup)``; asv times the
statement in a new Python process. ``setup`` here (run in the benchmark's
own process first) does the same fit once, so the cache is warm.
"""

from .common import FASTGMM_ROOT, GaussianMixture, make_data

TINY = {}  # used by tests/test_asv.py

_PATH = f"import sys; sys.path.insert(0, {FASTGMM_ROOT!r})"
_FIRST_FIT = "fastgmm.GaussianMixture(3, random_state=0, max_iter=20).fit(X)"
_FIRST_FIT_SETUP = f"""
{_PATH}
import warnings
import numpy as np
import fastgmm
warnings.simplefilter("ignore")
X = np.random.default_rng(0).normal(size=(2000, 4))
"""


class Startup:
    timeout = 600

    def setup(self):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            X = make_data(2000, 4, 3)
            GaussianMixture(3, random_state=0, max_iter=20).fit(X)

    def timeraw_import(self):
        """``import fastgmm`` above ``import numba, sklearn.base``."""
        return "import fastgmm", f"{_PATH}\nimport numba, sklearn.base"

    def timeraw_first_fit(self):
        """The first small fit (k-means init + EM) of a fresh process."""
        return _FIRST_FIT, _FIRST_FIT_SETUP
