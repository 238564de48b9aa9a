"""Fused EM kernels: one pass computes responsibilities and statistics.

Every kernel here sees C-contiguous float32 or float64 arrays and scalars,
nothing else, so each compiles at most once per dtype and caches on disk.
The model arrays are prepared by :mod:`fastgmm._model`:

``kind``      covariance kind code (see :mod:`fastgmm._blocks`)
``means``     (k, d) component means, also the shifts ``c_j`` of the stats
``chol``      (k, d, d) upper-triangular precision Cholesky factors (full),
              (1, d, d) the shared factor (tied), unused otherwise
``prec``      (k, d) diagonal precisions (diag, spherical), unused otherwise
``log_norm``  (k,) ``log phi_j + log det chol_j - d/2 log(2 pi)``
``center``    (d,) common shift for the tied kind
``mu_proj``   (k, d) ``(mu_j - center) @ chol`` for the tied kind

Inside a chunk the data are handled ``BLOCK_ROWS`` rows at a time, stored
transposed (features x rows) so the innermost loops run along points.
"""

import numpy as np
from numba import njit, prange

from ._blocks import (
    BLOCK_ROWS,
    CHUNK_ROWS,
    FASTMATH,
    FULL,
    TIED,
    block_bounds,
    n_blocks,
)


@njit(cache=True, fastmath=FASTMATH)
def _load_block(X, r0, nb, xt):
    d = X.shape[1]
    for i in range(nb):
        for a in range(d):
            xt[a, i] = X[r0 + i, a]


@njit(cache=True, fastmath=FASTMATH)
def _subtract(xt, nb, mean, diff):
    for a in range(xt.shape[0]):
        m = mean[a]
        for i in range(nb):
            diff[a, i] = xt[a, i] - m


@njit(cache=True, fastmath=FASTMATH)
def _project_upper(diff, nb, U, proj):
    """``proj[a, i] = sum_{b <= a} diff[b, i] * U[b, a]`` (upper-triangular U)."""
    d = diff.shape[0]
    for a in range(d):
        u = U[0, a]
        for i in range(nb):
            proj[a, i] = diff[0, i] * u
        for b in range(1, a + 1):
            u = U[b, a]
            for i in range(nb):
                proj[a, i] += diff[b, i] * u


@njit(cache=True, fastmath=FASTMATH)
def _block_log_prob(kind, xt, nb, means, chol, prec, log_norm, center, mu_proj,
                    diff, proj, maha, logp):
    """Weighted log-density ``log phi_j + log N(x_i | j)`` into ``logp[j, :nb]``."""
    k, d = means.shape
    zero = xt.dtype.type(0)
    if kind == TIED:
        _subtract(xt, nb, center, diff)
        _project_upper(diff, nb, chol[0], proj)
    for j in range(k):
        for i in range(nb):
            maha[i] = zero
        if kind == FULL:
            _subtract(xt, nb, means[j], diff)
            _project_upper(diff, nb, chol[j], proj)
            for a in range(d):
                for i in range(nb):
                    maha[i] += proj[a, i] * proj[a, i]
        elif kind == TIED:
            for a in range(d):
                m = mu_proj[j, a]
                for i in range(nb):
                    t = proj[a, i] - m
                    maha[i] += t * t
        else:
            for a in range(d):
                m = means[j, a]
                p = prec[j, a]
                for i in range(nb):
                    t = xt[a, i] - m
                    maha[i] += t * t * p
        ln = log_norm[j]
        for i in range(nb):
            logp[j, i] = ln - 0.5 * maha[i]


@njit(cache=True, fastmath=FASTMATH)
def _block_log_norm(logp, nb, top, total, lnorm):
    """Per point ``log sum_j exp(logp[j, i])``; leaves ``exp(logp - max)`` in logp."""
    k = logp.shape[0]
    for i in range(nb):
        top[i] = logp[0, i]
    for j in range(1, k):
        for i in range(nb):
            top[i] = max(top[i], logp[j, i])
    for i in range(nb):
        total[i] = 0.0
    for j in range(k):
        for i in range(nb):
            e = np.exp(logp[j, i] - top[i])
            logp[j, i] = e
            total[i] += e
    for i in range(nb):
        lnorm[i] = top[i] + np.log(total[i])


@njit(cache=True, fastmath=FASTMATH)
def _block_weights(sw, r0, nb, weights):
    if sw.shape[0] == 0:
        for i in range(nb):
            weights[i] = 1.0
    else:
        for i in range(nb):
            weights[i] = sw[r0 + i]


