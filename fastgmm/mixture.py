"""The Gaussian mixture: its model math on the shared EM driver.

:class:`fastgmm._em.base.BaseMixture` runs the fit; this module supplies the
maximum-likelihood M-step, the log-likelihood as the quantity EM monitors,
and the user-given initial parameters.
"""

from __future__ import annotations

from numbers import Real

import numpy as np
from sklearn.base import _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import validate_data

from ._model import gaussian as _model
from ._em import reseed as _reseed
from ._em import stream as _stream
from ._em.atomic import atomic
from ._em.base import BaseMixture
from ._files.modelfile import Refuse
from ._kernels.layout import FLOAT_DTYPES
from ._model.checks import (check_means_init, check_n_samples, check_precisions_init,
                             check_weights_init)


class GaussianMixture(BaseMixture):
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
    on_collapse : {'raise', 'reseed'}, default='raise'
        What :meth:`fit` does when a component's covariance is not
        positive-definite (a component collapsed onto duplicated rows, a
        constant column within a component, too few points): 'raise' stops
        with scikit-learn's ``ValueError``, as scikit-learn does; 'reseed'
        moves the component to a row drawn as k-means++ draws its seeds
        (probability proportional to the squared distance to the nearest
        current mean), gives it the covariance of the data plus
        ``reg_covar`` and the weight ``1 / n_components``, and continues EM.
        At most ``10 * n_components`` re-seeds per initialisation; then the
        error is raised. Not used by :meth:`partial_fit`.
    reseed_min_weight : float, default=0.0
        With ``on_collapse='reseed'``, a component whose weight falls below
        this value after an EM step is re-seeded too (0: only collapsed
        covariances are).
    nan_policy : {'raise', 'omit', 'marginalize'}, default='raise'
        What NaN entries of ``X`` mean (named as in SciPy). 'raise' rejects
        them with scikit-learn's error. With 'omit', :meth:`fit` leaves the
        rows holding a NaN out; with 'marginalize', NaN entries are values
        missing at random and :meth:`fit` maximises the likelihood of the
        observed entries exactly (EM on the marginal densities, with each
        missing entry's conditional mean and covariance in the statistics).
        Under both, :meth:`predict`, :meth:`predict_proba`,
        :meth:`score_samples`, :meth:`score` and :meth:`impute` score a row
        by the marginal density of its observed entries. Data without NaN
        are fitted exactly as with 'raise'. :meth:`partial_fit` does not
        take NaN. See the user guide page on missing values.

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
    n_reseeds_ : ndarray of shape (n_init,)
        Number of components :meth:`fit` re-seeded in each initialisation,
        in order (one entry for a warm start); all 0 with
        ``on_collapse='raise'``. Set by :meth:`fit` only.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
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
    >>> labels = gm.predict([[0, 0], [12, 3]])
    >>> bool(gm.means_[labels[0], 0] < 5 < gm.means_[labels[1], 0])
    True
    """

    _parameter_constraints: dict = {
        **BaseMixture._parameter_constraints,
        "weights_init": ["array-like", None],
        "means_init": ["array-like", None],
        "precisions_init": ["array-like", None],
        "learning_offset": [Interval(Real, 1.0, None, closed="left")],
        "learning_decay": [Interval(Real, 0, 1, closed="both")],
        "on_collapse": [StrOptions({"raise", "reseed"})],
        "reseed_min_weight": [Interval(Real, 0, 1, closed="left")],
        "nan_policy": [StrOptions({"raise", "omit", "marginalize"})],
    }
    _array_params = ("weights_init", "means_init", "precisions_init")

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
        on_collapse="raise",
        reseed_min_weight=0.0,
        nan_policy="raise",
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
        self.on_collapse = on_collapse
        self.reseed_min_weight = reseed_min_weight
        self.nan_policy = nan_policy

    # ------------------------------------------------------------------ fit
    @atomic
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
        blend. :meth:`fit` (or any other replacement of a fitted array) ends
        the stream: the next call initialises again. Changing
        ``covariance_type`` or ``n_components`` between calls raises a
        ``ValueError`` (the running statistics cannot be blended with
        another model's); a batch with other features too.

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
        if self.nan_policy != "raise":
            from ._data.missing import reject_in_partial_fit

            reject_in_partial_fit(X, self.nan_policy)
        # The stream goes on while the parameters are the ones partial_fit
        # set; anything else (fit, load, a user) starts a new one.
        state = getattr(self, "_stream_state", None)
        if state is not None and not state.continues(self):
            state = None
        if state is not None:
            state.check_unchanged(self)
        first = state is None
        X = validate_data(self, X, dtype=FLOAT_DTYPES, reset=first,
                          ensure_min_samples=2 if first else 1,
                          order=None if isinstance(X, np.memmap) else "C")
        sample_weight = self._check_sample_weight(sample_weight, X)
        if first:
            check_n_samples(X.shape[0], self.n_components)
            inits = self._check_parameters(X, sample_weight)
            params = self._initial_parameters(X, sample_weight,
                                              check_random_state(self.random_state), inits)
            bounds, t = [], 0
        else:
            self._check_fitted_shapes("call fit, or partial_fit on a new estimator")
            params, bounds, t = state.params, list(self.lower_bounds_), state.t
        # The estimator is only updated once the step has succeeded.
        params, stats, lower_bound = _stream.stream_step(
            params, state, X, sample_weight, self.covariance_type, self.reg_covar,
            self.learning_offset, self.learning_decay)
        self._record_fit(params, X.dtype, t + 1, bounds + [lower_bound], False, lower_bound)
        self._stream_state = _stream.StreamState(
            stats, params, t + 1, tuple(getattr(self, name) for name in _stream.FITTED),
            (self.covariance_type, self.n_components, self.n_features_in_))
        return self

    def impute(self, X):
        """Replace each missing (NaN) entry by its expectation under the fitted mixture.

        A missing entry ``x_m`` of a row with observed entries ``x_o``
        becomes ``sum_j r_j(x_o) E_j[x_m | x_o]``: the conditional mean of
        each component, ``mu_m + Sigma_mo Sigma_oo^-1 (x_o - mu_o)``,
        weighted by the component's responsibility for the observed entries.
        A row with every entry missing gets the mixture mean. No array of
        ``n_samples x n_components`` is held.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples with NaN entries (float32 stays float32).

        Returns
        -------
        X_filled : ndarray of shape (n_samples, n_features)
            A copy of ``X`` with every NaN replaced (a lazy Dask array for a
            Dask input).
        """
        from ._data import missing as _missing

        self._check_fitted()
        if type(X).__module__.startswith("dask"):
            X = self._dask_input(X, reset=False, fitting=False)
            return _missing.impute_dask(X, self._kernel_model(X.dtype))
        X = self._validate_X(X, allow_nan=True, reset=False, order="C")
        return _missing.impute_array(X, self._kernel_model(X.dtype))

    # ------------------------------------------------------------ the hooks
    def _check_parameters(self, X, sample_weight):
        """Validated copies of the user's ``*_init`` (never written back)."""
        k, cov, n_features = self.n_components, self.covariance_type, X.shape[1]
        if self.reseed_min_weight > 0 and self.on_collapse != "reseed":
            raise ValueError(
                f"reseed_min_weight={self.reseed_min_weight!r} has no effect with "
                f"on_collapse={self.on_collapse!r}: set on_collapse='reseed' to re-seed "
                "components lighter than it, or leave reseed_min_weight at 0.")
        return (
            None if self.weights_init is None else check_weights_init(self.weights_init, k),
            None if self.means_init is None else check_means_init(self.means_init, k, n_features),
            None if self.precisions_init is None
            else check_precisions_init(self.precisions_init, cov, k, n_features),
        )

    def _needs_init_stats(self, inits):
        return any(init is None for init in inits)

    def _initialize(self, stats, inits, dtype, reseed=None):
        weights_init, means_init, precisions_init = inits
        cov_type = self.covariance_type
        if stats is not None:
            weights, means, covariances = _model.m_step(
                stats, cov_type, self.reg_covar, dtype, normalize_weights=False)
        if weights_init is not None:
            weights = np.asarray(weights_init, dtype=np.float64)
        if means_init is not None:
            means = np.asarray(means_init, dtype=np.float64)
        if precisions_init is None and reseed is not None and stats is not None:
            return reseed.parameters(weights, means, covariances, stats, dtype, initial=True)
        if precisions_init is None:
            prec_chol = _model.precision_cholesky(covariances, cov_type, dtype)
        else:
            prec_chol = _model.precision_cholesky_from_precisions(precisions_init, cov_type)
            covariances = _model.covariances_from_cholesky(prec_chol, cov_type)
        return weights, means, covariances, prec_chol

    def _m_step(self, stats, inits, dtype, reseed=None):
        weights, means, covariances = _model.m_step(
            stats, self.covariance_type, self.reg_covar, dtype)
        if reseed is not None:
            return reseed.parameters(weights, means, covariances, stats, dtype)
        prec_chol = _model.precision_cholesky(covariances, self.covariance_type, dtype)
        return weights, means, covariances, prec_chol

    def _compute_lower_bound(self, stats, params, inits):
        # The log-likelihood of the parameters the pass used, as sklearn's.
        return stats.loglik / stats.weight

    def _estep_model(self, params, dtype):
        weights, means, _, prec_chol = params
        return _model.kernel_model(weights, means, prec_chol, self.covariance_type, dtype)

    def _get_parameters(self):
        return (self.weights_, self.means_, self.covariances_, self.precisions_cholesky_)

    def _reseeder(self, X, sample_weight, rng):
        if self.on_collapse != "reseed":
            return None
        # With missing values, re-seeding draws from the mean-filled rows of the init.
        X = X.filled() if hasattr(X, "filled") else X
        return _reseed.Reseeder(X, sample_weight, self.covariance_type, self.reg_covar,
                                self.reseed_min_weight, self.n_components, rng)

    def _record_reseeds(self, counts):
        self.n_reseeds_ = counts

    # ----------------------------------------------------------- model file
    def _file_scalar_values(self):
        fitted = super()._file_scalar_values()
        if hasattr(self, "n_reseeds_"):  # absent on files and models older than it
            fitted["n_reseeds_"] = [int(c) for c in self.n_reseeds_]
        return fitted

    def _set_file_scalars(self, fitted):
        super()._set_file_scalars(fitted)
        if "n_reseeds_" in fitted:
            counts = fitted["n_reseeds_"]
            if (not isinstance(counts, list) or not counts
                    or not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0
                               for c in counts)):
                raise Refuse(f"n_reseeds_ must be a list of non-negative integers, "
                             f"got {counts!r}")
            self.n_reseeds_ = np.asarray(counts, dtype=np.int64)

    def _set_parameters(self, params, dtype, context=None):
        weights, means, covariances, prec_chol = (np.asarray(p, dtype=dtype) for p in params)
        self.weights_ = weights
        self.means_ = means
        self.covariances_ = covariances
        self.precisions_cholesky_ = prec_chol
        self.precisions_ = _model.precisions_from_cholesky(prec_chol, self.covariance_type)

    def _kernel_model(self, dtype):
        model = _model.kernel_model(
            np.asarray(self.weights_, dtype=np.float64),
            np.asarray(self.means_, dtype=np.float64),
            np.asarray(self.precisions_cholesky_, dtype=np.float64),
            self.covariance_type, dtype)
        # Under a nan_policy, inference scores rows with NaN by their marginal density.
        model.marginalize = getattr(self, "nan_policy", "raise") != "raise"
        return model

    # ------------------------------------------------------------ criteria
    def bic(self, X):
        """Bayesian information criterion for the model on ``X`` (lower is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples, one per row.

        Returns
        -------
        bic : float
            ``-2 log L + p log n`` for ``p`` free parameters and ``n`` rows.
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
            ``-2 log L + 2 p`` for ``p`` free parameters.
        """
        return -2 * self.score(X) * _n_rows(X) + 2 * self._n_parameters()

    def _n_parameters(self):
        return _model.n_parameters(self.covariance_type, self.n_components,
                                   self.means_.shape[1])


def _n_rows(X):
    return X.shape[0] if hasattr(X, "shape") else len(X)
