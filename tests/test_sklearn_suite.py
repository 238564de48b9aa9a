"""scikit-learn's own mixture tests, run against fastgmm.

Every test function of the installed scikit-learn's
``sklearn/mixture/tests/test_gaussian_mixture.py``,
``test_bayesian_mixture.py`` and ``test_mixture.py`` is collected here and
run unchanged, with the names those modules use for the estimators
(``GaussianMixture``, ``BayesianGaussianMixture``, and the estimator
instances of ``test_mixture.py``'s parametrisation) replaced by fastgmm's.
So fastgmm is checked against scikit-learn's expectations word for word.
Their ``pytest.mark.parametrize`` and ``filterwarnings`` marks are kept;
scikit-learn's fixtures are filled in as its own ``conftest.py`` fills them
by default (``global_random_seed`` 42) except that ``global_dtype`` runs
both float64 and float32 (scikit-learn runs float32 only when asked), as
fastgmm fits float32 natively.

The tests left out are listed in :data:`LEFT_OUT` with the reason; a test
that runs but fails because fastgmm differs is in :data:`KNOWN_FAILURES`
and marked ``xfail(strict=True)``, so it turns into a failure (XPASS) the
day it passes.
"""

import inspect
import itertools

import numpy as np
import pytest

sk_gmm_tests = pytest.importorskip("sklearn.mixture.tests.test_gaussian_mixture")
sk_bgm_tests = pytest.importorskip("sklearn.mixture.tests.test_bayesian_mixture")
sk_mix_tests = pytest.importorskip("sklearn.mixture.tests.test_mixture")

import fastgmm  # noqa: E402

MODULES = {"gaussian": sk_gmm_tests, "bayesian": sk_bgm_tests, "mixture": sk_mix_tests}
# The module globals that name scikit-learn's estimators.
ESTIMATORS = {"GaussianMixture": fastgmm.GaussianMixture,
              "BayesianGaussianMixture": fastgmm.BayesianGaussianMixture}
# scikit-learn's conftest: global_random_seed is 42 unless
# SKLEARN_TESTS_GLOBAL_RANDOM_SEED says otherwise; global_dtype is float64,
# plus float32 on request (always here).
FIXTURES = {"global_random_seed": [42], "global_dtype": [np.float64, np.float32]}

_PRIVATE_SUFFSTAT = ("tests scikit-learn's private M-step helpers "
                     "(sklearn.mixture._gaussian_mixture._estimate_gaussian_covariances_*), "
                     "not the estimator")
_ARRAY_API = ("array API inputs (PyTorch, CuPy, array_api_strict): fastgmm's kernels "
              "take NumPy arrays only and does not claim array API support")
LEFT_OUT = {
    "gaussian": {
        "test_suffstat_sk_full": _PRIVATE_SUFFSTAT,
        "test_suffstat_sk_tied": _PRIVATE_SUFFSTAT,
        "test_suffstat_sk_diag": _PRIVATE_SUFFSTAT,
        "test_gaussian_suffstat_sk_spherical": _PRIVATE_SUFFSTAT,
        "test_compute_log_det_cholesky": (
            "tests the private sklearn.mixture._gaussian_mixture._compute_log_det_cholesky"),
        "test_gaussian_mixture_log_probabilities": (
            "tests the private sklearn.mixture._gaussian_mixture._estimate_log_gaussian_prob"),
        "test_gaussian_mixture_precisions_init": (
            "computes its expected precisions with scikit-learn's private "
            "_estimate_gaussian_parameters and calls the estimator's private "
            "_set_parameters(params), which in fastgmm also takes the dtype"),
        "test_gaussian_mixture_all_init_does_not_estimate_gaussian_parameters": (
            "mocks scikit-learn's private _estimate_gaussian_parameters to count its calls; "
            "fastgmm never calls it, so against fastgmm the test could not fail"),
        "test_gaussian_mixture_array_api_compliance": _ARRAY_API,
        "test_gaussian_mixture_raises_where_array_api_not_implemented": _ARRAY_API,
    },
    "bayesian": {
        "test_log_dirichlet_norm": (
            "tests the private sklearn.mixture._bayesian_mixture._log_dirichlet_norm"),
        "test_log_wishart_norm": (
            "tests the private sklearn.mixture._bayesian_mixture._log_wishart_norm"),
        "test_compare_covar_type": (
            "calls the private methods _check_parameters and _initialize_parameters"),
    },
    "mixture": {},
}
# Tests that run and fail because fastgmm differs from scikit-learn:
# (module, test, parameter id or None for all) -> reason.
KNOWN_FAILURES = {}