@njit(cache=True, fastmath=FASTMATH)
def _block_stats(kind, xt, nb, resp, weights, means, center, diff, wdiff,
                 N, S1, S2):
    """Add one block's statistics (``resp`` already holds ``w_i r_ij``)."""
    k, d = means.shape
    zero = xt.dtype.type(0)
    for j in range(k):
        s = 0.0
        for i in range(nb):
            s += resp[j, i]
        N[j] += s
        _subtract(xt, nb, means[j], diff)
        for a in range(d):
            t = zero
            for i in range(nb):
                v = resp[j, i] * diff[a, i]
                wdiff[a, i] = v
                t += v
            S1[j, a] += t
        if kind == FULL:
            for a in range(d):
                for b in range(a + 1):
                    t = zero
                    for i in range(nb):
                        t += wdiff[a, i] * diff[b, i]
                    S2[j, a, b] += t
        elif kind != TIED:
            for a in range(d):
                t = zero
                for i in range(nb):
                    t += wdiff[a, i] * diff[a, i]
                S2[j, a, 0] += t
    if kind == TIED:
        # Pooled scatter about one common shift: sum_j r_ij = 1, so the
        # per-point weight is all that is needed (O(d^2), not O(k d^2)).
        _subtract(xt, nb, center, diff)
        for a in range(d):
            for i in range(nb):
                wdiff[a, i] = weights[i] * diff[a, i]
        for a in range(d):
            for b in range(a + 1):
                t = zero
                for i in range(nb):
                    t += wdiff[a, i] * diff[b, i]
                S2[0, a, b] += t


def s2_shape(kind, k, d):
    """Shape of the second-moment statistic for a covariance kind."""
    if kind == FULL:
        return (k, d, d)
    if kind == TIED:
        return (1, d, d)
    return (k, d, 1)


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def em_pass(X, sw, kind, means, chol, prec, log_norm, center, mu_proj, s2_rows, s2_cols):
    """One fused E-step + sufficient-statistics pass over ``X``.

    Returns ``(N, S1, S2, loglik, weight)`` summed over all rows, with the
    statistics shifted by ``means`` (and ``center`` for the tied scatter).
    Partial results are kept per chunk and reduced in chunk order.
    """
    n, d = X.shape
    k = means.shape[0]
    n_chunks = n_blocks(n, CHUNK_ROWS)
    part_N = np.zeros((n_chunks, k))
    part_S1 = np.zeros((n_chunks, k, d))
    part_S2 = np.zeros((n_chunks, s2_rows, d, s2_cols))
    part_ll = np.zeros(n_chunks)
    part_w = np.zeros(n_chunks)
    for c in prange(n_chunks):
        c0, c1 = block_bounds(c, n, CHUNK_ROWS)
        xt = np.empty((d, BLOCK_ROWS), X.dtype)
        diff = np.empty((d, BLOCK_ROWS), X.dtype)
        proj = np.empty((d, BLOCK_ROWS), X.dtype)
        maha = np.empty(BLOCK_ROWS, X.dtype)
        logp = np.empty((k, BLOCK_ROWS), X.dtype)
        top = np.empty(BLOCK_ROWS, X.dtype)
        total = np.empty(BLOCK_ROWS, X.dtype)
        lnorm = np.empty(BLOCK_ROWS, X.dtype)
        weights = np.empty(BLOCK_ROWS, X.dtype)
        ll = 0.0
        wsum = 0.0
        for b in range(n_blocks(c1 - c0, BLOCK_ROWS)):
            b0, b1 = block_bounds(b, c1 - c0, BLOCK_ROWS)
            r0 = c0 + b0
            nb = b1 - b0
            _load_block(X, r0, nb, xt)
            _block_weights(sw, r0, nb, weights)
            _block_log_prob(kind, xt, nb, means, chol, prec, log_norm, center,
                            mu_proj, diff, proj, maha, logp)
            _block_log_norm(logp, nb, top, total, lnorm)
            for i in range(nb):
                ll += weights[i] * lnorm[i]
                wsum += weights[i]
                total[i] = weights[i] / total[i]
            for j in range(k):
                for i in range(nb):
                    logp[j, i] *= total[i]
            _block_stats(kind, xt, nb, logp, weights, means, center, diff, proj,
                         part_N[c], part_S1[c], part_S2[c])
        part_ll[c] = ll
        part_w[c] = wsum
    N = np.zeros(k)
    S1 = np.zeros((k, d))
    S2 = np.zeros((s2_rows, d, s2_cols))
    ll = 0.0
    wsum = 0.0
    for c in range(n_chunks):
        N += part_N[c]
        S1 += part_S1[c]
        S2 += part_S2[c]
        ll += part_ll[c]
        wsum += part_w[c]
    return N, S1, S2, ll, wsum


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def score_pass(X, kind, means, chol, prec, log_norm, center, mu_proj,
               out_log_norm, out_label, out_log_resp):
    """Per-point log-density, most likely component and (optionally) log-resp.

    ``out_log_resp`` has shape (n, k), or (0, k) when it is not wanted.
    Each chunk writes only its own rows, so the outputs are race-free.
    """
    n, d = X.shape
    k = means.shape[0]
    want_resp = out_log_resp.shape[0] > 0
    for c in prange(n_blocks(n, CHUNK_ROWS)):
        c0, c1 = block_bounds(c, n, CHUNK_ROWS)
        xt = np.empty((d, BLOCK_ROWS), X.dtype)
        diff = np.empty((d, BLOCK_ROWS), X.dtype)
        proj = np.empty((d, BLOCK_ROWS), X.dtype)
        maha = np.empty(BLOCK_ROWS, X.dtype)
        logp = np.empty((k, BLOCK_ROWS), X.dtype)
        for b in range(n_blocks(c1 - c0, BLOCK_ROWS)):
            b0, b1 = block_bounds(b, c1 - c0, BLOCK_ROWS)
            r0 = c0 + b0
            nb = b1 - b0
            _load_block(X, r0, nb, xt)
            _block_log_prob(kind, xt, nb, means, chol, prec, log_norm, center,
                            mu_proj, diff, proj, maha, logp)
            for i in range(nb):
                best = 0
                top = logp[0, i]
                for j in range(1, k):
                    if logp[j, i] > top:
                        top = logp[j, i]
                        best = j
                total = 0.0
                for j in range(k):
                    total += np.exp(logp[j, i] - top)
                lse = top + np.log(total)
                out_log_norm[r0 + i] = lse
                out_label[r0 + i] = best
                if want_resp:
                    for j in range(k):
                        out_log_resp[r0 + i, j] = logp[j, i] - lse


