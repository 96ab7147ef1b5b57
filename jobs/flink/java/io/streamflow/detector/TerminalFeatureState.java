package io.streamflow.detector;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * {@code fraud_models.features.TerminalFeatureState} and its functions ({@code terminal_features},
 * {@code terminal_observe}, {@code terminal_label}): hourly buckets (hours since the epoch, sorted) of the
 * terminal's transactions and of its delivered fraud labels by transaction hour, as growable int arrays.
 *
 * <p>Encoded exactly as Python's {@code to_bytes} (little-endian {@code <BII} header: version, bucket and
 * fraud bucket counts; then int32 hours, counts, fraud hours, fraud counts).
 */
public final class TerminalFeatureState {
    static final int VERSION = 1;
    static final int HEADER_BYTES = 1 + 4 + 4;

    private final Buckets tx;
    private final Buckets fraud;

    public TerminalFeatureState() {
        this(new Buckets(8), new Buckets(2));
    }

    private TerminalFeatureState(Buckets tx, Buckets fraud) {
        this.tx = tx;
        this.fraud = fraud;
    }

    /** Hour buckets with transactions. */
    public int bucketCount() {
        return tx.size;
    }

    /** Hour buckets with delivered frauds. */
    public int fraudBucketCount() {
        return fraud.size;
    }

    /**
     * {@code terminal_features}: the 8 values of {@link Features#TERMINAL_FEATURES} over the delayed 1/7/30-day
     * windows (the {@code 24 w} whole hours ending {@code ceil(labelDelayS / 1 h)} hours before the current
     * hour). Like Python, it also forgets, about once a day, the buckets no window can reach any more.
     */
    public double[] features(double eventTime, double labelDelayS) {
        long newest = PyMath.floorDivToLong(eventTime, Features.HOUR_S) - delayHours(labelDelayS);
        final int[] hours = tx.hours;
        final int[] counts = tx.counts;
        long oldest = newest - 24L * Features.WINDOWS_DAYS[Features.WINDOWS_DAYS.length - 1];
        if (tx.size != 0 && hours[0] < oldest - 24) { // amortised: about once a day
            tx.dropBefore(oldest);
            fraud.dropBefore(oldest);
        }
        final int[] fhours = fraud.hours;
        final int[] fcounts = fraud.counts;
        int hi = PyMath.bisectLeft(hours, newest, 0, tx.size);
        int fhi = PyMath.bisectLeft(fhours, newest, 0, fraud.size);
        double[] out = new double[8];
        long n = 0;
        long f = 0;
        int lo = hi;
        int flo = fhi;
        int k = 0;
        for (int days : Features.WINDOWS_DAYS) { // nested windows: each bucket is summed once
            long start = newest - 24L * days;
            int newLo = PyMath.bisectLeft(hours, start, 0, lo);
            int newFlo = PyMath.bisectLeft(fhours, start, 0, flo);
            for (int i = newLo; i < lo; i++) {
                n += counts[i];
            }
            for (int i = newFlo; i < flo; i++) {
                f += fcounts[i];
            }
            lo = newLo;
            flo = newFlo;
            out[k++] = (double) n;
            out[k++] = n != 0 ? PyMath.min(1.0, (double) f / (double) n) : 0.0;
        }
        if (fhi > flo) { // delivered frauds in the 30-day window: how old the first, what came after the last
            out[k++] = (double) (newest - fhours[flo]);
            long after = 0;
            for (int i = PyMath.bisectRight(hours, fhours[fhi - 1], lo, hi); i < hi; i++) {
                after += counts[i];
            }
            out[k] = (double) after;
        } else {
            out[k++] = Features.NO_FRAUD_AGE_H;
            out[k] = (double) n;
        }
        return out;
    }

    /** {@code terminal_observe}: record a transaction at the terminal. */
    public void observe(double eventTime) {
        tx.add(PyMath.floorDivToLong(eventTime, Features.HOUR_S));
    }

    /**
     * {@code terminal_label}: a label delivered now for a transaction made at {@code txEventTime}; only frauds
     * change the state (every transaction already counts in the denominator).
     */
    public void label(double txEventTime, boolean isFraud) {
        if (isFraud) {
            fraud.add(PyMath.floorDivToLong(txEventTime, Features.HOUR_S));
        }
    }

    /** {@code _delay_hours}: {@code ceil(delay / 1 h)}; a negative or NaN delay is refused, as in Python. */
    static long delayHours(double labelDelayS) {
        if (labelDelayS < 0 || Double.isNaN(labelDelayS)) {
            throw new IllegalArgumentException("label delay must be >= 0 seconds, got " + labelDelayS);
        }
        double hours = Math.ceil(labelDelayS / Features.HOUR_S);
        if (hours >= 0x1p62) {
            throw new IllegalArgumentException("label delay of " + labelDelayS + " seconds is too large");
        }
        return (long) hours;
    }

    /** Bytes of {@link #writeTo}. */
    public int encodedSize() {
        return HEADER_BYTES + 8 * (tx.size + fraud.size);
    }

