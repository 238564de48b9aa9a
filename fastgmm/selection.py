"""Choosing the number of components (and covariance type) by BIC or AIC."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from numbers import Integral
from time import perf_counter

import numpy as np

from ._kernels.layout import COVARIANCE_TYPES
from .mixture import GaussianMixture

_CRITERIA = ("bic", "aic")


@dataclass(frozen=True)
class Candidate:
    """The scores of one fitted candidate of :func:`fastgmm.select`.

    Each parameter is also a read-only attribute of the same name.

    Parameters
    ----------
    n_components : int
        Number of components of the candidate.
    covariance_type : str
        Covariance type of the candidate.
    bic : float
        Bayesian information criterion on ``X`` (lower is better); ``nan``
        if the fit failed.
    aic : float
        Akaike information criterion on ``X`` (lower is better).
    lower_bound : float
        Mean log-likelihood per sample of the fit.
    n_iter : int
        Number of EM iterations the fit ran.
    converged : bool
        Whether the fit converged.
    fit_time : float
        Seconds spent fitting and scoring.
    error : str or None
        Why the fit failed (for instance a singular covariance), else None.
    """

    n_components: int
    covariance_type: str
    bic: float
    aic: float
    lower_bound: float
    n_iter: int
    converged: bool
    fit_time: float
    error: str | None = None

    def as_dict(self) -> dict:
        """The candidate as a plain dict (one row of the table).

        Returns
        -------
        row : dict
            The fields by name, e.g. ``{'n_components': 3, ...}``.
        """
        return asdict(self)


def select(
    X,
    n_components: Iterable[int] = range(1, 11),
    covariance_types: Iterable[str] | str = ("full",),
    criterion: str = "bic",
    *,
    callback: Callable[[GaussianMixture, int, str], None] | None = None,
    **gm_kwargs,
) -> tuple[GaussianMixture, list[Candidate]]:
    """Fit a mixture for every candidate and keep the one with the lowest criterion.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Data, float32 or float64 (a ``numpy.memmap`` is streamed).
    n_components : iterable of int, default=range(1, 11)
        Candidate numbers of components.
    covariance_types : {'full', 'tied', 'diag', 'spherical'} or iterable \
            of them, default=('full',)
        Candidate covariance types.
    criterion : {'bic', 'aic'}, default='bic'
        Information criterion to minimise.
    callback : callable, default=None
        Called as ``callback(estimator, n_components, covariance_type)``
        before each fit (the CLI uses it to attach its progress line).
    **gm_kwargs
        Other :class:`~fastgmm.GaussianMixture` parameters, shared by all
        candidates (``random_state``, ``max_iter``, ``n_init`` ...).

    Returns
    -------
    best : GaussianMixture
        The fitted candidate with the lowest criterion.
    table : list of Candidate
        One row per candidate, in the order fitted.

    Raises
    ------
    ValueError
        If a parameter is invalid or every candidate failed to fit.

    Examples
    --------
    >>> import numpy as np
    >>> from fastgmm import select
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(size=(300, 2)) + c for c in ([0, 0], [8, 0], [0, 8])])
    >>> best, table = select(X, n_components=range(1, 6), random_state=0)
    >>> best.n_components
    3
    """
    if criterion not in _CRITERIA:
        raise ValueError(f"criterion must be one of {_CRITERIA}, got {criterion!r}")
    if isinstance(covariance_types, str):
        covariance_types = (covariance_types,)
    covariance_types = list(covariance_types)
    # Each candidate is checked as GaussianMixture checks n_components: 2.7
    # is refused, not truncated to 2 (numpy integers are integers).
    candidates = list(n_components)
    for name, value in (("n_components", "n_components"), ("covariance_type", "covariance_types")):
        if name in gm_kwargs:
            raise TypeError(f"pass '{value}' to select, not '{name}'")
    if not candidates or any(not isinstance(k, Integral) or isinstance(k, (bool, np.bool_))
                             or k < 1 for k in candidates):
        raise ValueError("n_components must be a non-empty list of integers >= 1, "
                         f"got {candidates}")
    bad = [c for c in covariance_types if c not in COVARIANCE_TYPES]
    if not covariance_types or bad:
        raise ValueError(f"covariance_types must be taken from {COVARIANCE_TYPES}, "
                         f"got {covariance_types}")

    candidates = [int(k) for k in candidates]
    best, best_score, table = None, float("inf"), []
    last_error = None
    for covariance_type in covariance_types:
        for k in candidates:
            gm = GaussianMixture(k, covariance_type=covariance_type, **gm_kwargs)
            if callback is not None:
                callback(gm, k, covariance_type)
            start = perf_counter()
            try:
                gm.fit(X)
            except ValueError as exc:
                if "n_components" not in str(exc) and "ill-defined" not in str(exc):
                    raise
                last_error = exc
                nan = float("nan")
                table.append(Candidate(k, covariance_type, nan, nan, nan, 0, False,
                                       perf_counter() - start, str(exc)))
                continue
            bic, aic = _criteria(gm, X)
            table.append(Candidate(k, covariance_type, bic, aic, float(gm.lower_bound_),
                                   int(gm.n_iter_), bool(gm.converged_),
                                   perf_counter() - start))
            score = bic if criterion == "bic" else aic
            if score < best_score:
                best, best_score = gm, score
    if best is None:
        raise ValueError(f"no candidate could be fitted; last error: {last_error}")
    return best, table


def _criteria(gm: GaussianMixture, X) -> tuple[float, float]:
    """BIC and AIC from a single scoring pass over ``X``."""
    n = X.shape[0] if hasattr(X, "shape") else len(X)
    total = gm.score(X) * n
    p = gm._n_parameters()
    return float(-2 * total + p * math.log(n)), float(-2 * total + 2 * p)
