"""``fit_many``: thousands of small mixtures fitted in one call.

This module checks and packs the input (every data set validated as
``fit`` would, concatenated into one array with row offsets) and packages
the results as fitted estimators, warnings and errors included; the EM
itself is the lockstep driver of :mod:`fastgmm._em.lockstep`, which runs
all problems (and their ``n_init`` runs) at once. So each problem's model
is the one ``GaussianMixture(**params).fit(X_i)`` gives, while the cost per
problem is no Python-level fit.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import _check_feature_names, _get_feature_names, check_array

from ._em.base import not_converged_message
from ._em.lockstep import LockstepEM
from ._kernels.layout import FLOAT_DTYPES
from ._model.checks import check_n_samples
from .mixture import GaussianMixture

def fit_many(datasets, n_components, *, covariance_type="full", sample_weights=None,
             errors="raise", **params) -> list:
    """Fit one Gaussian mixture per data set, all in one call.

    Each returned model is the one ``GaussianMixture(n_components,
    covariance_type=covariance_type, **params).fit(X_i, sample_weight=w_i)``
    gives (same parameters, fitted attributes and warnings), computed for
    all data sets together: one parallel kernel launch per EM iteration for
    all problems, and the M-step vectorised over problems.

    Parameters
    ----------
    datasets : list of array-like of shape (n_samples_i, n_features), or \
            array-like of shape (n_datasets, n_samples, n_features)
        The data sets; ``n_samples_i`` may differ, ``n_features`` may not.
        float32 is kept when every data set is float32, anything else is
        fitted in float64.
    n_components : int
        The number of mixture components of every model.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
        The covariance type of every model.
    sample_weights : list of (array-like of shape (n_samples_i,) or None), \
            or array-like of shape (n_datasets, n_samples), default=None
        Per-sample weights of each data set, as ``fit``'s ``sample_weight``.
    errors : {'raise', 'return'}, default='raise'
        What a problem whose fit fails (for instance an ill-defined
        covariance) does. It never stops the other problems; with 'raise' a
        ``ValueError`` naming the failed indices is raised once all are done,
        with 'return' the exception takes that problem's slot in the list.
    **params
        Any other ``GaussianMixture`` parameter, used for every problem.
        ``random_state``: an int seeds every problem as its own
        ``GaussianMixture(random_state=int)`` would (so every problem starts
        from the same seed); a ``RandomState`` instance (or None, NumPy's
        global one) is consumed problem after problem, in order, as a loop
        of fits would consume it. ``warm_start`` and ``verbose`` have no
        effect (every model is new; nothing is printed); ``on_collapse`` must
        stay 'raise'.

    Returns
    -------
    models : list of GaussianMixture
        One fitted model per data set, in order (with ``errors='return'``,
        the exception in place of a model whose fit failed).

    Raises
    ------
    ValueError
        Invalid parameters or data (the messages of ``GaussianMixture.fit``,
        prefixed with the data set's index), before any work is done; or,
        with ``errors='raise'``, after all problems ran, when some failed.

    See Also
    --------
    GaussianMixture.fit : One problem.

    Examples
    --------
    >>> import numpy as np
    >>> import fastgmm
    >>> rng = np.random.default_rng(0)
    >>> data = [np.r_[rng.normal(0, 1, (100, 1)), rng.normal(6, 1, (100, 1))]
    ...         for _ in range(3)]
    >>> models = fastgmm.fit_many(data, 2, random_state=0)
    >>> [bool(abs(np.sort(m.means_[:, 0])[1] - 6) < 0.5) for m in models]
    [True, True, True]
    """
    template = GaussianMixture(n_components=n_components, covariance_type=covariance_type,
                               **params)
    template._validate_params()
    if template.on_collapse != "raise":
        # The lockstep EM has no re-seeding hook: refuse rather than raise
        # where each problem's own fit would have recovered.
        raise ValueError("fit_many does not support on_collapse='reseed'; fit those "
                         "data sets one by one with GaussianMixture.")
    if errors not in ("raise", "return"):
        raise ValueError(f"errors must be 'raise' or 'return', got {errors!r}.")
    problems = _Datasets(datasets, sample_weights, template)
    lockstep = LockstepEM(template, problems)
    fits = lockstep.run()
    return _package(template, problems, fits, lockstep.failed, errors)


class _Datasets:
    """Validated data sets concatenated into one C-ordered array with row offsets."""

    def __init__(self, datasets, sample_weights, template: GaussianMixture):
        self.frames = {}  # data set index -> the data set, where it has column names
        self._stacked = None  # a 3-D datasets array
        arrays = self._arrays(datasets, template)
        self.count = len(arrays)
        if self.count == 0:
            raise ValueError("datasets is empty: pass at least one data set.")
        d = arrays[0].shape[1]
        for i, X in enumerate(arrays):
            if X.shape[1] != d:
                raise ValueError(f"datasets[{i}] has {X.shape[1]} features, but "
                                 f"datasets[0] has {d}; every data set needs the "
                                 "same number of features.")
            check_n_samples(X.shape[0], template.n_components, prefix=f"datasets[{i}]: ")
        self.dtype = (np.float32 if all(X.dtype == np.float32 for X in arrays)
                      else np.float64)
        sizes = np.array([X.shape[0] for X in arrays], dtype=np.int64)
        self.offsets = np.zeros(self.count + 1, dtype=np.int64)
        np.cumsum(sizes, out=self.offsets[1:])
        self.n_features = d
        self.X = self._concatenate(arrays, d)
        self._check_finite(arrays, template)
        self.sample_weight = self._weights(sample_weights, template)

    def _arrays(self, datasets, template):
        """Every data set validated as ``fit`` validates its ``X`` (same checks, same messages).

        A 3-D array is its list of 2-D slices: each one goes through the same
        checks as a data set of a list (so one row, complex values or no
        features get ``fit``'s error, never a silent conversion).
        """
        if isinstance(datasets, np.ndarray) and datasets.ndim != 3:
            raise ValueError("datasets must be a list of 2-D arrays or a 3-D array of "
                             f"shape (n_datasets, n_samples, n_features), got an array "
                             f"of shape {datasets.shape}.")
        if isinstance(datasets, np.ndarray) and datasets.dtype in FLOAT_DTYPES:
            self._stacked = datasets  # concatenated without a copy if C-ordered
        arrays = []
        for i, X in enumerate(datasets):
            if (isinstance(X, np.ndarray) and X.ndim == 2 and X.shape[0] >= 2
                    and X.shape[1] >= 1 and X.dtype in FLOAT_DTYPES):
                arrays.append(X)  # finiteness is checked once, on the concatenation
                continue
            if _get_feature_names(X) is not None:  # its fit would set feature_names_in_
                self.frames[i] = X
            try:
                arrays.append(check_array(X, dtype=FLOAT_DTYPES, ensure_min_samples=2,
                                          input_name="X", estimator=template))
            except (TypeError, ValueError) as error:
                raise type(error)(f"datasets[{i}]: {error}") from error
        return arrays

    def _concatenate(self, arrays, d):
        stacked = self._stacked
        if stacked is not None and stacked.flags.c_contiguous and stacked.dtype == self.dtype:
            return stacked.reshape(-1, d)  # already one block of rows: no copy
        X = np.empty((int(self.offsets[-1]), d), dtype=self.dtype)
        for i, A in enumerate(arrays):
            X[self.offsets[i]:self.offsets[i + 1]] = A
        return X

    def _check_finite(self, arrays, template):
        if np.isfinite(self.X).all():
            return
        rows = np.flatnonzero(~np.isfinite(self.X).all(axis=1))
        i = int(np.searchsorted(self.offsets, rows[0], side="right") - 1)
        try:  # the message fit gives for this data set
            check_array(arrays[i], dtype=FLOAT_DTYPES, estimator=template,
                        input_name="X")
        except ValueError as error:
            raise ValueError(f"datasets[{i}]: {error}") from error

    def _weights(self, sample_weights, template):
        self.weighted = np.zeros(self.count, dtype=bool)
        if sample_weights is None:
            return None
        if len(sample_weights) != self.count:
            raise ValueError(f"sample_weights has {len(sample_weights)} entries for "
                             f"{self.count} data sets.")
        out = np.ones(int(self.offsets[-1]), dtype=self.dtype)
        for i, w in enumerate(sample_weights):
            if w is None:
                continue
            self.weighted[i] = True
            rows = self.X[self.offsets[i]:self.offsets[i + 1]]
            try:
                out[self.offsets[i]:self.offsets[i + 1]] = template._check_sample_weight(w, rows)
            except (TypeError, ValueError) as error:
                raise type(error)(f"sample_weights[{i}]: {error}") from error
        return out

    def rows(self, p):
        return self.X[self.offsets[p]:self.offsets[p + 1]]

    def weights(self, p):
        """Problem ``p``'s weights, or None when it has none (as its own fit sees it)."""
        if not self.weighted[p]:
            return None
        return self.sample_weight[self.offsets[p]:self.offsets[p + 1]]


def _package(template, problems, fits, failed, errors):
    """One fitted estimator (or exception) per problem; warnings and errors as fit's."""
    params = template.get_params(deep=False)
    models: list[Any] = []
    not_converged = []
    for p in range(problems.count):
        if p in failed:
            models.append(failed[p])
            continue
        fit = fits[p]
        gm = GaussianMixture(**params)
        gm._record_fit(fit["params"], problems.dtype, fit["n_iter"], fit["bounds"],
                       fit["converged"], fit["lower_bound"])
        gm.n_features_in_ = problems.n_features
        if p in problems.frames:
            _check_feature_names(gm, problems.frames[p], reset=True)
        if not gm.converged_ and template.max_iter > 0:
            not_converged.append(p)
        models.append(gm)
    if not_converged:
        warnings.warn(not_converged_message(
            f" for {len(not_converged)} of {problems.count} data sets "
            f"(datasets {_short_list(not_converged)})"), ConvergenceWarning, stacklevel=3)
    if failed and errors == "raise":
        indices = sorted(failed)
        first = failed[indices[0]]
        raise ValueError(
            f"{len(indices)} of {problems.count} fits failed (datasets "
            f"{_short_list(indices)}); datasets[{indices[0]}]: {first} Pass "
            "errors='return' to get the other models and each exception in its "
            "slot.") from first
    return models


def _short_list(indices, limit=20):
    head = ", ".join(str(i) for i in indices[:limit])
    return head + (f", ... ({len(indices)} in all)" if len(indices) > limit else "")
