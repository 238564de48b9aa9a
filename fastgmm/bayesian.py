"""The variational Bayesian Gaussian mixture on the shared EM driver.

:class:`fastgmm._em.base.BaseMixture` runs the fit and the fused kernels do
the E-step; this module resolves the priors and hands the variational
M-step, E-step constants and lower bound of :mod:`fastgmm._model.variational`
to the driver.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_array
from sklearn.utils._param_validation import Interval, StrOptions

from ._model import gaussian as _model
from ._model import variational as _variational
from ._em.base import BaseMixture
from ._data.arrays import accumulate
from ._files.modelfile import Refuse
from ._kernels.layout import FLOAT_DTYPES
from ._model.checks import precision_shape

class BayesianGaussianMixture(BaseMixture):
    """Variational Bayesian Gaussian mixture fitted with fused, multithreaded Numba kernels.

    A drop-in replacement for :class:`sklearn.mixture.BayesianGaussianMixture`:
    the same parameters, fitted attributes and methods, the same results
    from the same initialisation. Each variational iteration is one pass
    over the data that folds the responsibilities into additive statistics
    (counts, shifted sums and scatter, and their entropy); the posterior is
    updated from them, so no ``n_samples x n_components`` array is held.
    With a Dirichlet-process prior on the weights, components the data do
    not need get weights near zero, so ``n_components`` is an upper bound.

    Parameters
    ----------
    n_components : int, default=1
        The largest number of mixture components; the prior may leave some
        of them with weights close to zero.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
        The type of covariance parameters: one full matrix per component
        ('full'), one matrix shared by all components ('tied'), one diagonal
        per component ('diag') or one variance per component ('spherical').
    tol : float, default=1e-3
        Convergence threshold: iterations stop when the change of the lower
        bound is below this value.
    reg_covar : float, default=1e-6
        Non-negative value added to the diagonal of each covariance.
    max_iter : int, default=100
        The number of variational iterations to perform.
    n_init : int, default=1
        The number of initialisations; the one with the largest lower bound
        is kept.
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data'}, \
            default='kmeans'
        How the initial responsibilities are chosen.
    weight_concentration_prior_type : {'dirichlet_process', \
            'dirichlet_distribution'}, default='dirichlet_process'
        The prior on the weights: a truncated (stick-breaking) Dirichlet
        process or a finite Dirichlet distribution.
    weight_concentration_prior : float or None, default=None
        Concentration of the weight prior (gamma); larger values keep more
        components active. None means ``1 / n_components``.
    mean_precision_prior : float or None, default=None
        Precision of the prior on the means (beta_0); larger values pull the
        means towards ``mean_prior``. None means 1.
    mean_prior : array-like of shape (n_features,), default=None
        Prior mean of the means; None means the mean of ``X``.
    degrees_of_freedom_prior : float or None, default=None
        Degrees of freedom of the Wishart prior on the precisions (nu_0),
        greater than ``n_features - 1``; None means ``n_features``.
    covariance_prior : float or array-like, default=None
        Scale of the Wishart prior, shaped (n_features, n_features) for
        'full' and 'tied', (n_features,) for 'diag' and a float for
        'spherical'; None means the empirical covariance of ``X``.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation (and :meth:`sample`).
    warm_start : bool, default=False
        If True, each ``fit`` starts from the previous solution.
    verbose : int, default=0
        Print progress: 1 prints the initialisations and iterations, 2 also
        prints the time and lower-bound change per iteration.
    verbose_interval : int, default=10
        Number of iterations between two progress messages.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
        The expected weight of each component.
    means_ : ndarray of shape (n_components, n_features)
        The posterior mean of each component's mean.
    covariances_ : ndarray
        The covariance of each component (the Wishart scale normalised by
        the degrees of freedom); shape (n_components, n_features,
        n_features) for 'full', (n_features, n_features) for 'tied',
        (n_components, n_features) for 'diag', (n_components,) for
        'spherical'.
    precisions_ : ndarray
        The inverses of ``covariances_``, same shape.
    precisions_cholesky_ : ndarray
        Upper-triangular Cholesky factors ``U`` with ``U U^T = precision``.
    converged_ : bool
        True when the best initialisation reached convergence.
    n_iter_ : int
        Number of iterations of the best initialisation.
    lower_bound_ : float
        Evidence lower bound (up to a constant) of the best initialisation.
    lower_bounds_ : list of float
        ``lower_bound_`` after each iteration of the best initialisation.
    weight_concentration_prior_ : float
        The concentration of the weight prior used.
    weight_concentration_ : ndarray of shape (n_components,) or tuple of two
        The posterior concentration: Dirichlet parameters, or for
        'dirichlet_process' the two arrays of the Beta stick-breaking
        parameters.
    mean_precision_prior_ : float
        The precision of the prior on the means used.
    mean_precision_ : ndarray of shape (n_components,)
        The posterior precision of each component's mean (beta_j).
    mean_prior_ : ndarray of shape (n_features,)
        The prior mean used.
    degrees_of_freedom_prior_ : float
        The prior degrees of freedom used.
    degrees_of_freedom_ : ndarray of shape (n_components,) or float
        The posterior degrees of freedom of each component (nu_j); a single
        value for 'tied'.
    covariance_prior_ : float or ndarray
        The Wishart prior scale used.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when ``X`` has string column names.

    See Also
    --------
    GaussianMixture : The maximum-likelihood mixture.
    sklearn.mixture.BayesianGaussianMixture : The reference implementation.

    Examples
    --------
    >>> import numpy as np
    >>> from fastgmm import BayesianGaussianMixture
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(0, 1, (200, 2)), rng.normal(8, 1, (200, 2))])
    >>> bgm = BayesianGaussianMixture(n_components=6, random_state=0).fit(X)
    >>> int((bgm.weights_ > 0.01).sum())
    2
    """

    _parameter_constraints: dict = {
        **BaseMixture._parameter_constraints,
        "weight_concentration_prior_type": [
            StrOptions({"dirichlet_process", "dirichlet_distribution"})],
        "weight_concentration_prior": [None, Interval(Real, 0.0, None, closed="neither")],
        "mean_precision_prior": [None, Interval(Real, 0.0, None, closed="neither")],
        "mean_prior": [None, "array-like"],
        "degrees_of_freedom_prior": [None, Interval(Real, 0.0, None, closed="neither")],
        "covariance_prior": [None, "array-like", Interval(Real, 0.0, None, closed="neither")],
    }
    _file_arrays = BaseMixture._file_arrays + (
        "weight_concentration_", "mean_precision_", "degrees_of_freedom_",
        "mean_prior_", "covariance_prior_")
    _array_params = ("mean_prior", "covariance_prior")
    _file_any_float = ("mean_prior_", "covariance_prior_")

    def __init__(
        self,
        *,
        n_components=1,
        covariance_type="full",
        tol=1e-3,
        reg_covar=1e-6,
        max_iter=100,
        n_init=1,
        init_params="kmeans",
        weight_concentration_prior_type="dirichlet_process",
        weight_concentration_prior=None,
        mean_precision_prior=None,
        mean_prior=None,
        degrees_of_freedom_prior=None,
        covariance_prior=None,
        random_state=None,
        warm_start=False,
        verbose=0,
        verbose_interval=10,
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weight_concentration_prior_type = weight_concentration_prior_type
        self.weight_concentration_prior = weight_concentration_prior
        self.mean_precision_prior = mean_precision_prior
        self.mean_prior = mean_prior
        self.degrees_of_freedom_prior = degrees_of_freedom_prior
        self.covariance_prior = covariance_prior
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval

    # ------------------------------------------------------------ the hooks
    def _check_parameters(self, X, sample_weight):
        """The priors of this fit, checked as scikit-learn checks them.

        Defaults that depend on the data (``mean_prior``, ``covariance_prior``)
        come from one-component passes over the data source.
        """
        n_features = X.shape[1]
        cov_type = self.covariance_type
        weight_concentration = (1.0 / self.n_components
                                if self.weight_concentration_prior is None
                                else self.weight_concentration_prior)
        mean_precision = 1.0 if self.mean_precision_prior is None else self.mean_precision_prior
        mean = None
        if self.mean_prior is not None:
            mean = check_array(self.mean_prior, dtype=FLOAT_DTYPES, ensure_2d=False)
            _check_shape(mean, (n_features,), "means")
        if self.degrees_of_freedom_prior is None:
            dof = n_features
        elif self.degrees_of_freedom_prior > n_features - 1.0:
            dof = self.degrees_of_freedom_prior
        else:
            raise ValueError(
                "The parameter 'degrees_of_freedom_prior' "
                "should be greater than %d, but got %.3f."
                % (n_features - 1, self.degrees_of_freedom_prior))
        covariance = None
        if self.covariance_prior is not None:
            covariance = self.covariance_prior
            if cov_type in ("full", "tied"):
                covariance = check_array(covariance, dtype=FLOAT_DTYPES, ensure_2d=False)
                _check_shape(covariance, (n_features, n_features),
                             "%s covariance_prior" % cov_type)
                if not (np.all(np.isclose(covariance, covariance.T))
                        and np.all(np.linalg.eigvalsh(covariance) > 0.0)):
                    raise ValueError(
                        "'%s precision' should be symmetric, positive-definite" % cov_type)
            elif cov_type == "diag":
                covariance = check_array(covariance, dtype=FLOAT_DTYPES, ensure_2d=False)
                _check_shape(covariance, (n_features,), "%s covariance_prior" % cov_type)
                if np.any(np.less_equal(covariance, 0.0)):
                    raise ValueError("'%s precision' should be positive" % cov_type)
        if mean is None or covariance is None:
            data_mean, data_cov = self._data_moments(X, sample_weight)
            mean = data_mean.astype(X.dtype) if mean is None else mean
            if covariance is None:
                # As scikit-learn's np.cov (float64) and np.var (X's dtype).
                covariance = (data_cov if cov_type in ("full", "tied")
                              else _cast(data_cov, X.dtype))
        return _variational.Priors(self.weight_concentration_prior_type,
                                   weight_concentration, mean_precision, mean, dof,
                                   covariance)

    def _data_moments(self, X, sample_weight):
        """Weighted mean and unbiased covariance of the data source.

        Two one-component passes: the first finds the mean, the second
        collects the scatter about it (precise far from the origin).
        """
        n_features = X.shape[1]
        cov_type = self.covariance_type
        prec_chol = np.ones(precision_shape(cov_type, 1, n_features))
        if cov_type in ("full", "tied"):
            prec_chol = np.broadcast_to(np.eye(n_features), prec_chol.shape).copy()
        center = np.zeros((1, n_features))
        for _ in range(2):
            model = _model.kernel_model(np.ones(1), center, prec_chol, cov_type, X.dtype)
            stats = accumulate(X, sample_weight, model)
            mean, cov = _variational.moments(stats, cov_type, X.dtype)
            center = mean[None]
        return mean, cov

    def _initialize(self, stats, priors, dtype):
        return _variational.m_step(stats, priors, self.covariance_type, self.reg_covar,
                                   dtype)

    def _m_step(self, stats, priors, dtype):
        return _variational.m_step(stats, priors, self.covariance_type, self.reg_covar,
                                   dtype)

    def _compute_lower_bound(self, stats, params, priors):
        return _variational.lower_bound(stats.entropy, params, priors,
                                        self.covariance_type)

    def _estep_model(self, params, dtype):
        return _variational.kernel_model(params, self.weight_concentration_prior_type,
                                         self.covariance_type, dtype)

    def _get_parameters(self):
        concentration = self.weight_concentration_
        if self.weight_concentration_prior_type == "dirichlet_process":
            concentration = tuple(np.asarray(c, dtype=np.float64) for c in concentration)
        else:
            concentration = np.asarray(concentration, dtype=np.float64)
        return (concentration,) + tuple(
            np.asarray(p, dtype=np.float64)
            for p in (self.mean_precision_, self.means_, self.degrees_of_freedom_,
                      self.covariances_, self.precisions_cholesky_))

    def _set_parameters(self, params, dtype, priors=None):
        concentration, mean_precision, means, dof, covariances, prec_chol = params
        prior_type = self.weight_concentration_prior_type
        self.weights_ = np.asarray(
            _variational.weights_from_concentration(concentration, prior_type), dtype=dtype)
        if prior_type == "dirichlet_process":
            self.weight_concentration_ = tuple(np.asarray(c, dtype=dtype)
                                               for c in concentration)
        else:
            self.weight_concentration_ = np.asarray(concentration, dtype=dtype)
        self.mean_precision_ = np.asarray(mean_precision, dtype=dtype)
        self.means_ = np.asarray(means, dtype=dtype)
        self.degrees_of_freedom_ = _cast(dof, dtype)
        self.covariances_ = np.asarray(covariances, dtype=dtype)
        self.precisions_cholesky_ = np.asarray(prec_chol, dtype=dtype)
        self.precisions_ = _model.precisions_from_cholesky(self.precisions_cholesky_,
                                                           self.covariance_type)
        self.weight_concentration_prior_ = priors.weight_concentration
        self.mean_precision_prior_ = priors.mean_precision
        self.mean_prior_ = priors.mean
        self.degrees_of_freedom_prior_ = priors.degrees_of_freedom
        self.covariance_prior_ = priors.covariance

    # ------------------------------------------------------------ model file
    def _file_array_values(self):
        arrays = super()._file_array_values()
        dtype = np.asarray(self.means_).dtype
        # A tuple of two arrays for 'dirichlet_process' is stored as (2, k).
        # np.array, not np.ascontiguousarray: a scalar stays 0-d ('tied'
        # degrees of freedom, 'spherical' covariance prior).
        arrays["weight_concentration_"] = np.array(self.weight_concentration_, dtype=dtype)
        arrays["degrees_of_freedom_"] = np.array(self.degrees_of_freedom_, dtype=dtype)
        for name in self._file_any_float:  # the priors keep their own dtype
            arrays[name] = np.array(getattr(self, name), order="C")
        return arrays

    def _set_file_arrays(self, arrays):
        super()._set_file_arrays(arrays)
        if self.weight_concentration_prior_type == "dirichlet_process":
            self.weight_concentration_ = (arrays["weight_concentration_"][0].copy(),
                                          arrays["weight_concentration_"][1].copy())
        self.degrees_of_freedom_ = _cast(arrays["degrees_of_freedom_"],
                                         arrays["degrees_of_freedom_"].dtype)
        self.covariance_prior_ = _cast(arrays["covariance_prior_"],
                                       arrays["covariance_prior_"].dtype)

    def _file_shapes(self, n_features, n_components=None, covariance_type=None):
        shapes = super()._file_shapes(n_features, n_components, covariance_type)
        k = self.n_components if n_components is None else n_components
        cov_type = self.covariance_type if covariance_type is None else covariance_type
        dp = self.weight_concentration_prior_type == "dirichlet_process"
        shapes.update({
            "weight_concentration_": (2, k) if dp else (k,),
            "mean_precision_": (k,),
            "degrees_of_freedom_": () if cov_type == "tied" else (k,),
            "mean_prior_": (n_features,),
            "covariance_prior_": {"full": (n_features, n_features),
                                  "tied": (n_features, n_features),
                                  "diag": (n_features,), "spherical": ()}[cov_type],
        })
        return shapes

    def _check_file_arrays(self, arrays):
        n_features = arrays["means_"].shape[1]
        if np.any(arrays["weight_concentration_"] <= 0) or np.any(
                arrays["mean_precision_"] <= 0):
            raise Refuse("weight_concentration_ and mean_precision_ must be positive")
        if np.any(arrays["degrees_of_freedom_"] <= n_features - 1):
            raise Refuse(f"degrees_of_freedom_ must exceed n_features - 1 = {n_features - 1}")

    _fitted_positive_scalars = ("weight_concentration_prior_", "mean_precision_prior_",
                                "degrees_of_freedom_prior_")

    def _check_fitted_values(self, arrays, problem):
        # The E-step takes digammas and logs of these.
        d = arrays["means_"].shape[1]
        for name in ("weight_concentration_", "mean_precision_"):
            if np.any(arrays[name] <= 0):
                raise problem(name, "must be positive")
        if np.any(arrays["degrees_of_freedom_"] <= d - 1):
            raise problem("degrees_of_freedom_", f"must exceed n_features - 1 = {d - 1}")
        prior = arrays.get("covariance_prior_", np.ones(()))  # absent: built by hand
        if np.any((np.diagonal(prior) if prior.ndim == 2 else prior) <= 0):
            raise problem("covariance_prior_", "must be positive (positive diagonal)")

    def _file_scalar_values(self):
        fitted = super()._file_scalar_values()
        for name in ("weight_concentration_prior_", "mean_precision_prior_",
                     "degrees_of_freedom_prior_"):
            value = getattr(self, name)
            fitted[name] = int(value) if isinstance(value, Integral) else float(value)
        return fitted

    def _set_file_scalars(self, fitted):
        super()._set_file_scalars(fitted)
        for name in ("weight_concentration_prior_", "mean_precision_prior_",
                     "degrees_of_freedom_prior_"):
            value = fitted[name]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise Refuse(f"{name} must be a positive number, got {value!r}")
            setattr(self, name, value)


def _check_shape(param, shape, name):
    if param.shape != shape:
        raise ValueError(
            "The parameter '%s' should have the shape of %s, but got %s"
            % (name, shape, param.shape))


def _cast(value, dtype):
    """An array in ``dtype``, or a scalar of ``dtype`` for a 0-d value."""
    value = np.asarray(value, dtype=dtype)
    return value[()] if value.ndim == 0 else value
