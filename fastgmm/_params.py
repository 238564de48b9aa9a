"""Validation of user-given initial parameters.

The checks are scikit-learn's; the messages name the constructor parameter
(``weights_init``, ``means_init``, ``precisions_init``), echo what was given
and say what is expected.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import check_array

_FLOAT_DTYPES = [np.float64, np.float32]


def precision_shape(covariance_type, n_components, n_features):
    """Shape of ``precisions_`` (and ``covariances_``) for a covariance type."""
    return {
        "full": (n_components, n_features, n_features),
        "tied": (n_features, n_features),
        "diag": (n_components, n_features),
        "spherical": (n_components,),
    }[covariance_type]


def _as_float_array(param, name):
    return check_array(param, dtype=_FLOAT_DTYPES, ensure_2d=False, allow_nd=True,
                       input_name=name)


def _check_shape(param, shape, name, context=""):
    if param.shape != shape:
        raise ValueError(
            f"The parameter '{name}' should have the shape of {shape}{context}, "
            f"but got {param.shape}"
        )


def check_weights(weights, n_components):
    """Weights of shape (n_components,), in [0, 1], summing to 1."""
    weights = _as_float_array(weights, "weights_init")
    _check_shape(weights, (n_components,), "weights_init", " (n_components,)")
    if np.any(weights < 0.0) or np.any(weights > 1.0):
        raise ValueError(
            "The parameter 'weights_init' should be in the range [0, 1], but got "
            f"max value {weights.max():.5f}, min value {weights.min():.5f}"
        )
    atol = 1e-6 if weights.dtype == np.float32 else 1e-8
    if not abs(1.0 - float(weights.sum())) <= atol:
        raise ValueError(
            "The parameter 'weights_init' should be normalized (sum to 1), but got "
            f"sum(weights_init) = {weights.sum():.5f}"
        )
    return weights


def check_means(means, n_components, n_features):
    """Means of shape (n_components, n_features)."""
    means = _as_float_array(means, "means_init")
    _check_shape(means, (n_components, n_features), "means_init",
                 " (n_components, n_features)")
    return means


def _check_symmetric_positive_definite(matrix, covariance_type, where):
    if not (np.allclose(matrix, matrix.T) and np.all(np.linalg.eigvalsh(matrix) > 0.0)):
        raise ValueError(
            f"'precisions_init{where}' for covariance_type='{covariance_type}' "
            "should be symmetric, positive-definite (the inverse of a covariance "
            "matrix)"
        )


def check_precisions(precisions, covariance_type, n_components, n_features):
    """Precisions of the shape ``covariance_type`` implies, positive-definite."""
    precisions = _as_float_array(precisions, "precisions_init")
    _check_shape(precisions, precision_shape(covariance_type, n_components, n_features),
                 "precisions_init", f" for covariance_type='{covariance_type}'")
    if covariance_type == "full":
        for j, matrix in enumerate(precisions):
            _check_symmetric_positive_definite(matrix, covariance_type, f"[{j}]")
    elif covariance_type == "tied":
        _check_symmetric_positive_definite(precisions, covariance_type, "")
    elif np.any(precisions <= 0.0):
        raise ValueError(
            f"'precisions_init' for covariance_type='{covariance_type}' should be "
            f"positive, but got min value {precisions.min():.5g}"
        )
    return precisions
