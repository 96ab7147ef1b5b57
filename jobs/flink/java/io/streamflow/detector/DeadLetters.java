package io.streamflow.detector;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Dead letters written on the JVM, in the shape of {@code fraud_jobs.schemas.DeadLetterRecord}.
 *
 * <p>Records the parser refuses are dead-lettered by the Python parser (the one definition of every
 * validation reason); the JVM only writes the failures of its own stages (a processing or a scoring error),
 * whose payload is the transaction as JSON.
 */
final class DeadLetters {
    static final int PAYLOAD_LIMIT = 10 * 1024;
    private static final int MESSAGE_LIMIT = 2000;

    private DeadLetters() {}

    /** A DLQ record for {@code payload} (text) that failed in {@code stage} with {@code error}. */
    static String of(String payload, String errorType, String message, String stage, String source) {
        byte[] data = payload.getBytes(StandardCharsets.UTF_8);
        int size = data.length;
        int cut = Math.min(size, PAYLOAD_LIMIT);
        while (cut < size && cut > 0 && (data[cut] & 0xC0) == 0x80) {
            cut--; // never split a multi-byte character
        }
        String text = new String(Arrays.copyOf(data, cut), StandardCharsets.UTF_8);
        String msg = message.length() > MESSAGE_LIMIT ? message.substring(0, MESSAGE_LIMIT) : message;
        String topic = null;
        Integer partition = null;
        Long offset = null;
        if (source != null) {
            int last = source.lastIndexOf(':');
            int mid = last > 0 ? source.lastIndexOf(':', last - 1) : -1;
            try {
                if (mid < 0) {
                    throw new NumberFormatException(source);
                }
                offset = Long.parseLong(source.substring(last + 1));
                partition = Integer.parseInt(source.substring(mid + 1, last));
                topic = mid == 0 ? null : source.substring(0, mid);
            } catch (NumberFormatException e) {
                topic = source.isEmpty() ? null : source;
                partition = null;
                offset = null;
            }
        }
        String finalTopic = topic;
        Integer finalPartition = partition;
        Long finalOffset = offset;
        long now = System.currentTimeMillis() * 1000L;
        return JsonText.write(
                g -> {
                    g.writeStartObject();
                    g.writeNumberField("schema_version", 1);
                    g.writeStringField("payload", text);
                    g.writeStringField("payload_encoding", "utf-8");
                    g.writeNumberField("payload_size", size);
                    g.writeBooleanField("payload_truncated", size > PAYLOAD_LIMIT);
                    g.writeStringField("error_type", errorType);
                    g.writeStringField("error_message", msg);
                    g.writeStringField("stage", stage);
                    g.writeStringField("source_topic", finalTopic);
                    if (finalPartition == null) {
                        g.writeNullField("source_partition");
                    } else {
                        g.writeNumberField("source_partition", finalPartition);
                    }
                    if (finalOffset == null) {
                        g.writeNullField("source_offset");
                    } else {
                        g.writeNumberField("source_offset", finalOffset);
                    }
                    g.writeStringField("failed_at", JsonText.isoMicros(now));
                    g.writeEndObject();
                });
    }

    /** The failure text Python writes for an exception: {@code Type: message}. */
    static String describe(Throwable error) {
        String message = error.getMessage();
        return error.getClass().getSimpleName() + ": " + (message == null ? "" : message);
    }
}
