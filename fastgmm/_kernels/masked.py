"""Kernels of whole rounds of rows with missing entries, rows in place ('full', 'diag').

The statistics are those of :mod:`fastgmm._kernels.missing` (marginal
E-step, completed deviations, conditional covariances; the precision form is
explained there); these kernels compute them for a contiguous array of rows
without a list of row numbers. A round of rows is cut into chunks of
``CHUNK_ROWS`` consecutive rows (one partial result each, as in the
complete-data pass) and every block of ``BLOCK_ROWS`` rows is split where it
is loaded: its complete rows go, transposed, through the complete-data block
code (distances, log-sum-exp, moments), its incomplete rows through the same
vectorised code on their deviations with the missing entries zeroed, plus a
few scalars per row and component for what the missing entries change. No
copy of the round, no list of rows: X is read once, in order. Block
arithmetic is in X's dtype (float32 data: float32 lanes, as the
complete-data code), statistics in float64.
"""

import math

import numpy as np
from numba import prange

from .chunk import (_estep_buffers, _full_moments, _lognorm_buffers, _mass, _queue_rows,
                    _queue_shape, _sum_queue, flush_threshold)
from .compile import kernel
from .density import _block_log_norm, _log_density_row, _mahalanobis_upper
from .layout import BLOCK_ROWS, CHUNK_ROWS, FASTMATH, block_bounds, padded_width
from .missing import LOG_2PI
from .vecmath import _subtract

# Runs of at least this many rows of one pattern take their products along
# the rows (on views); shorter ones row by row (a view costs more than a row).
_LONG_RUN = 8


@kernel(internal=True, fastmath=FASTMATH)
def _split_block(X, sw, r0, nb, xc, wc, xm, mk, wm, nmiss, miss):
    """Load rows ``r0 .. r0 + nb``: complete ones into the columns of ``xc`` (weights
    ``wc``), incomplete ones into ``xm`` with NaN entries as 0, ``mk`` 1 where
    observed, ``nmiss``/``miss`` their missing columns (ascending). Rows with
    every entry missing are left out (weight zero). Returns the two counts."""
    d = X.shape[1]
    weighted = sw.shape[0] > 0
    nc = 0
    nm = 0
    for i in range(nb):
        row = r0 + i
        m = 0
        for a in range(d):
            v = X[row, a]
            m += 1 if v != v else 0
        w = sw[row] if weighted else 1.0
        if m == 0:
            for a in range(d):
                xc[a, nc] = X[row, a]
            wc[nc] = w
            nc += 1
        elif m < d:
            p = 0
            for a in range(d):
                v = X[row, a]
                if v != v:
                    xm[a, nm] = 0.0
                    mk[a, nm] = 0.0
                    miss[nm, p] = a
                    p += 1
                else:
                    xm[a, nm] = v
                    mk[a, nm] = 1.0
            nmiss[nm] = m
            wm[nm] = w
            nm += 1
    return nc, nm


@kernel(internal=True, fastmath=FASTMATH)
def _responsibilities(logp, nb, w, top, total, lnorm, scratch, flush, resp):
    """``resp[j, i] = w_i r_ij`` from the log-densities of ``nb`` points (``logp`` is
    overwritten); returns the points' ``(sum w log p, sum w)``."""
    no_ent = top[:0]
    _block_log_norm(logp, nb, top, total, lnorm, scratch, flush, no_ent, no_ent)
    ll = 0.0
    wsum = 0.0
    for i in range(nb):
        ll += w[i] * lnorm[i]
        wsum += w[i]
        total[i] = w[i] / total[i]
    for j in range(logp.shape[0]):
        for i in range(nb):
            resp[j, i] = logp[j, i] * total[i]
    return ll, wsum


