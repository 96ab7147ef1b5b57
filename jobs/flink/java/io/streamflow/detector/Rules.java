package io.streamflow.detector;

import static io.streamflow.detector.PyFormat.fixed;
import static io.streamflow.detector.PyFormat.general;
import static io.streamflow.detector.PyFormat.percent;

import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;

/**
 * The fraud rules of {@code fraud_jobs.rules} with the settings of one effective {@code DetectorConfig}:
 * each rule's predicate and reason sentence (character for character), {@link #combine}, and the
 * detector-wide settings.
 *
 * <p>Comparisons, {@code min}/{@code max} and arithmetic follow the Python source operation by operation
 * (Python's {@code max(a, b)} keeps {@code a} unless {@code b > a}, so NaN does not propagate as it does
 * with {@code Math.max}), so the same inputs give the same hits and bit-identical scores. Immutable.
 */
public final class Rules {
  private final HighValue highValue;
  private final Velocity velocity;
  private final Travel travel;
  private final UnusualHour unusualHour;
  private final Blocklist blocklist;
  private final Anomaly anomaly;
  private final TerminalRisk terminalRisk;
  private final double alpha;
  private final double alertThreshold;
  private final double stateTtlS;
  private final boolean mlFeatures;
  private final double labelDelayS;
  private final List<String> problems;
  private final String configJson;

  /** From a config {@link ConfigFold} validated and normalised (every field present, canonical types). */
  Rules(JsonNode cfg, List<String> problems) {
    highValue = new HighValue(cfg.get("high_value"));
    velocity = new Velocity(cfg.get("velocity"));
    travel = new Travel(cfg.get("travel"));
    unusualHour = new UnusualHour(cfg.get("unusual_hour"));
    blocklist = new Blocklist(cfg.get("blocklist"));
    anomaly = new Anomaly(cfg.get("anomaly"));
    terminalRisk = new TerminalRisk(cfg.get("terminal_risk"));
    alpha = cfg.get("alpha").doubleValue();
    alertThreshold = cfg.get("alert_threshold").doubleValue();
    stateTtlS = cfg.get("state_ttl_s").doubleValue();
    mlFeatures = cfg.get("ml_features").booleanValue();
    labelDelayS = cfg.get("label_delay_s").doubleValue();
    this.problems = List.copyOf(problems);
    this.configJson = cfg.toString();
  }

  /**
   * The rules of {@code DetectorConfig.model_validate_json(configJson)}; the JSON is what
   * {@code model_dump_json()} writes (every field present). Throws IllegalArgumentException naming the
   * first invalid field.
   */
  public static Rules fromConfigJson(String configJson) {
    return ConfigFold.fold(configJson, null);
  }

  /**
   * {@code fold_controls(DetectorConfig.model_validate_json(baseConfigJson), controlsJson)}: the file config
   * with the control manager's compacted document (format 2; null or empty: none) folded over it. A part of
   * the document that does not apply is skipped and named in {@link #problems()}, as is a document that
   * cannot be read (the file config alone is then live).
   */
  public static Rules fromConfigJson(String baseConfigJson, String controlsJson) {
    return ConfigFold.fold(baseConfigJson, controlsJson);
  }

  /** {@code (score, rule_score)} of {@code fraud_jobs.rules.combine}. */
  public record Combined(double score, double ruleScore) {}

  /**
   * {@code fraud_jobs.rules.combine}: the weights summed left to right and capped at 1; with a model score
   * ({@code mlScore} not null) blended by {@code alpha} and clipped to [0, 1], or combined by the model's
   * learned {@code combiner} when it has one (null: none).
   */
  public static Combined combine(List<RuleHit> hits, Double mlScore, double alpha, Combiner combiner) {
    double ruleScore = 0.0;
    for (RuleHit hit : hits) {
      ruleScore += hit.weight();
    }
    ruleScore = pyMin(1.0, ruleScore);
    if (mlScore == null) {
      return new Combined(ruleScore, ruleScore);
    }
    if (combiner != null) {
      return new Combined(combiner.score(mlScore, hits), ruleScore);
    }
    double score = (1.0 - alpha) * ruleScore + alpha * mlScore;
    return new Combined(pyMin(1.0, pyMax(0.0, score)), ruleScore);
  }

