"""Re-seeding collapsed components during EM (``on_collapse='reseed'``).

By default (scikit-learn's behaviour) a component whose covariance has no
Cholesky factor stops the fit with scikit-learn's ill-defined covariance
error. With ``GaussianMixture(on_collapse='reseed')`` the EM driver
(:meth:`fastgmm._em.base.BaseMixture._em`) hands each M-step's weights, means
and covariances to a :class:`Reseeder` instead, which re-seeds every
component that

- has a covariance that is not positive-definite (a variance that is not
  positive for 'diag' and 'spherical'), or
- weighs less than ``reseed_min_weight`` after an EM step,

and only then computes the precision Cholesky factors. A re-seeded
component gets

- as mean, one row drawn as k-means++ draws its seeds: with probability
  proportional to the sample weight times the squared distance to the
  nearest current mean (the collapsed component's own mean included, so
  the rows it collapsed onto are not drawn again). The draw is an
  exponential race over partitions of rows (:func:`fastgmm._init.scalable.far_row`),
  one pass of the k-means distance kernel per re-seeded component, in
  memory bounded by the partition, never an array of ``n``;
- as covariance, the covariance of all the data (from the pass's own
  statistics, :func:`fastgmm._model.gaussian.data_covariance`) plus ``reg_covar``;
- the weight ``1 / n_components``, after which the weights are renormalised.

Several components are re-seeded one after the other, each draw seeing the
means chosen before it. The random numbers come from one integer drawn
from the estimator's ``random_state`` stream at the first re-seed of an
initialisation (none is drawn when nothing collapses, so the option changes
nothing then), and the partitions are those of the data source
(:class:`~fastgmm._data.source.RowPartitions` for an array or memmap): an
in-memory array and a memmap of the same rows draw the same rows, for any
thread count.

A re-seed is bounded: an initialisation re-seeds at most
``MAX_RESEEDS_PER_COMPONENT * n_components`` times; a collapse beyond that
raises the usual error (light components are then left alone). The shared
'tied' covariance belongs to no one component: it still raises when it is
ill-defined, and only the weight test re-seeds tied components (their
means and weights).
"""

from __future__ import annotations

import numpy as np

from .._data.source import PartitionedSource, RowPartitions
from .._init.scalable import _SEED_MAX, far_row
from .._model.gaussian import _singular_error, data_covariance, ill_defined, precision_cholesky

MAX_RESEEDS_PER_COMPONENT = 10


def _collapse_error(dtype, detail: str) -> ValueError:
    """scikit-learn's ill-defined covariance error, then what the re-seeding tried."""
    return ValueError(f"{_singular_error(dtype)} {detail}")


class Reseeder:
    """The re-seeding of one initialisation's EM run (see the module docstring).

    Parameters
    ----------
    X : ndarray, numpy.memmap or partitioned source
        The data being fitted (a
        :class:`~fastgmm._data.source.PartitionedSource`, e.g. the Dask one,
        draws over its own partitions).
    sample_weight : ndarray of shape (n_samples,) or None
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
    reg_covar : float
    min_weight : float
        Components lighter than this are re-seeded too (0: never).
    n_components : int
    rng : numpy.random.RandomState
        The estimator's stream; one integer is drawn from it at the first
        re-seed.

    Attributes
    ----------
    count : int
        Components re-seeded so far in this run.
    cap : int
        The most re-seeds allowed in this run.
    """

    def __init__(self, X, sample_weight, covariance_type, reg_covar, min_weight,
                 n_components, rng):
        self._source = (X if isinstance(X, PartitionedSource)
                        else RowPartitions(X, sample_weight))
        self._covariance_type = covariance_type
        self._reg_covar = float(reg_covar)
        self._min_weight = float(min_weight)
        self._rng = rng
        self._seed = None
        self._draws = 0
        self.count = 0
        self.cap = MAX_RESEEDS_PER_COMPONENT * n_components

    def parameters(self, weights, means, covariances, stats, dtype, initial=False):
        """``(weights, means, covariances, precisions_cholesky)`` with collapses re-seeded.

        ``stats`` are the statistics the M-step used (for the covariance
        of the data). When nothing needs a re-seed, the result is exactly
        the plain M-step's. ``initial``: the parameters of the initial
        responsibilities, whose weights are not tested (from single seed
        rows they are ``1 / n_samples`` each, as in scikit-learn).
        """
        cov_type = self._covariance_type
        light = np.asarray(weights) < self._min_weight
        if self.count >= self.cap or initial:
            light[:] = False
        try:
            prec_chol = precision_cholesky(covariances, cov_type, dtype)
            collapsed = np.zeros(len(light), dtype=bool)
        except ValueError:
            if cov_type == "tied":
                raise
            collapsed = ill_defined(covariances, cov_type)
            if self.count + int(collapsed.sum()) > self.cap:
                raise _collapse_error(dtype, (
                    f"on_collapse='reseed' re-seeded {self.count} components in this "
                    f"initialisation, the most it does ({MAX_RESEEDS_PER_COMPONENT} per "
                    "component), and components still collapse.")) from None
        todo = np.flatnonzero(collapsed | light)
        if not len(todo):
            return weights, means, covariances, prec_chol
        weights, means = np.array(weights, dtype=np.float64), np.array(means, dtype=np.float64)
        covariances = np.array(covariances, dtype=np.float64)
        fresh = None
        if cov_type != "tied":
            fresh = data_covariance(stats, cov_type)
            if cov_type == "full":
                fresh[np.diag_indices_from(fresh)] += self._reg_covar
            else:
                fresh = fresh + self._reg_covar
            if collapsed.any() and ill_defined(np.asarray(fresh)[None], cov_type)[0]:
                raise _collapse_error(dtype, (
                    "on_collapse='reseed' cannot help: the covariance of the data "
                    "themselves is ill-defined (a constant column, or rows on a "
                    "lower-dimensional subspace), so a re-seeded component would "
                    "collapse too; drop such columns or increase reg_covar."))
        for j in todo:
            if not collapsed[j] and self.count >= self.cap:
                continue
            found = far_row(self._source, means, self._seed_value(), self._draws)
            self._draws += 1
            if found is None:  # every weighted row sits on a mean
                if collapsed[j]:
                    raise _singular_error(dtype)
                continue
            means[j] = found[1]
            if fresh is not None:
                covariances[j] = fresh
            weights[j] = 1.0 / len(weights)
            self.count += 1
        weights /= weights.sum()
        return weights, means, covariances, precision_cholesky(covariances, cov_type, dtype)

    def _seed_value(self) -> int:
        if self._seed is None:
            self._seed = int(self._rng.randint(_SEED_MAX))
        return self._seed
