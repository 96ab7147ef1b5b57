package io.streamflow.detector;

import java.io.IOException;
import org.apache.flink.api.common.serialization.SerializerConfig;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeutils.SimpleTypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.base.TypeSerializerSingleton;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;
import org.apache.flink.types.StringValue;

/**
 * {@link Event} between the detector's operators, field by field: Flink's {@code PojoSerializer} reads and
 * writes each field through reflection, a measurable share of an event's cost on its two trips between the
 * keyed stages. Events never enter keyed or operator state (the stages keep {@code byte[]} state), so this
 * layout is free to change with the job.
 */
public final class EventSerializer extends TypeSerializerSingleton<Event> {
    private static final long serialVersionUID = 1L;

    static final EventSerializer INSTANCE = new EventSerializer();

    /** The type information that hands Flink this serializer. */
    public static final TypeInformation<Event> TYPE = new EventType();

    @Override
    public boolean isImmutableType() {
        return false;
    }

    @Override
    public Event createInstance() {
        return new Event();
    }

    @Override
    public Event copy(Event from) {
        Event e = new Event();
        e.kind = from.kind;
        e.source = from.source;
        e.schemaVersion = from.schemaVersion;
        e.transactionId = from.transactionId;
        e.customerId = from.customerId;
        e.terminalId = from.terminalId;
        e.amount = from.amount;
        e.eventMicros = from.eventMicros;
        e.currency = from.currency;
        e.paymentMethod = from.paymentMethod;
        e.channel = from.channel;
        e.deviceId = from.deviceId;
        e.hasGeo = from.hasGeo;
        e.lat = from.lat;
        e.lon = from.lon;
        e.isFraud = from.isFraud;
        e.confirmedMicros = from.confirmedMicros;
        e.terminalTx1h = from.terminalTx1h;
        e.terminalConfirmedFrauds = from.terminalConfirmedFrauds;
        e.terminalFeatures = from.terminalFeatures == null ? null : from.terminalFeatures.clone();
        return e;
    }

    @Override
    public Event copy(Event from, Event reuse) {
        return copy(from);
    }

    @Override
    public int getLength() {
        return -1;
    }

    @Override
    public void serialize(Event e, DataOutputView out) throws IOException {
        StringValue.writeString(e.kind, out);
        StringValue.writeString(e.source, out);
        out.writeLong(e.schemaVersion);
        StringValue.writeString(e.transactionId, out);
        StringValue.writeString(e.customerId, out);
        StringValue.writeString(e.terminalId, out);
        out.writeDouble(e.amount);
        out.writeLong(e.eventMicros);
        StringValue.writeString(e.currency, out);
        StringValue.writeString(e.paymentMethod, out);
        StringValue.writeString(e.channel, out);
        StringValue.writeString(e.deviceId, out);
        out.writeBoolean(e.hasGeo);
        out.writeDouble(e.lat);
        out.writeDouble(e.lon);
        out.writeBoolean(e.isFraud);
        out.writeLong(e.confirmedMicros);
        out.writeInt(e.terminalTx1h);
        out.writeInt(e.terminalConfirmedFrauds);
        double[] features = e.terminalFeatures;
        out.writeInt(features == null ? -1 : features.length);
        if (features != null) {
            for (double v : features) {
                out.writeDouble(v);
            }
        }
    }

    @Override
    public Event deserialize(DataInputView in) throws IOException {
        Event e = new Event();
        e.kind = StringValue.readString(in);
        e.source = StringValue.readString(in);
        e.schemaVersion = in.readLong();
        e.transactionId = StringValue.readString(in);
        e.customerId = StringValue.readString(in);
        e.terminalId = StringValue.readString(in);
        e.amount = in.readDouble();
        e.eventMicros = in.readLong();
        e.currency = StringValue.readString(in);
        e.paymentMethod = StringValue.readString(in);
        e.channel = StringValue.readString(in);
        e.deviceId = StringValue.readString(in);
        e.hasGeo = in.readBoolean();
        e.lat = in.readDouble();
        e.lon = in.readDouble();
        e.isFraud = in.readBoolean();
        e.confirmedMicros = in.readLong();
        e.terminalTx1h = in.readInt();
        e.terminalConfirmedFrauds = in.readInt();
        int n = in.readInt();
        if (n >= 0) {
            double[] features = new double[n];
            for (int i = 0; i < n; i++) {
                features[i] = in.readDouble();
            }
            e.terminalFeatures = features;
        }
        return e;
    }

    @Override
    public Event deserialize(Event reuse, DataInputView in) throws IOException {
        return deserialize(in);
    }

    @Override
    public void copy(DataInputView source, DataOutputView target) throws IOException {
        serialize(deserialize(source), target);
    }

    @Override
    public TypeSerializerSnapshot<Event> snapshotConfiguration() {
        return new Snapshot();
    }

    /** Restores the singleton (a snapshot is only taken if an Event ever reached state). */
    public static final class Snapshot extends SimpleTypeSerializerSnapshot<Event> {
        public Snapshot() {
            super(() -> INSTANCE);
        }
    }

    /** {@link Event} as Flink's type system sees it: a single opaque value with this serializer. */
    static final class EventType extends TypeInformation<Event> {
        private static final long serialVersionUID = 1L;

        @Override
        public boolean isBasicType() {
            return false;
        }

        @Override
        public boolean isTupleType() {
            return false;
        }

        @Override
        public int getArity() {
            return 1;
        }

        @Override
        public int getTotalFields() {
            return 1;
        }

        @Override
        public Class<Event> getTypeClass() {
            return Event.class;
        }

        @Override
        public boolean isKeyType() {
            return false;
        }

        @Override
        public TypeSerializer<Event> createSerializer(SerializerConfig config) {
            return INSTANCE;
        }

        @Override
        public String toString() {
            return "Event";
        }

        @Override
        public boolean equals(Object obj) {
            return obj instanceof EventType;
        }

        @Override
        public int hashCode() {
            return Event.class.hashCode();
        }

        @Override
        public boolean canEqual(Object obj) {
            return obj instanceof EventType;
        }
    }
}
