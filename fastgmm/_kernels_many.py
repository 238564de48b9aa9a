"""The statistics pass for many problems at once, and for one small problem.

Both run the serial chunk code of :mod:`fastgmm._kernels` (``_chunk_stats``)
over a problem's rows, chunk by chunk, and add the chunk results in chunk
order, exactly as the row-parallel ``_stats_pass`` does. So a problem's
statistics are bitwise those of a single fit on its rows, whether it runs

* in ``many_stats_pass``: ``prange`` over *problems* (``fit_many``: one
  launch per EM iteration for all problems, each problem on one thread);
* in ``serial_em_pass`` / ``serial_resp_stats_pass``: one small problem
  with no parallel launch (a parallel region costs more than the
  arithmetic of a few thousand rows); ``serial_score_pass`` does the same
  for scoring with ``_chunk_score``.

Problems are rows ``[offsets[p], offsets[p + 1])`` of one concatenated
array. A problem larger than ``round_rows`` is cut into rounds whose totals
are added in order, as :func:`fastgmm._engine.accumulate` adds its kernel
calls. Kernels see arrays and scalars only.
"""

import numpy as np
from numba import prange

from ._blocks import CHUNK_ROWS, FASTMATH, KIND_CODES, block_bounds, n_blocks, readonly
from ._compile import kernel
from ._kernels import (_chunk_score, _chunk_stats, _padded_model, run_em_pass,
                       run_resp_stats_pass)


@kernel(internal=True, fastmath=FASTMATH)
def _add_stats(N, S1, S2, n, s1, s2):
    """``N += n``, ``S1 += s1``, ``S2 += s2``, element by element."""
    for j in range(N.shape[0]):
        N[j] += n[j]
        for a in range(S1.shape[1]):
            S1[j, a] += s1[j, a]
    for r in range(S2.shape[0]):
        for a in range(S2.shape[1]):
            for b in range(S2.shape[2]):
                S2[r, a, b] += s2[r, a, b]


@kernel(internal=True, fastmath=FASTMATH)
def _problem_stats(X, sw, R, kind, r0, r1, round_rows, means, chol, prec, log_norm,
                   center, mu_proj, want_entropy, out_N, out_S1, out_S2):
    """Statistics of rows ``[r0, r1)`` into ``out_*``; returns ``(loglik, weight, entropy)``.

    Chunks of ``CHUNK_ROWS`` are added in order within a round of
    ``round_rows`` rows, round totals in order after that.
    """
    k, d = means.shape
    means_p, chol_p, prec_p, mu_proj_p = _padded_model(kind, means, chol, prec,
                                                       mu_proj, X[:0])
    n = r1 - r0
    c_N = np.empty(k)
    c_S1 = np.empty((k, d))
    c_S2 = np.empty(out_S2.shape)
    t_N = np.empty(k)
    t_S1 = np.empty((k, d))
    t_S2 = np.empty(out_S2.shape)
    ll = 0.0
    wsum = 0.0
    ent = 0.0
    # At least one round, so that a problem without rows gives zero statistics.
    for q in range(max(n_blocks(n, round_rows), 1)):
        q0, q1 = block_bounds(q, n, round_rows)
        q1 = max(q1, q0)
        t_N[:] = 0.0
        t_S1[:, :] = 0.0
        t_S2[:, :, :] = 0.0
        t_ll = 0.0
        t_w = 0.0
        t_ent = 0.0
        for c in range(n_blocks(q1 - q0, CHUNK_ROWS)):
            c0, c1 = block_bounds(c, q1 - q0, CHUNK_ROWS)
            c_ll, c_w, c_ent = _chunk_stats(X, sw, R, kind, r0 + q0 + c0, r0 + q0 + c1,
                                            means_p, chol_p, prec_p, log_norm, center,
                                            mu_proj_p, want_entropy, c_N, c_S1, c_S2)
            _add_stats(t_N, t_S1, t_S2, c_N, c_S1, c_S2)
            t_ll += c_ll
            t_w += c_w
            t_ent += c_ent
        if q == 0:
            out_N[:] = t_N
            out_S1[:, :] = t_S1
            out_S2[:, :, :] = t_S2
            ll = t_ll
            wsum = t_w
            ent = t_ent
        else:
            _add_stats(out_N, out_S1, out_S2, t_N, t_S1, t_S2)
            ll += t_ll
            wsum += t_w
            ent += t_ent
    return ll, wsum, ent


@kernel(parallel=True, internal=True, fastmath=FASTMATH)
def _many_stats_pass(X, sw, R, offsets, problems, kind, round_rows, means, chol, prec,
                     log_norm, center, mu_proj, want_entropy, out_N, out_S1, out_S2, out_ll,
                     out_w, out_ent):
    """Statistics of problems ``problems[i]`` (their model arrays at index ``i``).

    ``sw`` is empty or holds every row's weight; ``R`` is (0, k) for the
    fused E-step or holds every row's given responsibilities.
    """
    for i in prange(problems.shape[0]):
        p = problems[i]
        out_ll[i], out_w[i], out_ent[i] = _problem_stats(
            X, sw, R, kind, offsets[p], offsets[p + 1], round_rows, means[i], chol[i],
            prec[i], log_norm[i], center[i], mu_proj[i], want_entropy, out_N[i], out_S1[i],
            out_S2[i])