  public HighValue highValue() {
    return highValue;
  }

  public Velocity velocity() {
    return velocity;
  }

  public Travel travel() {
    return travel;
  }

  public UnusualHour unusualHour() {
    return unusualHour;
  }

  public Blocklist blocklist() {
    return blocklist;
  }

  public Anomaly anomaly() {
    return anomaly;
  }

  public TerminalRisk terminalRisk() {
    return terminalRisk;
  }

  /** Share of the ML score in the combined score. */
  public double alpha() {
    return alpha;
  }

  public double alertThreshold() {
    return alertThreshold;
  }

  /** Keyed state of a key inactive this long is dropped. */
  public double stateTtlS() {
    return stateTtlS;
  }

  /** Keep the ML feature state per key even without a scorer. */
  public boolean mlFeatures() {
    return mlFeatures;
  }

  public double labelDelayS() {
    return labelDelayS;
  }

  /** Parts of the control document that were skipped, or why it was not read at all; for the log. */
  public List<String> problems() {
    return problems;
  }

  /** The effective config as {@code model_dump_json()} would write it (blocklists sorted). */
  public String configJson() {
    return configJson;
  }

  /** Python's {@code max(a, b)}: {@code a} unless {@code b > a}. */
  static double pyMax(double a, double b) {
    return b > a ? b : a;
  }

  /** Python's {@code min(a, b)}: {@code a} unless {@code b < a}. */
  static double pyMin(double a, double b) {
    return b < a ? b : a;
  }

  /** What every rule has: its code, whether it runs, and the weight of a hit. */
  public abstract static class Rule {
    private final String code;
    final boolean enabled;
    final double weight;

    Rule(String code, JsonNode cfg) {
      this.code = code;
      this.enabled = cfg.get("enabled").booleanValue();
      this.weight = cfg.get("weight").doubleValue();
    }

    public final boolean enabled() {
      return enabled;
    }

    public final double weight() {
      return weight;
    }

    final RuleHit hit(String reason) {
      return new RuleHit(code, reason, weight);
    }
  }

  /** FR-001: the amount is far above the customer's own history (z-score against mean and std). */
  public static final class HighValue extends Rule {
    private final long minHistory;
    private final double zThreshold;
    private final double minStdRatio;
    private final double minAmount;

    HighValue(JsonNode cfg) {
      super("FR-001", cfg);
      minHistory = cfg.get("min_history").longValue();
      zThreshold = cfg.get("z_threshold").doubleValue();
      minStdRatio = cfg.get("min_std_ratio").doubleValue();
      minAmount = cfg.get("min_amount").doubleValue();
    }

    public RuleHit check(double amount, long n, double mean, double std) {
      if (!enabled || n < minHistory || amount < minAmount) {
        return null;
      }
      double spread = pyMax(pyMax(std, minStdRatio * mean), 1e-9);
      double z = (amount - mean) / spread;
      if (z <= zThreshold) {
        return null;
      }
      return hit(
          "amount " + fixed(amount, 2) + " is " + fixed(z, 1) + " std above this customer's mean "
              + fixed(mean, 2) + " (std " + fixed(std, 2) + ", " + n
              + " past transactions; threshold " + general(zThreshold) + ")");
    }
  }

  /** FR-002: more transactions of one customer within a sliding window than allowed. */
  public static final class Velocity extends Rule {
    private final long maxCount;
    private final double windowS;

    Velocity(JsonNode cfg) {
      super("FR-002", cfg);
      maxCount = cfg.get("max_count").longValue();
      windowS = cfg.get("window_s").doubleValue();
    }

    /** Length of the sliding window in seconds. */
    public double windowS() {
      return windowS;
    }

    /** {@code countInWindow} includes the current transaction. */
    public RuleHit check(long countInWindow) {
      if (!enabled || countInWindow <= maxCount) {
        return null;
      }
      return hit(
          countInWindow + " transactions within " + general(windowS / 60) + " min (more than "
              + maxCount + " allowed)");
    }
  }

  /** FR-003: the card moved between two geo-located transactions faster than a plane. */
  public static final class Travel extends Rule {
    private final double maxSpeedKmh;
    private final double minDistanceKm;