    /** Python's {@code to_bytes} layout, little-endian, at the buffer's position. */
    public void writeTo(ByteBuffer out) {
        ByteOrder order = out.order();
        out.order(ByteOrder.LITTLE_ENDIAN);
        out.put((byte) VERSION);
        out.putInt(tx.size);
        out.putInt(fraud.size);
        tx.writeTo(out);
        fraud.writeTo(out);
        out.order(order);
    }

    public byte[] toBytes() {
        ByteBuffer out = ByteBuffer.allocate(encodedSize());
        writeTo(out);
        return out.array();
    }

    public static TerminalFeatureState fromBytes(byte[] data) {
        return readFrom(ByteBuffer.wrap(data), data.length);
    }

    /**
     * Inverse of {@link #writeTo}: reads exactly {@code length} bytes from the buffer's position; throws
     * {@link StateCodecException} on a foreign version or a length that does not match the counts.
     */
    public static TerminalFeatureState readFrom(ByteBuffer in, int length) {
        if (length < HEADER_BYTES) {
            throw new StateCodecException("terminal feature state too short: " + length + " bytes");
        }
        ByteOrder order = in.order();
        in.order(ByteOrder.LITTLE_ENDIAN);
        try {
            int version = in.get() & 0xFF;
            if (version != VERSION) {
                throw new StateCodecException(
                        "terminal feature state version " + version + ", expected " + VERSION);
            }
            long n = in.getInt() & 0xFFFF_FFFFL;
            long m = in.getInt() & 0xFFFF_FFFFL;
            long expected = HEADER_BYTES + 8 * (n + m);
            if (length != expected) {
                throw new StateCodecException(
                        "terminal feature state has " + length + " bytes, expected " + expected);
            }
            Buckets tx = Buckets.readFrom(in, (int) n);
            Buckets fraud = Buckets.readFrom(in, (int) m);
            return new TerminalFeatureState(tx, fraud);
        } finally {
            in.order(order);
        }
    }

    /** Same buckets. */
    @Override
    public boolean equals(Object other) {
        if (this == other) {
            return true;
        }
        if (!(other instanceof TerminalFeatureState)) {
            return false;
        }
        TerminalFeatureState o = (TerminalFeatureState) other;
        return tx.sameAs(o.tx) && fraud.sameAs(o.fraud);
    }

    @Override
    public int hashCode() {
        return 31 * tx.hash() + fraud.hash();
    }

    @Override
    public String toString() {
        return "TerminalFeatureState(" + tx.size + " hours, " + fraud.size + " fraud hours)";
    }

    /** Sorted hours with a count each: {@code _add} and {@code _drop_before} of Python's two list pairs. */
    private static final class Buckets {
        int[] hours;
        int[] counts;
        int size;

        Buckets(int capacity) {
            hours = new int[capacity];
            counts = new int[capacity];
        }

        void add(long hour) {
            int h = toInt(hour);
            if (size != 0 && hours[size - 1] == h) {
                counts[size - 1] += 1;
            } else if (size == 0 || h > hours[size - 1]) {
                insert(size, h);
            } else { // out-of-order event or early label: keep the arrays sorted
                int i = PyMath.bisectLeft(hours, h, 0, size);
                if (i < size && hours[i] == h) {
                    counts[i] += 1;
                } else {
                    insert(i, h);
                }
            }
        }

        private void insert(int i, int hour) {
            if (size == hours.length) {
                int capacity = Math.max(8, size * 2);
                hours = Arrays.copyOf(hours, capacity);
                counts = Arrays.copyOf(counts, capacity);
            }
            System.arraycopy(hours, i, hours, i + 1, size - i);
            System.arraycopy(counts, i, counts, i + 1, size - i);
            hours[i] = hour;
            counts[i] = 1;
            size++;
        }

        void dropBefore(long hour) {
            int cut = PyMath.bisectLeft(hours, hour, 0, size);
            if (cut != 0) {
                System.arraycopy(hours, cut, hours, 0, size - cut);
                System.arraycopy(counts, cut, counts, 0, size - cut);
                size -= cut;
            }
        }

        /** Python stores hours as int32 ({@code array("i")}); an hour beyond it cannot be stored there either. */
        private static int toInt(long hour) {
            if (hour < Integer.MIN_VALUE || hour > Integer.MAX_VALUE) {
                throw new IllegalArgumentException("hour " + hour + " since the epoch is out of the state's range");
            }
            return (int) hour;
        }

        void writeTo(ByteBuffer out) {
            for (int i = 0; i < size; i++) {
                out.putInt(hours[i]);
            }
            for (int i = 0; i < size; i++) {
                out.putInt(counts[i]);
            }
        }

        static Buckets readFrom(ByteBuffer in, int n) {
            Buckets b = new Buckets(Math.max(2, n + 1));
            for (int i = 0; i < n; i++) {
                b.hours[i] = in.getInt();
            }
            for (int i = 0; i < n; i++) {
                b.counts[i] = in.getInt();
            }
            b.size = n;
            return b;
        }

        boolean sameAs(Buckets o) {
            return size == o.size
                    && Arrays.equals(hours, 0, size, o.hours, 0, size)
                    && Arrays.equals(counts, 0, size, o.counts, 0, size);
        }

        int hash() {
            int h = size;
            for (int i = 0; i < size; i++) {
                h = 31 * h + hours[i];
                h = 31 * h + counts[i];
            }
            return h;
        }
    }
}