@kernel(internal=True, fastmath=FASTMATH)
def _serial_stats_pass(X, sw, R, kind, means, chol, prec, log_norm, center, mu_proj,
                       want_entropy, s2_rows, s2_cols):
    """``_stats_pass`` of :mod:`fastgmm._kernels` for one chunk of rows or fewer, serially."""
    k, d = means.shape
    N = np.empty(k)
    S1 = np.empty((k, d))
    S2 = np.empty((s2_rows, d, s2_cols))
    ll, wsum, ent = _problem_stats(X, sw, R, kind, 0, X.shape[0], CHUNK_ROWS, means, chol,
                                   prec, log_norm, center, mu_proj, want_entropy, N, S1, S2)
    return N, S1, S2, ll, wsum, ent


def _entry_points(kind):
    """The kernels Python calls for one covariance kind, ``kind`` frozen in.

    As in :mod:`fastgmm._kernels`: each kind compiles only its own code,
    when first used.
    """

    @kernel(fastmath=FASTMATH)
    def many_stats(X, sw, R, offsets, problems, round_rows, means, chol, prec, log_norm,
                   center, mu_proj, want_entropy, out_N, out_S1, out_S2, out_ll, out_w,
                   out_ent):
        _many_stats_pass(X, sw, R, offsets, problems, kind, round_rows, means, chol, prec,
                         log_norm, center, mu_proj, want_entropy, out_N, out_S1, out_S2,
                         out_ll, out_w, out_ent)

    @kernel(fastmath=FASTMATH)
    def serial_stats(X, sw, R, means, chol, prec, log_norm, center, mu_proj, want_entropy,
                     s2_rows, s2_cols):
        return _serial_stats_pass(X, sw, R, kind, means, chol, prec, log_norm, center,
                                  mu_proj, want_entropy, s2_rows, s2_cols)

    @kernel(fastmath=FASTMATH)
    def serial_score(X, means, chol, prec, log_norm, center, mu_proj, out_log_norm,
                     out_label, out_log_resp):
        _serial_score_pass(X, kind, means, chol, prec, log_norm, center, mu_proj,
                           out_log_norm, out_label, out_log_resp)

    return many_stats, serial_stats, serial_score


# kind code -> (many-problem statistics, serial statistics, serial scoring)
KERNELS = {code: _entry_points(code) for code in sorted(KIND_CODES.values())}


def many_stats_pass(X, sw, R, offsets, problems, kind, round_rows, means, chol, prec,
                    log_norm, center, mu_proj, s2_rows, s2_cols, want_entropy=False):
    """Statistics of the selected problems, one parallel launch.

    Model arrays carry a leading axis, one entry per selected problem.
    Returns ``(N, S1, S2, loglik, weight, entropy)`` with that leading axis.
    """
    m = problems.shape[0]
    k, d = means.shape[1:]
    N = np.empty((m, k))
    S1 = np.empty((m, k, d))
    S2 = np.empty((m, s2_rows, d, s2_cols))
    ll = np.empty(m)
    w = np.empty(m)
    ent = np.empty(m)
    KERNELS[kind][0](readonly(X), readonly(sw), readonly(R), readonly(offsets),
                     readonly(problems), round_rows, means, chol, prec, log_norm,
                     center, mu_proj, bool(want_entropy), N, S1, S2, ll, w, ent)
    return N, S1, S2, ll, w, ent


def serial_em_pass(X, sw, kind, means, chol, prec, log_norm, center, mu_proj, s2_rows,
                   s2_cols, want_entropy=False):
    """:func:`fastgmm._kernels.em_pass` of at most ``CHUNK_ROWS`` rows, bitwise, serially."""
    return run_em_pass(KERNELS[kind][1], X, sw, means, chol, prec, log_norm, center, mu_proj,
                       s2_rows, s2_cols, want_entropy)


def serial_resp_stats_pass(X, sw, R, kind, shift, center, s2_rows, s2_cols):
    """:func:`fastgmm._kernels.resp_stats_pass` of at most ``CHUNK_ROWS`` rows, serially."""
    return run_resp_stats_pass(KERNELS[kind][1], X, sw, R, kind, shift, center, s2_rows,
                               s2_cols)


@kernel(internal=True, fastmath=FASTMATH)
def _serial_score_pass(X, kind, means, chol, prec, log_norm, center, mu_proj,
                       out_log_norm, out_label, out_log_resp):
    means_p, chol_p, prec_p, mu_proj_p = _padded_model(kind, means, chol, prec,
                                                       mu_proj, X[:0])
    _chunk_score(X, kind, 0, X.shape[0], means_p, chol_p, prec_p, log_norm, center,
                 mu_proj_p, out_log_norm, out_label, out_log_resp)


def serial_score_pass(X, kind, means, chol, prec, log_norm, center, mu_proj,
                      out_log_norm, out_label, out_log_resp):
    """:func:`fastgmm._kernels.score_pass` of at most ``CHUNK_ROWS`` rows, serially."""
    KERNELS[kind][2](readonly(X), means, chol, prec, log_norm, center, mu_proj,
                     out_log_norm, out_label, out_log_resp)
