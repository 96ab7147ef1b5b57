package io.streamflow.detector;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.UUID;

/**
 * {@code fraud_jobs.schemas.alert_id_for}: a name-based UUID (version 5, SHA-1) of the transaction id, so
 * re-processing a transaction gives the same alert id and the sinks stay idempotent.
 */
public final class AlertIds {
    private static final UUID NAMESPACE = UUID.fromString("6f1f0f3e-5b7a-4c1e-9a51-0d3c7e2b9f10");
    private static final byte[] NAMESPACE_BYTES =
            ByteBuffer.allocate(16)
                    .putLong(NAMESPACE.getMostSignificantBits())
                    .putLong(NAMESPACE.getLeastSignificantBits())
                    .array();

    private AlertIds() {}

    public static String forTransaction(String transactionId) {
        MessageDigest sha1;
        try {
            sha1 = MessageDigest.getInstance("SHA-1");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-1 is required of every Java platform", e);
        }
        sha1.update(NAMESPACE_BYTES);
        byte[] hash = sha1.digest(transactionId.getBytes(StandardCharsets.UTF_8));
        hash[6] = (byte) ((hash[6] & 0x0f) | 0x50);
        hash[8] = (byte) ((hash[8] & 0x3f) | 0x80);
        ByteBuffer bytes = ByteBuffer.wrap(hash, 0, 16);
        return new UUID(bytes.getLong(), bytes.getLong()).toString();
    }
}
