package io.streamflow.detector;

/**
 * A parsed transaction or label on its way through the keyed stages (a Flink POJO: public fields, so
 * Flink's POJO serializer moves it between operators without Kryo).
 *
 * <p>Transactions carry the fields the stages and the alert need; the terminal stage fills the
 * {@code terminal*} fields. {@code source} is {@code topic:partition:offset} of the Kafka record, so a
 * later failure still names where the record came from.
 */
public class Event {
    /** {@link #TX} or {@link #LABEL}. */
    public static final String TX = "T";

    public static final String LABEL = "L";

    public String kind;
    public String source;
    public long schemaVersion;
    public String transactionId;
    public String customerId;
    public String terminalId;
    public double amount;
    /** Transaction: event time; label: the labelled transaction's event time (epoch microseconds). */
    public long eventMicros;

    public String currency;
    public String paymentMethod;
    public String channel;
    public String deviceId;
    public boolean hasGeo;
    public double lat;
    public double lon;

    public boolean isFraud;
    public long confirmedMicros;

    public int terminalTx1h;
    public int terminalConfirmedFrauds;
    public double[] terminalFeatures;

    public Event() {}

    static Event of(ParsedTransaction tx, String source) {
        Event e = new Event();
        e.kind = TX;
        e.source = source;
        e.schemaVersion = tx.schemaVersion;
        e.transactionId = tx.transactionId;
        e.customerId = tx.customerId;
        e.terminalId = tx.terminalId;
        e.amount = tx.amount;
        e.eventMicros = tx.eventMicros;
        e.currency = tx.currency;
        e.paymentMethod = tx.paymentMethod;
        e.channel = tx.channel;
        e.deviceId = tx.deviceId;
        e.hasGeo = tx.hasGeo;
        e.lat = tx.lat;
        e.lon = tx.lon;
        e.terminalFeatures = new double[0];
        return e;
    }

    static Event of(ParsedLabel label, String source) {
        Event e = new Event();
        e.kind = LABEL;
        e.source = source;
        e.schemaVersion = label.schemaVersion;
        e.transactionId = label.transactionId;
        e.customerId = label.customerId;
        e.terminalId = label.terminalId;
        e.isFraud = label.isFraud;
        e.confirmedMicros = label.confirmedMicros;
        e.eventMicros = label.txEventMicros;
        e.terminalFeatures = new double[0];
        return e;
    }

    /** Event time in epoch seconds, as Python's {@code datetime.timestamp()} gives it. */
    public double eventTime() {
        return eventMicros / 1e6;
    }

    public boolean isTransaction() {
        return TX.equals(kind);
    }
}
