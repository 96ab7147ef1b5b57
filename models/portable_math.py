"""``exp``, ``2 ** y`` and the logistic function on float64 arrays: the same bits on every CPU and in Java.

``np.exp`` and ``np.power`` are not one function: on a CPU with AVX-512 (SKX) numpy calls Intel's SVML,
elsewhere the C library, and the two disagree in the last bit for a few percent of arguments. A score
computed with them depends on the machine, and the JVM scorer (``io.streamflow.detector.ModelScorer``) can
mirror neither. These functions use only IEEE-754 elementwise operations (``+ - * /``, comparisons, integer
bit operations), which round the same everywhere:

- :func:`exp_array` is fdlibm 5.3's ``__ieee754_exp`` step by step, so it equals Java's ``StrictMath.exp``
  (which the Java specification defines as fdlibm's result) bit for bit; error below 1 ulp.
- :func:`exp2_array` is ``2 ** y`` as ``2 ** n * exp(f * ln 2)`` with ``n = rint(y)`` and ``f = y - n``
  (exact), mirrored by ``PortableMath.exp2``; error below 2 ulp.
- :func:`sigmoid_array` is ``fraud_models.scorer``'s ``_sigmoid_array`` over :func:`exp_array`.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["exp2_array", "exp_array", "sigmoid_array"]

Float64Array = npt.NDArray[np.float64]

_LN2_HI = 6.93147180369123816490e-01  # 0x3fe62e42 fee00000: k * _LN2_HI is exact for |k| < 2 ** 20
_LN2_LO = 1.90821492927058770002e-10  # 0x3dea39ef 35793c76
_INV_LN2 = 1.44269504088896338700e00
_P1 = 1.66666666666666019037e-01
_P2 = -2.77777777770155933842e-03
_P3 = 6.61375632143793436117e-05
_P4 = -1.65339022054652515390e-06
_P5 = 4.13813679705723846039e-08
_O_THRESHOLD = 7.09782712893383973096e02
_U_THRESHOLD = -7.45133219101941108420e02
_TWO_M1000 = 2.0**-1000
_LN2 = 0.6931471805599453  # math.log(2)
_EXP2_LIMIT = 1100.0
"""Beyond this |y|, 2 ** y is 0 or infinity (2 ** -1075 already rounds to zero)."""


def exp_array(x: npt.ArrayLike) -> Float64Array:
    """``e ** x`` elementwise, as fdlibm's ``__ieee754_exp`` (Java's ``StrictMath.exp``) computes it.

    fdlibm's three argument reductions are one here: ``k = 0`` below 0.5 ln 2 (``x - 0 * ln2_hi`` and
    ``0 * ln2_lo`` change nothing), ``k = +-1`` up to 1.5 ln 2 (``+-ln2_hi`` exactly), else
    ``(int)(x / ln 2 +- 0.5)``. The rare cases (tiny, huge, NaN, a subnormal result) are patched afterwards.
    """
    x = np.ascontiguousarray(np.atleast_1d(np.asarray(x, dtype=np.float64)))
    hx = (x.view(np.int64) >> 32) & 0x7FFFFFFF
    with np.errstate(all="ignore"):
        kf = np.trunc(x * _INV_LN2 + np.copysign(0.5, x))
        kf[hx <= 0x3FD62E42] = 0.0
        one_ln2 = (hx > 0x3FD62E42) & (hx < 0x3FF0A2B2)
        kf[one_ln2] = np.copysign(1.0, x[one_ln2])
        hi = x - kf * _LN2_HI  # exact
        lo = kf * _LN2_LO
        r = hi - lo
        t = r * r
        c = r - t * (_P1 + t * (_P2 + t * (_P3 + t * (_P4 + t * _P5))))
        rc = r * c
        y = np.where(kf == 0.0, 1.0 - (rc / (c - 2.0) - r), 1.0 - ((lo - rc / (2.0 - c)) - hi))
        k = kf.astype(np.int64)
        out = (y.view(np.int64) + (k << 52)).view(np.float64)  # y * 2 ** k by the exponent field
        low = k < -1021
        if low.any():  # a subnormal result: 2 ** (k + 1000) first, then 2 ** -1000, rounding once
            out[low] = (y[low].view(np.int64) + ((k[low] + 1000) << 52)).view(np.float64) * _TWO_M1000
        tiny = hx < 0x3E300000  # |x| < 2 ** -28
        if tiny.any():
            out[tiny] = 1.0 + x[tiny]
        early = ~((x <= _O_THRESHOLD) & (x >= _U_THRESHOLD))  # NaN, overflow, underflow
        if early.any():
            v = x[early]
            out[early] = np.where(v > _O_THRESHOLD, np.inf, np.where(v < _U_THRESHOLD, 0.0, v + v))
    return np.asarray(out, dtype=np.float64)


def exp2_array(y: npt.ArrayLike) -> Float64Array:
    """``2 ** y`` elementwise as ``2 ** n * exp(f * ln 2)``, ``n = rint(y)``, ``f = y - n``; Java's
    ``PortableMath.exp2``. The power of two is applied as two multiplications by normal doubles, so a
    subnormal result is rounded once."""
    y = np.atleast_1d(np.asarray(y, dtype=np.float64))
    finite = np.abs(y) <= _EXP2_LIMIT
    ys = np.where(finite, y, 0.0)
    n = np.rint(ys)
    r = exp_array((ys - n) * _LN2)
    m = n.astype(np.int64)
    s = np.where(m < -1000, -1000, np.where(m > 1000, 1000, 0))
    with np.errstate(all="ignore"):
        out = r * ((m - s + 1023) << 52).view(np.float64) * ((s + 1023) << 52).view(np.float64)
    if not finite.all():
        out = np.where(finite, out, np.where(np.isnan(y), y, np.where(y > 0, np.inf, 0.0)))
    return np.asarray(out, dtype=np.float64)


def sigmoid_array(z: npt.ArrayLike) -> Float64Array:
    """``1 / (1 + exp(-z))`` for z >= 0, ``e / (1 + e)`` with ``e = exp(z)`` otherwise (NaN included)."""
    z = np.atleast_1d(np.asarray(z, dtype=np.float64))
    pos = z >= 0
    e = exp_array(np.where(pos, -z, z))
    with np.errstate(all="ignore"):
        return np.asarray(np.where(pos, 1.0 / (1.0 + e), e / (1.0 + e)), dtype=np.float64)
