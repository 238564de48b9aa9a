"""Kernels for rows with missing entries (NaN): marginal E-step, completed statistics.

A row ``x`` with observed entries ``o`` and missing entries ``m`` is scored
by its marginal density ``N(x_o | mu_o, Sigma_oo)`` and contributes to the
statistics of :class:`fastgmm._model.Stats` (shifted by ``c_j = mu_j``) its
completed deviation ``y_hat = E_j[x | x_o] - mu_j`` in ``S1`` and
``y_hat y_hat^T + Cov_j[x_m | x_o]`` in ``S2``, so the M-step is the
complete-data one (Ghahramani and Jordan, 1994).

The precision form (``Lambda = Sigma^-1 = U U^T``) keeps the work per row
and component at ``O(d^2 + m d + m^3)`` for ``m`` missing entries, with no
factorisation of the ``o x o`` block: with ``y = x - mu`` (missing entries
set to 0) and ``b = Lambda_mo y_o``,

* the missing part of the conditional mean solves
  ``Lambda_mm y_hat_m = -b``;
* the observed-data quadratic form is ``y^T Lambda y - b^T Lambda_mm^-1 b``
  (``y^T Lambda y = |y^T U|^2``);
* ``log |Sigma_oo| = log |Sigma| + log |Lambda_mm|``;
* the conditional covariance is ``Lambda_mm^-1``.

For 'diag' and 'spherical' the marginal is the observed coordinates alone:
``y_hat_m = 0`` and the conditional variances are ``1 / prec_ja``.

Every kernel walks a list of row numbers (the incomplete rows of a round,
chosen by the caller) in fixed blocks of ``MISSING_BLOCK`` rows; a block
writes only its own partial statistics (or its own rows of an output), and
the partials are added in block order by the caller, so results do not
depend on the thread count. Model arrays arrive in float64 (statistics are
float64); ``X`` stays float32 or float64 and is read one entry at a time.
"""

import math

import numpy as np
from numba import prange

from ._blocks import DIAG, SPHERICAL, TIED, CHUNK_ROWS, block_bounds, n_blocks
from ._compile import kernel

# Incomplete rows per block: one partial result each (as a chunk of rows).
MISSING_BLOCK = CHUNK_ROWS
# Shares below this (relative to the largest of the row) are exactly 0, as in
# the complete-data kernels (``fastgmm._kernels.flush_threshold``).
_FLUSH = 1e-30
_LOG_2PI = math.log(2.0 * math.pi)

_FM = {"nsz", "arcp", "contract", "reassoc"}


@kernel(parallel=True, fastmath=_FM)
def missing_counts(X, out):
    """``out[i]`` = number of NaN entries of row ``i`` (rows in fixed blocks)."""
    n, d = X.shape
    for b in prange(n_blocks(n, CHUNK_ROWS)):
        r0, r1 = block_bounds(b, n, CHUNK_ROWS)
        for i in range(r0, r1):
            c = 0
            for a in range(d):
                v = X[i, a]
                if v != v:
                    c += 1
            out[i] = c


@kernel(internal=True, fastmath=_FM)
def _missing_index(x, miss):
    """Positions of the NaN entries of row ``x`` into ``miss``; returns their number."""
    m = 0
    for a in range(x.shape[0]):
        v = x[a]
        if v != v:
            miss[m] = a
            m += 1
    return m


