"""Log-densities of a block of points under every component, and their log-sum-exp.

:func:`_block_log_prob` gives ``log phi_j + log N(x_i | mu_j, Sigma_j)`` for
the points of one block (features x points, padded to a multiple of 4)
and every component, through the kind's Mahalanobis distance:
triangular products unrolled four features at a time for the full and
tied kinds, registers only for up to ``FEW_FEATURES`` features, a
weighted sum of squares for diag and spherical. :func:`_block_log_norm`
turns them into each point's ``log p(x_i)`` and the unnormalised shares
``exp(logp - max)``. Called from kernels only.
"""

from numba.extending import overload

from .compile import ERROR_MODEL, kernel
from .layout import FASTMATH, for_kind
from .vecmath import _exp_shifted_inplace, _log_inplace, _subtract


@kernel(internal=True, fastmath=FASTMATH)
def _upper_quad(diff, nb, U, a, out):
    """Columns ``a .. a+3`` of ``diff^T U`` into ``out[0..3]`` (U upper-triangular, padded).

    Four output columns share every load of ``diff``; the contraction runs
    four features at a time, the 4 x 4 tiles above the diagonal in full and
    the diagonal tile over its 10 non-zero entries only (16 multiply-adds
    would spend 6 on zeros: a quarter of the work at d = 8).
    """
    o0, o1, o2, o3 = out[0], out[1], out[2], out[3]
    for b in range(0, a, 4):
        u00, u10, u20, u30 = U[b, a], U[b + 1, a], U[b + 2, a], U[b + 3, a]
        u01, u11, u21, u31 = U[b, a + 1], U[b + 1, a + 1], U[b + 2, a + 1], U[b + 3, a + 1]
        u02, u12, u22, u32 = U[b, a + 2], U[b + 1, a + 2], U[b + 2, a + 2], U[b + 3, a + 2]
        u03, u13, u23, u33 = U[b, a + 3], U[b + 1, a + 3], U[b + 2, a + 3], U[b + 3, a + 3]
        if b == 0:
            for i in range(nb):
                x0, x1, x2, x3 = diff[0, i], diff[1, i], diff[2, i], diff[3, i]
                o0[i] = x0 * u00 + x1 * u10 + x2 * u20 + x3 * u30
                o1[i] = x0 * u01 + x1 * u11 + x2 * u21 + x3 * u31
                o2[i] = x0 * u02 + x1 * u12 + x2 * u22 + x3 * u32
                o3[i] = x0 * u03 + x1 * u13 + x2 * u23 + x3 * u33
        else:
            for i in range(nb):
                x0, x1, x2, x3 = diff[b, i], diff[b + 1, i], diff[b + 2, i], diff[b + 3, i]
                o0[i] += x0 * u00 + x1 * u10 + x2 * u20 + x3 * u30
                o1[i] += x0 * u01 + x1 * u11 + x2 * u21 + x3 * u31
                o2[i] += x0 * u02 + x1 * u12 + x2 * u22 + x3 * u32
                o3[i] += x0 * u03 + x1 * u13 + x2 * u23 + x3 * u33
    u00 = U[a, a]
    u01, u11 = U[a, a + 1], U[a + 1, a + 1]
    u02, u12, u22 = U[a, a + 2], U[a + 1, a + 2], U[a + 2, a + 2]
    u03, u13, u23, u33 = U[a, a + 3], U[a + 1, a + 3], U[a + 2, a + 3], U[a + 3, a + 3]
    if a == 0:
        for i in range(nb):
            x0, x1, x2, x3 = diff[0, i], diff[1, i], diff[2, i], diff[3, i]
            o0[i] = x0 * u00
            o1[i] = x0 * u01 + x1 * u11
            o2[i] = x0 * u02 + x1 * u12 + x2 * u22
            o3[i] = x0 * u03 + x1 * u13 + x2 * u23 + x3 * u33
    else:
        for i in range(nb):
            x0, x1, x2, x3 = diff[a, i], diff[a + 1, i], diff[a + 2, i], diff[a + 3, i]
            o0[i] += x0 * u00
            o1[i] += x0 * u01 + x1 * u11
            o2[i] += x0 * u02 + x1 * u12 + x2 * u22
            o3[i] += x0 * u03 + x1 * u13 + x2 * u23 + x3 * u33


@kernel(internal=True, fastmath=FASTMATH)
def _mahalanobis_upper(diff, nb, d, U, quad, maha):
    """``maha[i] = |diff[:, i]^T U|^2`` (full covariance, more than ``FEW_FEATURES``)."""
    for i in range(nb):
        maha[i] = 0.0
    for a in range(0, d, 4):
        _upper_quad(diff, nb, U, a, quad)
        for i in range(nb):
            maha[i] += (quad[0, i] * quad[0, i] + quad[1, i] * quad[1, i]
                        + quad[2, i] * quad[2, i] + quad[3, i] * quad[3, i])