@kernel(internal=True, fastmath=FASTMATH)
def _inverse_mm(Lam, j, miss, i, m, L, inv_piv, Cinv):
    """``Cinv = Lambda_j,mm^-1`` for the missing columns ``miss[i, :m]``; returns
    ``0.5 log |Lambda_j,mm|``.

    Through ``Lambda_mm = L D L^T`` (``L`` unit lower into ``L``, ``1 / D``
    into ``inv_piv``): no square root and one logarithm, which is most of
    the cost of a small factorisation.
    """
    det = 1.0
    for p in range(m):
        for r in range(p + 1):
            s = Lam[j, miss[i, p], miss[i, r]]
            for c in range(r):
                s -= L[p, c] * L[r, c] / inv_piv[c]
            if r == p:
                det *= s
                inv_piv[p] = 1.0 / s
            else:
                L[p, r] = s * inv_piv[r]
    if 0.0 < det < np.inf:
        log_det = 0.5 * math.log(det)
    else:  # the product over- or underflowed: one logarithm per pivot
        log_det = 0.0
        for p in range(m):
            log_det -= 0.5 * math.log(inv_piv[p])
    # M = L^-1 (unit lower): M[p, c] into Cinv[c, p] (the strict upper triangle).
    for p in range(m):
        for c in range(p):
            s = L[p, c]
            for r in range(c + 1, p):
                s += L[p, r] * Cinv[c, r]
            Cinv[c, p] = -s
    # Lambda_mm^-1 = M^T D^-1 M: entry (p, c <= p) is
    # sum_{r >= p} M[r, p] D_r^-1 M[r, c], into the lower triangle.
    for p in range(m):
        for c in range(p + 1):
            s = inv_piv[p] * (1.0 if c == p else Cinv[c, p])
            for r in range(p + 1, m):
                s += Cinv[p, r] * inv_piv[r] * Cinv[c, r]
            Cinv[p, c] = s
    for p in range(m):
        for c in range(p):
            Cinv[c, p] = Cinv[p, c]
    return log_det


@kernel(internal=True, fastmath=FASTMATH)
def _pattern_inverse(Lam, j, miss, i, m, half_log_lam, inv_lam, log_det2, inv_det2, L,
                     inv_piv, Cinv, key, key_log_det):
    """``Cinv[:m, :m] = Lambda_j,mm^-1`` for the missing columns ``miss[i, :m]``; returns
    ``0.5 log |Lambda_j,mm|``.

    One or two missing entries in closed form (``half_log_lam``, ``inv_lam``:
    ``0.5 log`` and ``1 /`` the diagonal; ``log_det2``, ``inv_det2`` the same of
    the 2 x 2 determinants), more through :func:`_inverse_mm`, skipped when
    ``key`` shows that ``Cinv`` already holds this component and pattern
    (``key_log_det[0]`` its log-determinant).
    """
    if m <= 2:
        key[0] = -1  # Cinv is overwritten
        a0 = miss[i, 0]
        if m == 1:
            Cinv[0, 0] = inv_lam[j, a0]
            return half_log_lam[j, a0]
        a1 = miss[i, 1]
        f = inv_det2[j, a1, a0]
        Cinv[0, 0] = Lam[j, a1, a1] * f
        Cinv[1, 1] = Lam[j, a0, a0] * f
        Cinv[1, 0] = -Lam[j, a1, a0] * f
        Cinv[0, 1] = Cinv[1, 0]
        return log_det2[j, a1, a0]
    same = key[0] == j and key[1] == m
    if same:
        for p in range(m):
            if key[2 + p] != miss[i, p]:
                same = False
    if not same:
        key_log_det[0] = _inverse_mm(Lam, j, miss, i, m, L, inv_piv, Cinv)
        key[0] = j
        key[1] = m
        for p in range(m):
            key[2 + p] = miss[i, p]
    return key_log_det[0]