def _substitute(value):
    """fastgmm's estimator for a scikit-learn estimator instance (same parameters)."""
    cls = ESTIMATORS.get(type(value).__name__)
    if cls is not None and type(value).__module__.startswith("sklearn."):
        return cls(**value.get_params())
    return value


def _param_sets(func):
    """(id, kwargs, marks) for every parametrisation of a scikit-learn test."""
    axes, marks = [], []
    for mark in getattr(func, "pytestmark", []):
        if mark.name == "parametrize":
            names, values = mark.args[0], mark.args[1]
            names = [n.strip() for n in names.split(",")] if isinstance(names, str) else names
            ids = mark.kwargs.get("ids")
            rows = []
            for i, value in enumerate(values):
                value_marks = ()
                if hasattr(value, "values") and hasattr(value, "marks"):  # pytest.param
                    value, value_marks = value.values, value.marks
                    value = value if len(names) > 1 else value[0]
                row = dict(zip(names, value)) if len(names) > 1 else {names[0]: value}
                label = ids[i] if isinstance(ids, (list, tuple)) else "-".join(
                    _label(v) for v in row.values())
                rows.append((label, row, tuple(value_marks)))
            axes.append(rows)
        else:
            marks.append(mark)
    for name in inspect.signature(func).parameters:
        if name in FIXTURES:
            axes.append([(_label(v), {name: v}, ()) for v in FIXTURES[name]])
    for combo in itertools.product(*axes):
        label = "-".join(c[0] for c in combo)
        kwargs = {k: v for c in combo for k, v in c[1].items()}
        yield label, kwargs, marks + [m for c in combo for m in c[2]]


def _label(value):
    if isinstance(value, type):
        return value.__name__
    if hasattr(value, "get_params"):
        return type(value).__name__
    return str(value)


def _cases():
    for module_name, module in MODULES.items():
        for name, func in sorted(vars(module).items()):
            if not name.startswith("test_") or not callable(func):
                continue
            if name in LEFT_OUT[module_name]:
                continue
            for label, kwargs, marks in _param_sets(func):
                reason = (KNOWN_FAILURES.get((module_name, name, label))
                          or KNOWN_FAILURES.get((module_name, name, None)))
                if reason:
                    marks = marks + [pytest.mark.xfail(strict=True, reason=reason)]
                test_id = f"{module_name}-{name}" + (f"[{label}]" if label else "")
                yield pytest.param(module_name, name, kwargs, marks=marks, id=test_id)


def test_left_out_tests_exist():
    """Every test named in LEFT_OUT and KNOWN_FAILURES is still in scikit-learn."""
    for module_name, names in LEFT_OUT.items():
        for name in names:
            assert callable(getattr(MODULES[module_name], name, None)), (module_name, name)
    for module_name, name, _ in KNOWN_FAILURES:
        assert callable(getattr(MODULES[module_name], name, None)), (module_name, name)


@pytest.mark.parametrize("module_name, name, kwargs", list(_cases()))
def test_sklearn_mixture_test(module_name, name, kwargs, monkeypatch, request):
    module = MODULES[module_name]
    for attr, cls in ESTIMATORS.items():
        if hasattr(module, attr):
            monkeypatch.setattr(module, attr, cls)
    func = getattr(module, name)
    kwargs = {k: _substitute(v) for k, v in kwargs.items()}
    for param in inspect.signature(func).parameters:
        if param not in kwargs:  # pytest's own fixtures (monkeypatch, capsys, ...)
            kwargs[param] = request.getfixturevalue(param)
    func(**kwargs)
