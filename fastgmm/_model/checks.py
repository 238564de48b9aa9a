"""Checks of what the user gives beside the data: the ``*_init`` arrays, enough samples.

The checks and the start of every message are scikit-learn's, word for word
(``sklearn/mixture/_gaussian_mixture.py``: code that matches on its texts
keeps working); what follows names the constructor parameter
(``weights_init``, ``means_init``, ``precisions_init``) and what it expects.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import check_array

from .._kernels.layout import FLOAT_DTYPES



def check_n_samples(n_samples, n_components, prefix=""):
    """scikit-learn's check that there are at least as many samples as components."""
    if n_samples < n_components:
        raise ValueError(
            f"{prefix}Expected n_samples >= n_components "
            f"but got n_components = {n_components}, "
            f"n_samples = {n_samples}"
        )


def precision_shape(covariance_type, n_components, n_features):
    """Shape of ``precisions_`` (and ``covariances_``) for a covariance type."""
    return {
        "full": (n_components, n_features, n_features),
        "tied": (n_features, n_features),
        "diag": (n_components, n_features),
        "spherical": (n_components,),
    }[covariance_type]


_SHAPE_NAMES = {
    "full": "(n_components, n_features, n_features)",
    "tied": "(n_features, n_features)",
    "diag": "(n_components, n_features)",
    "spherical": "(n_components,)",
}


def _as_float_array(param, parameter, allow_nd=False):
    """scikit-learn's ``check_array`` call; its message, then the parameter's name."""
    try:
        return check_array(param, dtype=FLOAT_DTYPES, ensure_2d=False, allow_nd=allow_nd)
    except ValueError as exc:
        raise ValueError(f"{exc} (in {parameter})") from None


def _check_shape(param, shape, name, detail):
    """``sklearn.mixture._base._check_shape``'s test and text, then ``detail``."""
    if param.shape != shape:
        raise ValueError(
            f"The parameter '{name}' should have the shape of {shape}, "
            f"but got {param.shape}. {detail}"
        )


def check_weights_init(weights, n_components):
    """Weights of shape (n_components,), in [0, 1], summing to 1."""
    weights = _as_float_array(weights, "weights_init")
    _check_shape(weights, (n_components,), "weights",
                 "weights_init must have one weight per component, shape (n_components,).")
    if np.any(weights < 0.0) or np.any(weights > 1.0):
        low, high = float(weights.min()), float(weights.max())
        # scikit-learn prints the minimum as "max value" and the maximum as
        # "min value"; its text is kept as it is and the detail says which is which.
        raise ValueError(
            "The parameter 'weights' should be in the range [0, 1], but got "
            f"max value {low:.5f}, min value {high:.5f}. weights_init ranges "
            f"from {low:.5g} to {high:.5g}."
        )
    atol = 1e-6 if weights.dtype == np.float32 else 1e-8
    if not abs(1.0 - float(weights.sum())) <= atol:
        raise ValueError(
            "The parameter 'weights' should be normalized, but got "
            f"sum(weights) = {weights.sum():.5f}. weights_init must sum to 1."
        )
    return weights


def check_means_init(means, n_components, n_features):
    """Means of shape (n_components, n_features)."""
    means = _as_float_array(means, "means_init")
    _check_shape(means, (n_components, n_features), "means",
                 "means_init must have one row per component, shape "
                 "(n_components, n_features).")
    return means


def _check_precision_matrix(matrix, covariance_type, where):
    if not (np.allclose(matrix, matrix.T) and np.all(np.linalg.eigvalsh(matrix) > 0.0)):
        raise ValueError(
            f"'{covariance_type} precision' should be symmetric, positive-definite. "
            f"precisions_init{where} is not: it must be the inverse of a "
            "covariance matrix."
        )


def check_precisions_init(precisions, covariance_type, n_components, n_features):
    """Precisions of the shape ``covariance_type`` implies, positive-definite."""
    precisions = _as_float_array(precisions, "precisions_init",
                                 allow_nd=covariance_type == "full")
    _check_shape(precisions, precision_shape(covariance_type, n_components, n_features),
                 f"{covariance_type} precision",
                 f"precisions_init for covariance_type='{covariance_type}' must have "
                 f"shape {_SHAPE_NAMES[covariance_type]}.")
    if covariance_type == "full":
        for j, matrix in enumerate(precisions):
            _check_precision_matrix(matrix, covariance_type, f"[{j}]")
    elif covariance_type == "tied":
        _check_precision_matrix(precisions, covariance_type, "")
    elif np.any(precisions <= 0.0):
        raise ValueError(
            f"'{covariance_type} precision' should be positive, but got min value "
            f"{precisions.min():.5g} in precisions_init."
        )
    return precisions
