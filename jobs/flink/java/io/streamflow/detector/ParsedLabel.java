package io.streamflow.detector;

/** A label as {@code fraud_jobs.schemas.Label} holds it after validation; times as epoch microseconds (UTC). */
public final class ParsedLabel {
    public final long schemaVersion;
    public final String transactionId;
    public final boolean isFraud;
    public final long confirmedMicros;
    public final String terminalId;
    public final String customerId;
    public final long txEventMicros;

    public ParsedLabel(
            long schemaVersion,
            String transactionId,
            boolean isFraud,
            long confirmedMicros,
            String terminalId,
            String customerId,
            long txEventMicros) {
        this.schemaVersion = schemaVersion;
        this.transactionId = transactionId;
        this.isFraud = isFraud;
        this.confirmedMicros = confirmedMicros;
        this.terminalId = terminalId;
        this.customerId = customerId;
        this.txEventMicros = txEventMicros;
    }

    /** {@code label.confirmed_at.timestamp()}, bit for bit (see {@link ParsedTransaction#eventTime()}). */
    public double confirmedTime() {
        return confirmedMicros / 1e6;
    }

    /** {@code label.tx_event_time.timestamp()}, bit for bit. */
    public double txEventTime() {
        return txEventMicros / 1e6;
    }

    /** The JSON {@code Label.model_dump_json()} writes for the same model, byte for byte. */
    public String toJson() {
        StringBuilder out = new StringBuilder(256);
        out.append("{\"schema_version\":").append(schemaVersion);
        out.append(",\"transaction_id\":");
        CanonicalJson.appendString(out, transactionId);
        out.append(",\"is_fraud\":").append(isFraud);
        out.append(",\"confirmed_at\":\"");
        CanonicalJson.appendUtcMicros(out, confirmedMicros);
        out.append("\",\"terminal_id\":");
        CanonicalJson.appendString(out, terminalId);
        out.append(",\"customer_id\":");
        CanonicalJson.appendString(out, customerId);
        out.append(",\"tx_event_time\":\"");
        CanonicalJson.appendUtcMicros(out, txEventMicros);
        return out.append("\"}").toString();
    }

    @Override
    public String toString() {
        return toJson();
    }
}
