"""Vector math along the points of a block: ``exp``, ``log`` and a subtraction that vectorise.

NumPy's ``exp`` and ``log`` are one libm call per value in Numba code; these
are branch-free polynomials in the data's precision (float32 data take
float32 arithmetic, twice the SIMD lanes), so that LLVM turns the loops
over a block's points into SIMD code. Called from kernels only.
"""

import numpy as np
from numba import types
from numba.extending import overload

from .compile import ERROR_MODEL, kernel
from .layout import FASTMATH

# exp(x) = 2^n * exp(r), n = round(x / ln 2), |r| <= ln(2) / 2, in the data's
# precision: float32 data take float32 arithmetic (twice the SIMD lanes and
# a shorter polynomial), float64 data float64.
_LOG2E = 1.4426950408889634
# float64: ln 2 split so that n * _LN2_HI is exact; adding 1.5 * 2^52 rounds
# to an integer held in the low mantissa bits, and the extra 1023 (the
# exponent bias) makes those bits, shifted left by 52, the float 2^n.
_LN2_HI = 0.693147180369123816490
_LN2_LO = 1.90821492927058770002e-10
_ROUND_MAGIC = 6755399441055744.0 + 1023.0
# Keeps the exponent trick in range; exp(-700) is far below any flush threshold.
_EXP_FLOOR = -700.0
# float32: the same with 1.5 * 2^23, bias 127 and a 9-bit ln 2 head (exact
# times any |n| < 2^15); exp(-80) = 1.8e-35 is below float32's threshold.
_LN2_HI_32 = 0.693359375
_LN2_LO_32 = -2.12194440054690582e-4
_ROUND_MAGIC_32 = 12582912.0 + 127.0
_EXP_FLOOR_32 = -80.0


def _exp_shifted_inplace(x, shift, scratch, nb, flush, shifted):
    """``x[:nb] = exp(x[:nb] - shift[:nb])`` for ``x <= shift``, 0 below ``flush``.

    Called from kernels only; the overload below picks the version for
    ``x``'s dtype when the caller compiles. Both are branch-free so that
    they vectorise (relative error ~1e-15 in float64, ~1e-7 in float32).
    Results below ``flush`` become exactly 0 (a select, not a branch): they
    would otherwise reach the statistics as subnormal numbers, which Intel
    cores process with a microcode assist per operand (a float32 fit ran
    17x slower). With ``shifted`` non-empty, ``x - shift`` (clamped) is
    also kept there, for the responsibility entropy. ``scratch`` has
    ``x``'s dtype. No reassociation here: it would fold the rounding trick
    away.
    """
    raise TypeError("_exp_shifted_inplace runs inside kernels only")


def _exp_shifted_64(x, shift, scratch, nb, flush, shifted):
    """The float64 version of :func:`_exp_shifted_inplace` (Taylor series to ``r^12``)."""
    keep = shifted.shape[0] > 0
    for i in range(nb):
        v = max(x[i] - shift[i], _EXP_FLOOR)
        x[i] = v
        scratch[i] = v * _LOG2E + _ROUND_MAGIC
    if keep:
        for i in range(nb):
            shifted[i] = x[i]
    for i in range(nb):
        n = scratch[i] - _ROUND_MAGIC
        r = (x[i] - n * _LN2_HI) - n * _LN2_LO
        # Taylor series to r^12 / 12!: the remainder is below 2e-16 for |r| <= 0.35.
        p = 1.0 / 479001600.0
        p = p * r + 1.0 / 39916800.0
        p = p * r + 1.0 / 3628800.0
        p = p * r + 1.0 / 362880.0
        p = p * r + 1.0 / 40320.0
        p = p * r + 1.0 / 5040.0
        p = p * r + 1.0 / 720.0
        p = p * r + 1.0 / 120.0
        p = p * r + 1.0 / 24.0
        p = p * r + 1.0 / 6.0
        p = p * r + 0.5
        p = p * r + 1.0
        x[i] = p * r + 1.0
    bits = scratch.view(np.int64)
    for i in range(nb):
        bits[i] = bits[i] << 52  # now scratch[i] == 2.0 ** n
    for i in range(nb):
        e = x[i] * scratch[i]
        x[i] = 0.0 if e < flush else e  # NaN (from NaN data) stays NaN


def _exp_shifted_32(x, shift, scratch, nb, flush, shifted):
    """The float32 version of :func:`_exp_shifted_inplace` (Taylor series to ``r^7``)."""
    f = np.float32
    log2e, magic, floor = f(_LOG2E), f(_ROUND_MAGIC_32), f(_EXP_FLOOR_32)
    ln2_hi, ln2_lo, threshold = f(_LN2_HI_32), f(_LN2_LO_32), f(flush)
    # Taylor coefficients 1/m!, m = 7 .. 2: the remainder r^8 / 8! is below
    # 6e-9 for |r| <= 0.35, a tenth of float32's rounding.
    c7, c6, c5 = f(1.0 / 5040.0), f(1.0 / 720.0), f(1.0 / 120.0)
    c4, c3, c2, one = f(1.0 / 24.0), f(1.0 / 6.0), f(0.5), f(1.0)
    zero = f(0.0)
    keep = shifted.shape[0] > 0
    for i in range(nb):
        v = max(x[i] - shift[i], floor)
        x[i] = v
        scratch[i] = v * log2e + magic
    if keep:
        for i in range(nb):
            shifted[i] = x[i]
    for i in range(nb):
        n = scratch[i] - magic
        r = (x[i] - n * ln2_hi) - n * ln2_lo
        p = c7 * r + c6
        p = p * r + c5
        p = p * r + c4
        p = p * r + c3
        p = p * r + c2
        p = p * r + one
        x[i] = p * r + one
    bits = scratch.view(np.int32)
    for i in range(nb):
        bits[i] = bits[i] << 23  # now scratch[i] == 2.0 ** n
    for i in range(nb):
        e = x[i] * scratch[i]
        x[i] = zero if e < threshold else e  # NaN (from NaN data) stays NaN