@kernel(internal=True, fastmath=FASTMATH)
def _run_products(Lam, j, miss, s, e, m, diff, bvec):
    """``bvec[p, i] = (Lambda_j,mo y_o)_p`` for the rows ``s .. e`` of one pattern
    (``miss[s, :m]`` missing; ``diff`` their deviations, 0 where missing),
    vectorised along the rows (on views that start at 0, so that the loops
    index without a sign test)."""
    d = bvec.shape[0]
    n = e - s
    for p in range(m):
        row = miss[s, p]
        bp = bvec[p, s:e]
        for i in range(n):
            bp[i] = 0.0
        for c in range(0, d - 3, 4):
            l0, l1 = Lam[j, row, c], Lam[j, row, c + 1]
            l2, l3 = Lam[j, row, c + 2], Lam[j, row, c + 3]
            d0, d1 = diff[c, s:e], diff[c + 1, s:e]
            d2, d3 = diff[c + 2, s:e], diff[c + 3, s:e]
            for i in range(n):
                bp[i] += l0 * d0[i] + l1 * d1[i] + l2 * d2[i] + l3 * d3[i]
        for c in range(d - d % 4, d):
            lc = Lam[j, row, c]
            dc = diff[c, s:e]
            for i in range(n):
                bp[i] += lc * dc[i]


@kernel(internal=True, fastmath=FASTMATH)
def _run_log_prob(bvec, Cinv, m, s, e, const, maha, out, bt):
    """``out[i] = const + 0.5 (b_i^T Cinv b_i - maha[i])`` for the rows ``s .. e`` of
    one pattern (``b_i`` the columns of ``bvec``), along the rows."""
    n = e - s
    btv = bt[s:e]
    for i in range(n):
        btv[i] = 0.0
    for p in range(m):
        bp = bvec[p, s:e]
        for c in range(m):
            cpc = Cinv[p, c]
            bc = bvec[c, s:e]
            for i in range(n):
                btv[i] += bp[i] * cpc * bc[i]
    mv = maha[s:e]
    ov = out[s:e]
    for i in range(n):
        ov[i] = const + 0.5 * (btv[i] - mv[i])


@kernel(internal=True, fastmath=FASTMATH)
def _run_complete(bvec, Cinv, m, row_of, s, e, xh):
    """``xh[row_of[p], i] -= (Cinv b_i)_p`` for the rows ``s .. e`` of one pattern:
    the completed rows' missing entries ``mu_m - Lambda_mm^-1 b``."""
    n = e - s
    for p in range(m):
        xv = xh[row_of[p], s:e]
        for c in range(m):
            cpc = Cinv[p, c]
            bc = bvec[c, s:e]
            for i in range(n):
                xv[i] -= cpc * bc[i]


@kernel(internal=True, fastmath=FASTMATH)
def _add_run_cov(S2, j, miss, s, m, Cinv, mass):
    """``S2[j]`` += ``mass`` times the conditional covariance ``Cinv`` of the pattern of
    row ``s`` (its missing columns ascending: the lower triangle)."""
    for p in range(m):
        for c in range(p + 1):
            S2[j, miss[s, p], miss[s, c]] += mass * Cinv[p, c]


@kernel(internal=True, fastmath=FASTMATH)
def _flush_queue(queue, q, d, mean, diff, wdiff, S1_j, S2_j):
    """Add queue slot ``q``'s points to one component's sums and empty it (a call:
    Numba's inlining of the complete-data helper here clobbered the caller's
    variables)."""
    _sum_queue(queue, q, d, mean, diff, wdiff, S1_j, S2_j)


@kernel(internal=True, fastmath=FASTMATH)
def _scatter_component(x, r, nb, d, j, means, queue, diff, wdiff, S1, S2):
    """Component ``j``'s first and second moments of the block's points ``x`` with
    shares ``r``: queued when few are non-zero, summed in place otherwise (as
    the complete-data code's ``_block_stats_full``)."""
    rows, queue_x, queue_r, queued = queue
    shared = queue_x.shape[0] < means.shape[0]
    q = 0 if shared else j
    if queued[q] + nb // 2 > queue_r.shape[1]:
        _sum_queue(queue, q, d, means[j], diff, wdiff, S1[j], S2[j])
    m = _queue_rows(x, r, nb, d, rows, queue_x[q], queue_r[q], queued[q])
    if m < 0:
        _full_moments(x, nb, d, r, means[j], diff, wdiff, S1[j], S2[j])
    else:
        queued[q] = m
    if shared and queued[q] > 0:
        _sum_queue(queue, q, d, means[j], diff, wdiff, S1[j], S2[j])


