package io.streamflow.detector.tools;

import io.streamflow.detector.Combiner;
import io.streamflow.detector.ModelLoadException;
import io.streamflow.detector.PyFormat;
import io.streamflow.detector.RuleHit;
import io.streamflow.detector.Rules;
import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.node.ArrayNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.node.ObjectNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.node.TextNode;

/**
 * Runs {@link Rules} on many cases in one JVM, for the test that compares it with {@code fraud_jobs.rules}.
 *
 * <p>Each stdin line is a JSON object: {@code config} (DetectorConfig JSON text), optionally
 * {@code controls} (compacted control document or null: the two-argument fold), {@code calls} (a list of
 * {@code [rule, args...]}: {@code ["high_value", amount, n, mean, std]}, {@code ["velocity", count]},
 * {@code ["travel", distance_km, hours]}, {@code ["unusual_hour", hour, share, n]},
 * {@code ["blocklist", customer, terminal]}, {@code ["anomaly", ml_score, version]},
 * {@code ["terminal_risk", frauds]}) and {@code combine} (a list of {@code [weights, ml_score, alpha]},
 * optionally followed by the hits' codes and a learned combiner's metadata object).
 * Doubles travel as {@code float.hex()} text both ways. Each stdout line holds {@code config} (the effective
 * config, doubles as hex), {@code problems}, {@code hits} ({@code [code, reason, weight]} or null per call)
 * ({@code ["raised", message]} where the hit is refused) and {@code combine} ({@code [score, rule_score]}
 * per combination), or {@code error} if the config is invalid.
 */
public final class RuleCheck {
  private static final ObjectMapper JSON = new ObjectMapper();

  private RuleCheck() {}

  public static void main(String[] args) throws IOException {
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    Writer out = new BufferedWriter(new OutputStreamWriter(System.out, StandardCharsets.UTF_8));
    Map<List<String>, Object> built = new HashMap<>();
    for (String line = in.readLine(); line != null; line = in.readLine()) {
      if (line.isBlank()) {
        continue;
      }
      JsonNode request = JSON.readTree(line);
      String config = request.get("config").textValue();
      JsonNode controls = request.get("controls");
      List<String> key = Arrays.asList(config, controls == null ? null : controls.textValue());
      Object rules = built.computeIfAbsent(key, k -> build(k.get(0), controls != null, k.get(1)));
      ObjectNode result = JSON.createObjectNode();
      if (rules instanceof String) {
        result.put("error", (String) rules);
      } else {
        run((Rules) rules, request, result);
      }
      out.write(JSON.writeValueAsString(result));
      out.write('\n');
    }
    out.flush();
  }

  /** The rules, or the message of the exception that refused the config. */
  private static Object build(String config, boolean fold, String controls) {
    try {
      return fold ? Rules.fromConfigJson(config, controls) : Rules.fromConfigJson(config);
    } catch (IllegalArgumentException e) {
      return e.getMessage();
    }
  }

  private static void run(Rules rules, JsonNode request, ObjectNode result) throws IOException {
    result.set("config", hexDoubles(JSON.readTree(rules.configJson())));
    ArrayNode problems = result.putArray("problems");
    rules.problems().forEach(problems::add);
    ArrayNode hits = result.putArray("hits");
    for (JsonNode call : request.path("calls")) {
      RuleHit hit;
      try {
        hit = call(rules, call);
      } catch (IllegalArgumentException e) {
        hits.addArray().add("raised").add(e.getMessage());
        continue;
      }
      if (hit == null) {
        hits.addNull();
      } else {
        hits.addArray().add(hit.code()).add(hit.reason()).add(PyFormat.hex(hit.weight()));
      }
    }
    ArrayNode combined = result.putArray("combine");
    for (JsonNode c : request.path("combine")) {
      List<RuleHit> weights = new ArrayList<>();
      JsonNode codes = c.path(3);
      for (int i = 0; i < c.get(0).size(); i++) {
        String code = codes.isArray() ? codes.get(i).textValue() : "FR-000";
        weights.add(new RuleHit(code, "weight", x(c.get(0).get(i))));
      }
      Double ml = c.get(1).isNull() ? null : x(c.get(1));
      Combiner combiner;
      try {
        combiner = c.path(4).isObject() ? Combiner.fromMeta(c.get(4)) : null;
      } catch (ModelLoadException e) {
        throw new IllegalArgumentException(e.getMessage(), e);
      }
      Rules.Combined score = Rules.combine(weights, ml, x(c.get(2)), combiner);
      combined.addArray().add(PyFormat.hex(score.score())).add(PyFormat.hex(score.ruleScore()));
    }
  }

  private static RuleHit call(Rules rules, JsonNode call) {
    String rule = call.get(0).textValue();
    switch (rule) {
      case "high_value":
        return rules
            .highValue()
            .check(x(call.get(1)), call.get(2).longValue(), x(call.get(3)), x(call.get(4)));
      case "velocity":
        return rules.velocity().check(call.get(1).longValue());
      case "travel":
        return rules.travel().check(x(call.get(1)), x(call.get(2)));
      case "unusual_hour":
        return rules.unusualHour().check(call.get(1).intValue(), x(call.get(2)), call.get(3).longValue());
      case "blocklist":
        return rules.blocklist().check(call.get(1).textValue(), call.get(2).textValue());
      case "anomaly":
        Double ml = call.get(1).isNull() ? null : x(call.get(1));
        return rules.anomaly().check(ml, call.get(2).textValue());
      case "terminal_risk":
        return rules.terminalRisk().check(call.get(1).longValue());
      default:
        throw new IllegalArgumentException("unknown rule " + rule);
    }
  }

  private static double x(JsonNode hex) {
    return PyFormat.fromHex(hex.textValue());
  }

  /** The tree with every double replaced by its {@code float.hex()} text. */
  private static JsonNode hexDoubles(JsonNode node) {
    if (node.isDouble()) {
      return TextNode.valueOf(PyFormat.hex(node.doubleValue()));
    }
    if (node.isObject()) {
      ObjectNode out = JSON.createObjectNode();
      node.fields().forEachRemaining(e -> out.set(e.getKey(), hexDoubles(e.getValue())));
      return out;
    }
    return node;
  }
}
