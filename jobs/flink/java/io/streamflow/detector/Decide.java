package io.streamflow.detector;

import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.Histogram;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.runtime.metrics.DescriptiveStatisticsHistogram;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.node.ObjectNode;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.types.Row;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;

/**
 * {@code fraud_jobs.logic.decide} for what the customer stage emits: the models score the features (the
 * active and the shadow model, {@link ModelScorer}), then FR-006, the combined score and the alert; the
 * shadow model's outcome beside it.
 *
 * <p>Main output: the score record of every transaction (the scores topic), when asked for. Side outputs:
 * {@link #ALERTS}, {@link #MODEL_SCORES} (the rows of {@code gold.model_scores}) and dead letters on
 * {@link ParseStage#DLQ} for a transaction the active model could not score.
 */
public final class Decide extends ProcessFunction<Row, String> {
    private static final long serialVersionUID = 1L;
    private static final ObjectMapper MAPPER = new ObjectMapper();

    public static final OutputTag<String> ALERTS = new OutputTag<>("alerts", Types.STRING);

    /** {@code Row(constant key, JSON list of model-score rows)} for the keyed PostgreSQL writer. */
    public static final TypeInformation<Row> MODEL_SCORE_ROWS = Types.ROW(Types.STRING, Types.STRING);

    public static final OutputTag<Row> MODEL_SCORES = new OutputTag<>("model-scores", MODEL_SCORE_ROWS);
    private static final String MODEL_SCORES_KEY = "model-scores";

    private final ShippedModel activeModel;
    private final ShippedModel shadowModel;
    private final String modelVersion;
    private final String shadowVersion;
    private final boolean emitScores;
    private final boolean emitModelScores;

    private transient ModelScorer active;
    private transient ModelScorer shadow;
    private transient ModelScorer.Scratch activeScratch;
    private transient ModelScorer.Scratch shadowScratch;
    private transient Counter activeRows;
    private transient Counter shadowRows;
    private transient double[] features;
    /** The last model score {@link #score} computed. */
    private transient double raw;
    private transient MetricGroup group;
    private transient Counter scored;
    private transient Counter alerts;
    private transient Counter shadowFailed;
    private transient Map<String, Counter> alertsByRule;
    private transient Histogram scorePermille;
    private transient Histogram latency;
    private transient Rules.Anomaly anomaly;
    private transient boolean anomalyEnabled;
    private transient double anomalyWeight;
    private transient double anomalyThreshold;

    /** The models are null when the job has none in that role. */
    public Decide(
            ShippedModel activeModel, ShippedModel shadowModel, boolean emitScores, boolean emitModelScores) {
        this.activeModel = activeModel;
        this.shadowModel = shadowModel;
        this.modelVersion = activeModel == null ? null : activeModel.version();
        this.shadowVersion = shadowModel == null ? null : shadowModel.version();
        this.emitScores = emitScores;
        this.emitModelScores = emitModelScores;
    }

    @Override
    public void open(OpenContext context) throws ModelLoadException {
        group = getRuntimeContext().getMetricGroup();
        features = new double[Records.FEATURES];
        if (activeModel != null) {
            active = activeModel.load();
            activeScratch = active.scratch();
            activeRows = group.addGroup("model", "active").counter("rows_scored");
        }
        if (shadowModel != null) {
            shadow = shadowModel.load();
            shadowScratch = shadow.scratch();
            shadowRows = group.addGroup("model", "shadow").counter("rows_scored");
        }
        scored = group.counter("events_scored");
        alerts = group.counter("alerts");
        shadowFailed = group.counter("shadow_score_errors");
        alertsByRule = new HashMap<>();
        scorePermille = group.histogram("score_permille", new DescriptiveStatisticsHistogram(10_000));
        latency = group.histogram("event_time_to_alert_ms", new DescriptiveStatisticsHistogram(10_000));
    }

