package io.streamflow.detector;

/**
 * Stored state that cannot be decoded: an unknown version, a truncated or corrupt value. Thrown instead of
 * scoring with garbage, like {@code fraud_jobs.state.StateCodecError}; the message names what is wrong.
 */
public final class StateCodecException extends IllegalStateException {
    private static final long serialVersionUID = 1L;

    public StateCodecException(String message) {
        super(message);
    }
}
