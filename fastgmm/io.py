"""Safe model files: ``save`` and ``load`` of fitted mixtures, no pickle.

The file format (a versioned ``.npz`` archive with a JSON header and a
checksum, written atomically) lives in :mod:`fastgmm._files.modelfile`, which
knows arrays only. This module is the top of the import graph: it knows the
estimator classes and builds one from a file, after checking everything in
it. :func:`load` refuses anything it cannot vouch for with a ``ValueError``
that names the file and the problem.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ._em.base import BaseMixture
from ._files.modelfile import FORMAT_NAME, FORMAT_VERSION, Refuse, read_archive
from ._files.modelfile import check_array as _check_array
from ._files.modelfile import check_positive_definite as _check_positive_definite
from ._files.modelfile import check_weights as _check_weights
from ._kernels.layout import FLOAT_DTYPES
from ._model.fitted import fitted_problem
from .bayesian import BayesianGaussianMixture
from .mixture import GaussianMixture

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "load", "save"]

# The estimators a model file may name.
_ESTIMATORS: dict[str, type[BaseMixture]] = {
    "GaussianMixture": GaussianMixture,
    "BayesianGaussianMixture": BayesianGaussianMixture,
}


def save(model: BaseMixture, path: str | os.PathLike) -> None:
    """Write a fitted mixture to ``path`` atomically (see :meth:`GaussianMixture.save`).

    Parameters
    ----------
    model : GaussianMixture or BayesianGaussianMixture
        A fitted mixture.
    path : str or path-like
        Destination, written exactly as given (no suffix is added; ``.npz``
        is the conventional one). An existing file is replaced only once the
        new one is completely on disk.

    See Also
    --------
    load : Read the file back.
    """
    model.save(path)


def load(path: str | os.PathLike) -> BaseMixture:
    """Read a model file written by a fitted mixture's ``save``.

    Reads files of :meth:`GaussianMixture.save` and
    :meth:`BayesianGaussianMixture.save`. The file is checked before anything is built from it: archive
    integrity, format name and version (files from a newer format are
    refused), checksum, hyper-parameters, fitted scalars, dtypes, shapes,
    finite values, weights that form a distribution, and covariances,
    precisions and Cholesky factors that are positive-definite and agree
    with each other. Every refusal names the file and the field. The
    loaded model predicts bitwise like the one that was saved.

    Parameters
    ----------
    path : str or path-like
        A file written by :meth:`GaussianMixture.save` or
        ``fastgmm.io.save(model, path)``.

    Returns
    -------
    model : GaussianMixture or BayesianGaussianMixture
        The fitted mixture, of the class that was saved.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not a regular file (a FIFO, a directory), is not a
        fastgmm model, is truncated or tampered with,
        comes from a newer format version or holds invalid parameters; the
        message names the file and what is wrong.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from fastgmm import GaussianMixture, load
    >>> X = np.random.default_rng(0).normal(size=(200, 2))
    >>> gm = GaussianMixture(2, random_state=0).fit(X)
    >>> path = os.path.join(tempfile.mkdtemp(), "model.npz")
    >>> gm.save(path)
    >>> bool((load(path).predict(X) == gm.predict(X)).all())
    True
    """
    file = Path(os.fspath(path))
    # Opening a FIFO (or a device) would wait for a writer forever; the
    # CLI checks this too. A missing file is a FileNotFoundError.
    if file.exists() and not file.is_file():
        raise ValueError(f"cannot load model file '{os.fspath(path)}': it is not a "
                         "regular file")
    try:
        header, arrays = read_archive(file)
        return _build(header, arrays)
    except Refuse as exc:
        raise ValueError(f"cannot load model file '{os.fspath(path)}': {exc}") from None
    except (ValueError, TypeError, KeyError, IndexError, AttributeError,
            OverflowError) as exc:  # a check this loader lacks: still name the file
        raise ValueError(f"cannot load model file '{os.fspath(path)}': "
                         f"{type(exc).__name__}: {exc}") from exc


def _build(header: dict, arrays: dict[str, np.ndarray]) -> BaseMixture:
    """A fitted estimator from a checksummed archive, after checking its contents."""
    cls = _ESTIMATORS.get(header.get("estimator"))
    if cls is None:
        raise Refuse(f"unknown estimator {header.get('estimator')!r}")
    try:
        params = dict(header["params"])
        fitted = dict(header["fitted"])
        declared = dict(header["arrays"])
        param_arrays = list(header["param_arrays"])
        dtype = np.dtype(header["dtype"])
    except (KeyError, TypeError, ValueError) as exc:
        raise Refuse(f"the header is incomplete ({exc})") from None
    if dtype not in FLOAT_DTYPES:
        raise Refuse(f"dtype must be float32 or float64, got {dtype}")
    expected = set(cls._file_arrays) | set(param_arrays)
    if set(arrays) != expected or set(declared) != expected:
        raise Refuse(f"the archive holds arrays {sorted(arrays)}, expected {sorted(expected)}")
    for name in param_arrays:
        if name not in cls._array_params:
            raise Refuse(f"unknown parameter array {name!r}")
        params[name] = arrays[name]
    try:
        model = cls(**params)
        model._validate_params()
    except (TypeError, ValueError) as exc:
        raise Refuse(f"invalid hyper-parameters ({exc})") from None
    try:
        n_features = fitted["n_features_in_"]
        if not isinstance(n_features, int) or isinstance(n_features, bool) or n_features < 1:
            raise Refuse(f"n_features_in_ must be a positive integer, got {n_features!r}")
        shapes = model._file_shapes(n_features)
        for name in cls._file_arrays:
            expected_dtype = dtype
            if name in cls._file_any_float and arrays[name].dtype in FLOAT_DTYPES:
                expected_dtype = arrays[name].dtype
            _check_array(name, arrays[name], expected_dtype, shapes[name], declared[name])
        _check_weights(arrays["weights_"])
        _check_positive_definite(arrays, model.covariance_type)
        model.n_features_in_ = n_features
        model._check_file_arrays(arrays)
        model._set_file_arrays(arrays)
        model._set_file_scalars(fitted)
        if "feature_names_in_" in fitted:
            names = np.asarray(fitted["feature_names_in_"], dtype=object)
            if names.shape != (n_features,):
                raise Refuse("feature_names_in_ does not have n_features_in_ entries")
            model.feature_names_in_ = names
    except (KeyError, TypeError) as exc:
        raise Refuse(f"the header is incomplete ({exc!r})") from None
    # The arrays agree with each other (covariances_ @ precisions_ = I,
    # precisions_ = U U^T, ...): the checks save makes before it writes.
    problem = fitted_problem(model, strict=True)
    if problem is not None:
        raise Refuse(" ".join(problem))
    return model
