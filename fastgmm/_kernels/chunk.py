"""The fused EM code of one chunk of rows: responsibilities and statistics, or scores.

:func:`_chunk_stats` and :func:`_chunk_score` are the whole arithmetic of
a pass; :mod:`fastgmm._kernels.passes` compiles them once per covariance
kind and dtype and runs them over chunks (in parallel), problems and
rounds. A chunk's blocks take their log-densities from
:mod:`~fastgmm._kernels.density` and fold the responsibilities into the
block statistics defined here (first and second moments, and the queues
of the full kind). Every function here sees C-contiguous float32 or
float64 arrays and scalars, nothing else. The model arrays are prepared
by :mod:`fastgmm._model.gaussian` and padded by
:func:`fastgmm._kernels.passes.padded_model` (feature axes zero-padded to a
multiple of 4):

``kind``      covariance kind code (see :mod:`fastgmm._kernels.layout`)
``means``     (k, d) component means, also the shifts ``c_j`` of the stats
``chol``      (k, d, d) upper-triangular precision Cholesky factors (full),
              (1, d, d) the shared factor (tied), unused otherwise
``prec``      (k, d) diagonal precisions (diag, spherical), unused otherwise
``log_norm``  (k,) ``log phi_j + log det chol_j - d/2 log(2 pi)``
``center``    (d,) common shift for the tied kind
``mu_proj``   (k, d) ``(mu_j - center) @ chol`` for the tied kind

How the loops are laid out, and why:

* Inside a chunk the rows are handled ``BLOCK_ROWS`` at a time, stored
  transposed (features x rows), so every innermost loop runs along points
  with unit stride and LLVM turns it into SIMD code.
* Feature axes are padded with zeros to a multiple of 4 (``padded_width``) so the
  triangular products can be unrolled four features at a time: each pass
  over a row of points then does 4-8 multiply-adds per store instead of
  one, which is what bounds these loops. One or two features take loops
  of their own (the full distance and scatter), where a 4 x 4 tile would
  be mostly zeros.
* ``exp`` and ``log`` are branch-free polynomials that vectorise
  (:mod:`~fastgmm._kernels.vecmath`), instead of one libm call per point
  and component.
"""

import numpy as np
from numba.extending import overload

from .compile import ERROR_MODEL, kernel
from .density import _block_log_norm, _block_log_prob
from .layout import (BLOCK_ROWS, DIAG, FASTMATH, FULL, SPHERICAL, TIED, block_bounds, for_kind,
                     n_blocks, padded_width)
from .vecmath import _subtract


@kernel(internal=True, inline="always")
def flush_threshold(X):
    """Relative responsibility below which a point's share of a component is exactly 0.

    1e-30 for both dtypes. In float32 it keeps ``w r (x - mu)^2`` 8 decades
    above the smallest normal number (1.2e-38), so no subnormal operand
    reaches the statistics (Intel cores take a microcode assist on each).
    It is far below anything a share can change: a component's ``N`` moves
    by at most ``n * 1e-30``, and for a component whose every share is that
    small scikit-learn's own ``10 eps`` floor on ``N`` (2e-15) already
    decides its M-step; such a component becomes exactly empty (N = 0).
    The exact zeros let the full-covariance statistics skip the points
    (:func:`_queue_rows`): on separated data most shares are 0.
    """
    return 1e-30


@kernel(internal=True, fastmath=FASTMATH, inline="always")
def _load_block(X, r0, nb, xt):
    """``xt[a, i] = X[r0 + i, a]``: the block's ``nb`` rows, transposed (features x points)."""
    d = X.shape[1]
    for i in range(nb):
        for a in range(d):
            xt[a, i] = X[r0 + i, a]


@kernel(internal=True, fastmath=FASTMATH, inline="always")
def _block_weights(sw, r0, nb, weights):
    """``weights[i]``: the sample weight of row ``r0 + i`` (1 when ``sw`` is empty)."""
    if sw.shape[0] == 0:
        for i in range(nb):
            weights[i] = 1.0
    else:
        for i in range(nb):
            weights[i] = sw[r0 + i]


