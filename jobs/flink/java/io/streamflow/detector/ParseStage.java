package io.streamflow.detector;

import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.metrics.Counter;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.types.Row;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;

/**
 * Kafka record {@code Row(kind, topic, partition, offset, value)} to an {@link Event}, on the JVM.
 *
 * <p>{@link RecordParser} accepts only what it is certain the Python parser accepts with the same values;
 * every other record goes to {@link #DEFERRED} for the Python parser, which dead-letters it with its reason
 * or returns its canonical JSON. That JSON comes back through a second instance ({@code canonical}), which
 * must accept it: a refusal there is a parser disagreement, dead-lettered as a processing error.
 */
public final class ParseStage extends ProcessFunction<Row, Event> {
    private static final long serialVersionUID = 1L;

    /** The Kafka record row: kind (T or L), topic, partition, offset, value. */
    public static final TypeInformation<Row> RECORD =
            Types.ROW_NAMED(
                    new String[] {"kind", "topic", "partition", "offset", "value"},
                    Types.STRING,
                    Types.STRING,
                    Types.INT,
                    Types.LONG,
                    Types.PRIMITIVE_ARRAY(Types.BYTE));

    public static final OutputTag<Row> DEFERRED = new OutputTag<>("deferred", RECORD);
    public static final OutputTag<String> DLQ = new OutputTag<>("dlq", Types.STRING);

    private final boolean canonical;
    private transient Counter eventsIn;
    private transient Counter labelsIn;
    private transient Counter futureVersions;
    private transient Counter deferred;

    /** {@code canonical}: the second pass over the Python parser's canonical JSON. */
    public ParseStage(boolean canonical) {
        this.canonical = canonical;
    }

    @Override
    public void open(OpenContext context) {
        var group = getRuntimeContext().getMetricGroup();
        if (!canonical) {
            eventsIn = group.counter("events_in");
            labelsIn = group.counter("labels_in");
            deferred = group.counter("deferred_to_python");
        }
        futureVersions = group.counter("future_schema_version");
    }

    @Override
    public void processElement(Row row, Context ctx, Collector<Event> out) {
        String kind = (String) row.getField(0);
        byte[] value = (byte[]) row.getField(4);
        boolean tx = Event.TX.equals(kind);
        if (!canonical) {
            (tx ? eventsIn : labelsIn).inc();
        }
        String source = row.getField(1) + ":" + row.getField(2) + ":" + row.getField(3);
        Event event = null;
        if (value != null) {
            if (tx) {
                ParsedTransaction parsed = RecordParser.transaction(value);
                if (parsed != null) {
                    event = Event.of(parsed, source);
                    if (parsed.isFutureVersion()) {
                        futureVersions.inc();
                    }
                }
            } else {
                ParsedLabel parsed = RecordParser.label(value);
                if (parsed != null) {
                    event = Event.of(parsed, source);
                }
            }
        }
        if (event != null) {
            out.collect(event);
        } else if (canonical) {
            String payload =
                    value == null ? "" : new String(value, java.nio.charset.StandardCharsets.UTF_8);
            ctx.output(
                    DLQ,
                    DeadLetters.of(
                            payload,
                            "processing_error",
                            "the JVM parser refused the Python parser's canonical form of this record",
                            "parse",
                            source));
        } else {
            deferred.inc();
            ctx.output(DEFERRED, row);
        }
    }
}
