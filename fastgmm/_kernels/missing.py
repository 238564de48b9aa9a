"""Kernels for rows with missing entries (NaN): marginal E-step, completed statistics.

A row ``x`` with observed entries ``o`` and missing entries ``m`` is scored
by its marginal density ``N(x_o | mu_o, Sigma_oo)`` and contributes to the
statistics of :class:`fastgmm._model.stats.Stats` (shifted by ``c_j = mu_j``) its
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

Two kinds of kernels:

* the per-row ones (``marginal_stats`` for 'tied', ``marginal_score``,
  ``marginal_impute``) walk a list of row numbers (the incomplete rows of a
  round, chosen by the caller) in fixed blocks of ``MISSING_BLOCK`` rows,
  with float64 model arrays, reading ``X`` one entry at a time;
* the kernels of rows in place (:mod:`fastgmm._kernels.masked`:
  ``masked_full_stats``, ``masked_diag_stats``) read a contiguous array of rows in
  fixed chunks of ``CHUNK_ROWS``, a block at a time, transposed and
  masked, and run the complete-data block code along rows in ``X``'s dtype.

Either way a block or chunk writes only its own partial statistics (or its
own rows of an output), and the partials are added in order by the caller,
so results do not depend on the thread count. Statistics are float64.
"""

import math

import numpy as np
from numba import prange

from .chunk import flush_threshold
from .compile import kernel
from .layout import CHUNK_ROWS, DIAG, FASTMATH, SPHERICAL, TIED, block_bounds, n_blocks

# Incomplete rows per block: one partial result each (as a chunk of rows).
MISSING_BLOCK = CHUNK_ROWS
# Shares below this (relative to the largest of the row) are exactly 0, as in
# the complete-data kernels (``fastgmm._kernels.density.flush_threshold``).
_FLUSH = 1e-30
LOG_2PI = math.log(2.0 * math.pi)


@kernel(parallel=True, fastmath=FASTMATH)
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


@kernel(internal=True, fastmath=FASTMATH)
def _missing_index(x, miss):
    """Positions of the NaN entries of row ``x`` into ``miss``; returns their number."""
    m = 0
    for a in range(x.shape[0]):
        v = x[a]
        if v != v:
            miss[m] = a
            m += 1
    return m


@kernel(internal=True, fastmath=FASTMATH)
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
        return log_norm[j] - half_log_det + 0.5 * m * LOG_2PI - 0.5 * q
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
    return log_norm[j] - log_det + 0.5 * m * LOG_2PI - 0.5 * (q - bs)


@kernel(internal=True, fastmath=FASTMATH)
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


@kernel(internal=True, fastmath=FASTMATH)
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


@kernel(internal=True, fastmath=FASTMATH)
def _block_stats(X, sw, rows, i0, i1, kind, means, U, Lam, prec, log_norm, center,
                 N, S1, S2, sums, miss, Y, Ls, Linv, z, t, v, logp, raw):
    """'tied' statistics of incomplete rows ``rows[i0:i1]`` into this block's partials
    ('full', 'diag' and 'spherical' rows take the kernels of
    :mod:`fastgmm._kernels.masked`)."""
    k, d = means.shape
    weighted = sw.shape[0] > 0
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
            else:
                for a in range(d):
                    ya = wr * y[a]
                    for c in range(a + 1):
                        S2[j, a, c] += ya * y[c]
                _add_conditional_cov(S2, j, miss, m, Ls[j], Linv, wr)
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


