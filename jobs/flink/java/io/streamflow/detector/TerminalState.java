package io.streamflow.detector;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * {@code fraud_jobs.state.TerminalState}: recent activity of one terminal and the frauds confirmed there by
 * delivered labels, plus the ML feature state as an object (null until first used, where Python holds an
 * empty blob). Fields are public and mutable, like the Python dataclass.
 *
 * <p>{@link #toBytes} writes Python's {@code to_bytes} layout byte for byte, little-endian: {@code <BBBBIII}
 * (version, ring length, fraud ring length, reserved 0, n, labels, fraud labels), three doubles (mean, m2,
 * last ts), the ring, the fraud ring, the feature blob's uint32 length, then the blob
 * ({@link TerminalFeatureState}'s own layout).
 */
public final class TerminalState {
    public static final int VERSION = 1;
    public static final int RING_CAPACITY = CustomerState.RING_CAPACITY;
    /** Delivery times of confirmed frauds kept. */
    public static final int FRAUD_RING_CAPACITY = 8;
    private static final int HEAD_BYTES = 4 + 3 * 4 + 3 * 8;

    public long n;
    public double mean;
    public double m2;
    public double lastTs = Double.NaN;
    /** Labels delivered for this terminal's transactions. */
    public long labels;
    public long fraudLabels;
    /** Null until the ML features first need it (Python: the empty blob). */
    public TerminalFeatureState features;

    private final TimeRing ring = new TimeRing(RING_CAPACITY);
    private final TimeRing fraudRing = new TimeRing(FRAUD_RING_CAPACITY);

    /** {@code observe}: Welford's update, the timestamp into the ring, and the newest time seen. */
    public void observe(double ts, double amount) {
        n += 1;
        double delta = amount - mean;
        mean += delta / n;
        m2 += delta * (amount - mean);
        ring.push(ts);
        if (!(ts <= lastTs)) { // also true when lastTs is NaN
            lastTs = ts;
        }
    }

    /** {@code count_within}: ring timestamps in {@code (sinceTs, untilTs]}. */
    public int countWithin(double sinceTs, double untilTs) {
        return ring.countWithin(sinceTs, untilTs);
    }

    /** {@code add_fraud_label}: the delivery time of a confirmed fraud, keeping the newest eight. */
    public void addFraudLabel(double deliveredTs) {
        fraudRing.push(deliveredTs);
    }

    /**
     * {@code confirmed_frauds}: frauds whose label was delivered in {@code (now - window, now]}, so a label
     * counts only once known.
     */
    public int confirmedFrauds(double nowTs, double windowS) {
        if (fraudRing.size() == 0) {
            return 0;
        }
        return fraudRing.countBetween(nowTs - windowS, nowTs);
    }

    public int ringSize() {
        return ring.size();
    }

    public double ringAt(int i) {
        return ring.get(i);
    }

    public int fraudRingSize() {
        return fraudRing.size();
    }

    public double fraudRingAt(int i) {
        return fraudRing.get(i);
    }

    public byte[] toBytes() {
        int k = ring.size();
        int f = fraudRing.size();
        int blob = features == null ? 0 : features.encodedSize();
        ByteBuffer out = ByteBuffer.allocate(HEAD_BYTES + 8 * (k + f) + 4 + blob);
        out.order(ByteOrder.LITTLE_ENDIAN);
        out.put((byte) VERSION);
        out.put((byte) k);
        out.put((byte) f);
        out.put((byte) 0);
        out.putInt(CustomerState.uint32(n, "n"));
        out.putInt(CustomerState.uint32(labels, "labels"));
        out.putInt(CustomerState.uint32(fraudLabels, "fraud labels"));
        out.putDouble(mean);
        out.putDouble(m2);
        out.putDouble(lastTs);
        ring.writeTo(out);
        fraudRing.writeTo(out);
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
    public static TerminalState fromBytes(byte[] data) {
        if (data.length == 0 || (data[0] & 0xFF) != VERSION) {
            String found = data.length == 0 ? "empty" : Integer.toString(data[0] & 0xFF);
            throw new StateCodecException("terminal state version " + found + ", this code reads " + VERSION);
        }
        int k = data.length > 2 ? data[1] & 0xFF : 0;
        int f = data.length > 2 ? data[2] & 0xFF : 0;
        if (k > RING_CAPACITY || f > FRAUD_RING_CAPACITY) {
            throw new StateCodecException(
                    "terminal state rings of " + k + "/" + f + " entries exceed their capacity");
        }
        int fixed = HEAD_BYTES + 8 * (k + f) + 4;
        if (data.length < fixed) {
            throw new StateCodecException(
                    "terminal state truncated (" + data.length + " bytes, the layout needs " + fixed + ")");
        }
        ByteBuffer in = ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN);
        in.position(4);
        TerminalState st = new TerminalState();
        st.n = in.getInt() & 0xFFFF_FFFFL;
        st.labels = in.getInt() & 0xFFFF_FFFFL;
        st.fraudLabels = in.getInt() & 0xFFFF_FFFFL;
        st.mean = in.getDouble();
        st.m2 = in.getDouble();
        st.lastTs = in.getDouble();
        st.ring.readFrom(in, k);
        st.fraudRing.readFrom(in, f);
        long blob = in.getInt() & 0xFFFF_FFFFL;
        if (fixed + blob != data.length) {
            throw new StateCodecException(
                    "terminal state is "
                            + data.length
                            + " bytes, layout says "
                            + (fixed + blob)
                            + " (blob "
                            + blob
                            + ")");
        }
        if (blob != 0) {
            st.features = TerminalFeatureState.readFrom(in, (int) blob);
        }
        return st;
    }

    /** Same fields, bit for bit (NaN equals NaN), and equal feature states. */
    @Override
    public boolean equals(Object other) {
        if (this == other) {
            return true;
        }
        if (!(other instanceof TerminalState)) {
            return false;
        }
        TerminalState o = (TerminalState) other;
        return n == o.n
                && labels == o.labels
                && fraudLabels == o.fraudLabels
                && Double.compare(mean, o.mean) == 0
                && Double.compare(m2, o.m2) == 0
                && Double.compare(lastTs, o.lastTs) == 0
                && ring.sameAs(o.ring)
                && fraudRing.sameAs(o.fraudRing)
                && (features == null ? o.features == null : features.equals(o.features));
    }

    @Override
    public int hashCode() {
        int h = Long.hashCode(n);
        h = 31 * h + Double.hashCode(mean);
        h = 31 * h + Double.hashCode(lastTs);
        h = 31 * h + ring.hash();
        h = 31 * h + fraudRing.hash();
        return 31 * h + (features == null ? 0 : features.hashCode());
    }

    @Override
    public String toString() {
        return "TerminalState(n=" + n + ", last_ts=" + lastTs + ", ring=" + ring.size() + ", labels=" + labels
                + ", fraud_labels=" + fraudLabels + ", features=" + features + ")";
    }
}
