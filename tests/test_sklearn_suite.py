"""scikit-learn's own GaussianMixture tests, run against fastgmm.

The test functions are imported from the installed scikit-learn
(``sklearn/mixture/tests/test_gaussian_mixture.py``) and run unchanged with
the module's ``GaussianMixture`` replaced by fastgmm's, so they check
fastgmm against scikit-learn's expectations word for word: the parameter
messages, the divergence of its issue #18216 and the ill-defined-covariance
error of ``test_regularisation``.
"""

import pytest

sk_tests = pytest.importorskip("sklearn.mixture.tests.test_gaussian_mixture")

from fastgmm import GaussianMixture  # noqa: E402

# The parameter checks, divergence and regularisation tests, and a few quick
# ones on fitted attributes and iteration bookkeeping.
PORTED = [
    "test_check_weights",
    "test_check_means",
    "test_check_precisions",
    "test_regularisation",
    "test_gaussian_mixture_setting_best_params",
    "test_gaussian_mixture_attributes",
    "test_gaussian_mixture_fit_convergence_warning",
    "test_max_iter_zero",
    "test_gaussian_mixture_single_component_stable",
]


@pytest.mark.parametrize("name", PORTED)
def test_sklearn_gaussian_mixture_test(name, monkeypatch):
    monkeypatch.setattr(sk_tests, "GaussianMixture", GaussianMixture)
    getattr(sk_tests, name)()
