"""fastgmm: Gaussian mixture models fitted by EM with fused Numba kernels.

``fastgmm.GaussianMixture`` is a drop-in replacement for
``sklearn.mixture.GaussianMixture``. Importing the package compiles
nothing; kernels compile on first use and are cached on disk.
"""

from ._version import __version__
from .io import load
from .mixture import GaussianMixture
from .selection import select

__all__ = ["GaussianMixture", "__version__", "load", "select"]
