"""One process-wide lock around every parallel kernel launch.

Numba's ``workqueue`` threading layer (the one available everywhere) aborts
the process when two Python threads launch parallel kernels at the same
time, which is what Dask's threaded scheduler or a ``ThreadPoolExecutor``
of fits does. Every parallel kernel already uses all of Numba's threads,
so running launches one at a time costs little, keeps results bitwise
deterministic and avoids oversubscription under the thread-safe layers
(``omp``, ``tbb``) too. Choosing a layer instead would mean changing
``numba.config`` for the whole process, which a library must not do.

Rule: the Python wrappers call a ``parallel=True`` kernel only inside
``with KERNEL_LOCK:``. The lock is re-entrant, so a wrapper that calls
another locked wrapper does not deadlock.
"""

import threading

KERNEL_LOCK = threading.RLock()


def launch(parallel, serial, n_tasks, *args):
    """Run a task driver: ``serial`` for at most one task (a parallel region
    costs more than a small chunk's arithmetic), else ``parallel`` under the lock."""
    if n_tasks <= 1:
        return serial(*args)
    else:
        with KERNEL_LOCK:
            return parallel(*args)