@kernel(internal=True, fastmath=FASTMATH)
def _masked_full_chunk(X, sw, c0, c1, means, chol, log_norm, Lam, half_log_lam, inv_lam,
                       log_det2, inv_det2, out_N, out_S1, out_S2):
    """'full' statistics of rows ``[c0, c1)`` (complete and incomplete) into this chunk's
    outputs; returns ``(loglik, weight)``.

    An incomplete row's deviation ``y`` (missing entries 0) gives
    ``y^T Lambda y`` through the complete-data distance code; with
    ``b = Lambda_mo y_o`` its observed-data form is
    ``y^T Lambda y - b^T Lambda_mm^-1 b``,
    ``log |Sigma_oo| = log |Sigma| + log |Lambda_mm|``, the completed row
    is ``y_m = -Lambda_mm^-1 b`` and its conditional covariance
    ``Lambda_mm^-1`` (:func:`_pattern_inverse`). The incomplete rows of a
    block are taken in runs of one pattern: ``Lambda_mm^-1`` once per run
    and component, ``b`` along the run's rows (vectorised), the
    conditional covariance once per run with the run's total share.
    Completed rows join the complete ones in each component's queue.
    """
    d = X.shape[1]
    d4 = padded_width(d)
    k = means.shape[0]
    dt = X.dtype
    xc, diff, proj, quad, maha, logp, top, total, lnorm, scratch = _estep_buffers(d4, k, dt)
    xm = np.zeros((d4, BLOCK_ROWS), dt)
    mk = np.zeros((d4, BLOCK_ROWS), dt)
    xh = np.zeros((d4, BLOCK_ROWS), dt)
    wdiff = np.zeros((d4, BLOCK_ROWS), dt)
    resp = np.empty((k, BLOCK_ROWS), dt)
    wc = np.empty(BLOCK_ROWS, dt)
    wm = np.empty(BLOCK_ROWS, dt)
    nmiss = np.empty(BLOCK_ROWS, np.int64)
    miss = np.empty((BLOCK_ROWS, d), np.int64)
    runs = np.empty(BLOCK_ROWS + 1, np.int64)
    on = np.empty(BLOCK_ROWS, np.int64)
    run_of = np.empty(BLOCK_ROWS, np.int64)
    y = np.empty(d)
    bvec = np.empty((d, BLOCK_ROWS))
    bt = np.empty(BLOCK_ROWS)
    L = np.empty((d, d))
    inv_piv = np.empty(d)
    Cinv = np.empty((d, d))
    # The pattern (component, count, columns) whose inverse Cinv holds.
    key = np.full(d + 2, -1, np.int64)
    key_log_det = np.zeros(1)
    slots, length = _queue_shape(k, d4, X.itemsize)
    queue = (np.empty(BLOCK_ROWS, np.int64), np.empty((slots, d4, length), dt),
             np.empty((slots, length), dt), np.zeros(slots, np.int64))
    _, queue_x, queue_r, queued = queue
    shared = queue_x.shape[0] < k
    capacity = queue_r.shape[1]
    flush = flush_threshold(X)
    S1 = np.zeros((k, d4))
    S2 = np.zeros((k, d4, d4))
    one = dt.type(1)
    out_N[:] = 0.0
    ll = 0.0
    wsum = 0.0
    for r0 in range(c0, c1, BLOCK_ROWS):
        nc, nm = _split_block(X, sw, r0, min(BLOCK_ROWS, c1 - r0), xc, wc, xm, mk, wm,
                              nmiss, miss)
        if nc > 0:  # the complete-data block code
            for j in range(k):
                _subtract(xc, nc, d, means[j], diff)
                _mahalanobis_upper(diff, nc, d, chol[j], quad, maha)
                _log_density_row(log_norm[j], maha, nc, logp[j])
            s_ll, s_w = _responsibilities(logp, nc, wc, top, total, lnorm, scratch, flush,
                                          resp)
            ll += s_ll
            wsum += s_w
            for j in range(k):
                s = _mass(resp[j], nc)
                out_N[j] += s
                if s != 0.0:
                    _scatter_component(xc, resp[j], nc, d, j, means, queue, diff, wdiff, S1,
                                       S2)
        if nm == 0:
            continue
        # Runs of consecutive rows with one pattern (a copy of the rows of
        # rarer patterns comes pattern after pattern): their products and
        # their pattern's inverse are taken once per run and component.
        n_runs = 0
        runs[0] = 0
        for i in range(1, nm):
            same = nmiss[i] == nmiss[i - 1]
            if same:
                for p in range(nmiss[i]):
                    if miss[i, p] != miss[i - 1, p]:
                        same = False
            if not same:
                n_runs += 1
                runs[n_runs] = i
            run_of[i] = n_runs
        run_of[0] = 0
        n_runs += 1
        runs[n_runs] = nm
        for j in range(k):  # E-step
            mu = means[j]
            for a in range(d):
                m_a = mu[a]
                for i in range(nm):
                    diff[a, i] = (xm[a, i] - m_a) * mk[a, i]
            _mahalanobis_upper(diff, nm, d, chol[j], quad, maha)
            for q in range(n_runs):
                s0, s1 = runs[q], runs[q + 1]
                m = nmiss[s0]
                log_det = _pattern_inverse(Lam, j, miss, s0, m, half_log_lam, inv_lam,
                                           log_det2, inv_det2, L, inv_piv, Cinv, key,
                                           key_log_det)
                const = log_norm[j] + 0.5 * m * LOG_2PI - log_det
                if s1 - s0 >= _LONG_RUN:
                    _run_products(Lam, j, miss, s0, s1, m, diff, bvec)
                    _run_log_prob(bvec, Cinv, m, s0, s1, const, maha, logp[j], bt)
                    continue
                for i in range(s0, s1):  # a short run: row by row, no views
                    for p in range(m):
                        row = miss[s0, p]
                        acc = 0.0
                        for c in range(d):
                            acc += Lam[j, row, c] * diff[c, i]
                        y[p] = acc
                    acc = 0.0
                    for p in range(m):
                        for c in range(m):
                            acc += y[p] * Cinv[p, c] * y[c]
                    logp[j, i] = const + 0.5 * (acc - maha[i])
        s_ll, s_w = _responsibilities(logp, nm, wm, top, total, lnorm, scratch, flush, resp)
        ll += s_ll
        wsum += s_w
        for j in range(k):  # completed rows, conditional covariances
            r = resp[j]
            s = _mass(r, nm)
            out_N[j] += s
            if s == 0.0:
                continue
            mu = means[j]
            n_on = 0
            for i in range(nm):  # the rows with a share, branch-free
                on[n_on] = i
                n_on += 1 if r[i] != 0.0 else 0
            q = 0 if shared else j
            if 2 * n_on <= capacity:
                # Few shares (separated components): each such row completed
                # straight into the component's queue.
                if queued[q] + n_on > capacity:
                    _flush_queue(queue, q, d, mu, diff, wdiff, S1[j], S2[j])
                qx = queue_x[q]
                start = queued[q]
                for a in range(d):  # observed entries as they are, missing ones at mu_j
                    m_a = mu[a]
                    for c0_ in range(n_on):
                        i = on[c0_]
                        qx[a, start + c0_] = xm[a, i] + (one - mk[a, i]) * m_a
                last = -1  # the run whose inverse Cinv holds
                mass = 0.0  # the shares of that run's rows so far
                for c0_ in range(n_on):
                    i = on[c0_]
                    col = start + c0_
                    queue_r[q, col] = r[i]
                    if run_of[i] != last:
                        if last >= 0:  # the previous run's conditional covariance
                            _add_run_cov(S2, j, miss, runs[last], nmiss[runs[last]], Cinv,
                                         mass)
                        last = run_of[i]
                        mass = 0.0
                        _pattern_inverse(Lam, j, miss, i, nmiss[i], half_log_lam, inv_lam,
                                         log_det2, inv_det2, L, inv_piv, Cinv, key,
                                         key_log_det)
                    mass += np.float64(r[i])
                    m = nmiss[i]
                    for c in range(d):  # y: x - mu_j observed, 0 missing
                        y[c] = np.float64(qx[c, col]) - mu[c]
                    for p in range(m):
                        row = miss[i, p]
                        acc = 0.0
                        for c in range(d):
                            acc += Lam[j, row, c] * y[c]
                        bt[p] = acc
                    for p in range(m):
                        acc = 0.0
                        for c in range(m):
                            acc += Cinv[p, c] * bt[c]
                        qx[miss[i, p], col] -= acc
                if last >= 0:
                    _add_run_cov(S2, j, miss, runs[last], nmiss[runs[last]], Cinv, mass)
                queued[q] = start + n_on
                if shared:
                    _flush_queue(queue, q, d, mu, diff, wdiff, S1[j], S2[j])
                continue
            # Many shares: every row completed, a run of one pattern at a time.
            for a in range(d):
                m_a = mu[a]
                for i in range(nm):
                    diff[a, i] = (xm[a, i] - m_a) * mk[a, i]
                    xh[a, i] = xm[a, i] + (one - mk[a, i]) * m_a
            for q_ in range(n_runs):
                s0, s1 = runs[q_], runs[q_ + 1]
                mass = 0.0
                rv = r[s0:s1]
                for i in range(s1 - s0):
                    mass += rv[i]
                if mass == 0.0:
                    continue
                m = nmiss[s0]
                _pattern_inverse(Lam, j, miss, s0, m, half_log_lam, inv_lam, log_det2,
                                 inv_det2, L, inv_piv, Cinv, key, key_log_det)
                _run_products(Lam, j, miss, s0, s1, m, diff, bvec)
                _run_complete(bvec, Cinv, m, miss[s0], s0, s1, xh)
                _add_run_cov(S2, j, miss, s0, m, Cinv, mass)
            _scatter_component(xh, r, nm, d, j, means, queue, diff, wdiff, S1, S2)
    for q in range(queued.shape[0]):
        if queued[q] > 0:
            _flush_queue(queue, q, d, means[q], diff, wdiff, S1[q], S2[q])
    for j in range(k):
        for a in range(d):
            out_S1[j, a] = S1[j, a]
            for c in range(d):
                out_S2[j, a, c] = S2[j, a, c]
    return ll, wsum


