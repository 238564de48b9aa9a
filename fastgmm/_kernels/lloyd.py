"""Lloyd's k-means iterations with Hamerly's bounds, all iterations in one kernel call.

The iterations scikit-learn's ``KMeans`` runs (assign every row to its
nearest centre, move each centre to the weighted mean of its rows), with
the same stopping rule: labels that no longer change, or a total squared
centre shift within ``tol``, after which one more assignment gives the
labels of the final centres. What makes them fast is exact:

* **Bounds** (Hamerly, "Making k-means even faster", SDM 2010). Each row
  keeps an upper bound on its distance to its own centre and a lower bound
  on its distance to any other; centre moves loosen them by the triangle
  inequality. A row whose upper bound is below both its lower bound and
  half the distance from its centre to the nearest other centre keeps its
  label without a single distance computed. Bounds are widened by a
  relative margin larger than the rounding of a computed distance, so a
  row is skipped only where the label the plain assignment would compute
  is certain: the labels are those of computing every distance.
* **Distances by matrix product.** The rows the bounds cannot settle get
  their distances to all centres as ``|x|^2 + |c|^2 - 2 c.x`` (about the
  data mean), the products in one BLAS call per block, as scikit-learn
  computes them; their bounds are widened by the rounding of that form.
  Where two centres are within rounding of a row, either label may come
  out, here as in scikit-learn.
* **Few features: every distance, no bounds.** With at most
  ``BRUTE_FEATURES`` features a row's distances to every centre cost less
  than reading and writing its bounds, so each pass computes them all
  (:func:`_chunk_brute`, a loop along rows per centre): 2.5x faster on
  1e6 x 2 points, 8 centres, than the bounds.
* **Fused, incremental centre sums.** The pass that assigns the rows also
  moves a changed row's weight and coordinates (about a fixed reference,
  the data mean, so they keep their precision) from its old centre's sums
  to its new one's; unchanged rows cost nothing.
* **No Python per iteration.** One call runs the iterations of every
  problem (a fit, or each problem of ``fit_many``) until they stop, and
  returns only for the rare relocation of an empty cluster, which the
  caller does as scikit-learn does.

Rows are split into the fixed chunks of :func:`fastgmm._blocks.chunk_tasks`;
each chunk writes its own partial sums, added in chunk order, so the
result is the same for any number of threads.
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange

from .layout import BLOCK_ROWS, FASTMATH
from .compile import kernel

# Problem states.
RUNNING, FINAL, DONE, RELOCATE = 0, 1, 2, 3

# Up to this many features every row gets every distance, without bounds:
# a row's distances then cost less than reading and writing its two bounds
# (16 bytes of data against 24 bytes of label and bounds read, 16 written).
BRUTE_FEATURES = 4


@kernel(internal=True, fastmath=FASTMATH, inline="always")
def _sq_dist(X, r, c):
    s = 0.0
    for a in range(c.shape[0]):
        t = X[r, a] - c[a]
        s += t * t
    return s


@kernel(internal=True, fastmath=FASTMATH, inline="always")
def _add_row(X, sw, r, j, ref, sign, out_s, out_w, out_n):
    w = 1.0 if sw.shape[0] == 0 else sw[r]
    out_w[j] += sign * w
    out_n[j] += sign if w > 0 else 0
    for e in range(ref.shape[0]):
        out_s[j, e] += sign * (w * (X[r, e] - ref[e]))


@kernel(internal=True, inline="always")
def _clear_sums(out_s, out_w, out_n):
    """Zero a chunk's sums (or changes of sums) before its pass adds to them."""
    for j in range(out_s.shape[0]):
        out_w[j] = 0.0
        out_n[j] = 0
        for a in range(out_s.shape[1]):
            out_s[j, a] = 0.0