@kernel(internal=True, fastmath=FASTMATH)
def _mahalanobis_2(xt, nb, mean, U, maha):
    """``maha[i] = |(x_i - mean)^T U|^2`` for 1 or 2 features (padded to 4).

    With few features a point's whole product fits in registers: nothing
    is stored between the subtraction and the sum of squares, where the
    tiles of :func:`_upper_quad` store and reload theirs (half the time
    at d = 4 and d = 8).
    """
    m0, m1 = mean[0], mean[1]
    u00, u01, u11 = U[0, 0], U[0, 1], U[1, 1]
    for i in range(nb):
        x0, x1 = xt[0, i] - m0, xt[1, i] - m1
        o0 = x0 * u00
        o1 = x0 * u01 + x1 * u11
        maha[i] = o0 * o0 + o1 * o1


@kernel(internal=True, fastmath=FASTMATH)
def _mahalanobis_4(xt, nb, mean, U, maha):
    """:func:`_mahalanobis_2` for 3 or 4 features."""
    m0, m1, m2, m3 = mean[0], mean[1], mean[2], mean[3]
    u00 = U[0, 0]
    u01, u11 = U[0, 1], U[1, 1]
    u02, u12, u22 = U[0, 2], U[1, 2], U[2, 2]
    u03, u13, u23, u33 = U[0, 3], U[1, 3], U[2, 3], U[3, 3]
    for i in range(nb):
        x0, x1, x2, x3 = xt[0, i] - m0, xt[1, i] - m1, xt[2, i] - m2, xt[3, i] - m3
        o0 = x0 * u00
        o1 = x0 * u01 + x1 * u11
        o2 = x0 * u02 + x1 * u12 + x2 * u22
        o3 = x0 * u03 + x1 * u13 + x2 * u23 + x3 * u33
        maha[i] = o0 * o0 + o1 * o1 + o2 * o2 + o3 * o3


@kernel(internal=True, fastmath=FASTMATH)
def _mahalanobis_8(xt, nb, mean, U, maha):
    """:func:`_mahalanobis_4` for 5 to 8 features (padded to 8)."""
    m0, m1, m2, m3 = mean[0], mean[1], mean[2], mean[3]
    m4, m5, m6, m7 = mean[4], mean[5], mean[6], mean[7]
    for i in range(nb):
        x0, x1, x2, x3 = xt[0, i] - m0, xt[1, i] - m1, xt[2, i] - m2, xt[3, i] - m3
        x4, x5, x6, x7 = xt[4, i] - m4, xt[5, i] - m5, xt[6, i] - m6, xt[7, i] - m7
        o0 = x0 * U[0, 0]
        o1 = x0 * U[0, 1] + x1 * U[1, 1]
        o2 = x0 * U[0, 2] + x1 * U[1, 2] + x2 * U[2, 2]
        o3 = x0 * U[0, 3] + x1 * U[1, 3] + x2 * U[2, 3] + x3 * U[3, 3]
        o4 = (x0 * U[0, 4] + x1 * U[1, 4] + x2 * U[2, 4] + x3 * U[3, 4]
              + x4 * U[4, 4])
        o5 = (x0 * U[0, 5] + x1 * U[1, 5] + x2 * U[2, 5] + x3 * U[3, 5]
              + x4 * U[4, 5] + x5 * U[5, 5])
        o6 = (x0 * U[0, 6] + x1 * U[1, 6] + x2 * U[2, 6] + x3 * U[3, 6]
              + x4 * U[4, 6] + x5 * U[5, 6] + x6 * U[6, 6])
        o7 = (x0 * U[0, 7] + x1 * U[1, 7] + x2 * U[2, 7] + x3 * U[3, 7]
              + x4 * U[4, 7] + x5 * U[5, 7] + x6 * U[6, 7] + x7 * U[7, 7])
        maha[i] = (o0 * o0 + o1 * o1 + o2 * o2 + o3 * o3
                   + o4 * o4 + o5 * o5 + o6 * o6 + o7 * o7)


@kernel(internal=True, fastmath=FASTMATH)
def _mahalanobis_diag(xt, nb, d4, mean, prec, maha):
    """``maha[i] = sum_a prec[a] (xt[a, i] - mean[a])^2`` with padded ``prec``."""
    for i in range(nb):
        maha[i] = 0.0
    for a in range(0, d4, 4):
        m0, m1, m2, m3 = mean[a], mean[a + 1], mean[a + 2], mean[a + 3]
        q0, q1, q2, q3 = prec[a], prec[a + 1], prec[a + 2], prec[a + 3]
        for i in range(nb):
            t0 = xt[a, i] - m0
            t1 = xt[a + 1, i] - m1
            t2 = xt[a + 2, i] - m2
            t3 = xt[a + 3, i] - m3
            maha[i] += q0 * t0 * t0 + q1 * t1 * t1 + q2 * t2 * t2 + q3 * t3 * t3


