"""The partitioned-source protocol: data visited as an ordered list of row partitions.

A pass over a :class:`PartitionedSource` is one task per partition: the
task sees the partition as an ordinary NumPy array (and its weights), and
the caller adds the tasks' small results in partition order
(:func:`sum_in_order`). So memory is set by the partition size, ``k`` and
``d``, never by the number of rows, and every task is a pure function of
its partition and its arguments (random numbers come from a seed per pass
and partition), so a task that is run again returns the same result.

Two sources implement the protocol:

* :class:`RowPartitions`: an array or ``numpy.memmap`` read
  ``PARTITION_ROWS`` rows at a time in this process (the out-of-core
  initialisation of a large memmap, the re-seeding draw);
* :class:`fastgmm._data.dask.DaskPartitions`: the chunks of a Dask array,
  one task each on the Dask workers.

The EM pass (:func:`fastgmm._data.arrays.accumulate`), the initialisation
(:func:`fastgmm._init.dispatch.initial_stats`) and the re-seeding draw
(:mod:`fastgmm._em.reseed`) accept any source that implements the protocol.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import numpy as np

from .._kernels.layout import PARTITION_ROWS


@runtime_checkable
class PartitionedSource(Protocol):
    """Rows visited as an ordered list of partitions (see the module docstring)."""

    #: ``(n_samples, n_features)`` of all partitions together.
    shape: tuple[int, int]
    #: The data's dtype (float32 or float64).
    dtype: np.dtype
    #: What the source is, for messages ("memmap", "Dask array").
    label: str

    def first_row(self) -> np.ndarray:
        """The first row, as a float64 array of shape (1, n_features)."""

    def partition_of(self, position: int) -> tuple[int, int, int]:
        """``(partition index, first row, last row + 1)`` of the ``position``-th result."""

    def map(self, func: Callable[..., Any], *args) -> list:
        """``func(X, weights, index, first_row, args)`` on every non-empty partition.

        ``X`` is the partition's rows, ``weights`` its sample weights or
        None, ``index`` its position among all partitions, ``first_row``
        the number of its first row. The results come back in partition
        order.
        """


class RowPartitions:
    """An array or ``numpy.memmap`` (and its weights) as partitions of consecutive rows.

    The partitions are visited in order in this process; each is a view of
    the array (of the file), so a pass holds only the arrays of one
    partition. ``partition_rows`` defaults to ``PARTITION_ROWS``.
    """

    label = "memmap"

    def __init__(self, X, sample_weight, partition_rows=None):
        self.X = X
        self.sample_weight = sample_weight
        self.shape = X.shape
        self.dtype = X.dtype
        self.partition_rows = PARTITION_ROWS if partition_rows is None else partition_rows

    def first_row(self):
        return np.asarray(self.X[:1], dtype=np.float64)

    def partition_of(self, position):
        """``(partition index, first row, last row + 1)`` of the ``position``-th partition."""
        start = position * self.partition_rows
        return position, start, min(start + self.partition_rows, self.shape[0])

    def map(self, func, *args):
        """``func(rows, weights, index, first_row, args)`` for each partition, in order."""
        n = self.shape[0]
        w = self.sample_weight
        size = self.partition_rows
        return [func(self.X[start:start + size], None if w is None else w[start:start + size],
                     index, start, args)
                for index, start in enumerate(range(0, n, size))]


def sum_in_order(parts):
    """``parts[0] + parts[1] + ...`` in partition order (``Stats`` or arrays)."""
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    return total


def nonfinite_error(data: PartitionedSource, parts, value_of):
    """The error naming the first partition whose pass gave a non-finite value (or None)."""
    for position, part in enumerate(parts):
        if not np.isfinite(value_of(part)):
            i, first, last = data.partition_of(position)
            return ValueError(
                "Input X contains NaN or infinity: the pass over chunk "
                f"{i} (rows {first} to {last - 1}) of the {data.label} gave "
                f"{value_of(part)}. Remove or impute those rows before fitting.")
    return None