@kernel(internal=True, fastmath=FASTMATH)
def _scatter_lower(wdiff, diff, nb, d, S2):
    """``S2[a, b] += sum_i wdiff[a, i] diff[b, i]`` for ``b <= a`` (padded tiles).

    Tiles of 4 x 4 entries: eight loads feed sixteen multiply-adds (2 x 4
    tiles, six loads for eight, ran 7-20% slower at 12 to 64 features, with
    AVX-512 and AVX2 code alike). A tile on the diagonal sums only its 10
    entries on and below it.
    """
    zero = diff.dtype.type(0)
    if d <= 2:
        w_0, w_1, x_0, x_1 = wdiff[0], wdiff[1], diff[0], diff[1]
        s00 = s10 = s11 = zero
        for i in range(nb):
            s00 += w_0[i] * x_0[i]
            s10 += w_1[i] * x_0[i]
            s11 += w_1[i] * x_1[i]
        S2[0, 0] += s00
        S2[1, 0] += s10
        S2[1, 1] += s11
        return
    for a in range(0, d, 4):
        for b in range(0, a, 4):
            s00 = s01 = s02 = s03 = zero
            s10 = s11 = s12 = s13 = zero
            s20 = s21 = s22 = s23 = zero
            s30 = s31 = s32 = s33 = zero
            for i in range(nb):
                w0, w1, w2, w3 = wdiff[a, i], wdiff[a + 1, i], wdiff[a + 2, i], wdiff[a + 3, i]
                x0, x1, x2, x3 = diff[b, i], diff[b + 1, i], diff[b + 2, i], diff[b + 3, i]
                s00 += w0 * x0
                s01 += w0 * x1
                s02 += w0 * x2
                s03 += w0 * x3
                s10 += w1 * x0
                s11 += w1 * x1
                s12 += w1 * x2
                s13 += w1 * x3
                s20 += w2 * x0
                s21 += w2 * x1
                s22 += w2 * x2
                s23 += w2 * x3
                s30 += w3 * x0
                s31 += w3 * x1
                s32 += w3 * x2
                s33 += w3 * x3
            S2[a, b] += s00
            S2[a, b + 1] += s01
            S2[a, b + 2] += s02
            S2[a, b + 3] += s03
            S2[a + 1, b] += s10
            S2[a + 1, b + 1] += s11
            S2[a + 1, b + 2] += s12
            S2[a + 1, b + 3] += s13
            S2[a + 2, b] += s20
            S2[a + 2, b + 1] += s21
            S2[a + 2, b + 2] += s22
            S2[a + 2, b + 3] += s23
            S2[a + 3, b] += s30
            S2[a + 3, b + 1] += s31
            S2[a + 3, b + 2] += s32
            S2[a + 3, b + 3] += s33
        s00 = zero
        s10 = s11 = zero
        s20 = s21 = s22 = zero
        s30 = s31 = s32 = s33 = zero
        for i in range(nb):
            w0, w1, w2, w3 = wdiff[a, i], wdiff[a + 1, i], wdiff[a + 2, i], wdiff[a + 3, i]
            x0, x1, x2, x3 = diff[a, i], diff[a + 1, i], diff[a + 2, i], diff[a + 3, i]
            s00 += w0 * x0
            s10 += w1 * x0
            s11 += w1 * x1
            s20 += w2 * x0
            s21 += w2 * x1
            s22 += w2 * x2
            s30 += w3 * x0
            s31 += w3 * x1
            s32 += w3 * x2
            s33 += w3 * x3
        S2[a, a] += s00
        S2[a + 1, a] += s10
        S2[a + 1, a + 1] += s11
        S2[a + 2, a] += s20
        S2[a + 2, a + 1] += s21
        S2[a + 2, a + 2] += s22
        S2[a + 3, a] += s30
        S2[a + 3, a + 1] += s31
        S2[a + 3, a + 2] += s32
        S2[a + 3, a + 3] += s33


@kernel(internal=True, fastmath=FASTMATH, inline="always")
def _mass(r, nb):
    """``sum_i r[i]`` over the block's ``nb`` points: a component's share of the block."""
    s = r.dtype.type(0)
    for i in range(nb):
        s += r[i]
    return s


@kernel(internal=True, fastmath=FASTMATH)
def _moments(xt, nb, d, r, mean, S1_j, S2_j, diagonal):
    """``S1_j[a] += sum_i r_i (x_ia - m_a)``; with ``diagonal`` also ``S2_j[a, 0]`` of the squares.

    One pass per feature, nothing stored. ``diagonal`` is a constant at
    each call site, so each caller compiles only its own version.
    """
    zero = xt.dtype.type(0)
    for a in range(d):
        m = mean[a]
        t1 = zero
        t2 = zero
        for i in range(nb):
            dev = xt[a, i] - m
            v = r[i] * dev
            t1 += v
            t2 += v * dev
        S1_j[a] += t1
        if diagonal:
            S2_j[a, 0] += t2


