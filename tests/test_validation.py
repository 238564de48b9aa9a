"""Bad input gives a clear ValueError (never a Numba typing traceback);
unusual but valid input is converted at the boundary and fitted."""

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from fastgmm import GaussianMixture


def _data(n=60, d=2, seed=0):
    rng = np.random.default_rng(seed)
    return np.vstack([rng.normal(size=(n // 2, d)), rng.normal(size=(n - n // 2, d)) + 6])


@pytest.fixture(scope="module")
def fitted():
    return GaussianMixture(2, random_state=0).fit(_data())


# --------------------------------------------------------------------- X
@pytest.mark.parametrize(("X", "match"), [
    (np.array([[0.0, 1.0], [np.nan, 1.0], [2.0, 3.0]]), "Input X contains NaN"),
    (np.array([[0.0, 1.0], [np.inf, 1.0], [2.0, 3.0]]), "Input X contains infinity"),
    (np.arange(10.0), "Expected 2D array, got 1D array instead"),
    (np.zeros((4, 3, 2)), "Found array with dim 3"),
    (np.zeros((0, 2)), r"Found array with 0 sample\(s\)"),
    (np.zeros((1, 2)), r"Found array with 1 sample\(s\).*minimum of 2 is required"),
    (np.zeros((5, 0)), r"Found array with 0 feature\(s\)"),
    ([["a", "b"], ["c", "d"], ["e", "f"]], "could not convert string to float: 'a'"),
    (np.ones((4, 2)) + 1j, "Complex data not supported"),
])
def test_bad_X_at_fit(X, match):
    with pytest.raises(ValueError, match=match):
        GaussianMixture(1).fit(X)


def test_fewer_samples_than_components():
    with pytest.raises(ValueError, match="Expected n_samples >= n_components but got "
                                         "n_components = 5, n_samples = 4"):
        GaussianMixture(5).fit(_data(n=4))


@pytest.mark.parametrize("method", ["predict", "predict_proba", "score_samples", "score",
                                    "bic", "aic"])
def test_bad_X_at_inference(fitted, method):
    predict = getattr(fitted, method)
    with pytest.raises(ValueError, match="X has 3 features, but GaussianMixture is "
                                         "expecting 2 features as input"):
        predict(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="Input X contains NaN"):
        predict(np.array([[0.0, np.nan]]))
    with pytest.raises(ValueError, match="Expected 2D array, got 1D array"):
        predict(np.zeros(2))


@pytest.mark.parametrize("method", ["predict", "predict_proba", "score_samples", "score",
                                    "bic", "aic"])
def test_not_fitted(method):
    with pytest.raises(NotFittedError, match="This GaussianMixture instance is not "
                                             "fitted yet"):
        getattr(GaussianMixture(2), method)(_data())


def test_sample_not_fitted_and_bad_n_samples(fitted):
    with pytest.raises(NotFittedError):
        GaussianMixture(2).sample(3)
    with pytest.raises(ValueError, match="Invalid value for 'n_samples': 0"):
        fitted.sample(0)


# ------------------------------------------------------ constructor params
@pytest.mark.parametrize(("params", "match"), [
    ({"tol": -1.0}, r"The 'tol' parameter of GaussianMixture must be a float in the "
                    r"range \[0.0, inf\). Got -1.0 instead"),
    ({"covariance_type": "banana"}, "The 'covariance_type' parameter of "
                                    "GaussianMixture must be a str among"),
    ({"n_components": 0}, "The 'n_components' parameter .* range \\[1, inf\\)"),
    ({"reg_covar": -1e-6}, "The 'reg_covar' parameter"),
    ({"max_iter": -1}, "The 'max_iter' parameter"),
    ({"n_init": 0}, "The 'n_init' parameter"),
    ({"n_init": 2.0}, "The 'n_init' parameter .* must be an int"),
    ({"init_params": "kmedoids"}, "The 'init_params' parameter"),
    ({"verbose_interval": 0}, "The 'verbose_interval' parameter"),
    ({"random_state": "seed"}, "The 'random_state' parameter"),
    ({"warm_start": "yes"}, "The 'warm_start' parameter"),
    ({"means_init": "abc"}, "The 'means_init' parameter .* must be an array-like"),
])
def test_bad_constructor_params(params, match):
    gm = GaussianMixture(**{"n_components": 2, **params})  # __init__ only stores
    with pytest.raises(ValueError, match=match):
        gm.fit(_data())


# ----------------------------------------------------------- initial params
# scikit-learn's text first (word for word), then which parameter and what it expects.
@pytest.mark.parametrize(("params", "match"), [
    ({"weights_init": [0.5, 0.3, 0.2]},
     r"^The parameter 'weights' should have the shape of \(2,\), but got \(3,\)\. "
     r"weights_init must have one weight per component"),
    ({"weights_init": [[0.5, 0.5]]},
     r"^The parameter 'weights' should have the shape of \(2,\), but got \(1, 2\)"),
    ({"weights_init": [-0.5, 1.5]},
     r"^The parameter 'weights' should be in the range \[0, 1\], but got max value "
     r"-0\.50000, min value 1\.50000\. weights_init ranges from -0\.5 to 1\.5\.$"),
    ({"weights_init": [0.5, 0.6]},
     r"^The parameter 'weights' should be normalized, but got sum\(weights\) = "
     r"1\.10000\. weights_init must sum to 1\.$"),
    ({"weights_init": [np.nan, 1.0]}, r"^Input contains NaN\. \(in weights_init\)$"),
    ({"means_init": np.zeros((3, 2))},
     r"^The parameter 'means' should have the shape of \(2, 2\), but got \(3, 2\)\. "
     r"means_init must have one row per component"),
    ({"means_init": [0.0, 1.0]}, r"^The parameter 'means' should have the shape of \(2, 2\)"),
    ({"means_init": [[0.0, np.inf], [1.0, 1.0]]},
     r"^Input contains infinity or a value too large for dtype\('float64'\)\. "
     r"\(in means_init\)$"),
    ({"precisions_init": np.ones(2)},
     r"^The parameter 'full precision' should have the shape of \(2, 2, 2\), but got "
     r"\(2,\)\. precisions_init for covariance_type='full' must have shape "
     r"\(n_components, n_features, n_features\)\.$"),
    ({"precisions_init": np.ones((2, 2, 2))},
     r"^'full precision' should be symmetric, positive-definite\. precisions_init\[0\] "
     r"is not"),
    ({"precisions_init": np.array([np.eye(2), [[1.0, 0.5], [0.0, 1.0]]])},
     r"^'full precision' should be symmetric, positive-definite\. precisions_init\[1\]"),
    ({"covariance_type": "tied", "precisions_init": np.ones((3, 3))},
     r"^The parameter 'tied precision' should have the shape of \(2, 2\), but got "
     r"\(3, 3\)"),
    ({"covariance_type": "tied", "precisions_init": np.ones((2, 2, 2))},
     r"^Found array with dim 3, while dim <= 2 is required\. \(in precisions_init\)$"),
    ({"covariance_type": "tied", "precisions_init": -np.eye(2)},
     r"^'tied precision' should be symmetric, positive-definite\. precisions_init is "
     r"not"),
    ({"covariance_type": "diag", "precisions_init": np.ones(2)},
     r"^The parameter 'diag precision' should have the shape of \(2, 2\), but got \(2,\)"),
    ({"covariance_type": "diag", "precisions_init": np.array([[1.0, 0.0], [1.0, 1.0]])},
     r"^'diag precision' should be positive, but got min value 0 in precisions_init\.$"),
    ({"covariance_type": "spherical", "precisions_init": np.ones((2, 2))},
     r"^The parameter 'spherical precision' should have the shape of \(2,\), but got "
     r"\(2, 2\)"),
    ({"covariance_type": "spherical", "precisions_init": [1.0, -2.0]},
     r"^'spherical precision' should be positive, but got min value -2 in "
     r"precisions_init\.$"),
    ({"precisions_init": np.full((2, 2, 2), np.nan)},
     r"^Input contains NaN\. \(in precisions_init\)$"),
])
def test_bad_initial_parameters(params, match):
    with pytest.raises(ValueError, match=match):
        GaussianMixture(2, **params).fit(_data())


@pytest.mark.parametrize("params", [
    {"weights_init": np.full((2, 1), 0.5)},
    {"weights_init": [0.5, 0.3, 0.2]},
    {"weights_init": [1.25, 1.5]},
    {"weights_init": [-0.5, 1.5]},
    {"weights_init": [0.3, 0.3]},
    {"weights_init": np.array([0.3, 0.3], dtype=np.float32)},
    {"weights_init": [np.nan, 1.0]},
    {"means_init": np.zeros((3, 2))},
    {"means_init": [[0.0, np.inf], [1.0, 1.0]]},
    {"precisions_init": np.ones((3, 2, 2))},
    {"precisions_init": np.array([np.eye(2), [[1.0, 0.5], [0.0, 1.0]]])},
    {"precisions_init": np.array([np.eye(2), -np.eye(2)])},
    {"covariance_type": "tied", "precisions_init": np.ones((3, 3))},
    {"covariance_type": "tied", "precisions_init": np.ones((2, 2, 2))},
    {"covariance_type": "tied", "precisions_init": np.ones((2, 2))},
    {"covariance_type": "diag", "precisions_init": np.ones(2)},
    {"covariance_type": "diag", "precisions_init": np.array([[1.0, 0.0], [1.0, 1.0]])},
    {"covariance_type": "spherical", "precisions_init": np.ones((2, 2))},
    {"covariance_type": "spherical", "precisions_init": [1.0, -2.0]},
    {"covariance_type": "spherical", "precisions_init": [1.0, np.nan]},
], ids=lambda params: "-".join(f"{k}={np.shape(v)}" for k, v in params.items()))
def test_initial_parameter_messages_are_sklearns(params):
    """The message starts with scikit-learn's own, verbatim (run both, compare)."""
    from sklearn.mixture import GaussianMixture as SkGaussianMixture

    X = _data()
    with pytest.raises(ValueError) as theirs:
        SkGaussianMixture(2, **params).fit(X)
    with pytest.raises(ValueError) as ours:
        GaussianMixture(2, **params).fit(X)
    assert str(ours.value).startswith(str(theirs.value))
    # Whatever follows is extra detail naming the constructor parameter.
    assert "_init" in str(ours.value)[len(str(theirs.value)):]


def test_initial_parameters_are_checked_against_the_data():
    """means_init fits the constructor but not X's number of features."""
    gm = GaussianMixture(2, means_init=np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"'means' should have the shape of \(2, 2\)"):
        gm.fit(_data())
    gm.fit(_data(d=3))
    assert gm.means_.shape == (2, 3)


# ------------------------------------------------------------ sample_weight
@pytest.mark.parametrize(("sample_weight", "match"), [
    (np.r_[-1.0, np.ones(59)], "Negative values in data passed to `sample_weight`"),
    (np.ones(3), r"sample_weight.shape == \(3,\), expected \(60,\)"),
    (np.zeros(60), "at least one non-zero"),
    (np.r_[np.nan, np.ones(59)], "Input sample_weight contains NaN"),
])
def test_bad_sample_weight(sample_weight, match):
    with pytest.raises(ValueError, match=match):
        GaussianMixture(2).fit(_data(), sample_weight=sample_weight)


# ---------------------------------------------- valid input of unusual kinds
@pytest.mark.parametrize("convert", [
    lambda X: X.astype(">f8"),            # big-endian: Numba cannot type it as is
    lambda X: X.astype(np.float16),       # upcast to float64
    lambda X: X.astype(np.int64),
    lambda X: np.asfortranarray(X),
    lambda X: np.repeat(X, 2, axis=1)[:, ::2],  # strided view
    lambda X: X.tolist(),
    lambda X: X.astype(object),
], ids=["big-endian", "float16", "int", "fortran", "strided", "list", "object"])
def test_unusual_but_valid_X_is_converted(convert):
    X = np.round(_data() * 8)  # integers, exact in every dtype above
    expected = GaussianMixture(2, random_state=0).fit(X)
    gm = GaussianMixture(2, random_state=0).fit(convert(X))
    assert gm.means_.dtype == np.float64
    np.testing.assert_allclose(gm.means_, expected.means_, rtol=1e-12)
    np.testing.assert_array_equal(gm.predict(convert(X)), expected.predict(X))


def test_float32_data_on_a_float64_model(fitted):
    X = _data(seed=3)
    np.testing.assert_array_equal(fitted.predict(X.astype(np.float32)), fitted.predict(X))
    np.testing.assert_allclose(fitted.score_samples(X.astype(np.float32)),
                               fitted.score_samples(X), rtol=1e-5)


def _kernel_signatures():
    import importlib
    import pkgutil

    import fastgmm._kernels
    from fastgmm._kernels import passes as _passes
    modules = [importlib.import_module(f"fastgmm._kernels.{info.name}")
               for info in pkgutil.iter_modules(fastgmm._kernels.__path__)]
    counts = {f"{module.__name__}.{name}": len(getattr(module, name).signatures)
              for module in modules for name in dir(module)
              if hasattr(getattr(module, name), "signatures")}
    counts["task functions"] = (_passes.stats_task.cache_info().currsize,
                                _passes.score_task.cache_info().currsize)
    return counts


@pytest.mark.parametrize("init_params", ["kmeans", "k-means++", "random"])
def test_other_layouts_compile_no_new_kernels(init_params):
    """Fortran-ordered and strided X are converted to C order at the boundary,
    so every kernel keeps one signature per dtype (the k-means kernels used to
    compile 'F' and 'A' variants, ~45 s each)."""
    X = _data()
    GaussianMixture(2, init_params=init_params, random_state=0).fit(X).predict(X)
    before = _kernel_signatures()
    for other in (np.asfortranarray(X), np.repeat(X, 2, axis=1)[:, ::2]):
        gm = GaussianMixture(2, init_params=init_params, random_state=0).fit(other)
        gm.predict(other)
    assert _kernel_signatures() == before


def test_readonly_X_compiles_no_new_kernels():
    """Kernels only ever see read-only views, so a read-only X (np.memmap mode
    'r', joblib's memmapped data) reuses the signatures of a writeable one."""
    X = _data()
    GaussianMixture(2, random_state=0).fit(X).predict(X)
    before = _kernel_signatures()
    X_readonly = X.copy()
    X_readonly.flags.writeable = False
    GaussianMixture(2, random_state=0).fit(X_readonly).predict(X_readonly)
    assert _kernel_signatures() == before