    Travel(JsonNode cfg) {
      super("FR-003", cfg);
      maxSpeedKmh = cfg.get("max_speed_kmh").doubleValue();
      minDistanceKm = cfg.get("min_distance_km").doubleValue();
    }

    public RuleHit check(double distanceKm, double hours) {
      if (!enabled || distanceKm < minDistanceKm) {
        return null;
      }
      double speed = hours > 0.0 ? distanceKm / hours : Double.POSITIVE_INFINITY;
      if (speed <= maxSpeedKmh) {
        return null;
      }
      String shown = Double.isInfinite(speed) ? "instantly" : "at " + fixed(speed, 0) + " km/h";
      return hit(
          "moved " + fixed(distanceKm, 0) + " km in " + fixed(hours * 60, 0)
              + " min since the previous transaction (" + shown + "; max " + general(maxSpeedKmh)
              + " km/h)");
    }
  }

  /** FR-004: the customer rarely pays at this hour of day (UTC), judged from their hour histogram. */
  public static final class UnusualHour extends Rule {
    private final long minHistory;
    private final double maxShare;

    UnusualHour(JsonNode cfg) {
      super("FR-004", cfg);
      minHistory = cfg.get("min_history").longValue();
      maxShare = cfg.get("max_share").doubleValue();
    }

    public RuleHit check(int hour, double share, long n) {
      if (!enabled || n < minHistory || share >= maxShare) {
        return null;
      }
      return hit(
          PyFormat.zeroPadded(hour, 2) + ":00 UTC is unusual for this customer: " + percent(share, 1)
              + " of " + n + " past transactions fall within two hours of it (below "
              + percent(maxShare, 1) + ")");
    }
  }

  /** FR-005: the customer or the terminal is on the blocklist. */
  public static final class Blocklist extends Rule {
    private final Set<String> customers;
    private final Set<String> terminals;

    Blocklist(JsonNode cfg) {
      super("FR-005", cfg);
      customers = ids(cfg.get("customers"));
      terminals = ids(cfg.get("terminals"));
    }

    private static Set<String> ids(JsonNode list) {
      Set<String> ids = new HashSet<>();
      list.forEach(id -> ids.add(id.textValue()));
      return Set.copyOf(ids);
    }

    public RuleHit check(String customerId, String terminalId) {
      if (!enabled) {
        return null;
      }
      if (customers.contains(customerId)) {
        return hit("customer " + customerId + " is blocklisted");
      }
      if (terminals.contains(terminalId)) {
        return hit("terminal " + terminalId + " is blocklisted");
      }
      return null;
    }
  }

  /** FR-006: the ML model scores the transaction as anomalous. */
  public static final class Anomaly extends Rule {
    private final double threshold;

    Anomaly(JsonNode cfg) {
      super("FR-006", cfg);
      threshold = cfg.get("threshold").doubleValue();
    }

    /** The model score that fires it (the decide step rebuilds the rule from it). */
    public double threshold() {
      return threshold;
    }

    /** {@code mlScore} null: no model scored (never fires); {@code modelVersion} null or empty: "?". */
    public RuleHit check(Double mlScore, String modelVersion) {
      if (!enabled || mlScore == null || mlScore < threshold) {
        return null;
      }
      String version = modelVersion == null || modelVersion.isEmpty() ? "?" : modelVersion;
      return hit("model " + version + " anomaly score " + fixed(mlScore, 3) + " >= " + general(threshold));
    }
  }

  /** FR-007: frauds at this terminal were confirmed recently (labels counted once delivered). */
  public static final class TerminalRisk extends Rule {
    private final long minFrauds;
    private final double windowS;

    TerminalRisk(JsonNode cfg) {
      super("FR-007", cfg);
      minFrauds = cfg.get("min_frauds").longValue();
      windowS = cfg.get("window_s").doubleValue();
    }

    /** Window of confirmed frauds in seconds. */
    public double windowS() {
      return windowS;
    }

    public RuleHit check(long confirmedFrauds) {
      if (!enabled || confirmedFrauds < minFrauds) {
        return null;
      }
      return hit(
          confirmedFrauds + " confirmed fraud(s) at this terminal within " + general(windowS / 86400)
              + " days");
    }
  }
}
