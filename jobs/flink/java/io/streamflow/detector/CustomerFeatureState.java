package io.streamflow.detector;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * {@code fraud_models.features.CustomerFeatureState} and its functions ({@code customer_features},
 * {@code customer_observe}): the last 30 days of one customer's transactions (at most the newest
 * {@link Features#MAX_CUSTOMER_PAYMENTS}), sorted by time, as two parallel growable arrays, and the last
 * known position.
 *
 * <p>Encoded exactly as Python's {@code to_bytes} (little-endian {@code <BIddd} header: version, count,
 * last lat, lon and geo time; then the times, then the amounts), so a state written by either side reads
 * on the other and the tests compare bytes.
 */
public final class CustomerFeatureState {
    static final int VERSION = 1;
    static final int HEADER_BYTES = 1 + 4 + 3 * 8;
    private static final double CUSTOMER_HORIZON_S = 30 * Features.DAY_S;
    private static final double NO_PREVIOUS_S = 30 * Features.DAY_S;
    private static final double MIN_TRAVEL_HOURS = 1.0 / 60.0;
    private static final double MIN_MEDIAN = 1e-9;

    private double[] times;
    private double[] amounts;
    private int size;
    private double lastLat = Double.NaN;
    private double lastLon = Double.NaN;
    private double lastGeoTime = Double.NaN;

    public CustomerFeatureState() {
        this(8);
    }

    private CustomerFeatureState(int capacity) {
        times = new double[capacity];
        amounts = new double[capacity];
    }

    /** Transactions held (those of the last 30 days before the newest). */
    public int size() {
        return size;
    }

    public double time(int i) {
        return times[checkIndex(i)];
    }

    public double amount(int i) {
        return amounts[checkIndex(i)];
    }

    public double lastLat() {
        return lastLat;
    }

    public double lastLon() {
        return lastLon;
    }

    /** NaN until a transaction with a position was observed. */
    public double lastGeoTime() {
        return lastGeoTime;
    }

    private int checkIndex(int i) {
        if (i < 0 || i >= size) {
            throw new IndexOutOfBoundsException("entry " + i + " of " + size);
        }
        return i;
    }

    /**
     * {@code customer_features}: the 12 values of {@link Features#CUSTOMER_FEATURES} for a transaction at
     * {@code eventTime} (the transaction itself included in the windows), before it is observed.
     */
    public double[] features(double eventTime, double amount, boolean hasGeo, double lat, double lon) {
        final double[] t = times;
        final double[] a = amounts;
        int hi = PyMath.bisectRight(t, eventTime, 0, size); // later entries exist only for out-of-order input
        int lo1 = PyMath.bisectRight(t, eventTime - Features.DAY_S, 0, hi);
        int lo7 = PyMath.bisectRight(t, eventTime - 7 * Features.DAY_S, 0, lo1);
        int lo30 = PyMath.bisectRight(t, eventTime - 30 * Features.DAY_S, 0, lo7);
        // Each slice is summed on its own, left to right, then added: Python's sum() per slice.
        double s1 = sum(a, lo1, hi);
        double s7 = s1 + sum(a, lo7, lo1);
        double s30 = s7 + sum(a, lo30, lo7);
        double n1 = hi - lo1 + 1;
        double n7 = hi - lo7 + 1;
        double n30 = hi - lo30 + 1;
        double[] out = new double[12];
        out[0] = n1;
        out[1] = (s1 + amount) / n1;
        out[2] = n7;
        out[3] = (s7 + amount) / n7;
        out[4] = n30;
        out[5] = (s30 + amount) / n30;
        int n = hi - lo30;
        if (n != 0) {
            double mean = s30 / n;
            double squares = 0.0;
            for (int i = lo30; i < hi; i++) {
                squares += a[i] * a[i];
            }
            double var = PyMath.max(0.0, squares / n - mean * mean);
            out[6] = (amount - mean) / PyMath.max(Math.sqrt(var), 1.0);
            out[7] = mean > 0 ? amount / mean : 1.0;
        } else {
            out[6] = 0.0;
            out[7] = 1.0;
        }
        out[8] = hi - PyMath.bisectRight(t, eventTime - Features.HOUR_S, lo1, hi) + 1;
        out[9] = hi != 0 ? eventTime - t[hi - 1] : NO_PREVIOUS_S;
        double speed = 0.0;
        if (hasGeo && !Double.isNaN(lastGeoTime)) {
            double hours = PyMath.max((eventTime - lastGeoTime) / Features.HOUR_S, MIN_TRAVEL_HOURS);
            speed = Features.haversineKm(lastLat, lastLon, lat, lon) / hours;
        }
        out[10] = speed;
        if (n != 0 && lo7 < hi) {
            double largest = a[lo7];
            for (int i = lo7 + 1; i < hi; i++) {
                if (a[i] > largest) {
                    largest = a[i];
                }
            }
            out[11] = largest / PyMath.max(median(a, lo30, hi), MIN_MEDIAN);
        } else {
            out[11] = 0.0;
        }
        return out;
    }

