"""What a mixture writes to a model file and restores from one.

:meth:`PersistenceMixin.save` describes the fitted estimator as ``(header,
arrays)`` for :mod:`fastgmm._files.modelfile` (which knows archives, never
an estimator), and :func:`fastgmm.load` rebuilds an estimator through the
``_set_file_*`` / ``_check_file_arrays`` / ``_file_shapes`` methods here,
which the mixtures extend with their own attributes.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import check_is_fitted

from .._files import modelfile as _modelfile
from .._model.checks import precision_shape
from .._model.fitted import check_fitted


class PersistenceMixin:
    """``save`` and the model-file hooks of :class:`~fastgmm._em.base.BaseMixture`."""

    def save(self, path):
        """Write the fitted model to a safe, versioned ``.npz`` model file.

        The file holds the parameters, ``get_params()``, the fastgmm and
        format versions and a checksum, and is written atomically (a crash
        never leaves half a file). Read it back with :func:`fastgmm.load`.
        A target that exists and is not a regular file is never replaced: a
        device or a FIFO is written directly, a directory or a socket raises
        an ``OSError`` naming the path.

        Parameters
        ----------
        path : str or path-like
            Destination, used exactly as given (``.npz`` is conventional).
        """
        check_is_fitted(self)
        # A file load would refuse is never written.
        check_fitted(self, "fit it again before saving", strict=True)
        params = self.get_params(deep=False)
        arrays: dict[str, np.ndarray] = {}
        for name in self._array_params:
            if params[name] is not None and not np.isscalar(params[name]):
                arrays[name] = np.asarray(params[name], dtype=np.float64)
                params[name] = None  # the array is stored beside the header
        param_arrays = list(arrays)
        params["random_state"] = _modelfile.json_random_state(params["random_state"])
        arrays.update(self._file_array_values())
        fitted = self._file_scalar_values()
        fitted["n_features_in_"] = int(self.n_features_in_)
        if hasattr(self, "feature_names_in_"):
            fitted["feature_names_in_"] = [str(n) for n in self.feature_names_in_]
        header = _modelfile.header(type(self).__name__, np.asarray(self.means_).dtype,
                                   params, param_arrays, fitted, arrays)
        _modelfile.write_archive(path, header, arrays)

    def _file_array_values(self) -> dict[str, np.ndarray]:
        """The fitted arrays of a model file, one plain array per name in ``_file_arrays``."""
        return {name: np.ascontiguousarray(getattr(self, name)) for name in self._file_arrays}

    def _set_file_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Fitted arrays from a model file (checked already)."""
        for name in self._file_arrays:
            setattr(self, name, arrays[name])

    def _check_file_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Checks of a model file's arrays beyond shapes and positive-definiteness.

        Raises :class:`fastgmm._files.modelfile.Refuse` naming the problem.
        """

    # Fitted scalars that must be positive numbers (the Bayesian priors).
    _fitted_positive_scalars: tuple[str, ...] = ()

    def _check_fitted_values(self, arrays: dict[str, np.ndarray], problem) -> None:
        """Value checks of a subclass's own fitted arrays; raise ``problem(name, why)``."""

    def _file_scalar_values(self) -> dict:
        """The fitted scalars of a model file, as JSON values."""
        return {
            "n_iter_": int(self.n_iter_),
            "converged_": bool(self.converged_),
            "lower_bound_": float(self.lower_bound_),
            "lower_bounds_": [float(b) for b in self.lower_bounds_],
        }

    def _set_file_scalars(self, fitted: dict) -> None:
        """Fitted scalars from a model file (a ``KeyError`` if one is missing).

        JSON types are checked, not converted: ``int(2.5)`` would hide a
        damaged header. Raises :class:`fastgmm._files.modelfile.Refuse` naming the field.
        """
        self.n_iter_ = _modelfile.json_value(fitted, "n_iter_", int)
        self.converged_ = _modelfile.json_value(fitted, "converged_", bool)
        self.lower_bound_ = float(_modelfile.json_value(fitted, "lower_bound_", float))
        bounds = _modelfile.json_value(fitted, "lower_bounds_", list)
        self.lower_bounds_ = [float(_modelfile.json_value({"lower_bounds_": b},
                                                          "lower_bounds_", float))
                              for b in bounds]

    def _file_shapes(self, n_features: int, n_components: int | None = None,
                     covariance_type: str | None = None) -> dict[str, tuple[int, ...]]:
        """The shape of each of ``_file_arrays`` for this model (or other ``k`` / type)."""
        k = self.n_components if n_components is None else n_components
        cov_type = self.covariance_type if covariance_type is None else covariance_type
        cov = precision_shape(cov_type, k, n_features)
        return {"weights_": (k,), "means_": (k, n_features), "covariances_": cov,
                "precisions_": cov, "precisions_cholesky_": cov}
