package io.streamflow.detector;

import java.io.Serializable;

/**
 * One rule that fired ({@code fraud_jobs.schemas.RuleHit}): the stable code, the sentence an analyst
 * reads and the rule's weight in the rule score.
 */
public record RuleHit(String code, String reason, double weight) implements Serializable {
  /** The longest reason {@code fraud_jobs.schemas.RuleHit} accepts, in characters (code points). */
  public static final int MAX_REASON = 500;

  /**
   * Refuses a reason Python refuses (pydantic raises when the rule builds the hit, so the transaction
   * fails as a whole); only a very long model version or absurd amounts make one that long.
   */
  public RuleHit {
    if (reason.length() > MAX_REASON && reason.codePointCount(0, reason.length()) > MAX_REASON) {
      throw new IllegalArgumentException(
          "RuleHit reason: String should have at most " + MAX_REASON + " characters");
    }
  }
}
