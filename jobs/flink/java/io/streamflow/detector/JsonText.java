package io.streamflow.detector;

import java.io.IOException;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.time.Instant;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonFactory;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonGenerator;

/** Writes the detector's JSON records (alerts, scores, dead letters) with one shared factory. */
final class JsonText {
    private static final JsonFactory FACTORY = new JsonFactory();

    private JsonText() {}

    /** Something that writes one JSON value. */
    interface Body {
        void write(JsonGenerator g) throws IOException;
    }

    static String write(Body body) {
        StringWriter out = new StringWriter(256);
        try (JsonGenerator g = FACTORY.createGenerator(out)) {
            body.write(g);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toString();
    }

    /**
     * ISO-8601 in UTC as pydantic writes an aware UTC datetime: seconds, then six fraction digits unless
     * the microseconds are zero, then {@code Z}.
     */
    static String isoMicros(long micros) {
        long seconds = Math.floorDiv(micros, 1_000_000L);
        int fraction = (int) Math.floorMod(micros, 1_000_000L);
        String whole = Instant.ofEpochSecond(seconds).toString(); // ...:SSZ
        if (fraction == 0) {
            return whole;
        }
        return whole.substring(0, whole.length() - 1) + String.format(".%06dZ", fraction);
    }

    static void nullableNumber(JsonGenerator g, String field, Double value) throws IOException {
        if (value == null) {
            g.writeNullField(field);
        } else {
            g.writeNumberField(field, value);
        }
    }
}
