package io.streamflow.detector.tools;

import io.streamflow.detector.CustomerFeatureState;
import io.streamflow.detector.CustomerState;
import io.streamflow.detector.Features;
import io.streamflow.detector.PyMath;
import io.streamflow.detector.StateCodecException;
import io.streamflow.detector.TerminalFeatureState;
import io.streamflow.detector.TerminalState;

import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.zip.CRC32;

/**
 * Drives the per-key state and the features through an event sequence for the equality test
 * (tests/jobs/flink/jvm/test_features_equal.py), updating them in the order {@code fraud_jobs.logic}'s
 * {@code terminal_step}, {@code customer_step} and {@code apply_label_*} do, with ML features on.
 *
 * <p>stdin, one event a line, tab-separated, every double as the 16 hex digits of its IEEE-754 bits:
 *
 * <ul>
 *   <li>{@code T customer terminal event_ts amount lat lon} (lat and lon {@code -} without a position):
 *       a transaction. Output: the 24 assembled features, then the customer's n (decimal), mean, std and
 *       count_within(ts - 600, ts) (decimal), the terminal's count_within(ts - 3600, ts) and
 *       confirmed_frauds(ts, 28 days) (decimal), all as of before the transaction; then the CRC-32 of the
 *       terminal's and the customer's state bytes after it (8 hex digits each).
 *   <li>{@code L customer terminal tx_event_ts confirmed_ts 1|0}: a label delivered now, at confirmed_ts.
 *       No output.
 *   <li>{@code D C|T hexbytes}: decode a customer (C) or terminal (T) state. Output {@code ok <hex of
 *       toBytes()>} of the decoded state, or {@code error <message>} for a {@link StateCodecException}.
 * </ul>
 *
 * <p>Every state is encoded, decoded and checked equal after each update, and the decoded copy is the one
 * used next, so the codec is exercised on every event. Argument: the features' label delay in seconds;
 * or {@code --constants} alone, to print the constants and feature names for comparison with Python's.
 */
public final class FeatureDump {
    private static final double VELOCITY_WINDOW_S = 600.0;
    private static final double RECENT_WINDOW_S = 3600.0;
    private static final double RISK_WINDOW_S = 28 * Features.DAY_S;
    private static final char[] HEX = "0123456789abcdef".toCharArray();

    private final double labelDelayS;
    private final Map<String, TerminalState> terminals = new HashMap<>();
    private final Map<String, CustomerState> customers = new HashMap<>();
    private final CRC32 crc = new CRC32();

    private FeatureDump(double labelDelayS) {
        this.labelDelayS = labelDelayS;
    }

    public static void main(String[] args) throws IOException {
        if (args.length == 1 && args[0].equals("--constants")) {
            constants();
            return;
        }
        if (args.length != 1) {
            throw new IllegalArgumentException("usage: FeatureDump LABEL_DELAY_SECONDS < events | --constants");
        }
        FeatureDump dump = new FeatureDump(Double.parseDouble(args[0]));
        BufferedReader in =
                new BufferedReader(new InputStreamReader(System.in, StandardCharsets.US_ASCII), 1 << 16);
        Writer out = new BufferedWriter(new OutputStreamWriter(System.out, StandardCharsets.US_ASCII), 1 << 16);
        StringBuilder line = new StringBuilder(1024);
        int lineNo = 0;
        for (String text = in.readLine(); text != null; text = in.readLine()) {
            lineNo++;
            if (text.isEmpty()) {
                continue;
            }
            line.setLength(0);
            String[] f = text.split("\t", -1);
            try {
                switch (f[0]) {
                    case "T":
                        expect(f, 7);
                        boolean hasGeo = !f[5].equals("-");
                        dump.transaction(
                                f[1], f[2], bits(f[3]), bits(f[4]), hasGeo,
                                hasGeo ? bits(f[5]) : Double.NaN, hasGeo ? bits(f[6]) : Double.NaN, line);
                        break;
                    case "L":
                        expect(f, 6);
                        dump.label(f[1], f[2], bits(f[3]), bits(f[4]), f[5].equals("1"));
                        continue;
                    case "D":
                        expect(f, 3);
                        decode(f[1], f[2], line);
                        break;
                    default:
                        throw new IllegalArgumentException("unknown event kind " + f[0]);
                }
            } catch (RuntimeException e) {
                throw new IllegalArgumentException("line " + lineNo + ": " + e.getMessage(), e);
            }
            out.append(line).append('\n');
        }
        out.flush();
    }

