package io.streamflow.detector;

import java.util.List;

/**
 * The feature vector's constants and its stateless parts, mirroring {@code fraud_models.features}
 * ({@code haversine_km}, {@code assemble}); the stateful parts are {@link CustomerFeatureState} and
 * {@link TerminalFeatureState}. Every operation is Python's, in Python's order, so the doubles are the same
 * bits (tests/jobs/flink/jvm/test_features_equal.py); the one exception is the trigonometry of
 * {@link #haversineKm}, see there.
 */
public final class Features {
    private Features() {}

    public static final double DAY_S = 86_400.0;
    public static final double HOUR_S = 3_600.0;
    public static final double DEFAULT_LABEL_DELAY_S = 7 * DAY_S;
    /** The windows of both the customer and the terminal features, in days. */
    static final int[] WINDOWS_DAYS = {1, 7, 30};
    /** {@code MAX_CUSTOMER_PAYMENTS}: the most payments a customer's window keeps (the newest). */
    public static final int MAX_CUSTOMER_PAYMENTS = 1_000;
    /** {@code terminal_fraud_age_h} when no delivered fraud is in the 30-day window. */
    public static final double NO_FRAUD_AGE_H = 24.0 * 30 + 1.0;
    /** The Earth's mean radius: the travel feature's and FR-003's. */
    public static final double EARTH_RADIUS_KM = 6371.0;
    /** {@code FEATURE_SCHEMA_VERSION}. */
    public static final int SCHEMA_VERSION = 2;

    public static final List<String> CUSTOMER_FEATURES =
            List.of(
                    "customer_nb_tx_1d",
                    "customer_avg_amount_1d",
                    "customer_nb_tx_7d",
                    "customer_avg_amount_7d",
                    "customer_nb_tx_30d",
                    "customer_avg_amount_30d",
                    "customer_amount_zscore_30d",
                    "customer_amount_ratio_30d",
                    "customer_nb_tx_1h",
                    "customer_seconds_since_prev",
                    "customer_travel_speed_kmh",
                    "customer_max_amount_ratio_7d");
    public static final List<String> TERMINAL_FEATURES =
            List.of(
                    "terminal_nb_tx_1d",
                    "terminal_risk_1d",
                    "terminal_nb_tx_7d",
                    "terminal_risk_7d",
                    "terminal_nb_tx_30d",
                    "terminal_risk_30d",
                    "terminal_fraud_age_h",
                    "terminal_nb_tx_since_fraud");
    /** {@code FEATURE_NAMES}: the order of {@link #assemble}'s vector. */
    public static final List<String> FEATURE_NAMES = featureNames();

    private static List<String> featureNames() {
        String[] names = new String[4 + CUSTOMER_FEATURES.size() + TERMINAL_FEATURES.size()];
        names[0] = "amount";
        names[1] = "tx_during_weekend";
        names[2] = "tx_during_night";
        names[3] = "tx_hour";
        int i = 4;
        for (String name : CUSTOMER_FEATURES) {
            names[i++] = name;
        }
        for (String name : TERMINAL_FEATURES) {
            names[i++] = name;
        }
        return List.of(names);
    }

    private static final double DEGREES_TO_RADIANS = Math.PI / 180.0;

    /**
     * {@code haversine_km}: great-circle distance in km. The arithmetic is Python's ({@code math.radians} is
     * {@code x * (pi / 180)}, {@code s ** 2} is {@code s * s}), but {@code sin}, {@code cos} and
     * {@code asin} come from {@link StrictMath} (fdlibm) where Python calls the C library, and the two
     * may round differently in the last bit (as may glibc's {@code pow(s, 2)} against {@code s * s}): the
     * distance agrees with Python's to a few ulps, not bit for bit. Neither {@link Math} nor StrictMath
     * matches glibc exactly (on positions around European cities: Math 0.3% of distances off, by at most 3
     * ulps; StrictMath 2.5%, by at most 5); StrictMath is chosen because it gives the same bits on every
     * JVM and CPU, which neither Math's intrinsics nor glibc (whose FMA variants are picked by CPU) promise.
     */
    public static double haversineKm(double lat1, double lon1, double lat2, double lon2) {
        double p1 = lat1 * DEGREES_TO_RADIANS;
        double p2 = lat2 * DEGREES_TO_RADIANS;
        double dp = p2 - p1;
        double dl = (lon2 - lon1) * DEGREES_TO_RADIANS;
        double sp = StrictMath.sin(dp / 2);
        double sl = StrictMath.sin(dl / 2);
        double a = sp * sp + StrictMath.cos(p1) * StrictMath.cos(p2) * (sl * sl);
        return 2 * EARTH_RADIUS_KM * StrictMath.asin(PyMath.min(1.0, Math.sqrt(a)));
    }

    /**
     * {@code assemble}: the full vector in {@link #FEATURE_NAMES} order (amount, weekend, night, hour of the
     * day, then the customer's and the terminal's features).
     */
    public static double[] assemble(double amount, double eventTime, double[] customer, double[] terminal) {
        if (customer.length != CUSTOMER_FEATURES.size() || terminal.length != TERMINAL_FEATURES.size()) {
            throw new IllegalArgumentException(
                    "expected "
                            + CUSTOMER_FEATURES.size()
                            + " customer and "
                            + TERMINAL_FEATURES.size()
                            + " terminal features, got "
                            + customer.length
                            + " and "
                            + terminal.length);
        }
        long day = PyMath.floorDivToLong(eventTime, DAY_S);
        long hour = PyMath.floorDivToLong(eventTime - day * DAY_S, HOUR_S);
        double[] out = new double[4 + customer.length + terminal.length];
        out[0] = amount;
        out[1] = Math.floorMod(day + 3, 7L) >= 5 ? 1.0 : 0.0; // 1970-01-01 was a Thursday (weekday 3)
        out[2] = hour <= 6 ? 1.0 : 0.0;
        out[3] = (double) hour;
        System.arraycopy(customer, 0, out, 4, customer.length);
        System.arraycopy(terminal, 0, out, 4 + customer.length, terminal.length);
        return out;
    }
}