@kernel(parallel=True, fastmath=FASTMATH)
def masked_full_stats(X, sw, means, chol, log_norm, Lam, half_log_lam, inv_lam, log_det2,
                      inv_det2, part_N, part_S1, part_S2, part_sums):
    """'full' statistics of every row of a round (complete or not), one partial per chunk.

    ``means`` and ``chol`` are the complete-data pass's padded arrays (X's
    dtype); ``Lam`` (k, d, d) the precisions ``chol chol^T``, ``half_log_lam``
    and ``inv_lam`` (k, d) ``0.5 log`` and ``1 /`` their diagonals,
    ``log_det2`` and ``inv_det2`` (k, d, d) the same of the determinants of
    their 2 x 2 blocks (lower triangles), all in float64.
    The caller adds the ``part_*`` in chunk order.
    """
    n = X.shape[0]
    for c in prange(part_N.shape[0]):
        c0, c1 = block_bounds(c, n, CHUNK_ROWS)
        ll, wsum = _masked_full_chunk(X, sw, c0, c1, means, chol, log_norm, Lam, half_log_lam,
                                      inv_lam, log_det2, inv_det2, part_N[c], part_S1[c],
                                      part_S2[c])
        part_sums[c, 0] = ll
        part_sums[c, 1] = wsum


