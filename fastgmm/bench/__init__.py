"""``fastgmm bench``: time fastgmm against scikit-learn and other EM implementations.

Both libraries fit the same data from the *same* initial parameters with
``tol=0`` and ``n_init=1``, so they do exactly the same EM work. The time of
one iteration is ``(t(max_iter=B) - t(max_iter=A)) / (B - A)``: validation
and other fixed costs cancel. fastgmm's times are the best of ``--repeat``
runs, scikit-learn's too as long as its runs take less than 20 s.

The cases (:data:`CASES`) cover low-dimensional, main, wide and diagonal
data and each covariance type, each with the speed-up over scikit-learn it
should reach, and ``bayes-main``: the main case for
``BayesianGaussianMixture``, where both start from the rows
``init_params='random_from_data'`` draws with ``random_state=0`` (the
variational mixtures take no ``*_init``). Every case runs at three centre
scales (``--separations``: overlapping, middle, well separated components)
and in both dtypes (``--dtypes``), so a slowdown that only one data shape
or dtype hits (float32 responsibilities in the subnormal band on Intel
cores) shows up as a number next to the others; the ``f32 gain`` column is
fastgmm's float64 time over its float32 time on the same data.
scikit-learn is timed at the separations of ``--sklearn-separations``
(default: 3 only, it is slow). ``--peers onedal`` adds Intel oneDAL's EM
(``daal4py.em_gmm`` from the ``scikit-learn-intelex`` package; full and
diagonal covariances only) from the same initial parameters, and its whole
default fit (its own initialisation, then EM to ``max_iter=100``), skipped
with a note when daal4py is not installed; ``--peers armadillo`` adds Armadillo's
``gmm_diag`` (diagonal case only, see :mod:`fastgmm.bench.peers.armadillo`),
skipped with a note when ``g++`` or Armadillo is missing. Extra
measurements (``--extras``, :mod:`fastgmm.bench.extras`) on the main case:
float32 vs float64, 1 vs N threads, achieved GFLOP/s next to NumPy's matmul
rate, k-means initialisation time, import and first-fit time in fresh
processes (warm and cold kernel cache, the cold first fit of each
covariance type, ``fastgmm warmup``), the peak memory of a fit above
the size of ``X``, and (``missing``, a table of its own) the time per
iteration with missing values over the time on the same data complete,
next to its goal (``--cases none`` runs the extras alone). ``fastgmm bench
many`` compares ``fit_many`` with loops of single fits
(:mod:`fastgmm.bench.many`).

scikit-learn's speed depends on NumPy's BLAS. OpenBLAS reads
``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` when it is loaded, and a
forced core type can make it several times slower; the report prints the
kernel OpenBLAS chose (via threadpoolctl) and warns when either variable is
set. For a fair baseline run::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE fastgmm bench

One module per job: :mod:`~fastgmm.bench.cases` (cases and data),
:mod:`~fastgmm.bench.timing` (seconds per iteration),
:mod:`~fastgmm.bench.peers` (oneDAL, Armadillo), :mod:`~fastgmm.bench.extras`,
:mod:`~fastgmm.bench.report` and :mod:`~fastgmm.bench.cli` (the command).
The fastgmm library imports nothing from this package.
"""

from .cases import CASES, SEPARATIONS, Case, initial_parameters, make_data
from .cli import main
from .peers import peer_available, peer_hint
from .timing import compare_case, per_iteration

__all__ = ["CASES", "SEPARATIONS", "Case", "compare_case", "initial_parameters", "main",
           "make_data", "peer_available", "peer_hint", "per_iteration"]