    /**
     * {@code customer_observe}: record a transaction and forget those older than the longest window or
     * beyond the newest {@link Features#MAX_CUSTOMER_PAYMENTS}.
     */
    public void observe(double eventTime, double amount, boolean hasGeo, double lat, double lon) {
        if (size == 0 || eventTime >= times[size - 1]) {
            ensureCapacity(size + 1);
            times[size] = eventTime;
            amounts[size] = amount;
            size++;
        } else { // out-of-order event: keep the arrays sorted
            int i = PyMath.bisectRight(times, eventTime, 0, size);
            ensureCapacity(size + 1);
            System.arraycopy(times, i, times, i + 1, size - i);
            System.arraycopy(amounts, i, amounts, i + 1, size - i);
            times[i] = eventTime;
            amounts[i] = amount;
            size++;
        }
        int cut =
                Math.max(
                        PyMath.bisectRight(times, times[size - 1] - CUSTOMER_HORIZON_S, 0, size),
                        size - Features.MAX_CUSTOMER_PAYMENTS);
        if (cut != 0) {
            System.arraycopy(times, cut, times, 0, size - cut);
            System.arraycopy(amounts, cut, amounts, 0, size - cut);
            size -= cut;
        }
        if (hasGeo && !(lastGeoTime > eventTime)) {
            lastLat = lat;
            lastLon = lon;
            lastGeoTime = eventTime;
        }
    }

    private void ensureCapacity(int needed) {
        if (needed > times.length) {
            int capacity = Math.max(needed, times.length * 2);
            times = Arrays.copyOf(times, capacity);
            amounts = Arrays.copyOf(amounts, capacity);
        }
    }

    /** {@code sum(a[lo:hi])} of floats: left to right from 0 (Python 3.11's plain float sum). */
    private static double sum(double[] a, int lo, int hi) {
        double s = 0.0;
        for (int i = lo; i < hi; i++) {
            s += a[i];
        }
        return s;
    }

    /**
     * {@code statistics.median(a[lo:hi])}: the middle value, or the mean of the two middle ones. Found by
     * selection, in time linear in the window on average, not by sorting it, which for a customer with
     * thousands of transactions in 30 days would be a sort of them all on every event. Order statistics
     * under {@link Arrays#sort}'s order ({@link Double#compare}), so the values a sort puts in the middle.
     */
    private static double median(double[] a, int lo, int hi) {
        double[] s = Arrays.copyOfRange(a, lo, hi);
        int n = s.length;
        int k = n / 2;
        select(s, k);
        if (n % 2 == 1) {
            return s[k];
        }
        double below = s[0];
        for (int i = 1; i < k; i++) {
            if (Double.compare(s[i], below) > 0) {
                below = s[i];
            }
        }
        return (below + s[k]) / 2;
    }

    /**
     * Rearranges {@code s} so that {@code s[k]} holds what a sort would put there, with nothing larger
     * before it and nothing smaller after it (Hoare's selection; a sort of what is left after more rounds
     * than twice the bits of the length, so no input makes it quadratic).
     */
    private static void select(double[] s, int k) {
        int left = 0;
        int right = s.length - 1;
        int rounds = 2 * (32 - Integer.numberOfLeadingZeros(s.length));
        while (right > left) {
            if (rounds-- == 0) {
                Arrays.sort(s, left, right + 1);
                return;
            }
            double pivot = middleOfThree(s[left], s[(left + right) >>> 1], s[right]);
            int i = left;
            int j = right;
            while (i <= j) { // the pivot is one of the values, so both scans stop inside the range
                while (Double.compare(s[i], pivot) < 0) {
                    i++;
                }
                while (Double.compare(s[j], pivot) > 0) {
                    j--;
                }
                if (i <= j) {
                    double swap = s[i];
                    s[i] = s[j];
                    s[j] = swap;
                    i++;
                    j--;
                }
            }
            if (k <= j) { // s[left..j] <= pivot <= s[i..right]; what lies between equals the pivot
                right = j;
            } else if (k >= i) {
                left = i;
            } else {
                return;
            }
        }
    }

