"""Side-by-side comparison with scikit-learn: a thin wrapper of ``fastgmm.bench``.

Same options as ``fastgmm bench`` (``--cases``, ``--scale``, ``--markdown``,
``--png``, ...). For a fair scikit-learn baseline, run it with OpenBLAS's
core-type overrides unset::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/compare.py

(asv imports every module here while it looks for benchmarks, so nothing is
imported at module level: older commits have no ``fastgmm.bench``.)
"""

import sys

if __name__ == "__main__":
    from fastgmm.bench import main

    sys.exit(main())
