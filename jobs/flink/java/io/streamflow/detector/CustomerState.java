package io.streamflow.detector;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * {@code fraud_jobs.state.CustomerState}: everything the rules need about one customer, plus the ML feature
 * state as an object (null until first used, where Python holds an empty blob). Fields are public and
 * mutable, like the Python dataclass the detector's logic updates.
 *
 * <p>{@link #toBytes} writes Python's {@code to_bytes} layout byte for byte, little-endian: {@code <BBHII}
 * (version, ring length, reserved 0, n, fraud labels), seven doubles (mean, m2, last ts, geo lat, lon, ts,
 * last fraud label ts), the ring, 24 uint32 hour counts, the feature blob's uint32 length, then the blob
 * ({@link CustomerFeatureState}'s own layout). So either side reads the other's state, and a test compares
 * the bytes.
 */
public final class CustomerState {
    public static final int VERSION = 1;
    /** Recent timestamps kept: bounds the velocity rule's max count (at most 31) and the state size. */
    public static final int RING_CAPACITY = 32;
    private static final int HEAD_BYTES = 1 + 1 + 2 + 4 + 4 + 7 * 8;
    private static final int HOURS_BYTES = 24 * 4;

    /** Transactions seen (the denominator of the running stats and of the hour histogram). */
    public long n;
    public double mean;
    /** Welford's running sum of squared deviations of the amount. */
    public double m2;
    public double lastTs = Double.NaN;
    public double geoLat = Double.NaN;
    public double geoLon = Double.NaN;
    public double geoTs = Double.NaN;
    /** Transactions per hour of the day (UTC). */
    public final long[] hours = new long[24];
    public long fraudLabels;
    public double lastFraudLabelTs = Double.NaN;
    /** Null until the ML features first need it (Python: the empty blob). */
    public CustomerFeatureState features;

    private final TimeRing ring = new TimeRing(RING_CAPACITY);

    /** {@code std}: the sample standard deviation of the amounts, 0 below two transactions. */
    public double std() {
        return n > 1 ? Math.sqrt(m2 / (n - 1)) : 0.0;
    }

    /** {@code observe_amount}: Welford's update of n, mean and m2. */
    public void observeAmount(double amount) {
        n += 1;
        double delta = amount - mean;
        mean += delta / n;
        m2 += delta * (amount - mean);
    }

    /** {@code count_within}: ring timestamps in {@code (sinceTs, untilTs]}. */
    public int countWithin(double sinceTs, double untilTs) {
        return ring.countWithin(sinceTs, untilTs);
    }

    /** {@code push_time}: keep the timestamp among the most recent {@link #RING_CAPACITY}, sorted. */
    public void pushTime(double ts) {
        ring.push(ts);
    }

    public int ringSize() {
        return ring.size();
    }

    /** The i-th oldest timestamp of the ring. */
    public double ringAt(int i) {
        return ring.get(i);
    }

    public byte[] toBytes() {
        int k = ring.size();
        int blob = features == null ? 0 : features.encodedSize();
        ByteBuffer out = ByteBuffer.allocate(HEAD_BYTES + 8 * k + HOURS_BYTES + 4 + blob);
        out.order(ByteOrder.LITTLE_ENDIAN);
        out.put((byte) VERSION);
        out.put((byte) k);
        out.putShort((short) 0);
        out.putInt(uint32(n, "n"));
        out.putInt(uint32(fraudLabels, "fraud labels"));
        out.putDouble(mean);
        out.putDouble(m2);
        out.putDouble(lastTs);
        out.putDouble(geoLat);
        out.putDouble(geoLon);
        out.putDouble(geoTs);
        out.putDouble(lastFraudLabelTs);
        ring.writeTo(out);
        for (long count : hours) {
            out.putInt(uint32(count, "hour count"));
        }
        out.putInt(blob);
        if (features != null) {
            features.writeTo(out);
        }
        return out.array();
    }

    /**
     * Inverse of {@link #toBytes}, also of Python's {@code to_bytes}; a foreign version, a truncated value,
     * a length that disagrees with the layout or a damaged feature blob throws {@link StateCodecException}.
     */
    public static CustomerState fromBytes(byte[] data) {
        if (data.length == 0 || (data[0] & 0xFF) != VERSION) {
            String found = data.length == 0 ? "empty" : Integer.toString(data[0] & 0xFF);
            throw new StateCodecException("customer state version " + found + ", this code reads " + VERSION);
        }
        int k = data.length > 1 ? data[1] & 0xFF : 0;
        if (k > RING_CAPACITY) {
            throw new StateCodecException(
                    "customer state ring of " + k + " entries exceeds " + RING_CAPACITY);
        }
        int fixed = HEAD_BYTES + 8 * k + HOURS_BYTES + 4;
        if (data.length < fixed) {
            throw new StateCodecException(
                    "customer state truncated (" + data.length + " bytes, the layout needs " + fixed + ")");
        }
        ByteBuffer in = ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN);
        in.position(4);
        CustomerState st = new CustomerState();
        st.n = in.getInt() & 0xFFFF_FFFFL;
        st.fraudLabels = in.getInt() & 0xFFFF_FFFFL;
        st.mean = in.getDouble();
        st.m2 = in.getDouble();
        st.lastTs = in.getDouble();
        st.geoLat = in.getDouble();
        st.geoLon = in.getDouble();
        st.geoTs = in.getDouble();
        st.lastFraudLabelTs = in.getDouble();
        st.ring.readFrom(in, k);
        for (int h = 0; h < 24; h++) {
            st.hours[h] = in.getInt() & 0xFFFF_FFFFL;
        }
        long blob = in.getInt() & 0xFFFF_FFFFL;
        if (fixed + blob != data.length) {
            throw new StateCodecException(
                    "customer state is "
                            + data.length
                            + " bytes, layout says "
                            + (fixed + blob)
                            + " (blob "
                            + blob
                            + ")");
        }
        if (blob != 0) {
            st.features = CustomerFeatureState.readFrom(in, (int) blob);
        }
        return st;
    }

    static int uint32(long value, String what) {
        if (value < 0 || value > 0xFFFF_FFFFL) {
            throw new StateCodecException(what + " " + value + " does not fit the state's uint32 field");
        }
        return (int) value;
    }

    /** Same fields, bit for bit (NaN equals NaN), and equal feature states. */
    @Override
    public boolean equals(Object other) {
        if (this == other) {
            return true;
        }
        if (!(other instanceof CustomerState)) {
            return false;
        }
        CustomerState o = (CustomerState) other;
        return n == o.n
                && fraudLabels == o.fraudLabels
                && Double.compare(mean, o.mean) == 0
                && Double.compare(m2, o.m2) == 0
                && Double.compare(lastTs, o.lastTs) == 0
                && Double.compare(geoLat, o.geoLat) == 0
                && Double.compare(geoLon, o.geoLon) == 0
                && Double.compare(geoTs, o.geoTs) == 0
                && Double.compare(lastFraudLabelTs, o.lastFraudLabelTs) == 0
                && Arrays.equals(hours, o.hours)
                && ring.sameAs(o.ring)
                && (features == null ? o.features == null : features.equals(o.features));
    }

    @Override
    public int hashCode() {
        int h = Long.hashCode(n);
        h = 31 * h + Double.hashCode(mean);
        h = 31 * h + Double.hashCode(lastTs);
        h = 31 * h + ring.hash();
        return 31 * h + (features == null ? 0 : features.hashCode());
    }

    @Override
    public String toString() {
        return "CustomerState(n=" + n + ", mean=" + mean + ", last_ts=" + lastTs + ", ring=" + ring.size()
                + ", fraud_labels=" + fraudLabels + ", features=" + features + ")";
    }
}
