package io.streamflow.detector;

/**
 * A transaction as {@code fraud_jobs.schemas.Transaction} holds it after validation: the same field values,
 * with the event time as epoch microseconds (UTC) and the geo pair as {@link #hasGeo} plus two doubles (NaN
 * when absent, where Python has {@code None}).
 */
public final class ParsedTransaction {
    /** {@code fraud_jobs.schemas.LATEST_TRANSACTION_VERSION}. */
    public static final int LATEST_VERSION = 2;

    public final long schemaVersion;
    public final String transactionId;
    public final String customerId;
    public final String terminalId;
    public final double amount;
    public final long eventMicros;
    public final String currency;
    /** One of {@code PaymentMethod}'s values, or null. */
    public final String paymentMethod;
    /** One of {@code Channel}'s values, or null. */
    public final String channel;
    public final String deviceId;
    public final boolean hasGeo;
    public final double lat;
    public final double lon;

    public ParsedTransaction(
            long schemaVersion,
            String transactionId,
            String customerId,
            String terminalId,
            double amount,
            long eventMicros,
            String currency,
            String paymentMethod,
            String channel,
            String deviceId,
            boolean hasGeo,
            double lat,
            double lon) {
        this.schemaVersion = schemaVersion;
        this.transactionId = transactionId;
        this.customerId = customerId;
        this.terminalId = terminalId;
        this.amount = amount;
        this.eventMicros = eventMicros;
        this.currency = currency;
        this.paymentMethod = paymentMethod;
        this.channel = channel;
        this.deviceId = deviceId;
        this.hasGeo = hasGeo;
        this.lat = hasGeo ? lat : Double.NaN;
        this.lon = hasGeo ? lon : Double.NaN;
    }

    /**
     * {@code Transaction.ts}: Python's {@code datetime.timestamp()} divides the timedelta's integer microseconds
     * by 10**6 (one correctly rounded division); the microseconds are exact in a double, so this is the same.
     */
    public double eventTime() {
        return eventMicros / 1e6;
    }

    /** {@code Transaction.is_future_version}. */
    public boolean isFutureVersion() {
        return schemaVersion > LATEST_VERSION;
    }

    /** The JSON {@code Transaction.model_dump_json()} writes for the same model, byte for byte. */
    public String toJson() {
        StringBuilder out = new StringBuilder(320);
        out.append("{\"schema_version\":").append(schemaVersion);
        out.append(",\"transaction_id\":");
        CanonicalJson.appendString(out, transactionId);
        out.append(",\"customer_id\":");
        CanonicalJson.appendString(out, customerId);
        out.append(",\"terminal_id\":");
        CanonicalJson.appendString(out, terminalId);
        out.append(",\"amount\":");
        CanonicalJson.appendDouble(out, amount);
        out.append(",\"event_time\":\"");
        CanonicalJson.appendUtcMicros(out, eventMicros);
        out.append("\",\"currency\":");
        CanonicalJson.appendString(out, currency);
        out.append(",\"payment_method\":");
        CanonicalJson.appendNullableString(out, paymentMethod);
        out.append(",\"channel\":");
        CanonicalJson.appendNullableString(out, channel);
        out.append(",\"device_id\":");
        CanonicalJson.appendNullableString(out, deviceId);
        out.append(",\"lat\":");
        CanonicalJson.appendDouble(out, lat);
        out.append(",\"lon\":");
        CanonicalJson.appendDouble(out, lon);
        return out.append('}').toString();
    }

    @Override
    public String toString() {
        return toJson();
    }
}