@kernel(internal=True, fastmath=FASTMATH, inline="always")
def _chunk_brute(X, sw, r0, r1, centers, ref, labels, fresh, out_s, out_w, out_n):
    """:func:`_chunk` for at most ``BRUTE_FEATURES`` features: every distance of every row.

    The block's rows are loaded features x rows (eight rows at a time, whose
    features share cache lines) and zero-padded to four features (two with
    one or two features); each centre's distances are a loop along rows,
    the nearest kept without a branch (a tie goes to the lower centre, as
    ``argmin`` gives it). Only rows whose label changed touch the sums.
    """
    k, d = centers.shape
    _clear_sums(out_s, out_w, out_n)
    cp = np.zeros((k, 4))
    for j in range(k):
        for a in range(d):
            cp[j, a] = centers[j, a]
    xt = np.zeros((4, BLOCK_ROWS))
    best = np.empty(BLOCK_ROWS)
    arg = np.empty(BLOCK_ROWS, dtype=np.int64)
    x0, x1, x2, x3 = xt[0], xt[1], xt[2], xt[3]
    changed = 0
    for b0 in range(r0, r1, BLOCK_ROWS):
        nb = min(b0 + BLOCK_ROWS, r1) - b0
        i0 = 0
        while i0 + 8 <= nb:
            for a in range(d):
                for i in range(i0, i0 + 8):
                    xt[a, i] = X[b0 + i, a]
            i0 += 8
        for i in range(i0, nb):
            for a in range(d):
                xt[a, i] = X[b0 + i, a]
        for i in range(nb):
            best[i] = np.inf
            arg[i] = 0
        for j in range(k):
            c0, c1, c2, c3 = cp[j, 0], cp[j, 1], cp[j, 2], cp[j, 3]
            if d <= 2:
                for i in range(nb):
                    t0, t1 = x0[i] - c0, x1[i] - c1
                    s = t0 * t0 + t1 * t1
                    bi = best[i]
                    arg[i] = j if s < bi else arg[i]
                    best[i] = min(bi, s)
            else:
                for i in range(nb):
                    t0, t1, t2, t3 = x0[i] - c0, x1[i] - c1, x2[i] - c2, x3[i] - c3
                    s = t0 * t0 + t1 * t1 + t2 * t2 + t3 * t3
                    bi = best[i]
                    arg[i] = j if s < bi else arg[i]
                    best[i] = min(bi, s)
        for i in range(nb):
            r = b0 + i
            old = labels[r]
            ai = arg[i]
            if ai != old:
                labels[r] = ai
                changed += 1
                if not fresh:
                    _add_row(X, sw, r, ai, ref, 1, out_s, out_w, out_n)
                    if old >= 0:
                        _add_row(X, sw, r, old, ref, -1, out_s, out_w, out_n)
            if fresh:
                _add_row(X, sw, r, ai, ref, 1, out_s, out_w, out_n)
    return changed


