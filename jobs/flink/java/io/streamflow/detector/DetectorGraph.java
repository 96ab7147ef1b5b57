package io.streamflow.detector;

import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.streaming.api.datastream.BroadcastStream;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.types.Row;

/**
 * The detector's JVM operators, wired for the PyFlink job ({@code fraud_jobs.flink.topology}) through the
 * gateway: one call per operator, each with a fixed uid, so a savepoint maps onto the same operators.
 */
public final class DetectorGraph {
    static final TypeInformation<Event> EVENT = EventSerializer.TYPE;

    /**
     * The keyed stages' key: {@code Row(id)}, the key PyFlink's {@code KeyByKeySelector} gave the Python
     * stages, so a savepoint of that job restores (same key serializer, same key groups).
     */
    static final TypeInformation<Row> KEY = Types.ROW(Types.STRING);

    private DetectorGraph() {}

    /** Kafka records ({@link ParseStage#RECORD}) to events; deferred records on {@link ParseStage#DEFERRED}. */
    public static SingleOutputStreamOperator<Event> parse(
            DataStream<Row> records, boolean canonical, String uid) {
        return records.process(new ParseStage(canonical), EVENT).name(uid).uid(uid);
    }

    public static DataStream<Event> union(DataStream<Event> a, DataStream<Event> b) {
        return a.union(b);
    }

    public static BroadcastStream<String> controls(DataStream<String> accepted) {
        return accepted.broadcast(LiveConfig.CONTROLS);
    }

    public static SingleOutputStreamOperator<Event> terminalStage(
            DataStream<Event> events, BroadcastStream<String> controls, String baseConfigJson) {
        return events
                .keyBy(new ByTerminal(), KEY)
                .connect(controls)
                .process(new TerminalStage(baseConfigJson), EVENT)
                .name("terminal-stage")
                .uid("terminal-stage");
    }

    public static SingleOutputStreamOperator<Row> customerStage(
            DataStream<Event> enriched,
            BroadcastStream<String> controls,
            String baseConfigJson,
            boolean features) {
        return enriched
                .keyBy(new ByCustomer(), KEY)
                .connect(controls)
                .process(new CustomerStage(baseConfigJson, features), Records.SCORING)
                .name("customer-stage")
                .uid("customer-stage");
    }

    /** The models are null when the job has none in that role. */
    public static SingleOutputStreamOperator<String> decide(
            DataStream<Row> scoring,
            ShippedModel activeModel,
            ShippedModel shadowModel,
            boolean emitScores,
            boolean emitModelScores) {
        return scoring
                .process(new Decide(activeModel, shadowModel, emitScores, emitModelScores), Types.STRING)
                .name("decide")
                .uid("decide");
    }

    public static DataStream<Row> deferred(SingleOutputStreamOperator<Event> parse) {
        return parse.getSideOutput(ParseStage.DEFERRED);
    }

    public static DataStream<String> deadLetters(SingleOutputStreamOperator<?> operator) {
        return operator.getSideOutput(ParseStage.DLQ);
    }

    public static DataStream<String> alerts(SingleOutputStreamOperator<String> decide) {
        return decide.getSideOutput(Decide.ALERTS);
    }

    public static DataStream<Row> modelScores(SingleOutputStreamOperator<String> decide) {
        return decide.getSideOutput(Decide.MODEL_SCORES);
    }

    public static TypeInformation<Row> recordType() {
        return ParseStage.RECORD;
    }

    /** The key of stage 1. */
    static final class ByTerminal implements KeySelector<Event, Row> {
        private static final long serialVersionUID = 1L;

        @Override
        public Row getKey(Event e) {
            Row key = new Row(1);
            key.setField(0, e.terminalId);
            return key;
        }
    }

    /** The key of stage 2. */
    static final class ByCustomer implements KeySelector<Event, Row> {
        private static final long serialVersionUID = 1L;

        @Override
        public Row getKey(Event e) {
            Row key = new Row(1);
            key.setField(0, e.customerId);
            return key;
        }
    }
}
