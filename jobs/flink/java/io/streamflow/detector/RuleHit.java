package io.streamflow.detector;

import java.io.Serializable;

/**
 * One rule that fired ({@code fraud_jobs.schemas.RuleHit}): the stable code, the sentence an analyst
 * reads and the rule's weight in the rule score.
 */
public record RuleHit(String code, String reason, double weight) implements Serializable {}
