"""The scikit-learn compatible estimator: validation, init, the EM loop."""

from __future__ import annotations

import warnings
from numbers import Integral, Real
from time import time

import numpy as np
from sklearn.base import BaseEstimator, DensityMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from . import _model, _stream
from ._engine import accumulate, score
from ._init import initial_parameters
from ._params import check_means, check_precisions, check_weights, precision_shape

_FLOAT_DTYPES = [np.float64, np.float32]


class GaussianMixture(DensityMixin, BaseEstimator):
    """Gaussian mixture fitted by EM with fused, multithreaded Numba kernels.

    A drop-in replacement for :class:`sklearn.mixture.GaussianMixture`: the
    same parameters, fitted attributes and methods, the same results from
    the same initial parameters, computed in one pass over the data per EM
    iteration without ever holding an ``n_samples x n_components`` array.

    Parameters
    ----------
    n_components : int, default=1
        The number of mixture components.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
        The type of covariance parameters: one full matrix per component
        ('full'), one matrix shared by all components ('tied'), one diagonal
        per component ('diag') or one variance per component ('spherical').
    tol : float, default=1e-3
        Convergence threshold: EM stops when the change of the mean
        log-likelihood per sample is below this value.
    reg_covar : float, default=1e-6
        Non-negative value added to the diagonal of each covariance.
    max_iter : int, default=100
        The number of EM iterations to perform.
    n_init : int, default=1
        The number of initialisations; the best result is kept.
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data'}, \
            default='kmeans'
        How the initial responsibilities are chosen.
    weights_init : array-like of shape (n_components,), default=None
        User-provided initial weights.
    means_init : array-like of shape (n_components, n_features), default=None
        User-provided initial means.
    precisions_init : array-like, default=None
        User-provided initial precisions (inverse covariances); the shape
        depends on ``covariance_type`` as for ``precisions_``.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation (and :meth:`sample`).
    warm_start : bool, default=False
        If True, each ``fit`` starts from the previous solution.
    verbose : int, default=0
        Print progress: 1 prints the initialisations and iterations, 2 also
        prints the time and log-likelihood change per iteration.
    verbose_interval : int, default=10
        Number of iterations between two progress messages.
    learning_offset : float, default=10.0
        Down-weights the early batches of :meth:`partial_fit`: the ``t``-th
        batch after the first is blended into the running statistics with
        weight ``(t + learning_offset) ** -learning_decay``. Not used by
        :meth:`fit`. Named as in
        :class:`sklearn.decomposition.LatentDirichletAllocation`.
    learning_decay : float, default=0.7
        How fast the weight of new batches decreases in :meth:`partial_fit`;
        values in (0.5, 1] give a convergent stepwise EM.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
        The weight of each component.
    means_ : ndarray of shape (n_components, n_features)
        The mean of each component.
    covariances_ : ndarray
        The covariance of each component; shape (n_components, n_features,
        n_features) for 'full', (n_features, n_features) for 'tied',
        (n_components, n_features) for 'diag', (n_components,) for 'spherical'.
    precisions_ : ndarray
        The inverses of ``covariances_``, same shape.
    precisions_cholesky_ : ndarray
        Upper-triangular Cholesky factors ``U`` with ``U U^T = precision``.
    converged_ : bool
        True when the best initialisation reached convergence.
    n_iter_ : int
        Number of EM steps of the best initialisation.
    lower_bound_ : float
        Mean log-likelihood per sample of the best initialisation.
    lower_bounds_ : list of float
        ``lower_bound_`` after each iteration of the best initialisation.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when ``X`` has string column names.

    See Also
    --------
    sklearn.mixture.GaussianMixture : The reference implementation.

    Examples
    --------
    >>> import numpy as np
    >>> from fastgmm import GaussianMixture
    >>> X = np.array([[1, 2], [1, 4], [1, 0], [10, 2], [10, 4], [10, 0]])
    >>> gm = GaussianMixture(n_components=2, random_state=0).fit(X)
    >>> np.round(np.sort(gm.means_[:, 0]), 6)
    array([ 1., 10.])
    >>> gm.predict([[0, 0], [12, 3]]).tolist() == [int(gm.means_[0, 0] < 5), int(gm.means_[0, 0] > 5)]
    True
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "covariance_type": [StrOptions({"full", "tied", "diag", "spherical"})],
        "tol": [Interval(Real, 0.0, None, closed="left")],
        "reg_covar": [Interval(Real, 0.0, None, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "init_params": [StrOptions({"kmeans", "random", "random_from_data", "k-means++"})],
        "weights_init": ["array-like", None],
        "means_init": ["array-like", None],
        "precisions_init": ["array-like", None],
        "random_state": ["random_state"],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
        "verbose_interval": [Interval(Integral, 1, None, closed="left")],
        "learning_offset": [Interval(Real, 1.0, None, closed="left")],
        "learning_decay": [Interval(Real, 0, 1, closed="both")],
    }

    def __init__(
        self,
        n_components=1,
        *,
        covariance_type="full",
        tol=1e-3,
        reg_covar=1e-6,
        max_iter=100,
        n_init=1,
        init_params="kmeans",
        weights_init=None,
        means_init=None,
        precisions_init=None,
        random_state=None,
        warm_start=False,
        verbose=0,
        verbose_interval=10,
        learning_offset=10.0,
        learning_decay=0.7,
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.learning_offset = learning_offset
        self.learning_decay = learning_decay

    # ------------------------------------------------------------------ fit
    def fit(self, X, y=None, sample_weight=None):
        """Estimate model parameters with the EM algorithm.

        The model is fitted ``n_init`` times and the parameters with the
        largest mean log-likelihood are kept. Each run iterates until the
        change of the mean log-likelihood is below ``tol`` or ``max_iter``
        iterations are done, otherwise a ``ConvergenceWarning`` is raised.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data; float32 and float64 are used without copying
            (a ``numpy.memmap`` is streamed from disk).
        y : Ignored
            Not used, present for API consistency by convention.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each sample; an integer weight acts like
            repeating the row, a zero weight like removing it.

        Returns
        -------
        self : object
            The fitted mixture.
        """
        if _is_dask(X):  # fitted chunk by chunk on the Dask workers
            from ._dask import fit
            return fit(self, X, sample_weight)
        self._fit(X, sample_weight)
        return self

    def fit_predict(self, X, y=None, sample_weight=None):
        """Estimate model parameters with EM and predict the labels of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : Ignored
            Not used, present for API consistency by convention.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each sample.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Component labels, the same as ``fit(X).predict(X)``.
        """
        if _is_dask(X):  # lazy labels of a Dask array
            from ._dask import fit_predict
            return fit_predict(self, X, sample_weight)
        X = self._fit(X, sample_weight)
        return score(X, self._kernel_model(X.dtype))[1]

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None, sample_weight=None):
        """Update the model with one batch of samples (stepwise EM).

        The first call initialises the model from its batch (``init_params``
        or the ``*_init`` arrays, one initialisation) and does one EM step:
        the same model as ``fit`` with ``max_iter=1`` gives. Each later call
        scores its batch with the current model, blends the batch's
        sufficient statistics (as per-sample averages) into the running ones
        with weight ``rho_t = (t + learning_offset) ** -learning_decay``
        for the ``t``-th batch after the first, and does the M-step on the
        blend. :meth:`fit` (or any other change of the parameters) ends the
        stream: the next call initialises again.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            One batch; float32 and float64 are used without copying (a
            ``numpy.memmap`` slice is read a block at a time). The first
            batch needs at least ``n_components`` samples, later ones at
            least one, with the same number of features.
        y : Ignored
            Not used, present for API consistency by convention.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each sample of the batch.

        Returns
        -------
        self : object
            The updated mixture. ``n_iter_`` counts the batches since the
            initialisation, ``lower_bound_`` is the mean log-likelihood of
            this batch under the model before the update (``lower_bounds_``
            holds one per batch) and ``converged_`` stays False: a batch
            does not show convergence.
        """
        _stream.partial_fit(self, X, sample_weight)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def _fit(self, X, sample_weight):
        # A warm start continues the fitted model: same features, same shapes.
        do_init = not (self.warm_start and hasattr(self, "converged_"))
        # Kernels see C-ordered rows only (one compilation per dtype): other
        # layouts are copied once here; a memmap is streamed as it is.
        X = validate_data(self, X, dtype=_FLOAT_DTYPES, ensure_min_samples=2,
                          reset=do_init,
                          order=None if isinstance(X, np.memmap) else "C")
        self._fit_source(X, self._check_sample_weight(sample_weight, X), do_init)
        return X

    def _fit_source(self, X, sample_weight, do_init):
        """The EM driver on validated data: ``n_init`` runs, best one kept.

        ``X`` is an array or a chunked source with ``shape``, ``dtype`` and
        its own ``accumulate`` / ``initial_parameters`` (the Dask path).
        """
        if not do_init:
            self._check_fitted_shapes("set warm_start=False to fit from a new "
                                      "initialisation")
        n_samples, n_features = X.shape
        if n_samples < self.n_components:
            raise ValueError(
                "Expected n_samples >= n_components "
                f"but got n_components = {self.n_components}, "
                f"n_samples = {n_samples}"
            )
        inits = self._check_initial_parameters(n_features)

        n_init = self.n_init if do_init else 1
        rng = check_random_state(self.random_state)

        # converged_ is only set by a fit that completes (it marks a model a
        # warm start can continue).
        max_lower_bound = -np.inf
        best = None
        for init in range(n_init):
            self._print_verbose_msg_init_beg(init)
            if do_init:
                params = self._initial_parameters(X, sample_weight, rng, inits)
                lower_bound = -np.inf
            else:
                params = (self.weights_, self.means_, self.covariances_,
                          self.precisions_cholesky_)
                lower_bound = self.lower_bound_
            if self.max_iter == 0:
                best = (params, 0, [], False)
                continue
            params, lower_bound, n_iter, bounds, converged = self._em(
                X, sample_weight, params, lower_bound)
            self._print_verbose_msg_init_end(lower_bound, converged)
            if lower_bound > max_lower_bound or max_lower_bound == -np.inf:
                max_lower_bound = lower_bound
                best = (params, n_iter, bounds, converged)

        params, self.n_iter_, self.lower_bounds_, self.converged_ = best
        if not self.converged_ and self.max_iter > 0:
            warnings.warn(
                "Best performing initialization did not converge. "
                "Try different init parameters, or increase max_iter, "
                "tol, or check for degenerate data.",
                ConvergenceWarning,
            )
        self._set_parameters(params, X.dtype)
        self.lower_bound_ = max_lower_bound

    def _em(self, X, sample_weight, params, lower_bound):
        """EM iterations from ``params``; one fused data pass per iteration."""
        weights, means, _, prec_chol = params
        bounds = []
        converged = False
        for n_iter in range(1, self.max_iter + 1):
            previous = lower_bound
            model = _model.kernel_model(weights, means, prec_chol,
                                        self.covariance_type, X.dtype)
            stats = accumulate(X, sample_weight, model)
            # The pass evaluated the log-likelihood of the parameters it used
            # and collected the statistics of the next ones, as sklearn does.
            lower_bound = stats.loglik / stats.weight
            weights, means, covariances = _model.m_step(
                stats, self.covariance_type, self.reg_covar, X.dtype)
            prec_chol = _model.precision_cholesky(covariances, self.covariance_type,
                                                  X.dtype)
            bounds.append(lower_bound)
            change = lower_bound - previous
            self._print_verbose_msg_iter_end(n_iter, change)
            # Private progress hook (the CLI's live line); not a parameter.
            hook = getattr(self, "_iteration_hook", None)
            if hook is not None:
                hook(n_iter, lower_bound, change)
            if abs(change) < self.tol:
                converged = True
                break
        return (weights, means, covariances, prec_chol), lower_bound, n_iter, bounds, converged

    def _check_sample_weight(self, sample_weight, X):
        if sample_weight is None:
            return None
        sample_weight = _check_sample_weight(sample_weight, X, dtype=X.dtype,
                                             ensure_non_negative=True)
        if not np.any(sample_weight > 0):
            raise ValueError("sample_weight must have at least one positive "
                             "entry, but all weights are zero.")
        return sample_weight

    def _check_initial_parameters(self, n_features):
        """Validated copies of the user's ``*_init`` (never written back)."""
        k, cov = self.n_components, self.covariance_type
        return (
            None if self.weights_init is None else check_weights(self.weights_init, k),
            None if self.means_init is None else check_means(self.means_init, k, n_features),
            None if self.precisions_init is None
            else check_precisions(self.precisions_init, cov, k, n_features),
        )

    def _initial_parameters(self, X, sample_weight, rng, inits):
        weights_init, means_init, precisions_init = inits
        cov_type = self.covariance_type
        if weights_init is None or means_init is None or precisions_init is None:
            weights, means, covariances = initial_parameters(
                X, sample_weight, self.n_components, cov_type, self.reg_covar,
                self.init_params, rng)
        else:
            weights = means = covariances = None
        if weights_init is not None:
            weights = np.asarray(weights_init, dtype=np.float64)
        if means_init is not None:
            means = np.asarray(means_init, dtype=np.float64)
        if precisions_init is None:
            prec_chol = _model.precision_cholesky(covariances, cov_type, X.dtype)
        else:
            prec_chol = _model.precision_cholesky_from_precisions(precisions_init, cov_type)
            covariances = _model.covariances_from_cholesky(prec_chol, cov_type)
        return weights, means, covariances, prec_chol

    def _set_parameters(self, params, dtype):
        weights, means, covariances, prec_chol = (np.asarray(p, dtype=dtype) for p in params)
        self.weights_ = weights
        self.means_ = means
        self.covariances_ = covariances
        self.precisions_cholesky_ = prec_chol
        self.precisions_ = _model.precisions_from_cholesky(prec_chol, self.covariance_type)

    def _kernel_model(self, dtype):
        return _model.kernel_model(
            np.asarray(self.weights_, dtype=np.float64),
            np.asarray(self.means_, dtype=np.float64),
            np.asarray(self.precisions_cholesky_, dtype=np.float64),
            self.covariance_type, dtype)

    # ------------------------------------------------------------- inference
    def _check_fitted_shapes(self, remedy):
        """The fitted arrays still match ``n_components`` and ``covariance_type``."""
        n_features = self.means_.shape[1]
        expected = precision_shape(self.covariance_type, self.n_components, n_features)
        actual = np.shape(self.precisions_cholesky_)
        if actual != expected or np.shape(self.weights_) != (self.n_components,):
            raise ValueError(
                f"The fitted model has {np.shape(self.weights_)[0]} components and "
                f"precisions_cholesky_ of shape {actual}, which does not match "
                f"n_components={self.n_components} and "
                f"covariance_type={self.covariance_type!r} (expected shape "
                f"{expected}); these parameters were changed after fit: {remedy}."
            )

    def _check_fitted(self):
        """Fitted, with attributes of consistent shapes (before any inference)."""
        check_is_fitted(self)
        self._check_fitted_shapes("call fit again")

    def _score(self, X, want_log_resp=False):
        """``(log p(x), label, log-responsibilities or None)`` of new data."""
        self._check_fitted()
        X = validate_data(self, X, dtype=_FLOAT_DTYPES, reset=False)
        return score(X, self._kernel_model(X.dtype), want_log_resp)

    def score_samples(self, X):
        """Compute the log-likelihood of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples, one per row.

        Returns
        -------
        log_prob : ndarray of shape (n_samples,)
            Log-density of each sample under the model.
        """
        if _is_dask(X):  # a lazy Dask array, computed chunk by chunk
            from ._dask import score_samples
            return score_samples(self, X)
        return self._score(X)[0]

    def score(self, X, y=None):
        """Compute the mean log-likelihood per sample of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples, one per row.
        y : Ignored
            Not used, present for API consistency by convention.

        Returns
        -------
        log_likelihood : float
            Mean log-likelihood of ``X`` under the model.
        """
        return float(np.mean(self.score_samples(X)))

    def predict(self, X):
        """Predict the most likely component of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples, one per row.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Component labels.
        """
        if _is_dask(X):  # a lazy Dask array, computed chunk by chunk
            from ._dask import predict
            return predict(self, X)
        return self._score(X)[1]

    def predict_proba(self, X):
        """Posterior probability of each component for each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples, one per row.

        Returns
        -------
        resp : ndarray of shape (n_samples, n_components)
            Responsibilities; each row sums to 1.
        """
        if _is_dask(X):  # a lazy Dask array, computed chunk by chunk
            from ._dask import predict_proba
            return predict_proba(self, X)
        log_resp = self._score(X, want_log_resp=True)[2]
        return np.exp(log_resp, out=log_resp)

    def sample(self, n_samples=1):
        """Generate random samples from the fitted mixture.

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples to generate.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            Randomly generated samples, grouped by component.
        y : ndarray of shape (n_samples,)
            Component label of each sample.
        """
        check_is_fitted(self)
        self._check_fitted_shapes("call fit again")
        if n_samples < 1:
            raise ValueError(
                f"Invalid value for 'n_samples': {n_samples}. The sampling "
                "requires at least one sample.")
        rng = check_random_state(self.random_state)
        n_features = self.means_.shape[1]
        # Renormalised in float64: float32 weights next to an empty component
        # can add up to just over 1, which multinomial rejects.
        weights = np.asarray(self.weights_, dtype=np.float64)
        counts = rng.multinomial(n_samples, weights / weights.sum())
        parts = []
        for j, (mean, count) in enumerate(zip(self.means_, counts)):
            if self.covariance_type in ("full", "tied"):
                cov = self.covariances_[j] if self.covariance_type == "full" else self.covariances_
                parts.append(rng.multivariate_normal(mean, cov, int(count)))
            else:
                std = np.sqrt(self.covariances_[j])
                parts.append(mean + rng.standard_normal(size=(count, n_features)) * std)
        X = np.vstack(parts).astype(np.float64)
        y = np.repeat(np.arange(self.n_components), counts)
        return X, y

    def bic(self, X):
        """Bayesian information criterion for the model on ``X`` (lower is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples, one per row.

        Returns
        -------
        bic : float
        """
        n = _n_rows(X)
        return -2 * self.score(X) * n + self._n_parameters() * np.log(n)

    def aic(self, X):
        """Akaike information criterion for the model on ``X`` (lower is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples, one per row.

        Returns
        -------
        aic : float
        """
        return -2 * self.score(X) * _n_rows(X) + 2 * self._n_parameters()

    def _n_parameters(self):
        return _model.n_parameters(self.covariance_type, self.n_components,
                                   self.means_.shape[1])

    # ------------------------------------------------------------ model file
    def save(self, path):
        """Write the fitted model to a safe, versioned ``.npz`` model file.

        The file holds the parameters, ``get_params()``, the fastgmm and
        format versions and a checksum, and is written atomically (a crash
        never leaves half a file). Read it back with :func:`fastgmm.load`.

        Parameters
        ----------
        path : str or path-like
            Destination, used exactly as given (``.npz`` is conventional).
        """
        from .io import save

        save(self, path)

    # --------------------------------------------------------------- verbose
    def _print_verbose_msg_init_beg(self, n_init):
        if self.verbose >= 1:
            print("Initialization %d" % n_init)
        if self.verbose >= 2:
            self._init_prev_time = time()
            self._iter_prev_time = self._init_prev_time

    def _print_verbose_msg_iter_end(self, n_iter, diff_ll):
        if n_iter % self.verbose_interval != 0:
            return
        if self.verbose == 1:
            print("  Iteration %d" % n_iter)
        elif self.verbose >= 2:
            now = time()
            print("  Iteration %d\t time lapse %.5fs\t ll change %.5f"
                  % (n_iter, now - self._iter_prev_time, diff_ll))
            self._iter_prev_time = now

    def _print_verbose_msg_init_end(self, lower_bound, converged):
        message = "converged" if converged else "did not converge"
        if self.verbose == 1:
            print(f"Initialization {message}.")
        elif self.verbose >= 2:
            elapsed = time() - self._init_prev_time
            print(f"Initialization {message}. time lapse {elapsed:.5f}s\t "
                  f"lower bound {lower_bound:.5f}.")


def _is_dask(X):
    """A Dask collection, recognised without importing Dask."""
    return type(X).__module__.startswith("dask")


def _n_rows(X):
    return X.shape[0] if hasattr(X, "shape") else len(X)
