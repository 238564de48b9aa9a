"""What every fastgmm mixture shares: validation, the EM driver, inference, files.

As in scikit-learn's ``sklearn/mixture/_base.py``, :class:`BaseMixture`
holds the ``n_init`` / EM loop, convergence and its warning, the verbose
messages, warm start, the fitted checks, scoring, sampling, model files
and the dispatch of Dask arrays. A subclass supplies only its model math,
through small hooks on the additive statistics of one pass
(:class:`fastgmm._model.stats.Stats`):

``_check_parameters(X, sample_weight)``
    validated extras of this fit (user ``*_init``, priors), a context
    object handed to every other hook;
``_needs_init_stats(context)`` and ``_initialize(stats, context, dtype)``
    parameters from the statistics of the initial responsibilities;
``_m_step(stats, context, dtype)``
    parameters from one pass's statistics;
``_reseeder(X, sample_weight, rng)`` and ``_record_reseeds(counts)``
    optional re-seeding of collapsed components (``GaussianMixture``'s
    ``on_collapse='reseed'``, :mod:`fastgmm._em.reseed`): a non-None re-seeder
    is passed to ``_initialize`` and ``_m_step`` as ``reseed=``, and the
    number of re-seeds of each initialisation is recorded at the end;
``_compute_lower_bound(stats, params, context)``
    the quantity EM monitors, from the pass and the new parameters;
``_estep_model(params, dtype)``
    the :class:`fastgmm._model.stats.KernelModel` the fused pass evaluates;
``_get_parameters()`` and ``_set_parameters(params, dtype, context)``
    parameters from and to the fitted attributes.

Every data source goes through the same two calls,
:func:`~fastgmm._init.dispatch.initial_stats` and
:func:`~fastgmm._data.arrays.accumulate`: an array or memmap directly, a Dask
array as the partitioned source of :mod:`fastgmm._data.dask`.

The hooks are also the whole interface of the other EM drivers:
``partial_fit``'s stepwise EM (:mod:`fastgmm._em.stream`) and ``fit_many``'s
lockstep EM (:mod:`fastgmm._em.lockstep`) call ``_check_parameters``,
``_needs_init_stats``, ``_initialize`` and ``_initial_parameters``, and write
their result with ``_record_fit``. Progress is reported to the callbacks of
:func:`fastgmm.on_iteration` after each iteration.
"""

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

from . import progress
from .atomic import atomic
from .persistence import PersistenceMixin
from .._data.arrays import accumulate, score
from .._init.dispatch import initial_stats
from .._kernels.layout import COVARIANCE_TYPES, FLOAT_DTYPES
from .._model.checks import check_n_samples
from .._model.fitted import check_fitted


def not_converged_message(detail: str = "") -> str:
    """scikit-learn's ``ConvergenceWarning`` text; ``detail`` says which fits (``fit_many``)."""
    return (f"Best performing initialization did not converge{detail}. "
            "Try different init parameters, or increase max_iter, "
            "tol, or check for degenerate data.")


