"""Sizes and codes every layer shares: the row counts, the covariance kinds, the task tables.

Rows are handled at five sizes, each a constant defined here once and
never derived from the thread count (so a reduction of partial results in
a fixed order gives bitwise the same result for any number of threads):

===============  ===========  ====================================================
word             rows         what it is
===============  ===========  ====================================================
block            256          rows a kernel task handles together, stored
                              transposed so that loops along points vectorise
                              (``BLOCK_ROWS``)
chunk            8,192        one parallel task of a pass, one partial result
                              (``CHUNK_ROWS``, ``CHUNK_BLOCKS`` blocks)
slice            131,072      rows of initial responsibilities held at once
                              (``SLICE_ROWS``; nothing of size ``n x k`` is held)
round            <= 2,097,152 rows of one kernel call of ``accumulate`` and
                              ``score``: a whole number of chunks fixed by the
                              model's size, at most ``ROUND_MAX_ROWS``
partition        524,288      rows of an array or memmap that one task of a
                              partitioned pass sees (``PARTITION_ROWS``; a Dask
                              array's partitions are its own chunks)
===============  ===========  ====================================================

:func:`chunk_tasks` lays out chunks as the task table of a pass.

The kernels freeze these constants when they compile; the kernel cache
is keyed on a hash of every module in this folder (see
:mod:`fastgmm._kernels.compile`), so changing one here recompiles them.
"""

import numpy as np
from numba import types
from numba.core import errors
from numba.extending import register_jitable

from .compile import kernel

BLOCK_ROWS = 256
CHUNK_BLOCKS = 32
CHUNK_ROWS = BLOCK_ROWS * CHUNK_BLOCKS
SLICE_ROWS = 16 * CHUNK_ROWS
# Also bounds the bytes of a memmap one kernel call pages in.
ROUND_MAX_ROWS = 256 * CHUNK_ROWS
# A pass over partitions holds about 40 bytes per row of one partition.
PARTITION_ROWS = 64 * CHUNK_ROWS

# The dtypes of X the kernels compile for (everything else is converted or
# rejected at the boundary), in the order scikit-learn's ``check_array``
# takes them: float64 first, the type other inputs are converted to.
FLOAT_DTYPES = (np.float64, np.float32)

# The covariance types, and the kinds the kernels see (integers, not strings).
COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
FULL, TIED, DIAG, SPHERICAL = 0, 1, 2, 3
KIND_CODES = dict(zip(COVARIANCE_TYPES, (FULL, TIED, DIAG, SPHERICAL)))

# Full covariance with at most FEW_FEATURES features has chunk code of its
# own (FULL_FEW), which keeps a point's deviations and sums in registers;
# each of the two compiles only its own code.
FEW_FEATURES = 8
FULL_FEW = 4


@register_jitable(inline="always")
def padded_width(d):
    """``d`` rounded up to a multiple of 4: the width of the kernels' feature axes.

    The model arrays (:func:`fastgmm._kernels.passes.padded_model`) and a
    block's transposed rows are zero-padded to it, so that triangular
    products unroll four features at a time. Callable from Python and from
    kernels alike.
    """
    return (d + 3) // 4 * 4


def task_kind(kind, d):
    """The kind whose chunk code serves covariance ``kind`` with ``d`` features."""
    return FULL_FEW if kind == FULL and d <= FEW_FEATURES else kind


def s2_shape(kind, k, d):
    """Shape of the second-moment statistic for a covariance kind."""
    if kind == FULL:
        return (k, d, d)
    if kind == TIED:
        return (1, d, d)
    return (k, d, 1)

def for_kind(kind, full, full_few, tied, diag):
    """The implementation of a kind-specific step for ``kind``, a compile-time constant.

    Numba types every branch of an ``if kind == ...`` chain, even with
    ``kind`` a literal, and compiles every function called there; choosing
    the implementation while typing (an overload) compiles only the chosen
    kind's code. ``diag`` serves the spherical kind too, ``full_few`` the
    full kind with at most ``FEW_FEATURES`` features (:func:`task_kind`).
    """
    if not isinstance(kind, types.IntegerLiteral):
        raise errors.TypingError("the covariance kind must be a compile-time constant")
    return {FULL: full, FULL_FEW: full_few, TIED: tied}.get(kind.literal_value, diag)


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
def add_slots(parts, slots, out):
    """``out[s] = 0 + parts[slots[s]] + ... + parts[slots[s + 1] - 1]``, left to right.

    The reduction of a pass's per-task partial results into its slots (see
    :func:`chunk_tasks`), rows flat: in task order, so the same for any
    number of threads.
    """
    for s in range(slots.shape[0] - 1):
        for e in range(out.shape[1]):
            out[s, e] = 0.0
        for t in range(slots[s], slots[s + 1]):
            for e in range(out.shape[1]):
                out[s, e] += parts[t, e]


def readonly(a):
    """A read-only view of ``a`` (no copy).

    Numba types read-only arrays apart from writeable ones, so kernels are
    only ever handed read-only inputs: a read-only memmap and an ordinary
    array then share one compiled signature per dtype.
    """
    view = a.view()
    view.flags.writeable = False
    return view


def chunk_tasks(offsets, problems, round_rows=None):
    """Tasks and slots for rows ``[offsets[p], offsets[p + 1])`` of each problem.

    Each problem is cut into rounds of ``round_rows`` rows (one round if
    None), each round into chunks. Returns ``(tasks, slots, rounds)``:
    ``tasks`` (T, 3) holds ``r0, r1`` and the position of the problem in
    ``problems``; slot ``s`` adds tasks ``slots[s] .. slots[s + 1] - 1``;
    problem ``i`` owns ``rounds[i]`` consecutive slots (at least one, so a
    problem without rows gets zero statistics).
    """
    if len(problems) == 1:  # a small fit's pass: one chunk, without the array work
        start, stop = int(offsets[problems[0]]), int(offsets[problems[0] + 1])
        if 0 < stop - start <= min(CHUNK_ROWS, round_rows or CHUNK_ROWS):
            return (np.array([[start, stop, 0]], dtype=np.int64), np.array([0, 1], np.int64),
                    np.ones(1, np.int64))
    problems = np.asarray(problems, dtype=np.int64)
    starts = np.asarray(offsets, dtype=np.int64)[problems]
    stops = np.asarray(offsets, dtype=np.int64)[problems + 1]
    sizes = stops - starts
    step = int(max(sizes.max(initial=0), 1) if round_rows is None else round_rows)
    rounds = np.maximum(-(-sizes // step), 1)
    slot_problem = np.repeat(np.arange(len(problems)), rounds)
    first_slot = np.cumsum(rounds) - rounds
    round_index = np.arange(len(slot_problem)) - first_slot[slot_problem]
    slot_r0 = starts[slot_problem] + round_index * step
    slot_r1 = np.minimum(slot_r0 + step, stops[slot_problem])
    n_chunks = -(-(slot_r1 - slot_r0) // CHUNK_ROWS)
    slots = np.concatenate([[0], np.cumsum(n_chunks)]).astype(np.int64)
    task_slot = np.repeat(np.arange(len(n_chunks)), n_chunks)
    r0 = slot_r0[task_slot] + (np.arange(len(task_slot)) - slots[task_slot]) * CHUNK_ROWS
    r1 = np.minimum(r0 + CHUNK_ROWS, slot_r1[task_slot])
    tasks = np.stack([r0, r1, slot_problem[task_slot]], axis=1).astype(np.int64)
    return np.ascontiguousarray(tasks), slots, rounds