@kernel(internal=True, fastmath=_FM)
def _component_log_prob(x, kind, j, means, U, Lam, prec, log_norm, miss, m, y, L, z, t):
    """``log phi_j + log N(x_o | mu_jo, Sigma_j,oo)`` of one row and component.

    Leaves in ``y`` the completed deviation ``E_j[x | x_o] - mu_j`` and, for
    'full' and 'tied', in ``L[:m, :m]`` the lower Cholesky factor of
    ``Lambda_j,mm`` (for the conditional covariance). ``z``, ``t``: scratch.
    """
    d = x.shape[0]
    jj = 0 if kind == TIED else j
    for a in range(d):
        v = x[a]
        y[a] = 0.0 if v != v else np.float64(v) - means[j, a]
    if kind == DIAG or kind == SPHERICAL:
        q = 0.0
        for a in range(d):
            q += prec[j, a] * y[a] * y[a]
        half_log_det = 0.0
        for p in range(m):
            half_log_det += 0.5 * math.log(prec[j, miss[p]])
        return log_norm[j] - half_log_det + 0.5 * m * _LOG_2PI - 0.5 * q
    # |y^T U|^2, one row of U at a time (unit stride, vectorises along c).
    for c in range(d):
        z[c] = 0.0
    for a in range(d):
        ya = y[a]
        if ya != 0.0:
            for c in range(a, d):
                z[c] += ya * U[jj, a, c]
    q = 0.0
    for c in range(d):
        q += z[c] * z[c]
    if m == 0:
        return log_norm[j] - 0.5 * q
    # b = Lambda_mo y_o (y_m = 0), into t.
    for p in range(m):
        s = 0.0
        row = miss[p]
        for a in range(d):
            s += Lam[jj, row, a] * y[a]
        t[p] = s
    # Lambda_mm = L L^T.
    log_det = 0.0
    for p in range(m):
        for r in range(p + 1):
            s = Lam[jj, miss[p], miss[r]]
            for c in range(r):
                s -= L[p, c] * L[r, c]
            if r == p:
                L[p, p] = math.sqrt(s)
            else:
                L[p, r] = s / L[r, r]
        log_det += math.log(L[p, p])
    # Solve L u = b (u into z[:m]), then L^T s = u; b.s into bs.
    for p in range(m):
        s = t[p]
        for c in range(p):
            s -= L[p, c] * z[c]
        z[p] = s / L[p, p]
    bs = 0.0
    for p in range(m):
        bs += z[p] * z[p]  # b^T Lambda_mm^-1 b = |L^-1 b|^2
    for p in range(m - 1, -1, -1):
        s = z[p]
        for c in range(p + 1, m):
            s -= L[c, p] * y[miss[c]]
        y[miss[p]] = s / L[p, p]
    for p in range(m):
        y[miss[p]] = -y[miss[p]]
    # log|Sigma_oo| = log|Sigma| + log|Lambda_mm| (log_det is half the latter).
    return log_norm[j] - log_det + 0.5 * m * _LOG_2PI - 0.5 * (q - bs)


@kernel(internal=True, fastmath=_FM)
def _row_log_prob(x, kind, means, U, Lam, prec, log_norm, miss, m, Y, Ls, z, t, logp, raw):
    """Every component's marginal log-density of one row; returns ``(log p(x_o), total)``.

    ``raw[j]`` keeps ``log phi_j + log N_j(x_o)``, ``logp[j]`` its
    ``exp(raw_j - max)`` (0 below the flush threshold), ``total`` their sum;
    ``Y[j]`` and ``Ls[j]`` the completed deviation and factor of each.
    """
    k = means.shape[0]
    top = -np.inf
    for j in range(k):
        lp = _component_log_prob(x, kind, j, means, U, Lam, prec, log_norm, miss, m, Y[j],
                                 Ls[j], z, t)
        raw[j] = lp
        top = max(top, lp)
    total = 0.0
    for j in range(k):
        e = math.exp(raw[j] - top)
        e = 0.0 if e < _FLUSH else e
        logp[j] = e
        total += e
    return top + math.log(total), total


@kernel(internal=True, fastmath=_FM)
def _add_conditional_cov(S2, j, miss, m, L, Linv, wr):
    """``S2[j, miss, miss] += wr * Lambda_mm^-1`` (lower triangle), from ``L``."""
    for p in range(m):
        for c in range(p + 1):
            s = 1.0 if c == p else 0.0
            for r in range(c, p):
                s -= L[p, r] * Linv[r, c]
            Linv[p, c] = s / L[p, p]
    # Lambda_mm^-1 = Linv^T Linv.
    for p in range(m):
        for c in range(p + 1):
            s = 0.0
            for r in range(p, m):
                s += Linv[r, p] * Linv[r, c]
            S2[j, miss[p], miss[c]] += wr * s


@kernel(internal=True, fastmath=_FM)
def _block_stats(X, sw, rows, i0, i1, kind, means, U, Lam, prec, log_norm, center,
                 N, S1, S2, sums, miss, Y, Ls, Linv, z, t, v, logp, raw):
    """Statistics of incomplete rows ``rows[i0:i1]`` into this block's partials."""
    k, d = means.shape
    weighted = sw.shape[0] > 0
    full_like = not (kind == DIAG or kind == SPHERICAL)
    ll = 0.0
    wsum = 0.0
    for i in range(i0, i1):
        row = rows[i]
        x = X[row]
        w = np.float64(sw[row]) if weighted else 1.0
        m = _missing_index(x, miss)
        lnorm, total = _row_log_prob(x, kind, means, U, Lam, prec, log_norm, miss, m, Y, Ls,
                                     z, t, logp, raw)
        ll += w * lnorm
        wsum += w
        scale = w / total
        for j in range(k):
            wr = logp[j] * scale
            if wr == 0.0:
                continue
            N[j] += wr
            y = Y[j]
            for a in range(d):
                S1[j, a] += wr * y[a]
            if kind == TIED:
                for a in range(d):
                    v[a] = y[a] + means[j, a] - center[a]
                for a in range(d):
                    va = wr * v[a]
                    for c in range(a + 1):
                        S2[0, a, c] += va * v[c]
                _add_conditional_cov(S2, 0, miss, m, Ls[j], Linv, wr)
            elif full_like:
                for a in range(d):
                    ya = wr * y[a]
                    for c in range(a + 1):
                        S2[j, a, c] += ya * y[c]
                _add_conditional_cov(S2, j, miss, m, Ls[j], Linv, wr)
            else:
                for a in range(d):
                    S2[j, a, 0] += wr * y[a] * y[a]
                for p in range(m):
                    S2[j, miss[p], 0] += wr / prec[j, miss[p]]
    sums[0] = ll
    sums[1] = wsum


