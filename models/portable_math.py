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
- :func:`log_array` is fdlibm 5.3's ``__ieee754_log`` (Java's ``StrictMath.log``); error below 1 ulp.
  The learned combiner (``fraud_models.combiner``) takes the model's log-odds with it.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["exp2_array", "exp_array", "log_array", "sigmoid_array"]

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
_TWO54 = 1.80143985094819840000e16  # 0x43500000 00000000
_LG1 = 6.666666666666735130e-01  # 0x3FE55555 55555593
_LG2 = 3.999999999940941908e-01  # 0x3FD99999 9997FA04
_LG3 = 2.857142874366239149e-01  # 0x3FD24924 94229359
_LG4 = 2.222219843214978396e-01  # 0x3FCC71C5 1D8E78AF
_LG5 = 1.818357216161805012e-01  # 0x3FC74664 96CB03DE
_LG6 = 1.531383769920937332e-01  # 0x3FC39A09 D078C69F
_LG7 = 1.479819860511658591e-01  # 0x3FC2F112 DF3E5244


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


def log_array(x: npt.ArrayLike) -> Float64Array:
    """``ln x`` elementwise, as fdlibm's ``__ieee754_log`` (Java's ``StrictMath.log``) computes it.

    Every branch of the C code is computed for every element and the element's own branch is picked
    (``np.where``): the operations on each element are fdlibm's, so the rounding is too.
    """
    x = np.array(np.atleast_1d(np.asarray(x, dtype=np.float64)), dtype=np.float64, order="C")
    bits = x.view(np.int64)
    hx = bits >> 32  # the signed high word, as fdlibm's int
    lx = bits & 0xFFFFFFFF
    zero = ((hx & 0x7FFFFFFF) | lx) == 0
    negative = (hx < 0) & ~zero
    special = (hx >= 0x7FF00000) | zero | negative
    k = np.zeros(len(x), dtype=np.int64)
    sub = (hx < 0x00100000) & ~zero & ~negative
    if sub.any():  # subnormal: scaled up by 2 ** 54
        x[sub] *= _TWO54
        k[sub] -= 54
        hx = np.where(sub, x.view(np.int64) >> 32, hx)
        lx = np.where(sub, x.view(np.int64) & 0xFFFFFFFF, lx)
    with np.errstate(all="ignore"):
        k += (hx >> 20) - 1023
        hx = hx & 0x000FFFFF
        i = (hx + 0x95F64) & 0x100000
        xn = (((hx | (i ^ 0x3FF00000)) << 32) | lx).view(np.float64)  # x or x/2, normalised near 1
        k += i >> 20
        f = xn - 1.0
        dk = k.astype(np.float64)
        k0 = k == 0
        # |f| < 2 ** -20
        r_small = f * f * (0.5 - 0.33333333333333333 * f)
        small = np.where(
            f == 0.0,
            np.where(k0, 0.0, dk * _LN2_HI + dk * _LN2_LO),
            np.where(k0, f - r_small, dk * _LN2_HI - ((r_small - dk * _LN2_LO) - f)),
        )
        s = f / (2.0 + f)
        z = s * s
        w = z * z
        t1 = w * (_LG2 + w * (_LG4 + w * _LG6))
        t2 = z * (_LG1 + w * (_LG3 + w * (_LG5 + w * _LG7)))
        r = t2 + t1
        hfsq = 0.5 * f * f
        wide = ((hx - 0x6147A) | (0x6B851 - hx)) > 0
        general = np.where(
            wide,
            np.where(
                k0, f - (hfsq - s * (hfsq + r)), dk * _LN2_HI - ((hfsq - (s * (hfsq + r) + dk * _LN2_LO)) - f)
            ),
            np.where(k0, f - s * (f - r), dk * _LN2_HI - ((s * (f - r) - dk * _LN2_LO) - f)),
        )
        out = np.where((0x000FFFFF & (2 + hx)) < 3, small, general)
        if special.any():
            v = np.asarray(np.atleast_1d(np.asarray(x, dtype=np.float64)))
            out = np.where(zero, -np.inf, np.where(negative, np.nan, np.where(special, v + v, out)))
    return np.asarray(out, dtype=np.float64)
