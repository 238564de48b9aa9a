"""fastgmm: Gaussian mixture models fitted by EM with fused Numba kernels.

``fastgmm.GaussianMixture`` and ``fastgmm.BayesianGaussianMixture`` are
drop-in replacements for their ``sklearn.mixture`` namesakes. Importing the
package compiles nothing; kernels compile on first use and are cached on
disk.
"""

import importlib

from ._version import __version__
from .mixture import GaussianMixture

# Everything else loads on first access (PEP 562), so that ``import fastgmm``
# costs only what a GaussianMixture user needs.
_LAZY = {"BayesianGaussianMixture": "bayesian", "fit_many": "many", "load": "io",
         "on_iteration": "_em.progress", "select": "selection", "warmup": "_warmup"}

__all__ = ["BayesianGaussianMixture", "GaussianMixture", "__version__", "fit_many", "load",
           "on_iteration", "select", "warmup"]


def __getattr__(name):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'fastgmm' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
