"""Fixed row blocking shared by every kernel.

Work is split into *chunks* of ``CHUNK_ROWS`` rows (one parallel task each,
one partial result each) and chunks into *blocks* of ``BLOCK_ROWS`` rows
(processed together inside a task so that loops along points vectorise).
Both sizes are constants, never derived from the thread count, so a
reduction of chunk partials in chunk order gives bitwise the same result
for any number of threads.

The kernels freeze these constants when they compile; the kernel cache
is keyed on a hash of every kernel module (see :mod:`fastgmm._compile`),
so changing one here recompiles them.
"""

import numpy as np

from ._compile import kernel

BLOCK_ROWS = 256
CHUNK_BLOCKS = 32
CHUNK_ROWS = BLOCK_ROWS * CHUNK_BLOCKS

# Covariance kinds as the kernels see them (integers, not strings).
FULL, TIED, DIAG, SPHERICAL = 0, 1, 2, 3
KIND_CODES = {"full": FULL, "tied": TIED, "diag": DIAG, "spherical": SPHERICAL}


def s2_shape(kind, k, d):
    """Shape of the second-moment statistic for a covariance kind."""
    if kind == FULL:
        return (k, d, d)
    if kind == TIED:
        return (1, d, d)
    return (k, d, 1)

# Reductions along points need reassociation to vectorise; no ``nnan`` or
# ``ninf`` so that NaN and inf are never silently assumed away.
FASTMATH = {"nsz", "arcp", "contract", "reassoc"}


@kernel(internal=True)
def n_blocks(n, size):
    """Number of blocks of ``size`` rows needed to cover ``n`` rows."""
    return (n + size - 1) // size


@kernel(internal=True)
def block_bounds(index, n, size):
    """Row range ``[start, stop)`` of block ``index`` of ``size`` rows."""
    start = index * size
    stop = min(start + size, n)
    return start, stop


@kernel(internal=True)
def sum_in_order(parts):
    """``parts.sum(axis=0)``, added part by part in index order.

    The reduction of per-chunk partial results: plain loops, because inside
    a ``parallel=True`` kernel ``+=`` on arrays would become parallel loops
    of its own (each one compiled separately, for nothing).
    """
    n = parts.shape[0]
    size = 1
    for extent in parts.shape[1:]:
        size *= extent
    flat = parts.reshape((n, size))
    total = np.zeros(size)
    for c in range(n):
        for e in range(size):
            total[e] += flat[c, e]
    return total.reshape(parts.shape[1:])


def readonly(a):
    """A read-only view of ``a`` (no copy).

    Numba types read-only arrays apart from writeable ones, so kernels are
    only ever handed read-only inputs: a read-only memmap and an ordinary
    array then share one compiled signature per dtype.
    """
    view = a.view()
    view.flags.writeable = False
    return view
