"""fastgmm: Gaussian mixture models fitted by EM with fused Numba kernels.

``fastgmm.GaussianMixture`` and ``fastgmm.BayesianGaussianMixture`` are
drop-in replacements for their ``sklearn.mixture`` namesakes. Importing the
package compiles nothing; kernels compile on first use and are cached on
disk.
"""

from ._version import __version__
from ._warmup import warmup
from .bayesian import BayesianGaussianMixture
from .io import load
from .many import fit_many
from .mixture import GaussianMixture
from .selection import select

__all__ = ["BayesianGaussianMixture", "GaussianMixture", "__version__", "fit_many", "load",
           "select", "warmup"]
