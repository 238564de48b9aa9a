"""``fit_many``'s EM: the runs of many small problems in lockstep.

All problems run EM in lockstep. Per iteration one parallel kernel launch
computes the statistics of every problem still running (parallel over
the problems' chunks, each through the same compiled chunk code a single
fit uses, :func:`fastgmm._kernels.passes.many_stats_pass`), then the
ordinary M-step and Cholesky code of :mod:`fastgmm._model.gaussian` runs
once on arrays with a leading problem axis. Convergence is tracked per
problem with a mask, and the ``n_init`` runs of every problem are just more
problems in the same lockstep, the best one kept per problem as ``fit``
keeps it.

The driver talks to the estimator only through the hooks
:class:`~fastgmm._em.base.BaseMixture` declares for its drivers
(``_check_parameters``, ``_needs_init_stats``, ``_initialize``); the M-step
and the log-likelihood are the Gaussian ones (``fit_many`` fits
``GaussianMixture`` only).
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
from sklearn.utils import check_random_state

from .._data.arrays import round_rows
from .._init.dispatch import SEEDED, initial_resp, initial_stats, seed_rows
from .._init.random import Streams
from .._init.resp import (every_row_stats, labelled, resp_rows, stats_from_resp_many,
                          total_weight)
from .._kernels.layout import KIND_CODES, SLICE_ROWS, s2_shape
from .._model import gaussian as _model
from .._model.checks import precision_shape
from .._model.stats import Stats, leave_unassigned


# Initial responsibilities of a batch of problems are held at once up to this size.
_RESP_BUDGET = 16 * 2**20


class LockstepEM:
    """EM of ``n_problems x n_init`` runs at once; the state has a leading run axis.

    ``template`` is the ``GaussianMixture`` whose parameters every problem
    uses; ``problems`` the packed data sets of ``fit_many`` (``X``,
    ``offsets``, ``sample_weight``, ``weighted``, ``rows(p)``,
    ``weights(p)``). :meth:`run` returns ``{problem: fit}``; the problems
    whose fit failed are in :attr:`failed` with their exception.
    """

    def __init__(self, template, problems):
        self.gm = template
        self.problems = problems
        self.cov_type = template.covariance_type
        self.kind = KIND_CODES[self.cov_type]
        self.n_init = template.n_init
        self.failed: dict[int, BaseException] = {}

    # -------------------------------------------------------------- init
    def _initialise(self):
        """Initial parameters of every run: ``(problem of each run, [params])``.

        The initial responsibilities are drawn problem by problem, init by
        init (the order of a loop of fits, so a shared ``RandomState`` gives
        every problem the numbers its own fit would); their statistics then
        come from one pass per init over all problems (a problem of more
        than one slice of rows gets its own), and the estimator's M-step and
        Cholesky run once for all runs, on a leading run axis.
        """
        gm, problems = self.gm, self.problems
        inits = gm._check_parameters(problems.rows(0), None)
        needs_stats = gm._needs_init_stats(inits)
        runs, drawn = [], []
        rng = check_random_state(gm.random_state)
        # An int seeds every problem afresh, as its own fit would; restoring
        # the state costs a third of seeding a new RandomState.
        seed_state = (rng.get_state() if isinstance(gm.random_state, (Integral, np.integer))
                      else None)
        if needs_stats and seed_state is not None and self._kmeans_in_lockstep():
            by_init = self._draw_kmeans(rng, seed_state)
            for p in range(problems.count):
                runs += [p] * self.n_init
                drawn += [one[p] for one in by_init]
        else:
            # Random rows or responsibilities: each problem's draws from the
            # seed, each distinct one drawn once (see Streams).
            streams = (Streams(rng, seed_state, problems.count)
                       if seed_state is not None and gm.init_params in ("random",
                                                                        "random_from_data")
                       else None)
            for p in range(problems.count):
                source = rng if streams is None else streams.problem(p)
                if seed_state is not None and streams is None:
                    rng.set_state(seed_state)
                try:
                    mine = [self._draw(p, source) if needs_stats else None
                            for _ in range(self.n_init)]
                except (ValueError, np.linalg.LinAlgError) as error:
                    self.failed[p] = error
                    continue
                runs += [p] * self.n_init
                drawn += mine
        problem = np.array(runs, dtype=np.int64)
        if not runs:
            return problem, None
        stats = self._initial_stats(problem, drawn) if needs_stats else None
        try:
            params = gm._initialize(stats, inits, problems.dtype)
        except ValueError:  # rare: find the runs whose initial covariance fails
            params = self._initialize_one_by_one(problem, _unstack(stats), inits)
        shapes = ((gm.n_components,), (gm.n_components, problems.n_features),
                  precision_shape(self.cov_type, gm.n_components, problems.n_features))
        shapes = shapes + shapes[2:]
        return problem, [np.array(np.broadcast_to(a, (len(runs),) + shape))
                         for a, shape in zip(params, shapes)]

    def _kmeans_in_lockstep(self):
        """k-means or k-means++ init of small problems: run it for all problems at once."""
        return (self.gm.init_params in ("kmeans", "k-means++")
                and int(np.diff(self.problems.offsets).max()) <= SLICE_ROWS)

    def _draw_kmeans(self, rng, seed_state):
        """Every init's draw (see :meth:`_draw`) of every problem: ``[init][problem]``.

        :mod:`fastgmm._init.kmeans` gives each problem what its own fit's
        k-means (or k-means++) gives; each problem's random stream starts at
        the seed and runs on through its ``n_init`` inits, as in its fit.
        """
        from .._init import kmeans as _kmeans  # loaded on first use, see _data.arrays

        gm, problems = self.gm, self.problems
        k, dtype = gm.n_components, problems.dtype
        lockstep = _kmeans.Problems(problems.X, problems.sample_weight, problems.offsets,
                                    problems.weighted)
        streams = Streams(rng, seed_state, problems.count)
        out = []
        for _ in range(self.n_init):
            if gm.init_params == "k-means++":
                out.append(list(_kmeans.kmeans_plusplus_all(lockstep, k, streams)[1]))
                continue
            centers, labels = _kmeans.kmeans_all(lockstep, k, streams)
            rows = [slice(problems.offsets[p], problems.offsets[p + 1])
                    for p in range(problems.count)]
            out.append([(resp_rows(labelled(labels[rows[p]]),
                                   problems.offsets[p + 1] - problems.offsets[p], k, dtype),
                         _kmeans.cluster_shifts(problems.rows(p), labels[rows[p]], centers[p]))
                        for p in range(problems.count)])
        return out

    def _draw(self, p, rng):
        """Problem ``p``'s initial draw: the rows its components start from
        (an init in ``SEEDED``), else its responsibilities ``(R, shift)``, or
        its Stats if it is large."""
        gm, problems = self.gm, self.problems
        X, w = problems.rows(p), problems.weights(p)
        if gm.init_params in SEEDED:
            return seed_rows(X, w, gm.n_components, gm.init_params, rng)
        if X.shape[0] > SLICE_ROWS:
            return initial_stats(X, w, gm.n_components, self.cov_type, gm.init_params, rng)
        make, shift = initial_resp(X, w, gm.n_components, gm.init_params, rng)
        return resp_rows(make, X.shape[0], gm.n_components, problems.dtype), shift

    def _initial_stats(self, problem, drawn):
        """Stats of every run's drawn responsibilities (leading run axis)."""
        out = [d if isinstance(d, Stats) else None for d in drawn]
        seeded = [r for r, d in enumerate(drawn) if isinstance(d, np.ndarray)]
        if seeded:
            stats = self._seed_stats(problem[seeded], [drawn[r] for r in seeded])
            for r, one in zip(seeded, _unstack(stats)):
                out[r] = one
        for first in range(self.n_init):  # one init's runs touch each row once
            todo = [r for r in range(first, len(drawn), self.n_init) if out[r] is None]
            for batch in self._batches(problem, todo):
                stats = self._batch_stats(problem[batch], [drawn[r] for r in batch])
                for r, one in zip(batch, _unstack(stats)):
                    out[r] = one
        return _stack(out)

    def _seed_stats(self, problem, indices):
        """``fastgmm._init.dispatch.seed_stats`` of every run (one pass over their seed rows)."""
        problems = self.problems
        k, d = self.gm.n_components, problems.n_features
        m = len(problem)
        rows = np.concatenate([problems.offsets[p] + np.asarray(idx, dtype=np.int64)
                               for p, idx in zip(problem.tolist(), indices)])
        X = problems.X[rows]
        sw = None if problems.sample_weight is None else problems.sample_weight[rows]
        stats = stats_from_resp_many(X, sw, np.arange(m + 1) * k,
                                     np.tile(np.eye(k, dtype=X.dtype), (m, 1)),
                                     X.reshape(m, k, d).astype(np.float64), self.cov_type)
        stats.weight = np.array([total_weight(problems.weights(p), len(problems.rows(p)))
                                 for p in problem.tolist()])
        if self.cov_type == "tied":
            # Each run's pass over all its rows, as its own fit makes it.
            stats.unassigned = np.stack([
                leave_unassigned(one, every_row_stats(problems.rows(p), problems.weights(p),
                                                      one.center)).unassigned
                for p, one in zip(problem.tolist(), _unstack(stats))])
        return stats

    def _batches(self, problem, runs):
        """``runs`` in batches of consecutive problems, their responsibilities within budget."""
        offsets = self.problems.offsets
        row_bytes = self.gm.n_components * np.dtype(self.problems.dtype).itemsize
        max_rows = max(1, _RESP_BUDGET // row_bytes)
        batch = []
        for r in runs:
            if batch and (problem[r] != problem[batch[-1]] + 1
                          or offsets[problem[r] + 1] - offsets[problem[batch[0]]] > max_rows):
                yield batch
                batch = []
            batch.append(r)
        if batch:
            yield batch

    def _batch_stats(self, problem, drawn):
        problems = self.problems
        lo, hi = problems.offsets[problem[0]], problems.offsets[problem[-1] + 1]
        sw = None if problems.sample_weight is None else problems.sample_weight[lo:hi]
        return stats_from_resp_many(problems.X[lo:hi], sw, problems.offsets[problem[0]:
                                                                            problem[-1] + 2] - lo,
                                    np.concatenate([R for R, _ in drawn]),
                                    np.stack([shift for _, shift in drawn]), self.cov_type)

    def _initialize_one_by_one(self, problem, stats, inits):
        gm, dtype = self.gm, self.problems.dtype
        out, ok = [], None
        for r, p in enumerate(problem.tolist()):
            try:
                out.append(gm._initialize(stats[r], inits, dtype))
                ok = out[-1]
            except ValueError as error:
                self.failed.setdefault(p, error)
                out.append(None)
        # Failed runs keep a placeholder (their problem is dropped at the end).
        return [np.stack([np.broadcast_to(o[i] if o is not None else ok[i], np.shape(ok[i]))
                          for o in out]) for i in range(4)]

    # ---------------------------------------------------------------- EM
    def run(self):
        problem, params = self._initialise()
        if len(problem) == 0:
            return {}
        if self.gm.max_iter == 0:
            n_runs = len(problem)
            return self._best(problem, params, np.zeros(n_runs, np.int64),
                              np.full(n_runs, -np.inf), [], np.zeros(n_runs, bool),
                              max_iter_zero=True)
        return self._em(problem, params)

    def _em(self, problem, params):
        gm, problems = self.gm, self.problems
        dtype = problems.dtype
        n_runs = len(problem)
        from .._kernels.passes import many_stats_pass  # loaded on first use, see _data.arrays

        weights, means, covariances, prec_chol = params
        lower_bound = np.full(n_runs, -np.inf)
        n_iter = np.zeros(n_runs, dtype=np.int64)
        converged = np.zeros(n_runs, dtype=bool)
        active = np.ones(n_runs, dtype=bool)
        history = []  # (indices, bounds) per iteration
        d = problems.n_features
        k = gm.n_components
        s2 = s2_shape(self.kind, k, d)
        no_resp = np.empty((0, k), dtype=dtype)
        sw = (np.empty(0, dtype=dtype) if problems.sample_weight is None
              else problems.sample_weight)
        # Each problem is cut into the rounds accumulate would use for it.
        rounds = round_rows(_model.kernel_model(weights[0], means[0], prec_chol[0],
                                                self.cov_type, dtype), d)
        for it in range(1, gm.max_iter + 1):
            idx = np.flatnonzero(active)
            if len(idx) == 0:
                break
            model = _model.kernel_model(weights[idx], means[idx], prec_chol[idx],
                                        self.cov_type, dtype)
            N, S1, S2, ll, wsum, _ = many_stats_pass(
                problems.X, sw, no_resp, problems.offsets, problem[idx], self.kind, rounds,
                *model.args()[1:], s2[0], s2[2])
            stats = Stats(N, S1, S2, ll, wsum, model.means.astype(np.float64),
                          model.center.astype(np.float64))
            bound = ll / wsum
            new_w, new_m, new_cov = _model.m_step(stats, self.cov_type, gm.reg_covar, dtype)
            new_pc, bad = _cholesky_or_fail(new_cov, self.cov_type, dtype)
            for i in np.flatnonzero(bad):
                self.failed.setdefault(int(problem[idx[i]]), _model._singular_error(dtype))
            ok = ~bad
            keep = idx[ok]
            weights[keep], means[keep] = new_w[ok], new_m[ok]
            covariances[keep], prec_chol[keep] = new_cov[ok], new_pc[ok]
            change = bound[ok] - lower_bound[keep]
            lower_bound[keep] = bound[ok]
            n_iter[keep] = it
            history.append((keep, bound[ok]))
            done = np.abs(change) < gm.tol
            converged[keep[done]] = True
            active[idx[bad]] = False
            active[keep[done]] = False
        return self._best(problem, [weights, means, covariances, prec_chol], n_iter,
                          lower_bound, history, converged)

    def _best(self, problem, params, n_iter, lower_bound, history, converged,
              max_iter_zero=False):
        """Per problem, the run ``fit``'s n_init loop keeps; ``{problem: fit}``."""
        bounds = [[] for _ in problem]
        for idx, values in history:
            for i, v in zip(idx.tolist(), values.tolist()):
                bounds[i].append(v)
        fits = {}
        for r, p in enumerate(problem.tolist()):
            if p in self.failed:
                continue
            if max_iter_zero:  # every init replaces the last; no bound
                fits[p] = (r, -np.inf)
                continue
            best = fits.get(p)
            if best is None or lower_bound[r] > best[1] or best[1] == -np.inf:
                fits[p] = (r, lower_bound[r])
        return {p: {"params": [a[r] for a in params], "n_iter": int(n_iter[r]),
                    "bounds": bounds[r], "converged": bool(converged[r]),
                    "lower_bound": float(bound)}
                for p, (r, bound) in fits.items()}


_STATS_FIELDS = ("N", "S1", "S2", "loglik", "weight", "shift", "center")


def _stack(stats):
    """Statistics of several runs as one Stats with a leading run axis."""
    out = Stats(*(np.stack([getattr(st, name) for st in stats]) for name in _STATS_FIELDS))
    if any(st.unassigned is not None for st in stats):  # seed-row inits, tied
        out.unassigned = np.stack([st.unassigned for st in stats])
    return out


def _unstack(stats):
    """The runs of a Stats with a leading run axis, one Stats each."""
    return [Stats(*(getattr(stats, name)[i] for name in _STATS_FIELDS),
                  unassigned=None if stats.unassigned is None else stats.unassigned[i])
            for i in range(len(stats.N))]


def _cholesky_or_fail(covariances, covariance_type, dtype):
    """``precision_cholesky`` of every run, and a mask of the runs it fails for."""
    bad = np.zeros(len(covariances), dtype=bool)
    try:
        return _model.precision_cholesky(covariances, covariance_type, dtype), bad
    except ValueError:
        pass
    out = np.zeros_like(covariances)
    for i, cov in enumerate(covariances):  # rare: find which runs fail
        try:
            out[i] = _model.precision_cholesky(cov, covariance_type, dtype)
        except ValueError:
            bad[i] = True
            out[i] = 1.0 if covariance_type in ("diag", "spherical") else np.eye(cov.shape[-1])
    return out, bad
