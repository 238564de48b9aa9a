"""``fit_many``: thousands of small mixtures fitted in one call.

All problems run EM in lockstep. Per iteration one parallel kernel launch
computes the statistics of every problem still running (parallel over
the problems' chunks, each through the same compiled chunk code a single
fit uses, :func:`fastgmm._passes.many_stats_pass`), then the ordinary M-step and
Cholesky code of :mod:`fastgmm._model` runs once on arrays with a leading
problem axis. Convergence is tracked per problem with a mask, and the
``n_init`` runs of every problem are just more problems in the same
lockstep, the best one kept per problem as ``fit`` keeps it. So each
problem's model is the one ``GaussianMixture(**params).fit(X_i)`` gives,
while the cost per problem is no Python-level fit.
"""

from __future__ import annotations

import warnings
from numbers import Integral
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import _check_feature_names, _get_feature_names, check_array

from . import _model
from ._blocks import KIND_CODES, s2_shape
from ._engine import round_rows
from ._init import SEEDED, initial_resp, initial_stats, seed_rows
from ._model import Stats, leave_unassigned
from ._params import precision_shape
from ._random import Streams
from ._resp import (SLICE_ROWS, every_row_stats, one_hot, resp_rows, stats_from_resp_many,
                    total_weight)
from .mixture import GaussianMixture

_FLOAT_DTYPES = [np.float64, np.float32]


def fit_many(datasets, n_components, *, covariance_type="full", sample_weights=None,
             errors="raise", **params) -> list:
    """Fit one Gaussian mixture per data set, all in one call.

    Each returned model is the one ``GaussianMixture(n_components,
    covariance_type=covariance_type, **params).fit(X_i, sample_weight=w_i)``
    gives (same parameters, fitted attributes and warnings), computed for
    all data sets together: one parallel kernel launch per EM iteration for
    all problems, and the M-step vectorised over problems.

    Parameters
    ----------
    datasets : list of array-like of shape (n_samples_i, n_features), or \
            array-like of shape (n_datasets, n_samples, n_features)
        The data sets; ``n_samples_i`` may differ, ``n_features`` may not.
        float32 is kept when every data set is float32, anything else is
        fitted in float64.
    n_components : int
        The number of mixture components of every model.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
        The covariance type of every model.
    sample_weights : list of (array-like of shape (n_samples_i,) or None), \
            or array-like of shape (n_datasets, n_samples), default=None
        Per-sample weights of each data set, as ``fit``'s ``sample_weight``.
    errors : {'raise', 'return'}, default='raise'
        What a problem whose fit fails (for instance an ill-defined
        covariance) does. It never stops the other problems; with 'raise' a
        ``ValueError`` naming the failed indices is raised once all are done,
        with 'return' the exception takes that problem's slot in the list.
    **params
        Any other ``GaussianMixture`` parameter, used for every problem.
        ``random_state``: an int seeds every problem as its own
        ``GaussianMixture(random_state=int)`` would (so every problem starts
        from the same seed); a ``RandomState`` instance (or None, NumPy's
        global one) is consumed problem after problem, in order, as a loop
        of fits would consume it. ``warm_start`` and ``verbose`` have no
        effect (every model is new; nothing is printed); ``on_collapse`` must
        stay 'raise'.

    Returns
    -------
    models : list of GaussianMixture
        One fitted model per data set, in order (with ``errors='return'``,
        the exception in place of a model whose fit failed).

    Raises
    ------
    ValueError
        Invalid parameters or data (the messages of ``GaussianMixture.fit``,
        prefixed with the data set's index), before any work is done; or,
        with ``errors='raise'``, after all problems ran, when some failed.

    See Also
    --------
    GaussianMixture.fit : One problem.

    Examples
    --------
    >>> import numpy as np
    >>> import fastgmm
    >>> rng = np.random.default_rng(0)
    >>> data = [np.r_[rng.normal(0, 1, (100, 1)), rng.normal(6, 1, (100, 1))]
    ...         for _ in range(3)]
    >>> models = fastgmm.fit_many(data, 2, random_state=0)
    >>> [bool(abs(np.sort(m.means_[:, 0])[1] - 6) < 0.5) for m in models]
    [True, True, True]
    """
    template = GaussianMixture(n_components=n_components, covariance_type=covariance_type,
                               **params)
    template._validate_params()
    if template.on_collapse != "raise":
        # The lockstep EM has no re-seeding hook: refuse rather than raise
        # where each problem's own fit would have recovered.
        raise ValueError("fit_many does not support on_collapse='reseed'; fit those "
                         "data sets one by one with GaussianMixture.")
    if errors not in ("raise", "return"):
        raise ValueError(f"errors must be 'raise' or 'return', got {errors!r}.")
    problems = _Problems(datasets, sample_weights, template)
    lockstep = _LockstepEM(template, problems)
    fits = lockstep.run()
    return _package(template, problems, fits, lockstep.failed, errors)