@kernel(internal=True, fastmath=FASTMATH)
def _queue_rows(xt, r, nb, d, rows, queue_x, queue_r, start):
    """Append the block's points with a non-zero share to a component's queue.

    Copies them (features x points) to ``queue_x[:, start:]`` and their
    shares to ``queue_r`` and returns the queue's new length, or -1 without
    copying when more than half of the block's shares are non-zero (a
    dense block is summed in place). The caller makes room first: at most
    ``nb // 2`` points are appended.
    """
    m = 0
    for i in range(nb):  # a vectorised count first: dense blocks stop here
        m += 1 if r[i] != 0.0 else 0
    if 2 * m > nb:
        return -1
    m = 0
    for i in range(nb):  # branch-free stream compaction of the indices
        rows[m] = i
        m += 1 if r[i] != 0.0 else 0
    for a in range(d):
        for c in range(m):
            queue_x[a, start + c] = xt[a, rows[c]]
    for c in range(m):
        queue_r[start + c] = r[rows[c]]
    return start + m


@kernel(internal=True, fastmath=FASTMATH, inline="always")
def _full_moments(x, nb, d, r, mean, diff, wdiff, S1_j, S2_j):
    """``S1_j += sum_i r_i (x_i - m)``, and ``S2_j += sum_i r_i (x_i - m)(x_i - m)^T``.

    Only the lower triangle of ``S2_j`` is meaningful (see :func:`_scatter_lower`).
    """
    zero = x.dtype.type(0)
    _subtract(x, nb, d, mean, diff)
    for a in range(d):
        t = zero
        for i in range(nb):
            v = r[i] * diff[a, i]
            wdiff[a, i] = v
            t += v
        S1_j[a] += t
    _scatter_lower(wdiff, diff, nb, d, S2_j)


@kernel(internal=True, fastmath=FASTMATH)
def _small_moments_2(xt, nb, r, mean, S1_j, S2_j):
    """:func:`_small_moments_4` for 1 or 2 features."""
    zero = xt.dtype.type(0)
    m0, m1 = mean[0], mean[1]
    t0 = t1 = s00 = s10 = s11 = zero
    for i in range(nb):
        x0, x1 = xt[0, i] - m0, xt[1, i] - m1
        w = r[i]
        v0, v1 = w * x0, w * x1
        t0 += v0
        t1 += v1
        s00 += v0 * x0
        s10 += v1 * x0
        s11 += v1 * x1
    S1_j[0] += t0
    S1_j[1] += t1
    S2_j[0, 0] += s00
    S2_j[1, 0] += s10
    S2_j[1, 1] += s11


@kernel(internal=True, fastmath=FASTMATH)
def _small_moments_4(xt, nb, r, mean, S1_j, S2_j):
    """:func:`_full_moments` of features 0-3 (``S2_j`` rows 0-3), all in registers.

    As in :func:`_mahalanobis_4`: with few features a point's deviations
    and every sum stay in registers, where the general code stores and
    reloads the deviations and their weighted copies (twice the time at
    d = 4 and d = 8).
    """
    zero = xt.dtype.type(0)
    m0, m1, m2, m3 = mean[0], mean[1], mean[2], mean[3]
    t0 = t1 = t2 = t3 = zero
    s00 = s10 = s11 = s20 = s21 = s22 = s30 = s31 = s32 = s33 = zero
    for i in range(nb):
        x0, x1, x2, x3 = xt[0, i] - m0, xt[1, i] - m1, xt[2, i] - m2, xt[3, i] - m3
        w = r[i]
        v0, v1, v2, v3 = w * x0, w * x1, w * x2, w * x3
        t0 += v0
        t1 += v1
        t2 += v2
        t3 += v3
        s00 += v0 * x0
        s10 += v1 * x0
        s11 += v1 * x1
        s20 += v2 * x0
        s21 += v2 * x1
        s22 += v2 * x2
        s30 += v3 * x0
        s31 += v3 * x1
        s32 += v3 * x2
        s33 += v3 * x3
    S1_j[0] += t0
    S1_j[1] += t1
    S1_j[2] += t2
    S1_j[3] += t3
    S2_j[0, 0] += s00
    S2_j[1, 0] += s10
    S2_j[1, 1] += s11
    S2_j[2, 0] += s20
    S2_j[2, 1] += s21
    S2_j[2, 2] += s22
    S2_j[3, 0] += s30
    S2_j[3, 1] += s31
    S2_j[3, 2] += s32
    S2_j[3, 3] += s33


