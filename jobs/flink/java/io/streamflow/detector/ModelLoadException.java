package io.streamflow.detector;

/**
 * A model artifact that must not be scored with, like {@code fraud_models.scorer.ModelLoadError}: unreadable,
 * tampered (sha256), trained on another feature schema, or inconsistent. The message says which.
 */
public final class ModelLoadException extends Exception {
    private static final long serialVersionUID = 1L;

    public ModelLoadException(String message) {
        super(message);
    }

    public ModelLoadException(String message, Throwable cause) {
        super(message, cause);
    }
}
