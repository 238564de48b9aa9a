"""Each problem's own seeded random draws, for many problems at once.

A loop of fits seeded with one int starts every problem's ``RandomState``
in the same state; ``fit_many`` gives every problem exactly those draws
without a ``RandomState`` (or a ``set_state``) per problem.
"""

from __future__ import annotations


class Streams:
    """Each problem's own random draws, all from one ``RandomState``.

    In a loop of fits seeded with one int, every problem's ``RandomState``
    starts in the same state and is advanced only by its own calls. Two
    problems that made the same calls (kind and arguments) so far are in the
    same state, so their next call of the same kind returns the same numbers:
    each distinct history of calls is drawn once. ``rng`` is switched
    (``set_state``, ~35 us) only to go back to a history that other problems
    left behind, and a state is saved only while other problems still need
    it, so one problem (``count=1``) draws straight from ``rng`` and leaves it
    where its own fit would.

    ``seed_state`` is the start state, or None for ``rng``'s current one.
    """

    def __init__(self, rng, seed_state, count):
        self._rng = rng
        if seed_state is not None:
            rng.set_state(seed_state)
        self._states = {}
        self._values = {}  # history -> {call: value drawn there}
        self._history = [()] * count
        self._waiting = {(): count}  # problems at each history
        self._current = ()  # the history rng's state belongs to

    def draw(self, p, call):
        """Problem ``p``'s next draw; ``call`` is ``("randint", n)``,
        ``("randint", n, size)``, ``("uniform", size)`` or ``("choice", n, size)``
        (without replacement). The value may be shared with other problems:
        read it, never write to it."""
        before = self._history[p]
        key = before + (call,)
        self._history[p] = key
        self._waiting[before] -= 1
        self._waiting[key] = self._waiting.get(key, 0) + 1
        drawn = self._values.setdefault(before, {})
        value = drawn.get(call)
        if value is None:
            value = drawn[call] = self._draw(before, call)
            self._current = key
        if self._waiting[before] == 0:  # nobody draws from there again
            del self._waiting[before], self._values[before]
            self._states.pop(before, None)
        return value

    def _draw(self, before, call):
        rng = self._rng
        current = self._current
        if current != before:
            if self._waiting.get(current, 0) > 0 and current not in self._states:
                self._states[current] = rng.get_state()  # others still draw from there
            rng.set_state(self._states[before])
        elif self._waiting[before] > 0:
            self._states[before] = rng.get_state()  # others will draw from here
        kind, *args = call
        if kind == "uniform":
            return rng.uniform(size=args[0])
        if kind == "choice":
            return rng.choice(args[0], size=args[1], replace=False)
        if len(args) == 1:
            return rng.randint(args[0])
        return rng.randint(args[0], size=args[1])

    def problem(self, p):
        """Problem ``p``'s draws as the ``RandomState`` methods an initialisation calls."""
        return ProblemDraws(self, p)


class ProblemDraws:
    """One problem's view of :class:`Streams`: ``randint``, ``uniform`` and
    ``choice`` (without replacement) as ``numpy.random.RandomState`` has them,
    each giving what that problem's own ``RandomState`` would."""

    def __init__(self, streams, p):
        self._streams = streams
        self._p = p

    def randint(self, high, size=None):
        call = ("randint", high) if size is None else ("randint", high, size)
        return self._streams.draw(self._p, call)

    def uniform(self, size=None):
        return self._streams.draw(self._p, ("uniform", size))

    def choice(self, a, size, replace):
        """``size`` of ``range(a)`` (an int), drawn without replacement."""
        if replace:
            raise ValueError("per-problem draws are without replacement")
        return self._streams.draw(self._p, ("choice", int(a), size))
