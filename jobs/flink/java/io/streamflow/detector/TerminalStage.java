package io.streamflow.detector;

import java.time.Duration;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.StateTtlConfig;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.PrimitiveArrayTypeInfo;
import org.apache.flink.metrics.Counter;
import org.apache.flink.streaming.api.functions.co.KeyedBroadcastProcessFunction;
import org.apache.flink.types.Row;
import org.apache.flink.util.Collector;

/**
 * Stage 1, keyed by terminal_id ({@code fraud_jobs.logic.terminal_step} and
 * {@code apply_label_terminal}): adds the terminal's recent activity, confirmed frauds and ML terminal
 * features to a transaction; a label updates the terminal's fraud risk. Both go on to the customer stage.
 */
public final class TerminalStage extends KeyedBroadcastProcessFunction<Row, Event, String, Event> {
    private static final long serialVersionUID = 1L;
    private static final double HOUR_S = 3600.0;

    private final LiveConfig config;
    private transient ValueState<byte[]> state;
    private transient Counter labelsApplied;
    private transient Counter controlUpdates;

    public TerminalStage(String baseConfigJson) {
        this.config = new LiveConfig(baseConfigJson);
    }

    @Override
    public void open(OpenContext context) {
        ValueStateDescriptor<byte[]> desc =
                new ValueStateDescriptor<>("terminal", PrimitiveArrayTypeInfo.BYTE_PRIMITIVE_ARRAY_TYPE_INFO);
        desc.enableTimeToLive(StateTtl.of(config.base().stateTtlS()));
        state = getRuntimeContext().getState(desc);
        labelsApplied = getRuntimeContext().getMetricGroup().counter("labels_applied");
        controlUpdates = getRuntimeContext().getMetricGroup().counter("control_updates");
    }

    @Override
    public void processElement(Event event, ReadOnlyContext ctx, Collector<Event> out) throws Exception {
        Rules cfg = config.current(ctx.getBroadcastState(LiveConfig.CONTROLS));
        try {
            byte[] stored = state.value();
            if (event.isTransaction()) {
                double ts = event.eventTime();
                TerminalState st = stored == null ? new TerminalState() : TerminalState.fromBytes(PickledState.unwrap(stored));
                if (ts - st.lastTs > cfg.stateTtlS()) { // false while lastTs is NaN
                    st = new TerminalState();
                }
                double[] features = new double[0];
                if (cfg.mlFeatures()) {
                    if (st.features == null) {
                        st.features = new TerminalFeatureState();
                    }
                    features = st.features.features(ts, cfg.labelDelayS());
                    st.features.observe(ts);
                }
                event.terminalTx1h = st.countWithin(ts - HOUR_S, ts);
                event.terminalConfirmedFrauds = st.confirmedFrauds(ts, cfg.terminalRisk().windowS());
                event.terminalFeatures = features;
                st.observe(ts, event.amount);
                state.update(st.toBytes());
            } else {
                TerminalState st = stored == null ? new TerminalState() : TerminalState.fromBytes(PickledState.unwrap(stored));
                st.labels += 1;
                if (event.isFraud) {
                    st.fraudLabels += 1;
                    st.addFraudLabel(event.confirmedMicros / 1e6);
                    if (cfg.mlFeatures()) {
                        if (st.features == null) {
                            st.features = new TerminalFeatureState();
                        }
                        st.features.label(event.eventTime(), true);
                    }
                }
                state.update(st.toBytes());
                labelsApplied.inc();
            }
        } catch (RuntimeException e) { // one bad event must not restart the job: DLQ with the reason
            ctx.output(
                    ParseStage.DLQ,
                    DeadLetters.of(
                            Records.json(event), "processing_error", DeadLetters.describe(e), "process", event.source));
            return;
        }
        out.collect(event);
    }

    @Override
    public void processBroadcastElement(String controls, Context ctx, Collector<Event> out)
            throws Exception {
        config.update(ctx.getBroadcastState(LiveConfig.CONTROLS), controls);
        controlUpdates.inc();
    }

    /** Processing-time TTL of inactive keys (the logic also resets state older than the TTL in event time). */
    static final class StateTtl {
        private StateTtl() {}

        static StateTtlConfig of(double ttlSeconds) {
            return StateTtlConfig.newBuilder(Duration.ofMillis(Math.max(1L, (long) (ttlSeconds * 1000))))
                    .setUpdateType(StateTtlConfig.UpdateType.OnCreateAndWrite)
                    .setStateVisibility(StateTtlConfig.StateVisibility.NeverReturnExpired)
                    .disableCleanupInBackground()
                    .cleanupInRocksdbCompactFilter(1000, Duration.ofDays(30))
                    .build();
        }
    }
}
