package io.streamflow.detector.tools;

import io.streamflow.detector.CanonicalJson;
import io.streamflow.detector.ParsedLabel;
import io.streamflow.detector.ParsedTransaction;
import io.streamflow.detector.RecordParser;

import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;

/**
 * Runs {@link RecordParser} on payloads for the equality test, or times it.
 *
 * <p>stdin: one payload a line, {@code T <base64>} (transaction) or {@code L <base64>} (label). stdout: one
 * JSON line each, {@code {"deferred":true}} or the parsed fields, doubles as their raw IEEE bits (a signed
 * long) and the record's {@code toJson()} last, under {@code "record"}.
 *
 * <p>{@code --bench N}: parses the given payloads round-robin, N times per kind after a warm-up, and prints
 * {@code {"transaction_ns":..,"label_ns":..}}: nanoseconds per parse.
 *
 * <p>{@code --spell}: stdin lines of doubles as raw IEEE bits (a signed long); stdout each as
 * {@link CanonicalJson#appendDouble} writes it.
 */
public final class ParseCheck {
    private ParseCheck() {}

    public static void main(String[] args) throws IOException {
        if (args.length == 1 && args[0].equals("--spell")) {
            spell();
            return;
        }
        List<byte[]> transactions = new ArrayList<>();
        List<byte[]> labels = new ArrayList<>();
        List<Boolean> order = new ArrayList<>();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.US_ASCII));
        for (String line = in.readLine(); line != null; line = in.readLine()) {
            if (line.isEmpty()) {
                continue;
            }
            if (line.length() < 2 || line.charAt(1) != ' ' || (line.charAt(0) != 'T' && line.charAt(0) != 'L')) {
                throw new IllegalArgumentException("expected 'T <base64>' or 'L <base64>', got: " + line);
            }
            byte[] raw = Base64.getDecoder().decode(line.substring(2));
            boolean isTransaction = line.charAt(0) == 'T';
            (isTransaction ? transactions : labels).add(raw);
            order.add(isTransaction);
        }
        if (args.length == 2 && args[0].equals("--bench")) {
            bench(transactions, labels, Long.parseLong(args[1]));
            return;
        }
        if (args.length != 0) {
            throw new IllegalArgumentException("usage: ParseCheck [--bench N] < payloads");
        }
        Writer out = new BufferedWriter(new OutputStreamWriter(System.out, StandardCharsets.UTF_8), 1 << 16);
        int t = 0;
        int l = 0;
        StringBuilder line = new StringBuilder(512);
        for (boolean isTransaction : order) {
            line.setLength(0);
            if (isTransaction) {
                describe(line, RecordParser.transaction(transactions.get(t++)));
            } else {
                describe(line, RecordParser.label(labels.get(l++)));
            }
            out.append(line).append('\n');
        }
        out.flush();
    }

    private static void spell() throws IOException {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.US_ASCII));
        Writer out = new BufferedWriter(new OutputStreamWriter(System.out, StandardCharsets.UTF_8), 1 << 16);
        StringBuilder line = new StringBuilder(32);
        for (String bits = in.readLine(); bits != null; bits = in.readLine()) {
            line.setLength(0);
            CanonicalJson.appendDouble(line, Double.longBitsToDouble(Long.parseLong(bits.trim())));
            out.append(line).append('\n');
        }
        out.flush();
    }

    private static void describe(StringBuilder out, ParsedTransaction tx) {
        if (tx == null) {
            out.append("{\"deferred\":true}");
            return;
        }
        out.append("{\"deferred\":false");
        out.append(",\"schema_version\":").append(tx.schemaVersion);
        out.append(",\"amount_bits\":").append(bits(tx.amount));
        out.append(",\"event_micros\":").append(tx.eventMicros);
        out.append(",\"event_time_bits\":").append(bits(tx.eventTime()));
        out.append(",\"has_geo\":").append(tx.hasGeo);
        out.append(",\"lat_bits\":").append(bits(tx.lat));
        out.append(",\"lon_bits\":").append(bits(tx.lon));
        out.append(",\"future_version\":").append(tx.isFutureVersion());
        out.append(",\"record\":").append(tx.toJson()).append('}');
    }

    private static void describe(StringBuilder out, ParsedLabel label) {
        if (label == null) {
            out.append("{\"deferred\":true}");
            return;
        }
        out.append("{\"deferred\":false");
        out.append(",\"schema_version\":").append(label.schemaVersion);
        out.append(",\"is_fraud\":").append(label.isFraud);
        out.append(",\"confirmed_micros\":").append(label.confirmedMicros);
        out.append(",\"confirmed_time_bits\":").append(bits(label.confirmedTime()));
        out.append(",\"tx_event_micros\":").append(label.txEventMicros);
        out.append(",\"tx_event_time_bits\":").append(bits(label.txEventTime()));
        out.append(",\"record\":").append(label.toJson()).append('}');
    }

    private static long bits(double d) {
        return Double.doubleToRawLongBits(d);
    }

    private static void bench(List<byte[]> transactions, List<byte[]> labels, long n) {
        long sink = 0;
        for (int round = 0; round < 3; round++) { // warm-up: let the JIT compile both paths
            sink += loopTransactions(transactions, Math.min(n, 200_000));
            sink += loopLabels(labels, Math.min(n, 200_000));
        }
        long started = System.nanoTime();
        sink += loopTransactions(transactions, n);
        double transactionNs = (System.nanoTime() - started) / (double) n;
        started = System.nanoTime();
        sink += loopLabels(labels, n);
        double labelNs = (System.nanoTime() - started) / (double) n;
        System.out.printf(
                "{\"transaction_ns\":%.1f,\"label_ns\":%.1f,\"transactions\":%d,\"labels\":%d,\"sink\":%d}%n",
                transactions.isEmpty() ? Double.NaN : transactionNs,
                labels.isEmpty() ? Double.NaN : labelNs,
                transactions.size(),
                labels.size(),
                sink);
    }

    private static long loopTransactions(List<byte[]> payloads, long n) {
        long sink = 0;
        for (long i = 0; i < n && !payloads.isEmpty(); i++) {
            ParsedTransaction tx = RecordParser.transaction(payloads.get((int) (i % payloads.size())));
            sink += tx == null ? 1 : tx.eventMicros;
        }
        return sink;
    }

    private static long loopLabels(List<byte[]> payloads, long n) {
        long sink = 0;
        for (long i = 0; i < n && !payloads.isEmpty(); i++) {
            ParsedLabel label = RecordParser.label(payloads.get((int) (i % payloads.size())));
            sink += label == null ? 1 : label.confirmedMicros;
        }
        return sink;
    }
}