    /** {@code --constants}: {@code name<TAB>value} lines, doubles as their bits, names comma-separated. */
    private static void constants() {
        StringBuilder out = new StringBuilder(2048);
        out.append("FEATURE_NAMES\t").append(String.join(",", Features.FEATURE_NAMES)).append('\n');
        out.append("CUSTOMER_FEATURES\t").append(String.join(",", Features.CUSTOMER_FEATURES)).append('\n');
        out.append("TERMINAL_FEATURES\t").append(String.join(",", Features.TERMINAL_FEATURES)).append('\n');
        double[] doubles = {
            Features.DAY_S, Features.HOUR_S, Features.DEFAULT_LABEL_DELAY_S, Features.NO_FRAUD_AGE_H,
            Features.EARTH_RADIUS_KM
        };
        String[] names = {"DAY_S", "HOUR_S", "DEFAULT_LABEL_DELAY_S", "NO_FRAUD_AGE_H", "EARTH_RADIUS_KM"};
        for (int i = 0; i < names.length; i++) {
            appendBits(out.append(names[i]).append('\t'), doubles[i]).append('\n');
        }
        out.append("FEATURE_SCHEMA_VERSION\t").append(Features.SCHEMA_VERSION).append('\n');
        out.append("CUSTOMER_STATE_VERSION\t").append(CustomerState.VERSION).append('\n');
        out.append("TERMINAL_STATE_VERSION\t").append(TerminalState.VERSION).append('\n');
        out.append("RING_CAPACITY\t").append(CustomerState.RING_CAPACITY).append('\n');
        out.append("FRAUD_RING_CAPACITY\t").append(TerminalState.FRAUD_RING_CAPACITY).append('\n');
        out.append("MAX_CUSTOMER_PAYMENTS\t").append(Features.MAX_CUSTOMER_PAYMENTS).append('\n');
        System.out.print(out);
        System.out.flush();
    }

    private void transaction(
            String customer, String terminal, double ts, double amount, boolean hasGeo, double lat, double lon,
            StringBuilder out) {
        // terminal_step
        TerminalState tst = terminals.computeIfAbsent(terminal, k -> new TerminalState());
        TerminalFeatureState tf = tst.features != null ? tst.features : new TerminalFeatureState();
        double[] terminalFeatures = tf.features(ts, labelDelayS);
        tf.observe(ts);
        tst.features = tf;
        int recent = tst.countWithin(ts - RECENT_WINDOW_S, ts);
        int frauds = tst.confirmedFrauds(ts, RISK_WINDOW_S);
        tst.observe(ts, amount);
        byte[] terminalBytes = tst.toBytes();
        terminals.put(terminal, roundTrip(tst, terminalBytes));

        // customer_step: the rules' view before the transaction, the features, then the updates
        CustomerState cst = customers.computeIfAbsent(customer, k -> new CustomerState());
        long n = cst.n;
        double mean = cst.mean;
        double std = cst.std();
        int velocity = cst.countWithin(ts - VELOCITY_WINDOW_S, ts);
        CustomerFeatureState cf = cst.features != null ? cst.features : new CustomerFeatureState();
        double[] x = Features.assemble(amount, ts, cf.features(ts, amount, hasGeo, lat, lon), terminalFeatures);
        cf.observe(ts, amount, hasGeo, lat, lon);
        cst.features = cf;
        cst.observeAmount(amount);
        cst.pushTime(ts);
        cst.hours[(int) Math.floorMod(PyMath.floorDivToLong(ts, 3600.0), 24L)] += 1;
        if (hasGeo && !(ts < cst.geoTs)) {
            cst.geoLat = lat;
            cst.geoLon = lon;
            cst.geoTs = ts;
        }
        if (!(ts <= cst.lastTs)) {
            cst.lastTs = ts;
        }
        byte[] customerBytes = cst.toBytes();
        customers.put(customer, roundTrip(cst, customerBytes));

        for (double v : x) {
            appendBits(out, v).append('\t');
        }
        out.append(n).append('\t');
        appendBits(out, mean).append('\t');
        appendBits(out, std).append('\t');
        out.append(velocity).append('\t').append(recent).append('\t').append(frauds).append('\t');
        appendCrc(out, terminalBytes).append('\t');
        appendCrc(out, customerBytes);
    }