class _Problems:
    """Validated data sets concatenated into one C-ordered array with row offsets."""

    def __init__(self, datasets, sample_weights, template: GaussianMixture):
        self.frames = {}  # data set index -> the data set, where it has column names
        self._stacked = None  # a 3-D datasets array
        arrays = self._arrays(datasets, template)
        self.count = len(arrays)
        if self.count == 0:
            raise ValueError("datasets is empty: pass at least one data set.")
        d = arrays[0].shape[1]
        for i, X in enumerate(arrays):
            if X.shape[1] != d:
                raise ValueError(f"datasets[{i}] has {X.shape[1]} features, but "
                                 f"datasets[0] has {d}; every data set needs the "
                                 "same number of features.")
            if X.shape[0] < template.n_components:
                raise ValueError(
                    f"datasets[{i}]: Expected n_samples >= n_components but got "
                    f"n_components = {template.n_components}, n_samples = {X.shape[0]}")
        self.dtype = (np.float32 if all(X.dtype == np.float32 for X in arrays)
                      else np.float64)
        sizes = np.array([X.shape[0] for X in arrays], dtype=np.int64)
        self.offsets = np.zeros(self.count + 1, dtype=np.int64)
        np.cumsum(sizes, out=self.offsets[1:])
        self.n_features = d
        self.X = self._concatenate(arrays, d)
        self._check_finite(arrays, template)
        self.sample_weight = self._weights(sample_weights, template)

    def _arrays(self, datasets, template):
        if isinstance(datasets, np.ndarray) and datasets.ndim == 3:
            if datasets.dtype not in (np.float32, np.float64):
                datasets = datasets.astype(np.float64)
            self._stacked = datasets
            return list(datasets)
        if isinstance(datasets, np.ndarray) and datasets.ndim != 3:
            raise ValueError("datasets must be a list of 2-D arrays or a 3-D array of "
                             f"shape (n_datasets, n_samples, n_features), got an array "
                             f"of shape {datasets.shape}.")
        arrays = []
        for i, X in enumerate(datasets):
            if (isinstance(X, np.ndarray) and X.ndim == 2 and X.shape[0] >= 2
                    and X.shape[1] >= 1 and X.dtype in (np.float32, np.float64)):
                arrays.append(X)  # finiteness is checked once, on the concatenation
                continue
            if _get_feature_names(X) is not None:  # its fit would set feature_names_in_
                self.frames[i] = X
            try:
                arrays.append(check_array(X, dtype=_FLOAT_DTYPES, ensure_min_samples=2,
                                          input_name="X", estimator=template))
            except (TypeError, ValueError) as error:
                raise type(error)(f"datasets[{i}]: {error}") from error
        return arrays

    def _concatenate(self, arrays, d):
        stacked = self._stacked
        if stacked is not None and stacked.flags.c_contiguous and stacked.dtype == self.dtype:
            return stacked.reshape(-1, d)  # already one block of rows: no copy
        X = np.empty((int(self.offsets[-1]), d), dtype=self.dtype)
        for i, A in enumerate(arrays):
            X[self.offsets[i]:self.offsets[i + 1]] = A
        return X

    def _check_finite(self, arrays, template):
        if np.isfinite(self.X).all():
            return
        rows = np.flatnonzero(~np.isfinite(self.X).all(axis=1))
        i = int(np.searchsorted(self.offsets, rows[0], side="right") - 1)
        try:  # the message fit gives for this data set
            check_array(arrays[i], dtype=_FLOAT_DTYPES, estimator=template,
                        input_name="X")
        except ValueError as error:
            raise ValueError(f"datasets[{i}]: {error}") from error

    def _weights(self, sample_weights, template):
        self.weighted = np.zeros(self.count, dtype=bool)
        if sample_weights is None:
            return None
        if len(sample_weights) != self.count:
            raise ValueError(f"sample_weights has {len(sample_weights)} entries for "
                             f"{self.count} data sets.")
        out = np.ones(int(self.offsets[-1]), dtype=self.dtype)
        for i, w in enumerate(sample_weights):
            if w is None:
                continue
            self.weighted[i] = True
            rows = self.X[self.offsets[i]:self.offsets[i + 1]]
            try:
                out[self.offsets[i]:self.offsets[i + 1]] = template._check_sample_weight(w, rows)
            except (TypeError, ValueError) as error:
                raise type(error)(f"sample_weights[{i}]: {error}") from error
        return out

    def rows(self, p):
        return self.X[self.offsets[p]:self.offsets[p + 1]]

    def weights(self, p):
        """Problem ``p``'s weights, or None when it has none (as its own fit sees it)."""
        if not self.weighted[p]:
            return None
        return self.sample_weight[self.offsets[p]:self.offsets[p + 1]]