@kernel(internal=True, fastmath=FASTMATH, inline="always")
def _chunk(X, sw, r0, r1, centers, ref, labels, upper, lower, move, half, maxmove, fresh,
           slack, out_s, out_w, out_n):
    """Assign rows ``[r0, r1)`` of one problem; their sums (or changes of sums) into ``out_*``.

    Block by block: the bounds settle most rows; the rest are gathered
    (features along rows) and their distances to every centre come from
    one matrix product. Returns the number of rows whose label changed.
    """
    k, d = centers.shape
    _clear_sums(out_s, out_w, out_n)
    changed = 0
    up = 1.0 + slack
    down = 1.0 - slack
    # The centres about ``ref`` for the expanded distance of the gathered
    # rows: ``|x - c|^2 = |x|^2 + (|c|^2 - 2 c.x)`` with ``x, c`` taken about
    # ``ref``, so the terms stay of the order of the data's spread.
    c2 = np.empty((k, d))
    cc = np.empty(k)
    cmax = 0.0
    for j in range(k):
        s = 0.0
        for a in range(d):
            t = centers[j, a] - ref[a]
            c2[j, a] = -2.0 * t
            s += t * t
        cc[j] = s
        cmax = max(cmax, s)
    need = np.empty(BLOCK_ROWS, dtype=np.int64)
    xt_buf = np.empty(d * BLOCK_ROWS)
    dots_buf = np.empty(k * BLOCK_ROWS)
    xx = np.empty(BLOCK_ROWS)
    best = np.empty(BLOCK_ROWS)
    second = np.empty(BLOCK_ROWS)
    arg = np.empty(BLOCK_ROWS, dtype=np.int64)
    for b0 in range(r0, r1, BLOCK_ROWS):
        b1 = min(b0 + BLOCK_ROWS, r1)
        m = 0
        for r in range(b0, b1):
            a = labels[r]
            if a >= 0:
                # Loosen the bounds by the last move of the centres.
                u = (upper[r] + move[a]) * up
                other = maxmove[1] if maxmove[2] == a else maxmove[0]
                low = (lower[r] - other) * down
                upper[r] = u
                lower[r] = low
                z = max(low, half[a])
                if not u < z:
                    u = math.sqrt(_sq_dist(X, r, centers[a])) * up
                    upper[r] = u
                if u < z:  # the label stands
                    if fresh:
                        _add_row(X, sw, r, a, ref, 1, out_s, out_w, out_n)
                    continue
            need[m] = r
            m += 1
        if m == 0:
            continue
        # The rows left are gathered (features along rows) and multiplied by
        # every centre at once: one matrix product, as BLAS runs it, is
        # several times faster than the loops Numba vectorises here.
        xt = xt_buf[:d * m].reshape((d, m))
        dots = dots_buf[:k * m].reshape((k, m))
        for i in range(m):
            r = need[i]
            s = 0.0
            for a in range(d):
                t = X[r, a] - ref[a]
                xt[a, i] = t
                s += t * t
            xx[i] = s
        np.dot(c2, xt, dots)
        # Best and second best of every row, along rows without a branch.
        for i in range(m):
            best[i] = np.inf
            second[i] = np.inf
            arg[i] = 0
        for j in range(k):
            c = cc[j]
            for i in range(m):
                s = dots[j, i] + c
                bi = best[i]
                second[i] = min(second[i], max(s, bi))
                arg[i] = j if s < bi else arg[i]
                best[i] = min(bi, s)
        for i in range(m):
            bi = best[i]
            si = second[i]
            ai = arg[i]
            # The expansion's rounding is relative to |x|^2 + |c|^2, not to
            # the distance (about 2 (d + 2) eps of it, under ``slack``): the
            # bounds are widened by that much.
            err = slack * (xx[i] + cmax)
            r = need[i]
            old = labels[r]
            upper[r] = math.sqrt(max(xx[i] + bi + err, 0.0)) * up
            lower[r] = math.sqrt(max(xx[i] + si - err, 0.0)) * down
            labels[r] = ai
            if ai != old:
                changed += 1
            if fresh or ai != old:
                _add_row(X, sw, r, ai, ref, 1, out_s, out_w, out_n)
            if ai != old and old >= 0 and not fresh:
                _add_row(X, sw, r, old, ref, -1, out_s, out_w, out_n)
    return changed


@kernel(internal=True, fastmath=FASTMATH)
def finish(p, centers, ref, S, W, count, move, half, maxmove, changed, n_iter, state, tol,
           max_iter, slack):
    """Problem ``p``'s centres from its sums, and whether it stops (scikit-learn's rule).

    A cluster without rows takes the place of the heaviest one, as
    scikit-learn's ``_average_centers`` puts it (the sums of that cluster
    when it comes later in the order, its centre when it came before).
    Sets the moves and half-distances the next pass's bounds need.
    """
    k, d = S.shape[1], S.shape[2]
    heaviest = 0
    for j in range(k):
        if count[p, j] == 0:
            W[p, j] = 0.0
            for a in range(d):
                S[p, j, a] = 0.0
        if W[p, j] > W[p, heaviest]:
            heaviest = j
    total = 0.0
    old = np.empty(d)
    for j in range(k):
        for a in range(d):
            old[a] = centers[p, j, a]
        if W[p, j] > 0:
            for a in range(d):
                centers[p, j, a] = ref[p, a] + S[p, j, a] / W[p, j]
        elif heaviest < j:
            for a in range(d):
                centers[p, j, a] = centers[p, heaviest, a]
        else:
            for a in range(d):
                centers[p, j, a] = ref[p, a] + S[p, heaviest, a]
        m2 = 0.0
        for a in range(d):
            t = centers[p, j, a] - old[a]
            m2 += t * t
        total += m2
        move[p, j] = math.sqrt(m2)
    first = -1.0
    second = -1.0
    arg = -1
    for j in range(k):
        if move[p, j] > first:
            second = first
            first = move[p, j]
            arg = j
        elif move[p, j] > second:
            second = move[p, j]
    maxmove[p, 0] = max(first, 0.0)
    maxmove[p, 1] = max(second, 0.0)
    maxmove[p, 2] = arg
    for j in range(k):
        nearest = np.inf
        for i in range(k):
            if i != j:
                m2 = 0.0
                for a in range(d):
                    t = centers[p, j, a] - centers[p, i, a]
                    m2 += t * t
                nearest = min(nearest, m2)
        half[p, j] = 0.5 * math.sqrt(nearest) * (1.0 - slack)
    n_iter[p] += 1
    if changed[p] == 0 and n_iter[p] > 1:
        state[p] = DONE  # strict convergence: the labels are final
    elif total <= tol[p] or n_iter[p] >= max_iter:
        state[p] = FINAL  # one more assignment, to the final centres
    else:
        state[p] = RUNNING
    return 0


