package io.streamflow.detector;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.time.Instant;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonFactory;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonGenerator;

/** Writes the detector's JSON records (alerts, scores, dead letters) with one shared factory. */
final class JsonText {
    private static final JsonFactory FACTORY = new JsonFactory();
    private static final ThreadLocal<Buffer> BUFFER = ThreadLocal.withInitial(Buffer::new);

    private JsonText() {}

    /** Something that writes one JSON value. */
    interface Body {
        void write(JsonGenerator g) throws IOException;
    }

    static String write(Body body) {
        Buffer kept = BUFFER.get();
        Buffer out = kept.busy ? new Buffer() : kept; // busy: a body writing a JSON text of its own inside
        out.busy = true;
        out.text.setLength(0); // what a failed write left
        try (JsonGenerator g = FACTORY.createGenerator(out)) {
            body.write(g);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } finally {
            out.busy = false;
        }
        if (out == kept && out.text.capacity() > Buffer.KEPT_CHARS) {
            BUFFER.remove(); // one huge record (a dead letter's payload) is not kept for the thread's life
        }
        return out.text.toString();
    }

    /**
     * The text of one record, kept by the thread that writes it: a score's JSON is written for every
     * event, and a buffer that has held the longest record needs neither growth (a copy) nor a lock.
     */
    private static final class Buffer extends Writer {
        static final int KEPT_CHARS = 64 * 1024;
        final StringBuilder text = new StringBuilder(1024);
        boolean busy;

        @Override
        public void write(char[] chars, int offset, int length) {
            text.append(chars, offset, length);
        }

        @Override
        public void write(String chars, int offset, int length) {
            text.append(chars, offset, offset + length);
        }

        @Override
        public void write(int c) {
            text.append((char) c);
        }

        @Override
        public void flush() {}

        @Override
        public void close() {}
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
