"""Side-by-side comparison with scikit-learn: a thin wrapper of ``fastgmm.bench``.

Same options as ``fastgmm bench`` (``--cases``, ``--scale``, ``--markdown``,
``--png``, ...). For a fair scikit-learn baseline, run it with OpenBLAS's
core-type overrides unset::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/compare.py
"""

import sys

from fastgmm.bench import main

if __name__ == "__main__":
    sys.exit(main())
