"""Public methods that change an estimator do so completely or not at all.

A call that raises must leave the estimator as it was: ``partial_fit``
promises to update only on success, and a failed ``fit`` must not leave a
model that expects other features. Validation alone cannot promise it
(``validate_data(reset=True)`` sets ``n_features_in_`` and
``feature_names_in_`` before it checks the values), so the promise is kept
in one place, :func:`atomic`, around every public method that sets
attributes: the instance dictionary is snapshotted before the call and put
back if it raises (any exception, ``KeyboardInterrupt`` included). A
``RandomState`` passed as ``random_state`` is rewound too, so a failed fit
does not consume random numbers either.

Attributes are always *replaced* by new objects, never changed in place,
so a shallow copy of the dictionary is the whole snapshot.

The same wrapper serialises these methods per estimator: each holds a
re-entrant lock of its own for the length of the call, so two threads that
call ``partial_fit`` on one model apply both batches, one after the other.
The locks live in a weak dictionary beside the estimators, not in them:
they are never pickled, copied or cloned.
"""

from __future__ import annotations

import functools
import threading
import weakref

import numpy as np

_locks: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_locks_guard = threading.Lock()


def estimator_lock(estimator) -> threading.RLock:
    """The re-entrant lock of one estimator (made on first use)."""
    with _locks_guard:
        lock = _locks.get(estimator)
        if lock is None:
            lock = _locks[estimator] = threading.RLock()
        return lock


def atomic(method):
    """Run ``method`` under the estimator's lock; on any exception, undo its changes."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with estimator_lock(self):
            saved = dict(self.__dict__)
            rng = saved.get("random_state")
            rng_state = rng.get_state() if isinstance(rng, np.random.RandomState) else None
            try:
                return method(self, *args, **kwargs)
            except BaseException:
                self.__dict__.clear()
                self.__dict__.update(saved)
                if rng_state is not None:
                    rng.set_state(rng_state)
                raise

    return wrapper