class BaseMixture(PersistenceMixin, DensityMixin, BaseEstimator):
    """Base class of the fastgmm mixtures (not to be used directly).

    Subclasses implement the hooks listed in the module docstring and
    declare, for model files, ``_file_arrays`` (fitted array attributes),
    ``_array_params`` (hyper-parameters that may hold arrays) and
    ``_file_any_float`` (fitted arrays whose dtype is not the model's); see
    :class:`~fastgmm._em.persistence.PersistenceMixin`.
    """

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "covariance_type": [StrOptions(set(COVARIANCE_TYPES))],
        "tol": [Interval(Real, 0.0, None, closed="left")],
        "reg_covar": [Interval(Real, 0.0, None, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "init_params": [StrOptions({"kmeans", "random", "random_from_data", "k-means++"})],
        "random_state": ["random_state"],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
        "verbose_interval": [Interval(Integral, 1, None, closed="left")],
    }

    _file_arrays: tuple[str, ...] = ("weights_", "means_", "covariances_", "precisions_",
                                     "precisions_cholesky_")
    _array_params: tuple[str, ...] = ()
    # Fitted arrays of a model file that may be float32 or float64 whatever
    # the model's dtype (priors given by the user keep theirs).
    _file_any_float: tuple[str, ...] = ()

    # ------------------------------------------------------------------ fit
    @atomic
    def fit(self, X, y=None, sample_weight=None):
        """Estimate model parameters with the EM algorithm.

        The model is fitted ``n_init`` times and the parameters with the
        largest likelihood or lower bound are kept. Each run iterates until
        the change of the likelihood or lower bound is below ``tol`` or
        ``max_iter`` iterations are done, otherwise a ``ConvergenceWarning``
        is raised.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data; float32 and float64 are used without copying
            (a ``numpy.memmap`` is streamed from disk, a Dask array is
            fitted chunk by chunk on the workers).
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
        self._fit(X, sample_weight)
        return self

    @atomic
    def fit_predict(self, X, y=None, sample_weight=None):
        """Estimate model parameters and predict the labels of ``X``.

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
            Component labels, the same as ``fit(X).predict(X)`` (a lazy Dask
            array for a Dask input).
        """
        X = self._fit(X, sample_weight)
        if _is_dask(X):
            return self._dask_score(X, "labels")
        return score(X, self._kernel_model(X.dtype))[1]

    @_fit_context(prefer_skip_nested_validation=True)
    def _fit(self, X, sample_weight):
        """Validate, then run the EM driver; returns the validated ``X``."""
        # A warm start continues the fitted model: same features, same shapes.
        do_init = not (self.warm_start and hasattr(self, "converged_"))
        if not do_init:  # before validate_data reads n_features_in_
            self._check_fitted_shapes("set warm_start=False to fit from a new "
                                      "initialisation")
        policy = self._nan_policy()
        if _is_dask(X):
            from .._data import dask as _dask

            X = self._dask_input(X, reset=do_init, fitting=True)
            if sample_weight is not None and not _is_dask(sample_weight):
                sample_weight = self._check_sample_weight(sample_weight, X)
            sample_weight = _dask.check_sample_weight(sample_weight, X)
            source = _dask.DaskPartitions(X, sample_weight)
            if policy != "raise":  # missing values: see fastgmm._data.missing
                from .._data import missing

                source = missing.dask_fit_data(X, sample_weight, policy, self.n_components)
            # The chunks carry their weights, so the driver is given none.
            self._fit_source(source, None, do_init)
            return X
        # Kernels see C-ordered rows only (one compilation per dtype): other
        # layouts are copied once here; a memmap is streamed as it is.
        X = self._validate_X(X, ensure_min_samples=2, reset=do_init,
                             order=None if isinstance(X, np.memmap) else "C")
        sample_weight = self._check_sample_weight(sample_weight, X)
        source = X
        if policy != "raise":  # missing values: see fastgmm._data.missing
            from .._data import missing

            source, sample_weight = missing.fit_data(X, sample_weight, policy,
                                                     self.n_components)
        self._fit_source(source, sample_weight, do_init)
        return X

    @atomic
    def set_params(self, **params):
        """Set the parameters of this estimator (all of them, or none if one is invalid).

        Parameters
        ----------
        **params : dict
            Estimator parameters.

        Returns
        -------
        self : object
            The estimator.
        """
        return super().set_params(**params)

    def _nan_policy(self) -> str:
        """What NaN entries of X mean: 'raise' (an error) unless a subclass says otherwise."""
        return getattr(self, "nan_policy", "raise")

    def _validate_X(self, X, allow_nan=None, **kwargs):
        """``validate_data`` of X in float32/float64, NaN allowed by a ``nan_policy``
        (or by ``allow_nan``).

        scikit-learn's error for NaN gets one more sentence, saying where
        missing values are supported.
        """
        allow = self._nan_policy() != "raise" if allow_nan is None else allow_nan
        try:
            return validate_data(self, X, dtype=FLOAT_DTYPES,
                                 ensure_all_finite="allow-nan" if allow else True, **kwargs)
        except ValueError as error:
            if str(error).startswith("Input X contains NaN"):
                raise ValueError(
                    f"{error} Missing values are supported by fastgmm's "
                    "GaussianMixture(nan_policy='marginalize').fit, which marginalises "
                    "them.") from None
            raise

    def _fit_source(self, X, sample_weight, do_init):
        """The EM driver on validated data: ``n_init`` runs, best one kept.

        ``X`` is an array or a chunked source with ``shape``, ``dtype`` and
        its own ``accumulate`` / ``initial_stats`` (the Dask path).
        """
        check_n_samples(X.shape[0], self.n_components)
        context = self._check_parameters(X, sample_weight)

        n_init = self.n_init if do_init else 1
        rng = check_random_state(self.random_state)

        # converged_ is only set by a fit that completes (it marks a model a
        # warm start can continue).
        max_lower_bound = -np.inf
        best = None
        reseeds = []
        for init in range(n_init):
            self._print_verbose_msg_init_beg(init)
            reseed = self._reseeder(X, sample_weight, rng)
            if do_init:
                params = self._initial_parameters(X, sample_weight, rng, context, reseed)
                lower_bound = -np.inf
            else:
                params = self._get_parameters()
                lower_bound = self.lower_bound_
            if self.max_iter == 0:
                best = (params, 0, [], False)
                reseeds.append(0 if reseed is None else reseed.count)
                continue
            params, lower_bound, n_iter, bounds, converged = self._em(
                X, sample_weight, params, lower_bound, context, reseed, init=init)
            reseeds.append(0 if reseed is None else reseed.count)
            self._print_verbose_msg_init_end(lower_bound, converged)
            if lower_bound > max_lower_bound or max_lower_bound == -np.inf:
                max_lower_bound = lower_bound
                best = (params, n_iter, bounds, converged)

        params, n_iter, bounds, converged = best
        if not converged and self.max_iter > 0:
            warnings.warn(not_converged_message(), ConvergenceWarning)
        self._record_fit(params, X.dtype, n_iter, bounds, converged, max_lower_bound, context)
        self._record_reseeds(np.asarray(reseeds, dtype=np.int64))

    def _record_fit(self, params, dtype, n_iter, lower_bounds, converged, lower_bound,
                    context=None):
        """Set the fitted attributes from the run an EM driver keeps.

        The one way every driver (``fit``'s loop above, ``partial_fit``'s
        stepwise EM, ``fit_many``'s lockstep EM) writes its result.
        """
        self._set_parameters(params, dtype, context)
        self.n_iter_ = n_iter
        self.lower_bounds_ = lower_bounds
        self.converged_ = converged
        self.lower_bound_ = lower_bound

    def _initial_parameters(self, X, sample_weight, rng, context, reseed=None):
        """Parameters from the statistics of the initial responsibilities."""
        stats = None
        if self._needs_init_stats(context):
            stats = initial_stats(X, sample_weight, self.n_components,
                                  self.covariance_type, self.init_params, rng)
        if reseed is None:
            return self._initialize(stats, context, X.dtype)
        return self._initialize(stats, context, X.dtype, reseed=reseed)

    def _em(self, X, sample_weight, params, lower_bound, context, reseed=None, init=0):
        """EM iterations from ``params``; one fused data pass per iteration.

        After each iteration the callbacks of :func:`fastgmm.on_iteration`
        get an event (``init`` is the initialisation's number).

        With a re-seeder (see :mod:`fastgmm._em.reseed`), an M-step may re-seed
        collapsed components. The next pass then evaluates other parameters
        than the ones EM was improving, so that iteration cannot converge and
        the following one compares with no previous bound.
        """
        bounds = []
        converged = False
        reseeded = False
        for n_iter in range(1, self.max_iter + 1):
            previous = -np.inf if reseeded else lower_bound
            stats = accumulate(X, sample_weight, self._estep_model(params, X.dtype))
            # One pass evaluates the parameters it used and collects the
            # statistics of the next ones, as scikit-learn's E- and M-step do.
            if reseed is None:
                params = self._m_step(stats, context, X.dtype)
            else:
                count = reseed.count
                params = self._m_step(stats, context, X.dtype, reseed=reseed)
                reseeded = reseed.count > count
            lower_bound = self._compute_lower_bound(stats, params, context)
            bounds.append(lower_bound)
            change = lower_bound - previous
            self._print_verbose_msg_iter_end(n_iter, change)
            progress.notify(self, init, n_iter, lower_bound, change)
            if abs(change) < self.tol and not reseeded:
                converged = True
                break
        return params, lower_bound, n_iter, bounds, converged

    def _check_sample_weight(self, sample_weight, X):
        if sample_weight is None:
            return None
        sample_weight = _check_sample_weight(sample_weight, X, dtype=X.dtype,
                                             ensure_non_negative=True)
        if not np.any(sample_weight > 0):
            raise ValueError("sample_weight must have at least one positive "
                             "entry, but all weights are zero.")
        return sample_weight

    # ------------------------------------------------------------ the hooks
    def _check_parameters(self, X, sample_weight):
        raise NotImplementedError

    def _needs_init_stats(self, context) -> bool:
        return True

    def _initialize(self, stats, context, dtype):
        raise NotImplementedError

    def _m_step(self, stats, context, dtype):
        raise NotImplementedError

    def _compute_lower_bound(self, stats, params, context) -> float:
        raise NotImplementedError

    def _estep_model(self, params, dtype):
        raise NotImplementedError

    def _get_parameters(self):
        raise NotImplementedError

    def _reseeder(self, X, sample_weight, rng):
        """The re-seeding of one initialisation, or None: a collapse raises."""
        return None

    def _record_reseeds(self, counts) -> None:
        """Keep the number of re-seeds of each initialisation (no re-seeding: nothing)."""

    def _set_parameters(self, params, dtype, context=None):
        raise NotImplementedError

    def _kernel_model(self, dtype):
        """The kernel model of the fitted parameters (for inference)."""
        return self._estep_model(self._get_parameters(), dtype)

    # ------------------------------------------------------------- inference
    def _check_fitted_shapes(self, remedy):
        """Every fitted attribute agrees with the others and with the parameters.

        See :func:`fastgmm._model.fitted.check_fitted`; ``remedy`` ends the message.
        """
        check_fitted(self, remedy)

    def _check_fitted(self):
        """Fitted, with attributes of consistent shapes (before any inference)."""
        check_is_fitted(self)
        self._check_fitted_shapes("call fit again")

    def _score(self, X, want_log_resp=False):
        """``(log p(x), label, log-responsibilities or None)`` of new data."""
        self._check_fitted()
        X = self._validate_X(X, reset=False)
        return score(X, self._kernel_model(X.dtype), want_log_resp)

    def _dask_input(self, X, reset, fitting):
        """A Dask array validated as ``validate_data`` would, without computing it."""
        from .._data import dask as _dask

        X = _dask.as_float_array(X)
        validate_data(self, X, skip_check_array=True, reset=reset)
        return _dask.whole_rows(X, fitting, type(self).__name__)

    def _dask_score(self, X, output):
        """Lazy ``output`` ('labels', 'proba' or 'log_prob') of a validated Dask array."""
        from .._data import dask as _dask

        return _dask.map_score(X, self._kernel_model(X.dtype), output, self.n_components)

    def _lazy(self, X, output):
        self._check_fitted()
        return self._dask_score(self._dask_input(X, reset=False, fitting=False), output)

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
            return self._lazy(X, "log_prob")
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
            return self._lazy(X, "labels")
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
            return self._lazy(X, "proba")
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
        self._check_fitted()
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
