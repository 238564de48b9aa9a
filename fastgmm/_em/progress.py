"""Iteration events: what a fit reports after every EM iteration, to whom asks.

A progress display (the command line's live line, the demo's timing) does
not reach into the estimator: it wraps the fit in :func:`on_iteration`,
and the EM driver calls every callback registered there with an
:class:`IterationEvent` after each iteration. Estimators keep exactly
scikit-learn's parameters and ``fit`` signature, and the callbacks belong
to the block of code that set them (a ``contextvars`` variable: another
thread, or an asyncio task, does not see them).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class IterationEvent:
    """One EM iteration of one fit.

    Attributes
    ----------
    estimator : estimator instance
        The mixture being fitted.
    init : int
        Which of the ``n_init`` initialisations is running (from 0).
    n_iter : int
        Iterations done in this initialisation (from 1).
    lower_bound : float
        The quantity EM monitors after this iteration: the mean
        log-likelihood per sample (``GaussianMixture``) or the variational
        lower bound (``BayesianGaussianMixture``), as ``lower_bounds_``.
    change : float
        ``lower_bound`` minus the previous one; ``inf`` when there is no
        previous one (the first iteration, and the one after a re-seed).
    """

    estimator: Any
    init: int
    n_iter: int
    lower_bound: float
    change: float


_CALLBACKS: ContextVar[tuple[Callable[[IterationEvent], None], ...]] = ContextVar(
    "fastgmm_iteration_callbacks", default=())


@contextlib.contextmanager
def on_iteration(callback: Callable[[IterationEvent], None]) -> Iterator[None]:
    """Call ``callback`` after every EM iteration of every fit inside the ``with`` block.

    Parameters
    ----------
    callback : callable
        Called as ``callback(event)`` after each iteration of ``fit`` (every
        initialisation) of :class:`~fastgmm.GaussianMixture` and
        :class:`~fastgmm.BayesianGaussianMixture`, including fits on Dask
        arrays and memmaps. ``event`` is a frozen record with the attributes
        ``estimator`` (the mixture being fitted), ``init`` (which of the
        ``n_init`` initialisations, from 0), ``n_iter`` (iterations done in
        it, from 1), ``lower_bound`` (as in ``lower_bounds_``) and ``change``
        (``lower_bound`` minus the previous one; ``inf`` on the first
        iteration and after a re-seed). Blocks nest: inner and outer
        callbacks are all called, outer first. An exception in ``callback``
        ends the fit.

    Examples
    --------
    >>> import numpy as np
    >>> import fastgmm
    >>> X = np.random.default_rng(0).normal(size=(200, 2))
    >>> bounds = []
    >>> with fastgmm.on_iteration(lambda event: bounds.append(event.lower_bound)):
    ...     gm = fastgmm.GaussianMixture(2, random_state=0).fit(X)
    >>> len(bounds) == gm.n_iter_
    True
    """
    token = _CALLBACKS.set(_CALLBACKS.get() + (callback,))
    try:
        yield
    finally:
        _CALLBACKS.reset(token)


def notify(estimator, init: int, n_iter: int, lower_bound: float, change: float) -> None:
    """Send one iteration's event to the callbacks of the enclosing :func:`on_iteration`."""
    callbacks = _CALLBACKS.get()
    if callbacks:
        event = IterationEvent(estimator, init, n_iter, float(lower_bound), float(change))
        for callback in callbacks:
            callback(event)