@kernel(internal=True)
def _row_buffers(k, d):
    miss = np.empty(d, np.int64)
    Y = np.empty((k, d))
    Ls = np.empty((k, d, d))
    Linv = np.empty((d, d))
    z = np.empty(d)
    t = np.empty(d)
    v = np.empty(d)
    logp = np.empty(k)
    raw = np.empty(k)
    return miss, Y, Ls, Linv, z, t, v, logp, raw


@kernel(parallel=True, fastmath=_FM)
def marginal_stats(X, sw, rows, kind, means, U, Lam, prec, log_norm, center,
                   part_N, part_S1, part_S2, part_sums):
    """Per-block statistics of the incomplete rows ``rows`` of ``X``.

    ``part_*`` have a leading axis of ``n_blocks(len(rows), MISSING_BLOCK)``
    blocks; each block writes its own (zeroed here) and the caller adds them
    in block order. ``sw`` is empty (unit weights) or one weight per row of X.
    """
    k, d = means.shape
    n_rows = rows.shape[0]
    for b in prange(part_N.shape[0]):
        i0, i1 = block_bounds(b, n_rows, MISSING_BLOCK)
        part_N[b, :] = 0.0
        part_S1[b, :, :] = 0.0
        part_S2[b, :, :, :] = 0.0
        miss, Y, Ls, Linv, z, t, v, logp, raw = _row_buffers(k, d)
        _block_stats(X, sw, rows, i0, i1, kind, means, U, Lam, prec, log_norm, center,
                     part_N[b], part_S1[b], part_S2[b], part_sums[b], miss, Y, Ls, Linv,
                     z, t, v, logp, raw)


@kernel(parallel=True, fastmath=_FM)
def marginal_score(X, rows, kind, means, U, Lam, prec, log_norm, out_log_prob, out_label,
                   out_log_resp):
    """Marginal ``log p(x_o)``, most likely component and (if ``out_log_resp`` has
    rows) log-responsibilities of rows ``rows`` of ``X``, written at those rows."""
    k, d = means.shape
    n_rows = rows.shape[0]
    want_resp = out_log_resp.shape[0] > 0
    for b in prange(n_blocks(n_rows, MISSING_BLOCK)):
        i0, i1 = block_bounds(b, n_rows, MISSING_BLOCK)
        miss, Y, Ls, Linv, z, t, v, logp, raw = _row_buffers(k, d)
        for i in range(i0, i1):
            row = rows[i]
            x = X[row]
            m = _missing_index(x, miss)
            lnorm, total = _row_log_prob(x, kind, means, U, Lam, prec, log_norm, miss, m,
                                         Y, Ls, z, t, logp, raw)
            out_log_prob[row] = lnorm
            best = 0
            for j in range(1, k):
                if logp[j] > logp[best]:
                    best = j
            out_label[row] = best
            if want_resp:
                for j in range(k):
                    out_log_resp[row, j] = raw[j] - lnorm


@kernel(parallel=True, fastmath=_FM)
def marginal_impute(X, rows, kind, means, U, Lam, prec, log_norm, out):
    """``out[row, a] = sum_j r_j(x_o) E_j[x_a | x_o]`` for the NaN entries of each row
    in ``rows`` (``out`` holds a copy of ``X``)."""
    k, d = means.shape
    n_rows = rows.shape[0]
    for b in prange(n_blocks(n_rows, MISSING_BLOCK)):
        i0, i1 = block_bounds(b, n_rows, MISSING_BLOCK)
        miss, Y, Ls, Linv, z, t, v, logp, raw = _row_buffers(k, d)
        for i in range(i0, i1):
            row = rows[i]
            x = X[row]
            m = _missing_index(x, miss)
            _, total = _row_log_prob(x, kind, means, U, Lam, prec, log_norm, miss, m,
                                     Y, Ls, z, t, logp, raw)
            for p in range(m):
                a = miss[p]
                s = 0.0
                for j in range(k):
                    s += logp[j] * (means[j, a] + Y[j, a])
                out[row, a] = s / total