@njit(parallel=True, cache=True, fastmath=FASTMATH)
def resp_stats_pass(X, sw, R, kind, shift, center, s2_rows, s2_cols):
    """Statistics for given responsibilities ``R`` (n, k), shifted by ``shift``.

    Used at initialisation, where responsibilities come from k-means labels
    or random draws rather than from a model. Returns ``(N, S1, S2, weight)``.
    """
    n, d = X.shape
    k = shift.shape[0]
    n_chunks = n_blocks(n, CHUNK_ROWS)
    part_N = np.zeros((n_chunks, k))
    part_S1 = np.zeros((n_chunks, k, d))
    part_S2 = np.zeros((n_chunks, s2_rows, d, s2_cols))
    part_w = np.zeros(n_chunks)
    for c in prange(n_chunks):
        c0, c1 = block_bounds(c, n, CHUNK_ROWS)
        xt = np.empty((d, BLOCK_ROWS), X.dtype)
        diff = np.empty((d, BLOCK_ROWS), X.dtype)
        wdiff = np.empty((d, BLOCK_ROWS), X.dtype)
        resp = np.empty((k, BLOCK_ROWS), X.dtype)
        weights = np.empty(BLOCK_ROWS, X.dtype)
        wsum = 0.0
        for b in range(n_blocks(c1 - c0, BLOCK_ROWS)):
            b0, b1 = block_bounds(b, c1 - c0, BLOCK_ROWS)
            r0 = c0 + b0
            nb = b1 - b0
            _load_block(X, r0, nb, xt)
            _block_weights(sw, r0, nb, weights)
            for i in range(nb):
                wsum += weights[i]
                for j in range(k):
                    resp[j, i] = R[r0 + i, j] * weights[i]
            _block_stats(kind, xt, nb, resp, weights, shift, center, diff, wdiff,
                         part_N[c], part_S1[c], part_S2[c])
        part_w[c] = wsum
    N = np.zeros(k)
    S1 = np.zeros((k, d))
    S2 = np.zeros((s2_rows, d, s2_cols))
    wsum = 0.0
    for c in range(n_chunks):
        N += part_N[c]
        S1 += part_S1[c]
        S2 += part_S2[c]
        wsum += part_w[c]
    return N, S1, S2, wsum