    @Override
    public void processElement(Row row, Context ctx, Collector<String> out) throws IOException {
        String txId = (String) row.getField(Records.TRANSACTION_ID);
        List<RuleHit> hits = parseHits((String) row.getField(Records.HITS));
        double alpha = (Double) row.getField(Records.ALPHA);
        double threshold = (Double) row.getField(Records.ALERT_THRESHOLD);
        Rules.Anomaly anomaly =
                anomaly(
                        (Boolean) row.getField(Records.ANOMALY_ENABLED),
                        (Double) row.getField(Records.ANOMALY_WEIGHT),
                        (Double) row.getField(Records.ANOMALY_THRESHOLD));
        List<RuleHit> risk = parseHits((String) row.getField(Records.RISK));

        if (active != null || shadow != null) {
            for (int i = 0; i < Records.FEATURES; i++) {
                features[i] = (Double) row.getField(Records.X0 + i);
            }
        }
        Double ml = null;
        if (active != null) {
            activeRows.inc();
            String error = score(active, activeScratch, modelVersion, txId);
            if (error != null) {
                ctx.output(
                        ParseStage.DLQ,
                        DeadLetters.of(
                                Records.json(row),
                                "processing_error",
                                error,
                                "score",
                                (String) row.getField(Records.SOURCE)));
                return;
            }
            ml = clip(raw);
        }
        Double shadowScore = null;
        Double shadowMl = null;
        Boolean shadowAlert = null;
        String shadowError = null;
        if (shadow != null) {
            shadowRows.inc();
            shadowError = score(shadow, shadowScratch, shadowVersion, txId);
            if (shadowError == null) {
                shadowMl = clip(raw);
                List<RuleHit> shadowHits = new ArrayList<>(hits);
                RuleHit hit = anomaly.check(shadowMl, shadowVersion);
                if (hit != null) {
                    shadowHits.add(hit);
                }
                shadowHits.addAll(risk);
                shadowScore = Rules.combine(shadowHits, shadowMl, alpha, shadow.combiner()).score();
                shadowAlert = shadowScore >= threshold;
            }
        }
        if (modelVersion != null) {
            RuleHit hit = anomaly.check(ml, modelVersion);
            if (hit != null) {
                hits.add(hit);
            }
        }
        hits.addAll(risk);
        Rules.Combined combined = Rules.combine(hits, ml, alpha, active == null ? null : active.combiner());
        double score = combined.score();
        boolean isAlert = score >= threshold;
        long now = System.currentTimeMillis();
        long eventMicros = (Long) row.getField(Records.EVENT_MICROS);

        scored.inc();
        scorePermille.update((long) (score * 1000));
        if (isAlert) {
            alerts.inc();
            for (RuleHit hit : hits) {
                alertsByRule
                        .computeIfAbsent(hit.code(), code -> group.addGroup("rule", code).counter("alerts"))
                        .inc();
            }
            latency.update(Math.max(0L, now - eventMicros / 1000));
            ctx.output(ALERTS, alertJson(row, score, combined.ruleScore(), ml, hits, now));
        }
        if (shadowError != null) {
            shadowFailed.inc();
        }
        Outcome outcome =
                new Outcome(score, combined.ruleScore(), ml, hits, isAlert, shadowScore, shadowMl, shadowAlert, shadowError);
        if (emitScores) {
            out.collect(scoreJson(row, outcome, now));
        }
        if (emitModelScores) {
            String rows = modelScoreRows(row, outcome, now);
            if (rows != null) {
                ctx.output(MODEL_SCORES, Row.of(MODEL_SCORES_KEY, rows));
            }
        }
    }

    /**
     * Scores {@link #features} into {@link #raw}; returns why that score cannot be used, worded as
     * {@code score_rows} and {@code decide} word it in Python, or null.
     */
    private String score(ModelScorer model, ModelScorer.Scratch scratch, String version, String txId) {
        try {
            raw = model.score(features, scratch);
        } catch (IllegalArgumentException e) {
            return "ValueError: " + e.getMessage();
        }
        if (Double.isNaN(raw)) {
            return "ValueError: scorer " + version + " returned NaN for transaction " + txId;
        }
        return null;
    }

    /** FR-006 with the settings the customer stage had in force (the last one is reused while they hold). */
    private Rules.Anomaly anomaly(boolean enabled, double weight, double threshold) {
        if (anomaly == null || anomalyEnabled != enabled || anomalyWeight != weight
                || anomalyThreshold != threshold) {
            ObjectNode cfg = MAPPER.createObjectNode();
            cfg.put("enabled", enabled);
            cfg.put("weight", weight);
            cfg.put("threshold", threshold);
            anomaly = new Rules.Anomaly(cfg);
            anomalyEnabled = enabled;
            anomalyWeight = weight;
            anomalyThreshold = threshold;
        }
        return anomaly;
    }

    private static double clip(double raw) {
        return Math.min(1.0, Math.max(0.0, raw));
    }

    private static List<RuleHit> parseHits(String json) throws IOException {
        List<RuleHit> hits = new ArrayList<>(4);
        if (json != null) {
            for (JsonNode node : MAPPER.readTree(json)) {
                hits.add(
                        new RuleHit(
                                node.get("code").asText(), node.get("reason").asText(), node.get("weight").asDouble()));
            }
        }
        return hits;
    }

    /** The decision of one transaction (the fields of {@code fraud_jobs.logic.ScoreRecord} it adds). */
    private record Outcome(
            double score,
            double ruleScore,
            Double ml,
            List<RuleHit> hits,
            boolean alert,
            Double shadowScore,
            Double shadowMl,
            Boolean shadowAlert,
            String shadowError) {}