@kernel(fastmath=FASTMATH)
def finish_one(p, centers, ref, S, W, count, move, half, maxmove, changed, n_iter, state, tol,
               max_iter, slack):
    """:func:`finish` callable from Python (after a relocation)."""
    return finish(p, centers, ref, S, W, count, move, half, maxmove, changed, n_iter, state,
                  tol, max_iter, slack)


def _run(X, sw, tasks, slots, ref, centers, labels, upper, lower, S, W, count, move, half,
         maxmove, fresh, changed, n_iter, state, tol, max_iter, slack):
    """Iterate every problem that is RUNNING (or owes its FINAL assignment) until all
    are DONE, or until one has an empty cluster (left in state RELOCATE)."""
    n_tasks = tasks.shape[0]
    m, k, d = centers.shape
    part_s = np.empty((n_tasks, k, d))
    part_w = np.empty((n_tasks, k))
    part_n = np.empty((n_tasks, k), dtype=np.int64)
    part_c = np.empty(n_tasks, dtype=np.int64)
    while True:
        busy = False
        for p in range(m):
            if state[p] == RELOCATE:
                return 1
            if state[p] == RUNNING or state[p] == FINAL:
                busy = True
        if not busy:
            return 0
        for t in prange(n_tasks):
            p = tasks[t, 2]
            part_c[t] = 0
            if state[p] == RUNNING or state[p] == FINAL:
                if d <= BRUTE_FEATURES:
                    part_c[t] = _chunk_brute(X, sw, tasks[t, 0], tasks[t, 1], centers[p], ref[p],
                                             labels, fresh[p] != 0, part_s[t], part_w[t],
                                             part_n[t])
                else:
                    part_c[t] = _chunk(X, sw, tasks[t, 0], tasks[t, 1], centers[p], ref[p], labels,
                                       upper, lower, move[p], half[p], maxmove[p], fresh[p] != 0,
                                       slack, part_s[t], part_w[t], part_n[t])
        for p in range(m):
            if state[p] == FINAL:
                state[p] = DONE
                continue
            if state[p] != RUNNING:
                continue
            if fresh[p] != 0:
                for j in range(k):
                    W[p, j] = 0.0
                    count[p, j] = 0
                    for a in range(d):
                        S[p, j, a] = 0.0
                fresh[p] = 0
            changed[p] = 0
            for t in range(slots[p], slots[p + 1]):
                changed[p] += part_c[t]
                for j in range(k):
                    W[p, j] += part_w[t, j]
                    count[p, j] += part_n[t, j]
                    for a in range(d):
                        S[p, j, a] += part_s[t, j, a]
            empty = False
            for j in range(k):
                if count[p, j] == 0:
                    empty = True
            if empty:
                state[p] = RELOCATE
            else:
                finish(p, centers, ref, S, W, count, move, half, maxmove, changed, n_iter,
                       state, tol, max_iter, slack)


run_parallel = kernel(parallel=True, fastmath=FASTMATH)(_run)
run_serial = kernel(fastmath=FASTMATH)(_run)
