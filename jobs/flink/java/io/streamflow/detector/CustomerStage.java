package io.streamflow.detector;

import java.util.ArrayList;
import java.util.List;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
import org.apache.flink.metrics.Counter;
import org.apache.flink.streaming.api.functions.co.KeyedBroadcastProcessFunction;
import org.apache.flink.types.Row;
import org.apache.flink.util.Collector;

/**
 * Stage 2, keyed by customer_id ({@code fraud_jobs.logic.customer_step} up to the model score, and
 * {@code apply_label_customer}): the rules against the customer's history before this transaction, the
 * feature vector, then the history records it.
 *
 * <p>Emits one {@link Records#SCORING} row per transaction: the hits of FR-001..FR-005, FR-007's, the
 * feature vector and the combination settings in force, so that {@link Decide} completes the decision after
 * the model scored a whole batch (FR-006 and the combination need the model's score).
 */
public final class CustomerStage extends KeyedBroadcastProcessFunction<Row, Event, String, Row> {
    private static final long serialVersionUID = 1L;
    private static final double HOUR_S = 3600.0;

    private final LiveConfig config;
    private final boolean features;
    private transient ValueState<byte[]> state;
    private transient Counter labelsApplied;
    private transient Counter controlUpdates;

    /** {@code features}: a model (active or shadow) scores, so the feature vector is computed. */
    public CustomerStage(String baseConfigJson, boolean features) {
        this.config = new LiveConfig(baseConfigJson);
        this.features = features;
    }

    @Override
    public void open(OpenContext context) {
        ValueStateDescriptor<byte[]> desc =
                new ValueStateDescriptor<>("customer", PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO);
        desc.enableTimeToLive(TerminalStage.StateTtl.of(config.base().stateTtlS()));
        state = getRuntimeContext().getState(desc);
        labelsApplied = getRuntimeContext().getMetricGroup().counter("labels_applied");
        controlUpdates = getRuntimeContext().getMetricGroup().counter("control_updates");
    }

    @Override
    public void processElement(Event event, ReadOnlyContext ctx, Collector<Row> out) throws Exception {
        Rules cfg = config.current(ctx.getBroadcastState(LiveConfig.CONTROLS));
        Row row;
        try {
            byte[] stored = state.value();
            if (!event.isTransaction()) {
                labelsApplied.inc();
                if (!event.isFraud && stored != null) {
                    return; // a legitimate outcome changes nothing here
                }
                CustomerState st = stored == null ? new CustomerState() : CustomerState.fromBytes(PickledState.unwrap(stored));
                if (event.isFraud) {
                    st.fraudLabels += 1;
                    double delivered = event.confirmedMicros / 1e6;
                    if (!(delivered <= st.lastFraudLabelTs)) {
                        st.lastFraudLabelTs = delivered;
                    }
                }
                state.update(st.toBytes());
                return;
            }
            CustomerState st = stored == null ? new CustomerState() : CustomerState.fromBytes(PickledState.unwrap(stored));
            if (event.eventTime() - st.lastTs > cfg.stateTtlS()) { // false while lastTs is NaN
                st = new CustomerState();
            }
            row = step(st, event, cfg);
            state.update(st.toBytes());
        } catch (RuntimeException e) {
            String stage = event.isTransaction() ? "score" : "process";
            ctx.output(
                    ParseStage.DLQ,
                    DeadLetters.of(
                            Records.json(event), "processing_error", DeadLetters.describe(e), stage, event.source));
            return;
        }
        out.collect(row);
    }

    /** The rules, the feature vector and the history update of one transaction; mutates {@code st}. */
    private Row step(CustomerState st, Event tx, Rules cfg) {
        double ts = tx.eventTime();
        double amount = tx.amount;
        List<RuleHit> hits = new ArrayList<>(4);
        add(hits, cfg.highValue().check(amount, st.n, st.mean, st.std()));
        add(hits, cfg.velocity().check(st.countWithin(ts - cfg.velocity().windowS(), ts) + 1));
        if (tx.hasGeo && (tx.lat != st.geoLat || tx.lon != st.geoLon) && st.geoTs == st.geoTs) {
            double distance = Features.haversineKm(st.geoLat, st.geoLon, tx.lat, tx.lon);
            add(hits, cfg.travel().check(distance, Math.abs(ts - st.geoTs) / HOUR_S));
        }
        int hour = (int) Math.floorMod(PyMath.floorDivToLong(ts, HOUR_S), 24L);
        long[] hours = st.hours;
        if (st.n != 0) {
            long near =
                    hours[Math.floorMod(hour - 2, 24)]
                            + hours[Math.floorMod(hour - 1, 24)]
                            + hours[hour]
                            + hours[(hour + 1) % 24]
                            + hours[(hour + 2) % 24];
            double share = (double) near / st.n;
            add(hits, cfg.unusualHour().check(hour, share, st.n));
        }
        add(hits, cfg.blocklist().check(tx.customerId, tx.terminalId));

        CustomerFeatureState fstate = null;
        if (cfg.mlFeatures()) {
            if (st.features == null) {
                st.features = new CustomerFeatureState();
            }
            fstate = st.features;
        }
        double[] x = null;
        if (features) {
            if (fstate == null) {
                throw new ValueError("a scorer needs ml_features enabled (the model scores those features)");
            }
            double[] customer = fstate.features(ts, amount, tx.hasGeo, tx.lat, tx.lon);
            x = Features.assemble(amount, ts, customer, tx.terminalFeatures);
        }
        RuleHit risk = cfg.terminalRisk().check(tx.terminalConfirmedFrauds);
        if (fstate != null) {
            fstate.observe(ts, amount, tx.hasGeo, tx.lat, tx.lon);
        }
        st.observeAmount(amount);
        st.pushTime(ts);
        hours[hour] += 1;
        if (tx.hasGeo && !(ts < st.geoTs)) {
            st.geoLat = tx.lat;
            st.geoLon = tx.lon;
            st.geoTs = ts;
        }
        if (!(ts <= st.lastTs)) {
            st.lastTs = ts;
        }
        return Records.scoring(tx, hits, risk, cfg, x);
    }

    /** Python's ValueError, named as the Python stage names it in the dead letter. */
    static final class ValueError extends IllegalArgumentException {
        private static final long serialVersionUID = 1L;

        ValueError(String message) {
            super(message);
        }
    }

    private static void add(List<RuleHit> hits, RuleHit hit) {
        if (hit != null) {
            hits.add(hit);
        }
    }

    @Override
    public void processBroadcastElement(String controls, Context ctx, Collector<Row> out)
            throws Exception {
        config.update(ctx.getBroadcastState(LiveConfig.CONTROLS), controls);
        controlUpdates.inc();
    }
}
