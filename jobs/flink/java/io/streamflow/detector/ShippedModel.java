package io.streamflow.detector;

import java.io.Serializable;

/**
 * A model artifact shipped inside the job graph: the bytes the job's entry point fetched and checked with
 * {@code fraud_models.scorer.load_model}, so every TaskManager (and every restart) scores with the same
 * artifact without reaching its URI. The scorer is built again from the bytes in each task.
 */
public final class ShippedModel implements Serializable {
    private static final long serialVersionUID = 1L;

    private final String role;
    private final String version;
    private final String shown;
    private final String sha256;
    private final String schemaId;
    private final byte[] artifact;

    /**
     * @param role {@code active} or {@code shadow}
     * @param version the model version the records carry
     * @param shown the artifact's URI with credentials redacted, for messages
     * @param sha256 the expected digest (null when the model's spec gives none)
     * @param schemaId the feature schema this job computes
     * @param artifact the npz bytes
     */
    public ShippedModel(
            String role, String version, String shown, String sha256, String schemaId, byte[] artifact) {
        this.role = role;
        this.version = version;
        this.shown = shown;
        this.sha256 = sha256;
        this.schemaId = schemaId;
        this.artifact = artifact.clone();
    }

    public String role() {
        return role;
    }

    public String version() {
        return version;
    }

    /** The scorer; a refusal names the shadow model as such (an active model's refusal is the job's own). */
    public ModelScorer load() throws ModelLoadException {
        try {
            return ModelScorer.load(artifact, shown, sha256, schemaId);
        } catch (ModelLoadException e) {
            if ("active".equals(role)) {
                throw e;
            }
            throw new ModelLoadException(role + " model " + shown + ": " + e.getMessage(), e);
        }
    }
}