    private String alertJson(
            Row row, double score, double ruleScore, Double ml, List<RuleHit> hits, long nowMillis) {
        String txId = (String) row.getField(Records.TRANSACTION_ID);
        return JsonText.write(
                g -> {
                    g.writeStartObject();
                    g.writeNumberField("schema_version", 1);
                    g.writeStringField("alert_id", AlertIds.forTransaction(txId));
                    g.writeStringField("transaction_id", txId);
                    g.writeStringField("customer_id", (String) row.getField(Records.CUSTOMER_ID));
                    g.writeStringField("terminal_id", (String) row.getField(Records.TERMINAL_ID));
                    g.writeNumberField("amount", (Double) row.getField(Records.AMOUNT));
                    g.writeNumberField("score", score);
                    g.writeNumberField("rule_score", ruleScore);
                    JsonText.nullableNumber(g, "ml_score", ml);
                    g.writeFieldName("rule_hits");
                    Records.writeHits(g, hits);
                    g.writeStringField("model_version", modelVersion);
                    g.writeStringField("event_time", JsonText.isoMicros((Long) row.getField(Records.EVENT_MICROS)));
                    g.writeStringField("detection_time", JsonText.isoMicros(nowMillis * 1000L));
                    g.writeEndObject();
                });
    }

    private String scoreJson(Row row, Outcome o, long nowMillis) {
        return JsonText.write(
                g -> {
                    g.writeStartObject();
                    g.writeStringField("transaction_id", (String) row.getField(Records.TRANSACTION_ID));
                    g.writeStringField("customer_id", (String) row.getField(Records.CUSTOMER_ID));
                    g.writeStringField("terminal_id", (String) row.getField(Records.TERMINAL_ID));
                    g.writeNumberField("event_ts", (Long) row.getField(Records.EVENT_MICROS) / 1e6);
                    g.writeNumberField("amount", (Double) row.getField(Records.AMOUNT));
                    g.writeNumberField("score", o.score());
                    g.writeNumberField("rule_score", o.ruleScore());
                    JsonText.nullableNumber(g, "ml_score", o.ml());
                    g.writeArrayFieldStart("rule_codes");
                    for (RuleHit hit : o.hits()) {
                        g.writeString(hit.code());
                    }
                    g.writeEndArray();
                    g.writeBooleanField("alert", o.alert());
                    g.writeStringField("model_version", modelVersion);
                    g.writeNumberField("detected_at", nowMillis / 1e3);
                    if (shadowVersion != null) {
                        g.writeStringField("shadow_model_version", shadowVersion);
                        JsonText.nullableNumber(g, "shadow_score", o.shadowScore());
                        JsonText.nullableNumber(g, "shadow_ml_score", o.shadowMl());
                        if (o.shadowAlert() == null) {
                            g.writeNullField("shadow_alert");
                        } else {
                            g.writeBooleanField("shadow_alert", o.shadowAlert());
                        }
                        if (o.shadowError() != null) {
                            g.writeStringField("shadow_error", o.shadowError());
                        }
                    }
                    g.writeEndObject();
                });
    }

    /**
     * The {@code gold.model_scores} rows of this transaction as a JSON list (the active model's, and the
     * shadow's when it scored), read by {@code fraud_jobs.flink.functions.ModelScoreWriter}; null when no
     * model scored.
     */
    private String modelScoreRows(Row row, Outcome o, long nowMillis) {
        boolean active = modelVersion != null;
        boolean shadow = shadowVersion != null && o.shadowScore() != null;
        if (!active && !shadow) {
            return null;
        }
        String txId = (String) row.getField(Records.TRANSACTION_ID);
        String customer = (String) row.getField(Records.CUSTOMER_ID);
        double eventTs = (Long) row.getField(Records.EVENT_MICROS) / 1e6;
        double scoredAt = nowMillis / 1e3;
        return JsonText.write(
                g -> {
                    g.writeStartArray();
                    if (active) {
                        writeModelRow(g, txId, modelVersion, "active", o.score(), o.ml(), o.alert(), customer, eventTs, scoredAt);
                    }
                    if (shadow) {
                        writeModelRow(
                                g, txId, shadowVersion, "shadow", o.shadowScore(), o.shadowMl(), o.shadowAlert(), customer,
                                eventTs, scoredAt);
                    }
                    g.writeEndArray();
                });
    }

    private static void writeModelRow(
            org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonGenerator g,
            String txId,
            String version,
            String role,
            double score,
            Double ml,
            boolean alert,
            String customer,
            double eventTs,
            double scoredAt)
            throws IOException {
        g.writeStartArray();
        g.writeString(txId);
        g.writeString(version);
        g.writeString(role);
        g.writeNumber(score);
        if (ml == null) {
            g.writeNull();
        } else {
            g.writeNumber(ml);
        }
        g.writeBoolean(alert);
        g.writeString(customer);
        g.writeNumber(eventTs);
        g.writeNumber(scoredAt);
        g.writeEndArray();
    }
}
