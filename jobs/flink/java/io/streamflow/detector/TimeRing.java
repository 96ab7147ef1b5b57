package io.streamflow.detector;

import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * The most recent timestamps of a key, sorted, at most {@code capacity}: the {@code ring} and
 * {@code fraud_ring} lists of {@code fraud_jobs.state}. A timestamp goes in after the equal ones already
 * there ({@code insort}, or {@code append} then {@code sort}, which is the same for a sorted list), then the
 * oldest is dropped if the ring is over capacity, so an out-of-order timestamp older than all of a full
 * ring leaves it unchanged, as in Python.
 */
final class TimeRing {
    private final double[] values;
    private int size;

    TimeRing(int capacity) {
        values = new double[capacity + 1];
    }

    int size() {
        return size;
    }

    int capacity() {
        return values.length - 1;
    }

    double get(int i) {
        if (i < 0 || i >= size) {
            throw new IndexOutOfBoundsException("entry " + i + " of " + size);
        }
        return values[i];
    }

    void push(double ts) {
        if (size == 0 || ts >= values[size - 1]) {
            values[size] = ts;
        } else {
            int i = PyMath.bisectRight(values, ts, 0, size);
            System.arraycopy(values, i, values, i + 1, size - i);
            values[i] = ts;
        }
        size++;
        if (size > capacity()) {
            System.arraycopy(values, 1, values, 0, size - 1);
            size--;
        }
    }

    /** {@code count_within}: timestamps in {@code (sinceTs, untilTs]}. */
    int countWithin(double sinceTs, double untilTs) {
        return PyMath.bisectRight(values, untilTs, 0, size) - PyMath.bisectRight(values, sinceTs, 0, size);
    }

    /** Timestamps in {@code (since, until]}. */
    int countBetween(double since, double until) {
        int count = 0;
        for (int i = 0; i < size; i++) {
            double ts = values[i];
            if (since < ts && ts <= until) {
                count++;
            }
        }
        return count;
    }

    void writeTo(ByteBuffer out) {
        for (int i = 0; i < size; i++) {
            out.putDouble(values[i]);
        }
    }

    /** Reads {@code n} (at most the capacity, checked by the caller) doubles as they were written. */
    void readFrom(ByteBuffer in, int n) {
        for (int i = 0; i < n; i++) {
            values[i] = in.getDouble();
        }
        size = n;
    }

    boolean sameAs(TimeRing o) {
        return size == o.size && Arrays.equals(values, 0, size, o.values, 0, size);
    }

    int hash() {
        int h = size;
        for (int i = 0; i < size; i++) {
            h = 31 * h + Double.hashCode(values[i]);
        }
        return h;
    }
}