    private static double middleOfThree(double x, double y, double z) {
        if (Double.compare(x, y) > 0) {
            double swap = x;
            x = y;
            y = swap;
        }
        if (Double.compare(y, z) > 0) {
            y = z;
        }
        return Double.compare(x, y) > 0 ? x : y;
    }

    /** Bytes of {@link #writeTo}. */
    public int encodedSize() {
        return HEADER_BYTES + 16 * size;
    }

    /** Python's {@code to_bytes} layout, little-endian, at the buffer's position. */
    public void writeTo(ByteBuffer out) {
        ByteOrder order = out.order();
        out.order(ByteOrder.LITTLE_ENDIAN);
        out.put((byte) VERSION);
        out.putInt(size);
        out.putDouble(lastLat);
        out.putDouble(lastLon);
        out.putDouble(lastGeoTime);
        for (int i = 0; i < size; i++) {
            out.putDouble(times[i]);
        }
        for (int i = 0; i < size; i++) {
            out.putDouble(amounts[i]);
        }
        out.order(order);
    }

    public byte[] toBytes() {
        ByteBuffer out = ByteBuffer.allocate(encodedSize());
        writeTo(out);
        return out.array();
    }

    public static CustomerFeatureState fromBytes(byte[] data) {
        return readFrom(ByteBuffer.wrap(data), data.length);
    }

    /**
     * Inverse of {@link #writeTo}: reads exactly {@code length} bytes from the buffer's position; throws
     * {@link StateCodecException} on a foreign version or a length that does not match the count.
     */
    public static CustomerFeatureState readFrom(ByteBuffer in, int length) {
        if (length < HEADER_BYTES) {
            throw new StateCodecException("customer feature state too short: " + length + " bytes");
        }
        ByteOrder order = in.order();
        in.order(ByteOrder.LITTLE_ENDIAN);
        try {
            int version = in.get() & 0xFF;
            if (version != VERSION) {
                throw new StateCodecException(
                        "customer feature state version " + version + ", expected " + VERSION);
            }
            long n = in.getInt() & 0xFFFF_FFFFL;
            long expected = HEADER_BYTES + 16 * n;
            if (length != expected) {
                throw new StateCodecException(
                        "customer feature state has "
                                + length
                                + " bytes, expected "
                                + expected
                                + " for "
                                + n
                                + " entries");
            }
            CustomerFeatureState st = new CustomerFeatureState(Math.max(8, (int) n + 1));
            st.lastLat = in.getDouble();
            st.lastLon = in.getDouble();
            st.lastGeoTime = in.getDouble();
            st.size = (int) n;
            for (int i = 0; i < n; i++) {
                st.times[i] = in.getDouble();
            }
            for (int i = 0; i < n; i++) {
                st.amounts[i] = in.getDouble();
            }
            return st;
        } finally {
            in.order(order);
        }
    }

    /** Same entries and position, bit for bit (NaN equals NaN). */
    @Override
    public boolean equals(Object other) {
        if (this == other) {
            return true;
        }
        if (!(other instanceof CustomerFeatureState)) {
            return false;
        }
        CustomerFeatureState o = (CustomerFeatureState) other;
        return size == o.size
                && Double.compare(lastLat, o.lastLat) == 0
                && Double.compare(lastLon, o.lastLon) == 0
                && Double.compare(lastGeoTime, o.lastGeoTime) == 0
                && Arrays.equals(times, 0, size, o.times, 0, size)
                && Arrays.equals(amounts, 0, size, o.amounts, 0, size);
    }

    @Override
    public int hashCode() {
        int h = size;
        for (int i = 0; i < size; i++) {
            h = 31 * h + Double.hashCode(times[i]);
            h = 31 * h + Double.hashCode(amounts[i]);
        }
        return 31 * h + Double.hashCode(lastGeoTime);
    }

    @Override
    public String toString() {
        return "CustomerFeatureState(" + size + " entries, last geo time " + lastGeoTime + ")";
    }
}