@kernel(internal=True, fastmath=FASTMATH)
def _small_moments_8(xt, nb, r, mean, S1_j, S2_j):
    """:func:`_full_moments` for 5 to 8 features (padded to 8), in registers.

    Rows 0-3 of ``S2_j`` as :func:`_small_moments_4`, then rows 4-5 and 6-7
    two at a time: at most 17 sums live at once, within the 32 vector
    registers of AVX-512 (entries above the diagonal are filled and ignored).
    """
    zero = xt.dtype.type(0)
    _small_moments_4(xt, nb, r, mean, S1_j, S2_j)
    m0, m1, m2, m3 = mean[0], mean[1], mean[2], mean[3]
    m4, m5, m6, m7 = mean[4], mean[5], mean[6], mean[7]
    for a in range(4, 8, 2):
        ma, mb = mean[a], mean[a + 1]
        ta = tb = zero
        a0 = a1 = a2 = a3 = a4 = a5 = a6 = zero
        b0 = b1 = b2 = b3 = b4 = b5 = b6 = b7 = zero
        for i in range(nb):
            x0, x1, x2, x3 = xt[0, i] - m0, xt[1, i] - m1, xt[2, i] - m2, xt[3, i] - m3
            x4, x5, x6, x7 = xt[4, i] - m4, xt[5, i] - m5, xt[6, i] - m6, xt[7, i] - m7
            w = r[i]
            va = w * (xt[a, i] - ma)
            vb = w * (xt[a + 1, i] - mb)
            ta += va
            tb += vb
            a0 += va * x0
            a1 += va * x1
            a2 += va * x2
            a3 += va * x3
            a4 += va * x4
            a5 += va * x5
            a6 += va * x6
            b0 += vb * x0
            b1 += vb * x1
            b2 += vb * x2
            b3 += vb * x3
            b4 += vb * x4
            b5 += vb * x5
            b6 += vb * x6
            b7 += vb * x7
        S1_j[a] += ta
        S1_j[a + 1] += tb
        S2_j[a, 0] += a0
        S2_j[a, 1] += a1
        S2_j[a, 2] += a2
        S2_j[a, 3] += a3
        S2_j[a, 4] += a4
        S2_j[a, 5] += a5
        S2_j[a, 6] += a6
        S2_j[a + 1, 0] += b0
        S2_j[a + 1, 1] += b1
        S2_j[a + 1, 2] += b2
        S2_j[a + 1, 3] += b3
        S2_j[a + 1, 4] += b4
        S2_j[a + 1, 5] += b5
        S2_j[a + 1, 6] += b6
        S2_j[a + 1, 7] += b7


# A component whose every share in the block is exactly 0 is skipped: its
# sums would add exact zeros. The diagonal moments cost a point about what
# copying it would, so they run over the whole block. For the full kind,
# on separated data most shares are exactly 0 (flushed below the
# threshold): a block's points with a non-zero share are queued per
# component (_queue_rows) and summed when the queue is full or the chunk
# ends. One block holds only ~nb / k of a component's points, too few for
# the scatter's vector loops and tiles; a queue holds 128-256. The same
# statistics up to rounding (another summation order), in an order fixed
# by the data, so still deterministic.

