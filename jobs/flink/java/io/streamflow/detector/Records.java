package io.streamflow.detector;

import java.io.IOException;
import java.util.List;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonGenerator;
import org.apache.flink.types.Row;

/** The rows and JSON texts between the detector's JVM operators and its sinks. */
public final class Records {
    /** Features in the vector ({@code fraud_models.features.FEATURE_NAMES}). */
    public static final int FEATURES = 24;

    static final int TRANSACTION_ID = 0;
    static final int CUSTOMER_ID = 1;
    static final int TERMINAL_ID = 2;
    static final int EVENT_MICROS = 3;
    static final int AMOUNT = 4;
    static final int SOURCE = 5;
    static final int HITS = 6;
    static final int RISK = 7;
    static final int ALPHA = 8;
    static final int ALERT_THRESHOLD = 9;
    static final int ANOMALY_ENABLED = 10;
    static final int ANOMALY_WEIGHT = 11;
    static final int ANOMALY_THRESHOLD = 12;
    static final int X0 = 13;

    /**
     * What the customer stage emits per transaction: the transaction, the hits of FR-001..FR-005 (JSON array,
     * null without one), FR-007's hit (JSON, or null), the combination settings in force and the features
     * {@code x0..x23} (null when no model scores).
     */
    public static final TypeInformation<Row> SCORING = scoringType();

    private Records() {}

    private static TypeInformation<Row> scoringType() {
        int n = X0 + FEATURES;
        String[] names = new String[n];
        TypeInformation<?>[] types = new TypeInformation<?>[n];
        String[] head = {
            "transaction_id", "customer_id", "terminal_id", "event_micros", "amount", "source", "hits", "risk",
            "alpha", "alert_threshold", "anomaly_enabled", "anomaly_weight", "anomaly_threshold"
        };
        TypeInformation<?>[] headTypes = {
            Types.STRING, Types.STRING, Types.STRING, Types.LONG, Types.DOUBLE, Types.STRING, Types.STRING,
            Types.STRING, Types.DOUBLE, Types.DOUBLE, Types.BOOLEAN, Types.DOUBLE, Types.DOUBLE
        };
        System.arraycopy(head, 0, names, 0, head.length);
        System.arraycopy(headTypes, 0, types, 0, head.length);
        for (int i = 0; i < FEATURES; i++) {
            names[X0 + i] = "x" + i;
            types[X0 + i] = Types.DOUBLE;
        }
        return Types.ROW_NAMED(names, types);
    }

    static Row scoring(Event tx, List<RuleHit> hits, RuleHit risk, Rules cfg, double[] x) {
        Row row = new Row(X0 + FEATURES);
        row.setField(TRANSACTION_ID, tx.transactionId);
        row.setField(CUSTOMER_ID, tx.customerId);
        row.setField(TERMINAL_ID, tx.terminalId);
        row.setField(EVENT_MICROS, tx.eventMicros);
        row.setField(AMOUNT, tx.amount);
        row.setField(SOURCE, tx.source);
        row.setField(HITS, hits.isEmpty() ? null : hitsJson(hits));
        row.setField(RISK, risk == null ? null : hitsJson(List.of(risk)));
        row.setField(ALPHA, cfg.alpha());
        row.setField(ALERT_THRESHOLD, cfg.alertThreshold());
        Rules.Anomaly anomaly = cfg.anomaly();
        row.setField(ANOMALY_ENABLED, anomaly.enabled());
        row.setField(ANOMALY_WEIGHT, anomaly.weight());
        row.setField(ANOMALY_THRESHOLD, anomaly.threshold());
        if (x != null) {
            for (int i = 0; i < FEATURES; i++) {
                row.setField(X0 + i, x[i]);
            }
        }
        return row;
    }

    static String hitsJson(List<RuleHit> hits) {
        return JsonText.write(g -> writeHits(g, hits));
    }

    static void writeHits(JsonGenerator g, List<RuleHit> hits) throws IOException {
        g.writeStartArray();
        for (RuleHit hit : hits) {
            g.writeStartObject();
            g.writeStringField("code", hit.code());
            g.writeStringField("reason", hit.reason());
            g.writeNumberField("weight", hit.weight());
            g.writeEndObject();
        }
        g.writeEndArray();
    }

    /** The event as JSON, the payload of a dead letter written by a JVM stage. */
    static String json(Event e) {
        return JsonText.write(
                g -> {
                    g.writeStartObject();
                    g.writeNumberField("schema_version", e.schemaVersion);
                    g.writeStringField("transaction_id", e.transactionId);
                    if (e.isTransaction()) {
                        g.writeStringField("customer_id", e.customerId);
                        g.writeStringField("terminal_id", e.terminalId);
                        g.writeNumberField("amount", e.amount);
                        g.writeStringField("event_time", JsonText.isoMicros(e.eventMicros));
                        g.writeStringField("currency", e.currency);
                        g.writeStringField("payment_method", e.paymentMethod);
                        g.writeStringField("channel", e.channel);
                        g.writeStringField("device_id", e.deviceId);
                        if (e.hasGeo) {
                            g.writeNumberField("lat", e.lat);
                            g.writeNumberField("lon", e.lon);
                        } else {
                            g.writeNullField("lat");
                            g.writeNullField("lon");
                        }
                    } else {
                        g.writeBooleanField("is_fraud", e.isFraud);
                        g.writeStringField("confirmed_at", JsonText.isoMicros(e.confirmedMicros));
                        g.writeStringField("terminal_id", e.terminalId);
                        g.writeStringField("customer_id", e.customerId);
                        g.writeStringField("tx_event_time", JsonText.isoMicros(e.eventMicros));
                    }
                    g.writeEndObject();
                });
    }

    /** The transaction fields a scored row still has, as JSON (the payload of a scoring failure). */
    static String json(Row row) {
        return JsonText.write(
                g -> {
                    g.writeStartObject();
                    g.writeStringField("transaction_id", (String) row.getField(TRANSACTION_ID));
                    g.writeStringField("customer_id", (String) row.getField(CUSTOMER_ID));
                    g.writeStringField("terminal_id", (String) row.getField(TERMINAL_ID));
                    g.writeNumberField("amount", (Double) row.getField(AMOUNT));
                    g.writeStringField("event_time", JsonText.isoMicros((Long) row.getField(EVENT_MICROS)));
                    g.writeEndObject();
                });
    }
}