@kernel(internal=True, fastmath=FASTMATH)
def _load_masked(X, sw, r0, nb, xm, mk, w, holes):
    """``xm[a, i] = X[r0 + i, a]`` with NaN as 0, ``mk[a, i]`` 1 where observed and 0
    where NaN, ``w[i]`` the row's weight (0 for a row with every entry NaN),
    ``holes[a]`` the number of NaN in column ``a``; branch-free along a row."""
    d = X.shape[1]
    weighted = sw.shape[0] > 0
    zero = xm.dtype.type(0)
    one = xm.dtype.type(1)
    for i in range(nb):
        row = r0 + i
        seen = zero
        for a in range(d):
            v = X[row, a]
            nan = v != v
            xm[a, i] = zero if nan else v
            o = zero if nan else one
            mk[a, i] = o
            seen += o
        wi = sw[row] if weighted else one
        w[i] = wi if seen > zero else zero
    for a in range(d):  # along the rows, after the load (a count there costs more)
        seen = zero
        for i in range(nb):
            seen += mk[a, i]
        holes[a] = nb - int(seen)


@kernel(internal=True, fastmath=FASTMATH)
def _masked_diag_chunk(X, sw, c0, c1, means, prec, log_norm, half_log_prec, out_N, out_S1,
                       out_S2):
    """'diag' / 'spherical' statistics of rows ``[c0, c1)``; returns ``(loglik, weight)``.

    Every row takes the masked arithmetic (complete rows too: it costs them
    a few operations more per entry, less than sorting the rows out). A
    missing entry counts as ``x = mu`` in the distance (``y = x - mk mu``
    with ``x = 0`` there), gives back its ``h_a = 0.5 log prec_a - 0.5 log
    2 pi`` of the normalisation, and adds the component's variance to
    ``S2`` (its conditional variance).
    """
    d = X.shape[1]
    d4 = padded_width(d)
    k = means.shape[0]
    dt = X.dtype
    xm = np.zeros((d4, BLOCK_ROWS), dt)
    mk = np.zeros((d4, BLOCK_ROWS), dt)
    maha, logp, top, total, lnorm, scratch = _lognorm_buffers(k, dt)
    resp = np.empty((k, BLOCK_ROWS), dt)
    wm = np.empty(BLOCK_ROWS, dt)
    flush = flush_threshold(X)
    S1 = np.zeros((k, d4))
    S2 = np.zeros((k, d4, 1))
    holes = np.zeros(d4, np.int64)  # padded features: never NaN
    # 2 h_a in X's dtype, and log_norm_j - sum_a h_a: a row's log-density is
    # that constant - 0.5 sum_a (prec_a y_a^2 - 2 h_a mk_a).
    h2 = np.zeros((k, d4), dt)
    base = np.empty(k)
    for j in range(k):
        h_all = 0.0
        for a in range(d):
            h2[j, a] = 2.0 * half_log_prec[j, a]
            h_all += half_log_prec[j, a]
        base[j] = log_norm[j] - h_all
    zero = dt.type(0)
    out_N[:] = 0.0
    ll = 0.0
    wsum = 0.0
    for r0 in range(c0, c1, BLOCK_ROWS):
        nm = min(BLOCK_ROWS, c1 - r0)
        _load_masked(X, sw, r0, nm, xm, mk, wm, holes)
        for j in range(k):
            for i in range(nm):
                maha[i] = zero
            for a in range(0, d4, 4):
                if holes[a] + holes[a + 1] + holes[a + 2] + holes[a + 3] == 0:
                    # No NaN in these 4 columns of the block: the complete-data
                    # arithmetic, and every h_a is given back (in base_obs).
                    m0, m1 = means[j, a], means[j, a + 1]
                    m2, m3 = means[j, a + 2], means[j, a + 3]
                    q0, q1 = prec[j, a], prec[j, a + 1]
                    q2, q3 = prec[j, a + 2], prec[j, a + 3]
                    hs = h2[j, a] + h2[j, a + 1] + h2[j, a + 2] + h2[j, a + 3]
                    for i in range(nm):
                        t0 = xm[a, i] - m0
                        t1 = xm[a + 1, i] - m1
                        t2 = xm[a + 2, i] - m2
                        t3 = xm[a + 3, i] - m3
                        maha[i] += (q0 * t0 * t0 + q1 * t1 * t1 + q2 * t2 * t2
                                    + q3 * t3 * t3 - hs)
                    continue
                m0, m1, m2, m3 = means[j, a], means[j, a + 1], means[j, a + 2], means[j, a + 3]
                q0, q1, q2, q3 = prec[j, a], prec[j, a + 1], prec[j, a + 2], prec[j, a + 3]
                h0, h1, h2_, h3 = h2[j, a], h2[j, a + 1], h2[j, a + 2], h2[j, a + 3]
                for i in range(nm):
                    o0, o1, o2, o3 = mk[a, i], mk[a + 1, i], mk[a + 2, i], mk[a + 3, i]
                    t0 = xm[a, i] - o0 * m0
                    t1 = xm[a + 1, i] - o1 * m1
                    t2 = xm[a + 2, i] - o2 * m2
                    t3 = xm[a + 3, i] - o3 * m3
                    maha[i] += (q0 * t0 * t0 + q1 * t1 * t1 + q2 * t2 * t2 + q3 * t3 * t3
                                - (h0 * o0 + h1 * o1 + h2_ * o2 + h3 * o3))
            _log_density_row(base[j], maha, nm, logp[j])
        s_ll, s_w = _responsibilities(logp, nm, wm, top, total, lnorm, scratch, flush, resp)
        ll += s_ll
        wsum += s_w
        for j in range(k):
            r = resp[j]
            s = _mass(r, nm)
            out_N[j] += s
            if s == 0.0:
                continue
            for a in range(d):
                m_a = means[j, a]
                t1 = zero
                t2 = zero
                if holes[a] == 0:  # no NaN in this column of the block
                    for i in range(nm):
                        dev = xm[a, i] - m_a
                        v = r[i] * dev
                        t1 += v
                        t2 += v * dev
                    S1[j, a] += t1
                    S2[j, a, 0] += t2
                    continue
                tm = zero
                for i in range(nm):
                    o = mk[a, i]
                    dev = xm[a, i] - o * m_a
                    v = r[i] * dev
                    t1 += v
                    t2 += v * dev
                    tm += r[i] * o
                S1[j, a] += t1
                # Rows missing entry a: its variance (their shares, s - tm).
                S2[j, a, 0] += t2 + (s - tm) / prec[j, a]
    for j in range(k):
        for a in range(d):
            out_S1[j, a] = S1[j, a]
            out_S2[j, a, 0] = S2[j, a, 0]
    return ll, wsum


@kernel(parallel=True, fastmath=FASTMATH)
def masked_diag_stats(X, sw, means, prec, log_norm, half_log_prec, part_N, part_S1, part_S2,
                      part_sums):
    """:func:`masked_full_stats` for 'diag' and 'spherical' (``prec`` (k, d) padded, in
    X's dtype; ``half_log_prec`` (k, d4) float64, zero on padded features)."""
    n = X.shape[0]
    for c in prange(part_N.shape[0]):
        c0, c1 = block_bounds(c, n, CHUNK_ROWS)
        ll, wsum = _masked_diag_chunk(X, sw, c0, c1, means, prec, log_norm, half_log_prec,
                                      part_N[c], part_S1[c], part_S2[c])
        part_sums[c, 0] = ll
        part_sums[c, 1] = wsum