@overload(_exp_shifted_inplace,
          jit_options={"fastmath": {"contract"}, "error_model": ERROR_MODEL})
def _exp_shifted_for_dtype(x, shift, scratch, nb, flush, shifted):
    """The typing-time choice of :func:`_exp_shifted_inplace`'s version for ``x``'s dtype."""
    return _exp_shifted_32 if x.dtype == types.float32 else _exp_shifted_64


def _log_inplace(x, out, scratch, nb):
    """``out[:nb] = log(x[:nb])`` for ``x >= 1`` (a point's total of shares), vectorised.

    NumPy's ``log`` is one libm call per point in Numba code (no vector math
    library here), ~12% of a pass at d = 8, k = 4. Here ``x = 2^e m`` with
    ``m`` in [sqrt(1/2), sqrt(2)), and ``log m = 2 atanh(s)``, ``s = (m - 1) /
    (m + 1)``, by its odd series (|s| < 0.172: 10 terms in float64, 5 in
    float32, below the dtype's rounding). NaN stays NaN. ``scratch`` has
    ``x``'s dtype. Called from kernels only; the overload picks the dtype's
    version.
    """
    raise TypeError("_log_inplace runs inside kernels only")


_SQRT2 = 1.4142135623730951


def _log_64(x, out, scratch, nb):
    """The float64 version of :func:`_log_inplace` (10 terms of the atanh series)."""
    bits = x.view(np.int64)
    mant = scratch.view(np.int64)
    for i in range(nb):
        mant[i] = (bits[i] & 0x000FFFFFFFFFFFFF) | 0x3FF0000000000000  # m in [1, 2)
    for i in range(nb):
        out[i] = (bits[i] >> 52) - 1023  # the exponent e
    for i in range(nb):
        m = scratch[i]
        big = m > _SQRT2
        m = 0.5 * m if big else m
        e = out[i] + 1.0 if big else out[i]
        s = (m - 1.0) / (m + 1.0)
        z = s * s
        p = 1.0 / 19.0
        p = p * z + 1.0 / 17.0
        p = p * z + 1.0 / 15.0
        p = p * z + 1.0 / 13.0
        p = p * z + 1.0 / 11.0
        p = p * z + 1.0 / 9.0
        p = p * z + 1.0 / 7.0
        p = p * z + 1.0 / 5.0
        p = p * z + 1.0 / 3.0
        out[i] = e * _LN2_HI + (e * _LN2_LO + 2.0 * s * (1.0 + z * p))
    for i in range(nb):
        out[i] = out[i] if x[i] == x[i] else x[i]  # NaN stays NaN


def _log_32(x, out, scratch, nb):
    """The float32 version of :func:`_log_inplace` (5 terms of the atanh series)."""
    f = np.float32
    one, half, two, sqrt2 = f(1.0), f(0.5), f(2.0), f(_SQRT2)
    ln2_hi, ln2_lo = f(_LN2_HI_32), f(_LN2_LO_32)
    c9, c7, c5, c3 = f(1.0 / 9.0), f(1.0 / 7.0), f(1.0 / 5.0), f(1.0 / 3.0)
    bits = x.view(np.int32)
    mant = scratch.view(np.int32)
    for i in range(nb):
        mant[i] = (bits[i] & 0x007FFFFF) | 0x3F800000  # m in [1, 2)
    for i in range(nb):
        out[i] = (bits[i] >> 23) - 127  # the exponent e
    for i in range(nb):
        m = scratch[i]
        big = m > sqrt2
        m = half * m if big else m
        e = out[i] + one if big else out[i]
        s = (m - one) / (m + one)
        z = s * s
        p = c9 * z + c7
        p = p * z + c5
        p = p * z + c3
        out[i] = e * ln2_hi + (e * ln2_lo + two * s * (one + z * p))
    for i in range(nb):
        out[i] = out[i] if x[i] == x[i] else x[i]  # NaN stays NaN


@overload(_log_inplace, jit_options={"fastmath": {"contract"}, "error_model": ERROR_MODEL})
def _log_for_dtype(x, out, scratch, nb):
    """The typing-time choice of :func:`_log_inplace`'s version for ``x``'s dtype."""
    return _log_32 if x.dtype == types.float32 else _log_64


@kernel(internal=True, fastmath=FASTMATH)
def _subtract(xt, nb, d, mean, diff):
    """``diff[a, i] = xt[a, i] - mean[a]`` for the ``d`` real features."""
    for a in range(d):
        m = mean[a]
        for i in range(nb):
            diff[a, i] = xt[a, i] - m
