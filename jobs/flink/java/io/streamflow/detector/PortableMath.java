package io.streamflow.detector;

/**
 * The link functions of the compiled models, mirroring {@code fraud_models.portable_math} bit for bit.
 *
 * <p>{@code exp} is {@link StrictMath#exp}: the Java specification fixes its result to fdlibm's, and the
 * Python side runs fdlibm's algorithm in elementwise numpy. numpy's own {@code np.exp} and {@code 2.0 ** y}
 * call Intel's SVML on AVX-512 CPUs and the C library elsewhere, which differ from each other (and from
 * fdlibm and {@link Math#exp}) in the last bit for a few percent of arguments, so no Java function can
 * match them on every machine.
 */
public final class PortableMath {
    private static final double LN2 = 0x1.62e42fefa39efp-1;
    private static final double EXP2_LIMIT = 1100.0;

    private PortableMath() {}

    /** {@code e ** x}: fdlibm's {@code __ieee754_exp} (error below 1 ulp). */
    public static double exp(double x) {
        return StrictMath.exp(x);
    }

    /**
     * {@code 2 ** y} as {@code 2 ** n * exp(f * ln 2)} with {@code n = rint(y)} and {@code f = y - n} (exact);
     * the power of two is applied as two multiplications by normal doubles, so a subnormal result is rounded
     * once. Error below 2 ulp.
     */
    public static double exp2(double y) {
        if (!(Math.abs(y) <= EXP2_LIMIT)) {
            if (Double.isNaN(y)) {
                return y;
            }
            return y > 0 ? Double.POSITIVE_INFINITY : 0.0;
        }
        double n = Math.rint(y);
        double r = StrictMath.exp((y - n) * LN2);
        long m = (long) n;
        long s = m < -1000 ? -1000 : (m > 1000 ? 1000 : 0);
        return r * Double.longBitsToDouble((m - s + 1023) << 52) * Double.longBitsToDouble((s + 1023) << 52);
    }

    /** {@code ln x}: fdlibm's {@code __ieee754_log} (error below 1 ulp), as {@code portable_math.log_array}. */
    public static double log(double x) {
        return StrictMath.log(x);
    }

    /** {@code 1 / (1 + exp(-z))} for {@code z >= 0}, else {@code e / (1 + e)} with {@code e = exp(z)} (NaN too). */
    public static double sigmoid(double z) {
        if (z >= 0) {
            return 1.0 / (1.0 + StrictMath.exp(-z));
        }
        double e = StrictMath.exp(z);
        return e / (1.0 + e);
    }
}
