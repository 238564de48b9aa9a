"""Validation of user-given initial parameters (scikit-learn's messages)."""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import check_array


def _check_shape(param, shape, name):
    if param.shape != shape:
        raise ValueError(
            f"The parameter '{name}' should have the shape of {shape}, "
            f"but got {param.shape}"
        )


def check_weights(weights, n_components):
    """Weights of shape (n_components,), in [0, 1], summing to 1."""
    weights = check_array(weights, dtype=[np.float64, np.float32], ensure_2d=False)
    _check_shape(weights, (n_components,), "weights")
    if np.any(weights < 0.0) or np.any(weights > 1.0):
        raise ValueError(
            "The parameter 'weights' should be in the range [0, 1], but got "
            f"max value {weights.max():.5f}, min value {weights.min():.5f}"
        )
    atol = 1e-6 if weights.dtype == np.float32 else 1e-8
    if not abs(1.0 - float(weights.sum())) <= atol:
        raise ValueError(
            "The parameter 'weights' should be normalized, but got "
            f"sum(weights) = {weights.sum():.5f}"
        )
    return weights


def check_means(means, n_components, n_features):
    """Means of shape (n_components, n_features)."""
    means = check_array(means, dtype=[np.float64, np.float32], ensure_2d=False)
    _check_shape(means, (n_components, n_features), "means")
    return means


def _check_symmetric_positive_definite(matrix, covariance_type):
    if not (np.allclose(matrix, matrix.T) and np.all(np.linalg.eigvalsh(matrix) > 0.0)):
        raise ValueError(
            f"'{covariance_type} precision' should be symmetric, positive-definite"
        )


def check_precisions(precisions, covariance_type, n_components, n_features):
    """Precisions of the shape ``covariance_type`` implies, positive-definite."""
    precisions = check_array(precisions, dtype=[np.float64, np.float32],
                             ensure_2d=False, allow_nd=covariance_type == "full")
    shapes = {
        "full": (n_components, n_features, n_features),
        "tied": (n_features, n_features),
        "diag": (n_components, n_features),
        "spherical": (n_components,),
    }
    _check_shape(precisions, shapes[covariance_type], f"{covariance_type} precision")
    if covariance_type == "full":
        for matrix in precisions:
            _check_symmetric_positive_definite(matrix, covariance_type)
    elif covariance_type == "tied":
        _check_symmetric_positive_definite(precisions, covariance_type)
    elif np.any(precisions <= 0.0):
        raise ValueError(f"'{covariance_type} precision' should be positive")
    return precisions
