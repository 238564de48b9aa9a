"""Fixed row blocking shared by every kernel.

Work is split into *chunks* of ``CHUNK_ROWS`` rows (one parallel task each,
one partial result each) and chunks into *blocks* of ``BLOCK_ROWS`` rows
(processed together inside a task so that loops along points vectorise).
Both sizes are constants, never derived from the thread count, so a
reduction of chunk partials in chunk order gives bitwise the same result
for any number of threads.

:func:`chunk_tasks` lays out such chunks as the task table of a pass.

The kernels freeze these constants when they compile; the kernel cache
is keyed on a hash of every kernel module (see :mod:`fastgmm._compile`),
so changing one here recompiles them.
"""

import numpy as np
from numba import types
from numba.core import errors

from .compile import kernel

BLOCK_ROWS = 256
CHUNK_BLOCKS = 32
CHUNK_ROWS = BLOCK_ROWS * CHUNK_BLOCKS

# Covariance kinds as the kernels see them (integers, not strings).
FULL, TIED, DIAG, SPHERICAL = 0, 1, 2, 3
KIND_CODES = {"full": FULL, "tied": TIED, "diag": DIAG, "spherical": SPHERICAL}

# Full covariance with at most FEW_FEATURES features has chunk code of its
# own (FULL_FEW), which keeps a point's deviations and sums in registers;
# each of the two compiles only its own code.
FEW_FEATURES = 8
FULL_FEW = 4


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