@kernel(parallel=True, fastmath=FASTMATH)
def marginal_stats(X, sw, rows, kind, means, U, Lam, prec, log_norm, center,
                   part_N, part_S1, part_S2, part_sums):
    """Per-block statistics of the incomplete rows ``rows`` of ``X`` ('full', 'tied').

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


@kernel(parallel=True, fastmath=FASTMATH)
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


@kernel(parallel=True, fastmath=FASTMATH)
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


# ------------------------------------------------- patterns run in groups
@kernel(parallel=True, fastmath=FASTMATH)
def pattern_models(Sigma, observed, missing, out_chol, out_B, out_C):
    """Marginal model of each pattern's observed columns, for every component.

    For pattern ``p`` (columns ``observed[p]`` seen, ``missing[p]`` not) and
    component ``j``: ``out_chol[p, j]`` the upper ``U_o`` with
    ``U_o U_o^T = Sigma_oo^-1``, ``out_B[p, j] = Sigma_mo Sigma_oo^-1`` and
    ``out_C[p, j] = Sigma_mm - Sigma_mo Sigma_oo^-1 Sigma_om`` (the conditional
    covariance). Each pattern writes only its own entries.
    """
    k = Sigma.shape[0]
    P, o = observed.shape
    m = missing.shape[1]
    for p in prange(P):
        L = np.empty((o, o))
        Linv = np.zeros((o, o))
        T = np.empty((m, o))
        for j in range(k):
            for a in range(o):
                for c in range(a + 1):
                    s = Sigma[j, observed[p, a], observed[p, c]]
                    for r in range(c):
                        s -= L[a, r] * L[c, r]
                    L[a, c] = math.sqrt(s) if a == c else s / L[c, c]
            for a in range(o):
                for c in range(a + 1):
                    s = 1.0 if a == c else 0.0
                    for r in range(c, a):
                        s -= L[a, r] * Linv[r, c]
                    Linv[a, c] = s / L[a, a]
            for a in range(o):
                for c in range(o):
                    out_chol[p, j, a, c] = Linv[c, a]  # Linv^T, upper
            # T = Sigma_mo Linv^T, B = T Linv, C = Sigma_mm - T T^T.
            for r in range(m):
                for c in range(o):
                    s = 0.0
                    for a in range(c + 1):
                        s += Sigma[j, missing[p, r], observed[p, a]] * Linv[c, a]
                    T[r, c] = s
            for r in range(m):
                for c in range(o):
                    s = 0.0
                    for a in range(c, o):
                        s += T[r, a] * Linv[a, c]
                    out_B[p, j, r, c] = s
                for q in range(m):
                    s = Sigma[j, missing[p, r], missing[p, q]]
                    for a in range(o):
                        s -= T[r, a] * T[q, a]
                    out_C[p, j, r, q] = s


@kernel(parallel=True, fastmath=FASTMATH)
def complete_pattern_stats(N, S1, S2, observed, missing, B, C, out_S1, out_S2):
    """Add the completed statistics of every pattern, in pattern order, to ``out_*``.

    ``N`` (P, k), ``S1`` (P, k, o) and ``S2`` (P, k, o, o, lower triangles)
    are the statistics of the patterns' observed columns. Completed with
    ``B`` and ``C`` of :func:`pattern_models`: ``S1_m = B S1_o``,
    ``S2_mo = B S2_oo``, ``S2_mm = B S2_oo B^T + N C``. Components run in
    parallel, each over the patterns in order, into ``out_S1`` (k, d) and
    the lower triangle of ``out_S2`` (k, d, d).
    """
    P, k = N.shape
    o = observed.shape[1]
    m = missing.shape[1]
    for j in prange(k):
        S = np.empty((o, o))
        BS = np.empty((m, o))
        for p in range(P):
            n = N[p, j]
            for a in range(o):
                out_S1[j, observed[p, a]] += S1[p, j, a]
            for r in range(m):
                s = 0.0
                for a in range(o):
                    s += B[p, j, r, a] * S1[p, j, a]
                out_S1[j, missing[p, r]] += s
            for a in range(o):
                for c in range(a + 1):
                    S[a, c] = S2[p, j, a, c]
                    S[c, a] = S2[p, j, a, c]
            for a in range(o):
                for c in range(a + 1):
                    out_S2[j, observed[p, a], observed[p, c]] += S[a, c]
            for r in range(m):
                for c in range(o):
                    s = 0.0
                    for a in range(o):
                        s += B[p, j, r, a] * S[a, c]
                    BS[r, c] = s
                    row, col = missing[p, r], observed[p, c]
                    if row > col:
                        out_S2[j, row, col] += s
                    else:
                        out_S2[j, col, row] += s
            for r in range(m):
                for q in range(r + 1):
                    s = n * C[p, j, r, q]
                    for a in range(o):
                        s += BS[r, a] * B[p, j, q, a]
                    row, col = missing[p, r], missing[p, q]
                    if row > col:
                        out_S2[j, row, col] += s
                    else:
                        out_S2[j, col, row] += s


@kernel(parallel=True)
def gather_observed(X, rows, offsets, observed, out):
    """``out[i] = X[rows[i], observed[p]]`` for the rows ``offsets[p] .. offsets[p + 1]``
    of each pattern ``p`` (each pattern writes its own rows of ``out``)."""
    o = observed.shape[1]
    for p in prange(observed.shape[0]):
        for i in range(offsets[p], offsets[p + 1]):
            row = rows[i]
            for a in range(o):
                out[i, a] = X[row, observed[p, a]]