@kernel(internal=True, inline="always")
def _queue_shape(k, d4, itemsize):
    """``(slots, length)`` of the full kind's queues, about 1 MB per task.

    One slot per component while that stays within 4 MB; otherwise (many
    components and features) one slot that every component empties at once.
    """
    length = min(BLOCK_ROWS, max(BLOCK_ROWS // 2, (1 << 20) // (k * d4 * itemsize)))
    return (k if k * d4 * length * itemsize <= 1 << 22 else 1), length


@kernel(internal=True, fastmath=FASTMATH, inline="always")
def _sum_queue(queue, q, d, mean, diff, wdiff, S1_j, S2_j):
    """Add slot ``q``'s queued points to one component's sums and empty it."""
    _, queue_x, queue_r, queued = queue
    _full_moments(queue_x[q], queued[q], d, queue_r[q], mean, diff, wdiff, S1_j, S2_j)
    queued[q] = 0


def _block_stats_full(kind, xt, nb, d, resp, weights, means, center, diff, wdiff, queue, N, S1,
                      S2, last):
    """Full kind: ``N``, ``S1`` and the scatter ``S2`` of every component, its points queued."""
    rows, queue_x, queue_r, queued = queue
    shared = queue_x.shape[0] < means.shape[0]
    capacity = queue_r.shape[1]
    for j in range(means.shape[0]):
        q = 0 if shared else j
        s = _mass(resp[j], nb)
        N[j] += s
        if s != 0.0:
            if queued[q] + nb // 2 > capacity:
                _sum_queue(queue, q, d, means[j], diff, wdiff, S1[j], S2[j])
            m = _queue_rows(xt, resp[j], nb, d, rows, queue_x[q], queue_r[q], queued[q])
            if m < 0:
                _full_moments(xt, nb, d, resp[j], means[j], diff, wdiff, S1[j], S2[j])
            else:
                queued[q] = m
        if (last or shared) and queued[q] > 0:
            _sum_queue(queue, q, d, means[j], diff, wdiff, S1[j], S2[j])


def _block_stats_full_few(kind, xt, nb, d, resp, weights, means, center, diff, wdiff, queue,
                          N, S1, S2, last):
    # A point's moments cost about what copying it out would: no packing.
    """Full kind, at most ``FEW_FEATURES`` features: every component's sums, in registers."""
    for j in range(means.shape[0]):
        s = _mass(resp[j], nb)
        N[j] += s
        if s == 0.0:
            continue
        if d <= 2:
            _small_moments_2(xt, nb, resp[j], means[j], S1[j], S2[j])
        elif d <= 4:
            _small_moments_4(xt, nb, resp[j], means[j], S1[j], S2[j])
        else:
            _small_moments_8(xt, nb, resp[j], means[j], S1[j], S2[j])


@kernel(internal=True, fastmath=FASTMATH)
def _each_component_moments(xt, nb, d, resp, means, N, S1, S2, diagonal):
    """``N`` and ``S1`` of every component (and, with ``diagonal``, its ``S2`` diagonal)."""
    for j in range(means.shape[0]):
        s = _mass(resp[j], nb)
        N[j] += s
        if s != 0.0:
            _moments(xt, nb, d, resp[j], means[j], S1[j], S2[j if diagonal else 0], diagonal)


def _block_stats_tied(kind, xt, nb, d, resp, weights, means, center, diff, wdiff, queue, N, S1,
                      S2, last):
    """Tied kind: every component's ``N`` and ``S1``, and one scatter pooled about ``center``."""
    _each_component_moments(xt, nb, d, resp, means, N, S1, S2, False)
    # Pooled scatter about one common shift: sum_j r_ij = 1, so the
    # per-point weight is all that is needed (O(d^2), not O(k d^2)).
    _subtract(xt, nb, d, center, diff)
    for a in range(d):
        for i in range(nb):
            wdiff[a, i] = weights[i] * diff[a, i]
    _scatter_lower(wdiff, diff, nb, d, S2[0])


def _block_stats_diag(kind, xt, nb, d, resp, weights, means, center, diff, wdiff, queue, N, S1,
                      S2, last):
    """Diag and spherical kinds: every component's ``N``, ``S1`` and diagonal ``S2``."""
    _each_component_moments(xt, nb, d, resp, means, N, S1, S2, True)


def _block_stats(kind, xt, nb, d, resp, weights, means, center, diff, wdiff, queue, N, S1, S2,
                 last):
    """Add one block's statistics (``resp`` already holds ``w_i r_ij``).

    ``S1`` (k, d4) and ``S2`` are the chunk's padded accumulators, ``S2``
    (k, d4, d4) for full, (1, d4, d4) for tied, (k, d4, 1) for diag and
    spherical: the few-features code writes every padded feature. ``queue``
    holds the full kind's queued points (see above), summed when ``last``
    (the chunk's last block). Called from kernels only, with ``kind`` a
    compile-time constant (see :func:`~fastgmm._kernels.layout.for_kind`).
    """
    raise TypeError("_block_stats runs inside kernels only")


@overload(_block_stats, jit_options={"fastmath": FASTMATH, "error_model": ERROR_MODEL})
def _block_stats_for_kind(kind, xt, nb, d, resp, weights, means, center, diff, wdiff, queue, N,
                          S1, S2, last):
    """The typing-time choice of :func:`_block_stats`'s implementation for ``kind``."""
    return for_kind(kind, _block_stats_full, _block_stats_full_few, _block_stats_tied,
                     _block_stats_diag)


@kernel(internal=True, inline="always")
def _lognorm_buffers(k, dt):
    """Per-block scratch of the log-densities and their log-sum-exp
    (``_block_log_norm``): ``maha, logp, top, total, lnorm, scratch``."""
    maha = np.empty(BLOCK_ROWS, dt)
    logp = np.empty((k, BLOCK_ROWS), dt)
    top = np.empty(BLOCK_ROWS, dt)
    total = np.empty(BLOCK_ROWS, dt)
    lnorm = np.empty(BLOCK_ROWS, dt)
    scratch = np.empty(BLOCK_ROWS, dt)
    return maha, logp, top, total, lnorm, scratch


@kernel(internal=True, inline="always")
def _estep_buffers(d4, k, dt):
    """Per-block scratch of the E-step (``_block_log_prob``, ``_block_log_norm``).

    All in ``dt``, the log-sum-exp too (float32 data: float32 lanes, twice
    as many per instruction); row blocks zeroed, so padded features stay 0.
    """
    xt = np.zeros((d4, BLOCK_ROWS), dt)
    diff = np.zeros((d4, BLOCK_ROWS), dt)
    proj = np.zeros((d4, BLOCK_ROWS), dt)
    quad = np.empty((4, BLOCK_ROWS), dt)
    maha, logp, top, total, lnorm, scratch = _lognorm_buffers(k, dt)
    return xt, diff, proj, quad, maha, logp, top, total, lnorm, scratch


@kernel(internal=True, fastmath=FASTMATH, inline="always")
def _chunk_stats(X, sw, R, L, kind, c0, c1, means_p, chol_p, prec_p, log_norm, center,
                 mu_proj_p, want_entropy, out_N, out_S1, out_S2):
    """Statistics of rows ``[c0, c1)`` into this chunk's own outputs.

    The responsibilities are ``R``'s rows when given, else one-hot rows of
    the labels ``L`` when given (-1: a row of zeros), else the model's.

    Kept out of the parallel loop body so that Numba's parfor passes see a
    single call (they are slow on large bodies) and the heavy code compiles
    once. Returns ``(loglik, weight, entropy)`` of the chunk; the entropy
    ``sum_i w_i sum_j r_ij log r_ij`` only when ``want_entropy`` (else 0).
    """
    d = X.shape[1]
    d4 = padded_width(d)
    k = means_p.shape[0]
    dt = X.dtype
    given_labels = L.shape[0] > 0
    given_resp = R.shape[0] > 0 or given_labels
    zero = X.dtype.type(0)
    xt, diff, proj, quad, maha, logp, top, total, lnorm, scratch = _estep_buffers(d4, k, dt)
    wdiff = np.zeros((d4, BLOCK_ROWS), dt)
    resp = np.empty((k, BLOCK_ROWS), dt)
    weights = np.empty(BLOCK_ROWS, dt)
    slots, length = _queue_shape(k, d4, X.itemsize)
    if kind != FULL:
        slots = 0
    queue = (np.empty(BLOCK_ROWS, np.int64), np.empty((slots, d4, length), dt),
             np.empty((slots, length), dt), np.zeros(slots, np.int64))
    shifted = np.empty(BLOCK_ROWS if want_entropy else 0)
    ent = np.empty(BLOCK_ROWS if want_entropy else 0)
    flush = flush_threshold(X)
    # Padded accumulators: the few-features code writes every padded
    # feature's sums (exact zeros); the outputs get the real ones.
    S1_acc = np.zeros((k, d4))
    S2_acc = np.zeros((out_S2.shape[0], d4, 1 if kind == DIAG or kind == SPHERICAL else d4))
    out_N[:] = 0.0
    ll = 0.0
    wsum = 0.0
    entropy = 0.0
    blocks = n_blocks(c1 - c0, BLOCK_ROWS)
    for b in range(blocks):
        b0, b1 = block_bounds(b, c1 - c0, BLOCK_ROWS)
        r0 = c0 + b0
        nb = b1 - b0
        _load_block(X, r0, nb, xt)
        _block_weights(sw, r0, nb, weights)
        if given_resp:
            for i in range(nb):
                wsum += weights[i]
        if given_labels:
            # As the one-hot rows give them (w * 1, w * 0, mass 1 or 0), bitwise.
            for j in range(k):
                for i in range(nb):
                    resp[j, i] = weights[i] if L[r0 + i] == j else zero
            for i in range(nb):
                weights[i] = weights[i] if L[r0 + i] >= 0 else zero
        elif given_resp:
            for i in range(nb):
                mass = 0.0
                for j in range(k):
                    resp[j, i] = R[r0 + i, j] * weights[i]
                    mass += R[r0 + i, j]
                # The tied scatter pools rows by their responsibility
                # mass, which is not 1 for rows that no seed claims.
                weights[i] *= mass
        else:
            if kind == TIED:
                _subtract(xt, nb, d, center, diff)
            _block_log_prob(kind, xt, nb, d, means_p, chol_p, prec_p, log_norm,
                            mu_proj_p, diff, proj, quad, maha, logp)
            _block_log_norm(logp, nb, top, total, lnorm, scratch, flush, shifted, ent)
            for i in range(nb):
                ll += weights[i] * lnorm[i]
                wsum += weights[i]
            if want_entropy:
                for i in range(nb):
                    entropy += weights[i] * (ent[i] / total[i] - (lnorm[i] - top[i]))
            for i in range(nb):
                total[i] = weights[i] / total[i]
            for j in range(k):
                for i in range(nb):
                    resp[j, i] = logp[j, i] * total[i]
        _block_stats(kind, xt, nb, d, resp, weights, means_p, center, diff,
                     wdiff, queue, out_N, S1_acc, S2_acc, b == blocks - 1)
    for j in range(k):
        for a in range(d):
            out_S1[j, a] = S1_acc[j, a]
    for r in range(out_S2.shape[0]):
        for a in range(d):
            for c in range(out_S2.shape[2]):
                out_S2[r, a, c] = S2_acc[r, a, c]
    return ll, wsum, entropy


@kernel(internal=True, fastmath=FASTMATH, inline="always")
def _chunk_score(X, kind, c0, c1, means_p, chol_p, prec_p, log_norm, center, mu_proj_p,
                 out_log_norm, out_label, out_log_resp):
    """Scores of rows ``[c0, c1)``, written to those rows of the outputs."""
    d = X.shape[1]
    d4 = padded_width(d)
    k = means_p.shape[0]
    dt = X.dtype
    want_resp = out_log_resp.shape[0] > 0
    xt, diff, proj, quad, maha, logp, top, total, lnorm, scratch = _estep_buffers(d4, k, dt)
    work = np.empty((k if want_resp else 0, BLOCK_ROWS), dt)
    flush = flush_threshold(X)
    no_ent = np.empty(0)
    for b in range(n_blocks(c1 - c0, BLOCK_ROWS)):
        b0, b1 = block_bounds(b, c1 - c0, BLOCK_ROWS)
        r0 = c0 + b0
        nb = b1 - b0
        _load_block(X, r0, nb, xt)
        if kind == TIED:
            _subtract(xt, nb, d, center, diff)
        _block_log_prob(kind, xt, nb, d, means_p, chol_p, prec_p, log_norm,
                        mu_proj_p, diff, proj, quad, maha, logp)
        for i in range(nb):
            out_label[r0 + i] = 0
            top[i] = logp[0, i]
        for j in range(1, k):
            for i in range(nb):
                if logp[j, i] > top[i]:
                    top[i] = logp[j, i]
                    out_label[r0 + i] = j
        if want_resp:
            for j in range(k):
                for i in range(nb):
                    work[j, i] = logp[j, i]
            _block_log_norm(work, nb, top, total, lnorm, scratch, flush, no_ent, no_ent)
            for i in range(nb):
                for j in range(k):
                    out_log_resp[r0 + i, j] = logp[j, i] - lnorm[i]
        else:
            _block_log_norm(logp, nb, top, total, lnorm, scratch, flush, no_ent, no_ent)
        for i in range(nb):
            out_log_norm[r0 + i] = lnorm[i]