@kernel(internal=True, fastmath=FASTMATH, inline="always")
def _log_density_row(log_norm_j, maha, nb, row):
    """``row[i] = log_norm_j - maha[i] / 2``: component ``j``'s log-density of each point."""
    for i in range(nb):
        row[i] = log_norm_j - 0.5 * maha[i]


def _log_prob_full(kind, xt, nb, d, means, chol, prec, log_norm, mu_proj, diff, proj, quad,
                   maha, logp):
    """Full kind: ``logp[j]`` from the triangular products of ``x - mu_j`` with ``chol[j]``."""
    for j in range(means.shape[0]):
        _subtract(xt, nb, d, means[j], diff)
        _mahalanobis_upper(diff, nb, d, chol[j], quad, maha)
        _log_density_row(log_norm[j], maha, nb, logp[j])


def _log_prob_full_few(kind, xt, nb, d, means, chol, prec, log_norm, mu_proj, diff, proj,
                       quad, maha, logp):
    """Full kind, at most ``FEW_FEATURES`` features: ``logp[j]`` in registers."""
    for j in range(means.shape[0]):
        if d <= 2:
            _mahalanobis_2(xt, nb, means[j], chol[j], maha)
        elif d <= 4:
            _mahalanobis_4(xt, nb, means[j], chol[j], maha)
        else:
            _mahalanobis_8(xt, nb, means[j], chol[j], maha)
        _log_density_row(log_norm[j], maha, nb, logp[j])


def _log_prob_tied(kind, xt, nb, d, means, chol, prec, log_norm, mu_proj, diff, proj, quad,
                   maha, logp):
    # diff holds x - center; project it once, then each component is a
    # plain sum of squares in that frame.
    """Tied kind: ``logp[j]`` from one projection of ``x - center``, then sums of squares."""
    for a in range(0, d, 4):
        _upper_quad(diff, nb, chol[0], a, proj[a:a + 4])
    for j in range(means.shape[0]):
        _mahalanobis_diag(proj, nb, xt.shape[0], mu_proj[j], prec[0], maha)
        _log_density_row(log_norm[j], maha, nb, logp[j])


def _log_prob_diag(kind, xt, nb, d, means, chol, prec, log_norm, mu_proj, diff, proj, quad,
                   maha, logp):
    """Diag and spherical kinds: ``logp[j]`` from weighted sums of squares."""
    for j in range(means.shape[0]):
        _mahalanobis_diag(xt, nb, xt.shape[0], means[j], prec[j], maha)
        _log_density_row(log_norm[j], maha, nb, logp[j])


def _block_log_prob(kind, xt, nb, d, means, chol, prec, log_norm, mu_proj, diff, proj, quad,
                    maha, logp):
    """``logp[j, i] = log phi_j + log N(x_i | j)`` for one block.

    ``means``, ``chol``, ``prec``, ``mu_proj`` are the chunk's padded copies;
    for the tied kind ``diff`` must already hold ``x - center``. Called from
    kernels only, with ``kind`` a compile-time constant (see
    :func:`~fastgmm._kernels.layout.for_kind`).
    """
    raise TypeError("_block_log_prob runs inside kernels only")


@overload(_block_log_prob, jit_options={"fastmath": FASTMATH, "error_model": ERROR_MODEL})
def _block_log_prob_for_kind(kind, xt, nb, d, means, chol, prec, log_norm, mu_proj, diff,
                             proj, quad, maha, logp):
    """The typing-time choice of :func:`_block_log_prob`'s implementation for ``kind``."""
    return for_kind(kind, _log_prob_full, _log_prob_full_few, _log_prob_tied,
                     _log_prob_diag)


@kernel(internal=True, fastmath=FASTMATH)
def _block_log_norm(logp, nb, top, total, lnorm, scratch, flush, shifted, ent):
    """Per point ``log sum_j exp(logp[j, i])``; leaves ``exp(logp - max)`` in logp.

    Shares below ``flush`` are exactly 0. With ``ent`` non-empty (and
    ``shifted`` as scratch), ``ent[i] = sum_j e_ij (logp_ij - max_i)`` for
    the entropy ``sum_j r_ij log r_ij = ent_i / total_i - log total_i``.
    """
    k = logp.shape[0]
    want_ent = ent.shape[0] > 0
    for i in range(nb):
        top[i] = logp[0, i]
    for j in range(1, k):
        for i in range(nb):
            top[i] = max(top[i], logp[j, i])
    for i in range(nb):
        total[i] = 0.0
    if want_ent:
        for i in range(nb):
            ent[i] = 0.0
    for j in range(k):
        row = logp[j]
        _exp_shifted_inplace(row, top, scratch, nb, flush, shifted)
        for i in range(nb):
            total[i] += row[i]
        if want_ent:
            for i in range(nb):
                ent[i] += row[i] * shifted[i]
    _log_inplace(total, lnorm, scratch, nb)
    for i in range(nb):
        lnorm[i] += top[i]
