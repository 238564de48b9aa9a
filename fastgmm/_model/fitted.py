"""One check of a fitted mixture's attributes, before any kernel or file sees them.

Fitted attributes can be set by a user (``gm.means_ = ...``), restored by a
pickle, kept by ``warm_start`` across a change of ``set_params``, or read
from a model file. The kernels take ``n_components`` from ``means_`` and
trust every other array's shape, dtype and values: a wrong one reads out of
bounds (a crash), gives labels that change from run to run, or a silently
wrong result. So every path that hands fitted attributes to a kernel
(inference, a warm start, a continued ``partial_fit``) and every path that
writes or reads them (``save``, ``load``) calls :func:`check_fitted` first,
and a wrong attribute is a ``ValueError`` naming it.

Two levels:

* the default checks what the kernels and :meth:`sample` need: presence,
  dtype (float32 or float64), shape against ``n_components``,
  ``covariance_type`` and ``n_features_in_``, finite values, non-negative
  weights, precision Cholesky factors upper-triangular with a positive
  diagonal (the kernels read the upper triangle and take the log of the
  diagonal), positive variances, the Bayesian posteriors' positivity, and
  the type of every fitted scalar;
* ``strict=True`` (``save`` and ``load``) adds what a model file promises:
  one dtype for all model arrays, weights that sum to 1, covariances and
  precisions that are symmetric positive-definite, inverse to each other,
  and the precisions equal to ``U U^T`` of their Cholesky factor. A model
  whose ``covariances_`` and ``precisions_`` were swapped fails there.

When the arrays are consistent with each other but not with
``n_components`` / ``covariance_type`` (the parameters were changed after
fit), the message says so instead of naming one array.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np

from .._kernels.layout import COVARIANCE_TYPES, FLOAT_DTYPES
from .checks import precision_shape

# Fitted arrays that no inference method reads (checked when present).
_OPTIONAL_FOR_INFERENCE = ("precisions_", "mean_prior_", "covariance_prior_")


class _Problem(Exception):
    """One attribute that is wrong: ``name`` and what is wrong with it."""

    def __init__(self, name: str, why: str):
        super().__init__(name, why)
        self.name = name
        self.why = why


def check_fitted(estimator, remedy: str = "call fit again", strict: bool = False) -> None:
    """Raise a ``ValueError`` naming the first fitted attribute that is wrong.

    Parameters
    ----------
    estimator : BaseMixture
        A fitted mixture (``check_is_fitted`` has passed).
    remedy : str
        What the user should do, appended to the message.
    strict : bool, default=False
        Also check what a model file promises (see the module docstring).
    """
    k, cov_type = estimator.n_components, estimator.covariance_type
    try:
        _check(estimator, k, cov_type, strict)
        return
    except _Problem as problem:
        first = problem
    valid = cov_type in COVARIANCE_TYPES and _is_int(k) and k >= 1
    # Arrays that agree with each other under other parameters: those
    # parameters were changed after fit (set_params), not the arrays.
    weights = getattr(estimator, "weights_", None)
    if isinstance(weights, np.ndarray) and weights.ndim == 1 and weights.size > 0:
        for other_type in COVARIANCE_TYPES:
            if (len(weights), other_type) == (k, cov_type):
                continue
            try:
                _check(estimator, len(weights), other_type, strict)
            except _Problem:
                continue
            d = np.shape(estimator.means_)[1]
            expected = (f" (expected shape {precision_shape(cov_type, k, d)})" if valid
                        else "")
            raise ValueError(
                f"The fitted model has {len(weights)} components and "
                f"precisions_cholesky_ of shape {np.shape(estimator.precisions_cholesky_)}, "
                f"which does not match n_components={k!r} and "
                f"covariance_type={cov_type!r}{expected}; these parameters were changed "
                f"after fit: {remedy}.")
    raise ValueError(f"The fitted attribute {first.name} {first.why}. The fitted "
                     f"attributes were changed or corrupted after fit: {remedy}.")


def fitted_problem(estimator, strict: bool = False) -> tuple[str, str] | None:
    """``(attribute, what is wrong)`` of the first wrong fitted attribute, or None."""
    try:
        _check(estimator, estimator.n_components, estimator.covariance_type, strict)
    except _Problem as problem:
        return problem.name, problem.why
    return None


# ------------------------------------------------------------------ checks
def _check(est, k: int, cov_type: str, strict: bool) -> None:
    if cov_type not in COVARIANCE_TYPES or not _is_int(k) or k < 1:
        # Parameters set after fit; the caller reports them if the arrays
        # match other ones, else this.
        raise _Problem("arrays", f"cannot be checked against n_components={k!r} and "
                                 f"covariance_type={cov_type!r}")
    d = _n_features(est, strict)
    shapes = est._file_shapes(d, k, cov_type)
    # A model built by hand for inference may lack what inference never
    # reads; a model file needs everything.
    arrays = {name: _array(est, name) for name in est._file_arrays
              if strict or name not in _OPTIONAL_FOR_INFERENCE or hasattr(est, name)}
    model_dtype = arrays["means_"].dtype
    for name, a in arrays.items():
        if a.dtype not in FLOAT_DTYPES:
            raise _Problem(name, f"has dtype {a.dtype}, expected float32 or float64")
        if strict and name not in est._file_any_float and a.dtype != model_dtype:
            raise _Problem(name, f"has dtype {a.dtype} where means_ has {model_dtype}; "
                                 "every fitted array must have the model's dtype")
        if a.shape != shapes[name]:
            raise _Problem(name, f"has shape {a.shape}, expected {shapes[name]} for "
                                 f"n_components={k}, covariance_type={cov_type!r} and "
                                 f"n_features_in_={d}")
        if not np.isfinite(a).all():
            raise _Problem(name, "contains non-finite values (NaN or infinity)")
    _check_values(arrays, cov_type, d)
    est._check_fitted_values(arrays, _Problem)
    _check_scalars(est, d, strict)
    if strict:
        _check_file_consistency(arrays, cov_type)


def _n_features(est, strict) -> int:
    if not strict and not hasattr(est, "n_features_in_"):  # a model built by hand
        means = _attribute(est, "means_")
        return int(np.shape(means)[-1]) if np.ndim(means) else 0
    d = _attribute(est, "n_features_in_")
    if not isinstance(d, Integral) or isinstance(d, (bool, np.bool_)) or d < 1:
        raise _Problem("n_features_in_", f"is {d!r}, expected a positive integer")
    return int(d)


def _attribute(est, name):
    try:
        return getattr(est, name)
    except AttributeError:
        raise _Problem(name, "is missing") from None


def _array(est, name) -> np.ndarray:
    value = _attribute(est, name)
    try:
        if isinstance(value, tuple):
            # Two arrays ('dirichlet_process' concentrations) stack to (2, k),
            # after a check of each one's own dtype (stacking would convert it).
            for part in value:
                if np.asarray(part).dtype not in FLOAT_DTYPES:
                    raise _Problem(name, f"holds an array of dtype {np.asarray(part).dtype}, "
                                         "expected float32 or float64")
        return np.asarray(value)
    except (ValueError, TypeError) as exc:
        raise _Problem(name, f"is not an array ({exc})") from None


def _check_values(arrays, cov_type, d) -> None:
    """What the kernels need of the values: they take logs and read upper triangles."""
    weights = arrays["weights_"]
    if np.any(weights < 0) or not weights.sum() > 0:
        raise _Problem("weights_", "must be non-negative with a positive sum")
    chol = arrays["precisions_cholesky_"]
    if cov_type in ("full", "tied"):
        if np.any(np.diagonal(chol, axis1=-2, axis2=-1) <= 0) or np.any(np.tril(chol, -1)):
            raise _Problem("precisions_cholesky_", "must be upper-triangular with a "
                           "positive diagonal")
        for name in ("covariances_", "precisions_"):
            if name in arrays and np.any(np.diagonal(arrays[name], axis1=-2, axis2=-1) <= 0):
                raise _Problem(name, "must have a positive diagonal")
    else:
        for name in ("precisions_cholesky_", "covariances_", "precisions_"):
            if name in arrays and np.any(arrays[name] <= 0):
                raise _Problem(name, "must be positive")


def check_positive(arrays, names, what="must be positive") -> None:
    """Each of ``names`` positive (for the subclasses' own arrays)."""
    for name in names:
        if np.any(arrays[name] <= 0):
            raise _Problem(name, what)


def _check_scalars(est, d, strict) -> None:
    """The fitted scalars (where present, unless ``strict``: inference reads none)."""
    def present(name):
        return strict or hasattr(est, name)

    if present("n_iter_"):
        n_iter = _attribute(est, "n_iter_")
        if not _is_int(n_iter) or n_iter < 0:
            raise _Problem("n_iter_", f"is {n_iter!r}, expected a non-negative integer")
    if present("converged_"):
        converged = _attribute(est, "converged_")
        if not isinstance(converged, (bool, np.bool_)):
            raise _Problem("converged_", f"is {converged!r}, expected a bool")
    if present("lower_bound_"):
        bound = _attribute(est, "lower_bound_")
        if not _is_real(bound) or np.isnan(bound) or bound == np.inf:
            raise _Problem("lower_bound_", f"is {bound!r}, expected a float (or -inf)")
    if present("lower_bounds_"):
        bounds = _attribute(est, "lower_bounds_")
        if (not isinstance(bounds, (list, tuple, np.ndarray)) or np.ndim(bounds) != 1
                or not all(_is_real(b) and not np.isnan(b) for b in bounds)):
            raise _Problem("lower_bounds_", f"is {bounds!r}, expected a list of floats")
    if hasattr(est, "n_reseeds_"):
        counts = est.n_reseeds_
        if (not isinstance(counts, np.ndarray) or counts.ndim != 1
                or counts.dtype.kind not in "iu" or np.any(counts < 0)):
            raise _Problem("n_reseeds_", f"is {counts!r}, expected a 1-D array of "
                                         "non-negative integers")
    if hasattr(est, "feature_names_in_"):
        names = est.feature_names_in_
        if (not isinstance(names, np.ndarray) or names.shape != (d,)
                or not all(isinstance(n, str) for n in names)):
            raise _Problem("feature_names_in_", f"must be an array of {d} strings "
                                                "(n_features_in_)")
    for name in est._fitted_positive_scalars:
        if not present(name):
            continue
        value = _attribute(est, name)
        if not _is_real(value) or not np.isfinite(value) or value <= 0:
            raise _Problem(name, f"is {value!r}, expected a positive number")


def _is_int(value) -> bool:
    return isinstance(value, Integral) and not isinstance(value, (bool, np.bool_))


def _is_real(value) -> bool:
    return isinstance(value, Real) and not isinstance(value, (bool, np.bool_))


# ----------------------------------------------- what a model file promises
def _check_file_consistency(arrays, cov_type) -> None:
    weights = arrays["weights_"]
    tol = 1e-5 if weights.dtype == np.float32 else 1e-10
    if np.any(weights > 1) or abs(float(weights.sum(dtype=np.float64)) - 1.0) > tol:
        raise _Problem("weights_", "must lie in [0, 1] and sum to 1, got sum "
                                   f"{float(weights.sum(dtype=np.float64))!r}")
    if cov_type in ("diag", "spherical"):
        cov = arrays["covariances_"].astype(np.float64)
        prec = arrays["precisions_"].astype(np.float64)
        chol = arrays["precisions_cholesky_"].astype(np.float64)
        eps = np.finfo(arrays["precisions_"].dtype).eps
        if np.any(np.abs(prec - chol * chol) > 16 * eps * prec):
            raise _Problem("precisions_", "is not the square of precisions_cholesky_")
        if np.any(np.abs(cov * prec - 1.0) > 64 * eps):
            raise _Problem("covariances_", "is not the inverse of precisions_")
        return
    cov = np.asarray(arrays["covariances_"], dtype=np.float64)
    prec = np.asarray(arrays["precisions_"], dtype=np.float64)
    chol = np.asarray(arrays["precisions_cholesky_"], dtype=np.float64)
    if cov_type == "tied":
        cov, prec, chol = cov[None], prec[None], chol[None]
    d = cov.shape[-1]
    eps = float(np.finfo(arrays["precisions_"].dtype).eps)
    for name, matrix in (("precisions_", prec), ("covariances_", cov)):
        scale = np.abs(matrix).max(axis=(-2, -1), keepdims=True)
        if np.any(np.abs(matrix - np.swapaxes(matrix, -1, -2)) > 16 * d * eps * scale):
            raise _Problem(name, "is not symmetric")
        try:
            np.linalg.cholesky(matrix)
        except np.linalg.LinAlgError:
            raise _Problem(name, "is not positive-definite") from None
    # precisions_ = U U^T of its Cholesky factor, to rounding of the dtype.
    product = chol @ np.swapaxes(chol, -1, -2)
    scale = np.abs(product).max(axis=(-2, -1), keepdims=True)
    if np.any(np.abs(prec - product) > 16 * d * eps * scale):
        raise _Problem("precisions_", "is not precisions_cholesky_ @ precisions_cholesky_.T")
    # covariances_ @ precisions_ = I, to the rounding the condition number allows.
    identity = cov @ prec
    bound = (64 * d * eps * np.abs(cov).max(axis=(-2, -1))
             * np.abs(prec).max(axis=(-2, -1)) * d)
    error = np.abs(identity - np.eye(d)).max(axis=(-2, -1))
    if np.any(error > np.maximum(bound, 16 * eps)):
        raise _Problem("covariances_", "is not the inverse of precisions_")
