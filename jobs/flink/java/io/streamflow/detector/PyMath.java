package io.streamflow.detector;

/**
 * Python's semantics for the few operations the features and the state use, so the Java results are the
 * same doubles: float floor division, {@code bisect} on sorted arrays (comparisons with {@code <} only, as
 * Python's), and two-argument {@code max}/{@code min}, which keep the first argument unless the second
 * compares strictly greater/smaller (NaN and signed zeros then come out as in Python, not as
 * {@link Math#max}).
 */
public final class PyMath {
    private PyMath() {}

    /**
     * {@code vx // wx} for floats, as CPython's {@code float_floor_div}: from the exact {@code fmod} (Java's
     * {@code %} on doubles), snapped to the nearest integral value; not {@code Math.floor(vx / wx)}, which
     * differs where the quotient rounds up to an integer.
     */
    public static double floorDiv(double vx, double wx) {
        double mod = vx % wx;
        double div = (vx - mod) / wx;
        if (mod != 0.0) {
            if ((wx < 0) != (mod < 0)) {
                div -= 1.0;
            }
        }
        double floordiv;
        if (div != 0.0) {
            floordiv = Math.floor(div);
            if (div - floordiv > 0.5) {
                floordiv += 1.0;
            }
        } else {
            floordiv = Math.copySign(0.0, vx / wx);
        }
        return floordiv;
    }

    /**
     * {@code int(vx // wx)} for a finite quotient; Python raises for NaN or infinity, so does this (an
     * {@link IllegalArgumentException} naming the value).
     */
    public static long floorDivToLong(double vx, double wx) {
        double q = floorDiv(vx, wx);
        if (Double.isNaN(q) || Double.isInfinite(q) || Math.abs(q) >= 0x1p63) {
            throw new IllegalArgumentException("cannot convert " + vx + " // " + wx + " to an integer");
        }
        return (long) q;
    }

    /** {@code max(a, b)}: {@code b} only if {@code b > a}. */
    public static double max(double a, double b) {
        return b > a ? b : a;
    }

    /** {@code min(a, b)}: {@code b} only if {@code b < a}. */
    public static double min(double a, double b) {
        return b < a ? b : a;
    }

    /** {@code bisect.bisect_right(a[lo:hi], x)} + lo, over the sorted prefix of a primitive array. */
    public static int bisectRight(double[] a, double x, int lo, int hi) {
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            if (x < a[mid]) {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        return lo;
    }

    /** {@code bisect.bisect_right} over int values with a long key (Python ints do not overflow). */
    public static int bisectRight(int[] a, long x, int lo, int hi) {
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            if (x < a[mid]) {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        return lo;
    }

    /** {@code bisect.bisect_left} over int values with a long key. */
    public static int bisectLeft(int[] a, long x, int lo, int hi) {
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            if (a[mid] < x) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        return lo;
    }
}