    /** apply_label_terminal then apply_label_customer. */
    private void label(String customer, String terminal, double txTs, double confirmedTs, boolean isFraud) {
        TerminalState tst = terminals.computeIfAbsent(terminal, k -> new TerminalState());
        tst.labels += 1;
        if (isFraud) {
            tst.fraudLabels += 1;
            tst.addFraudLabel(confirmedTs);
            TerminalFeatureState tf = tst.features != null ? tst.features : new TerminalFeatureState();
            tf.label(txTs, true);
            tst.features = tf;
        }
        terminals.put(terminal, roundTrip(tst, tst.toBytes()));

        CustomerState cst = customers.get(customer);
        if (!isFraud && cst != null) {
            return;
        }
        if (cst == null) {
            cst = new CustomerState();
        }
        if (isFraud) {
            cst.fraudLabels += 1;
            if (!(confirmedTs <= cst.lastFraudLabelTs)) {
                cst.lastFraudLabelTs = confirmedTs;
            }
        }
        customers.put(customer, roundTrip(cst, cst.toBytes()));
    }

    private static TerminalState roundTrip(TerminalState st, byte[] data) {
        TerminalState back = TerminalState.fromBytes(data);
        if (!back.equals(st) || !Arrays.equals(back.toBytes(), data)) {
            throw new IllegalStateException("terminal state changed in a round trip: " + st + " vs " + back);
        }
        return back;
    }

    private static CustomerState roundTrip(CustomerState st, byte[] data) {
        CustomerState back = CustomerState.fromBytes(data);
        if (!back.equals(st) || !Arrays.equals(back.toBytes(), data)) {
            throw new IllegalStateException("customer state changed in a round trip: " + st + " vs " + back);
        }
        return back;
    }

    private static void decode(String kind, String hex, StringBuilder out) {
        byte[] data = new byte[hex.length() / 2];
        for (int i = 0; i < data.length; i++) {
            data[i] = (byte) Integer.parseInt(hex.substring(2 * i, 2 * i + 2), 16);
        }
        byte[] again;
        try {
            switch (kind) {
                case "C":
                    again = CustomerState.fromBytes(data).toBytes();
                    break;
                case "T":
                    again = TerminalState.fromBytes(data).toBytes();
                    break;
                default:
                    throw new IllegalArgumentException("unknown state kind " + kind);
            }
        } catch (StateCodecException e) {
            out.append("error\t").append(e.getMessage());
            return;
        }
        out.append("ok\t");
        for (byte b : again) {
            out.append(HEX[(b >> 4) & 0xF]).append(HEX[b & 0xF]);
        }
    }

    private static void expect(String[] fields, int count) {
        if (fields.length != count) {
            throw new IllegalArgumentException(
                    "a " + fields[0] + " event has " + count + " fields, got " + fields.length);
        }
    }

    private static double bits(String hex) {
        return Double.longBitsToDouble(Long.parseUnsignedLong(hex, 16));
    }

    private static StringBuilder appendBits(StringBuilder out, double v) {
        long bits = Double.doubleToRawLongBits(v);
        for (int shift = 60; shift >= 0; shift -= 4) {
            out.append(HEX[(int) (bits >>> shift) & 0xF]);
        }
        return out;
    }

    private StringBuilder appendCrc(StringBuilder out, byte[] data) {
        crc.reset();
        crc.update(data);
        long value = crc.getValue();
        for (int shift = 28; shift >= 0; shift -= 4) {
            out.append(HEX[(int) (value >>> shift) & 0xF]);
        }
        return out;
    }
}
