"""Initial responsibilities -> their statistics, for each ``init_params``.

As in scikit-learn, initialisation picks responsibilities (k-means labels,
k-means++ seeds, random rows, or random soft assignments); the estimator
runs its M-step on their statistics. Responsibilities are produced a
bounded slice of rows at a time, so nothing of size ``n x k`` is ever held.
A memmap of more than ``PARTITION_ROWS`` rows is initialised over its
partitions by :mod:`fastgmm._init.scalable` (k-means|| or a race), so that
no array of ``n`` is held either.
"""

from __future__ import annotations

import mmap

import numpy as np

from .._data import source
from .._data.missing import MissingValues
from .._data.source import PartitionedSource
from . import scalable
from .._model.stats import Stats, leave_unassigned
from .resp import (every_row_stats, labelled, random_resp, seed_row_stats, stats_from_resp,
                   total_weight)


def _on_disk(X):
    """True for a ``numpy.memmap`` or a view of one (validation returns a view)."""
    while X is not None:
        if isinstance(X, (np.memmap, mmap.mmap)):
            return True
        X = getattr(X, "base", None)
    return False


# The inits that start each component from one row (responsibility 1 there).
SEEDED = ("k-means++", "random_from_data")


def _random_rows(rng, n, k, sample_weight):
    """``k`` distinct rows uniformly at random, among the rows that carry weight."""
    if sample_weight is not None:
        positive = np.flatnonzero(np.asarray(sample_weight) > 0)
        if k <= len(positive) < n:
            return positive[rng.choice(len(positive), size=k, replace=False)]
    return rng.choice(n, size=k, replace=False)


def initial_stats(X, sample_weight, n_components, covariance_type, init_params, rng) -> Stats:
    """Statistics of the initial responsibilities chosen by ``init_params``.

    An estimator turns them into its initial parameters with its M-step
    (scikit-learn initialises both of its mixtures this way).

    Parameters
    ----------
    X : ndarray or memmap of shape (n_samples, n_features)
    sample_weight : ndarray of shape (n_samples,) or None
    n_components : int
    covariance_type : {'full', 'tied', 'diag', 'spherical'}
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data'}
    rng : numpy.random.RandomState

    A :class:`~fastgmm._data.source.PartitionedSource` (the Dask path,
    whose partitions hold their weights: ``sample_weight`` is None) is
    initialised partition by partition.
    """
    if isinstance(X, MissingValues):  # rows with NaN entries: initialised on filled rows
        return X.initial_stats(sample_weight, n_components, covariance_type, init_params, rng)
    if isinstance(X, PartitionedSource):
        return scalable.partitioned_initial_stats(X, n_components, covariance_type,
                                                  init_params, rng)
    if init_params != "random" and X.shape[0] > source.PARTITION_ROWS and _on_disk(X):
        # A large memmap: k-means|| or a race over its partitions, never an
        # array of n. ('random' draws a slice at a time here already.)
        return scalable.partitioned_initial_stats(source.RowPartitions(X, sample_weight),
                                                  n_components, covariance_type, init_params,
                                                  rng)
    if init_params in SEEDED:
        return seed_stats(X, sample_weight,
                          seed_rows(X, sample_weight, n_components, init_params, rng),
                          covariance_type)
    return stats_from_resp(X, sample_weight, *initial_resp(X, sample_weight, n_components,
                                                           init_params, rng),
                           covariance_type)


def seed_rows(X, sample_weight, n_components, init_params, rng):
    """The row each component starts from, for an init in :data:`SEEDED`."""
    from .kmeans import kmeans_plusplus  # loaded on first use, see _data.arrays

    if init_params == "k-means++":
        return kmeans_plusplus(X, n_components, rng, sample_weight)[1]
    return _random_rows(rng, X.shape[0], n_components, sample_weight)


def seed_stats(X, sample_weight, indices, covariance_type) -> Stats:
    """Statistics of responsibility 1 for component ``j`` at row ``indices[j]``, 0 elsewhere.

    Only those rows carry responsibility, so their statistics are those of
    the pass over just them (each component's from its own row); the total
    weight is that of all rows, :func:`fastgmm._init.resp.total_weight`. Tied:
    one pass over all rows adds the mass the seeds leave unassigned
    (:attr:`fastgmm._model.stats.Stats.unassigned`), for scikit-learn's tied
    covariance.
    """
    indices = np.asarray(indices, dtype=np.int64)
    w = None if sample_weight is None else np.asarray(sample_weight)[indices]
    stats = seed_row_stats(np.asarray(X[indices]), w, total_weight(sample_weight, X.shape[0]),
                           covariance_type)
    if covariance_type == "tied":
        stats = leave_unassigned(stats, every_row_stats(X, sample_weight, stats.center))
    return stats


def initial_resp(X, sample_weight, n_components, init_params, rng):
    """The initial responsibilities of an in-memory ``X``: ``(make_resp, shift)``.

    ``make_resp(start, stop)`` gives the responsibilities of rows
    ``[start, stop)`` (drawing random ones from ``rng`` when called, in
    order), ``shift`` the (k, d) shifts of their statistics; see
    :func:`fastgmm._init.resp.stats_from_resp`. The inits in :data:`SEEDED`
    need no responsibilities: :func:`seed_rows` and :func:`seed_stats`.
    """
    from .kmeans import cluster_shifts, kmeans  # loaded on first use, see _data.arrays

    k = n_components
    if init_params == "kmeans":
        centers, labels = kmeans(X, k, rng, sample_weight)
        return labelled(labels), cluster_shifts(X, labels, centers)
    if init_params == "random":
        ref = np.asarray(X[0], dtype=np.float64)
        return random_resp(rng, k, sample_weight), np.repeat(ref[None], k, axis=0)
    raise ValueError(f"initial_resp: no responsibilities for init_params={init_params!r}; "
                     "its seed rows give its statistics (seed_stats)")