# Initial responsibilities of a batch of problems are held at once up to this size.
_RESP_BUDGET = 16 * 2**20


class _LockstepEM:
    """EM of ``n_problems x n_init`` runs at once; the state has a leading run axis."""

    def __init__(self, template: GaussianMixture, problems: _Problems):
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

        :mod:`fastgmm._kmeans` gives each problem what its own fit's
        k-means (or k-means++) gives; each problem's random stream starts at
        the seed and runs on through its ``n_init`` inits, as in its fit.
        """
        from . import _kmeans  # loaded on first use, see _engine

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
            out.append([(resp_rows(one_hot(labels[rows[p]], k),
                                   problems.offsets[p + 1] - problems.offsets[p], dtype),
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
        return resp_rows(make, X.shape[0], problems.dtype), shift

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
        """``_init.seed_stats`` of every run (one pass over their seed rows)."""
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
        from ._passes import many_stats_pass  # loaded on first use, see _engine

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


def _package(template, problems, fits, failed, errors):
    """One fitted estimator (or exception) per problem; warnings and errors as fit's."""
    params = template.get_params(deep=False)
    models: list[Any] = []
    not_converged = []
    for p in range(problems.count):
        if p in failed:
            models.append(failed[p])
            continue
        fit = fits[p]
        gm = GaussianMixture(**params)
        gm._set_parameters(fit["params"], problems.dtype)
        gm.n_features_in_ = problems.n_features
        if p in problems.frames:
            _check_feature_names(gm, problems.frames[p], reset=True)
        gm.n_iter_ = fit["n_iter"]
        gm.lower_bounds_ = fit["bounds"]
        gm.converged_ = fit["converged"]
        gm.lower_bound_ = fit["lower_bound"]
        if not gm.converged_ and template.max_iter > 0:
            not_converged.append(p)
        models.append(gm)
    if not_converged:
        warnings.warn(
            "Best performing initialization did not converge for "
            f"{len(not_converged)} of {problems.count} data sets "
            f"(datasets {_short_list(not_converged)}). Try different init "
            "parameters, or increase max_iter, tol, or check for degenerate data.",
            ConvergenceWarning, stacklevel=3)
    if failed and errors == "raise":
        indices = sorted(failed)
        first = failed[indices[0]]
        raise ValueError(
            f"{len(indices)} of {problems.count} fits failed (datasets "
            f"{_short_list(indices)}); datasets[{indices[0]}]: {first} Pass "
            "errors='return' to get the other models and each exception in its "
            "slot.") from first
    return models


def _short_list(indices, limit=20):
    head = ", ".join(str(i) for i in indices[:limit])
    return head + (f", ... ({len(indices)} in all)" if len(indices) > limit else "")
