package io.streamflow.detector;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonParseException;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonParser;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonProcessingException;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.json.JsonReadFeature;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.DeserializationFeature;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.json.JsonMapper;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.node.ArrayNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.node.JsonNodeFactory;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * {@code DetectorConfig} validation and {@code fraud_jobs.flink.control.fold_controls}: the file config with
 * the control manager's compacted document (format 2) folded over it.
 *
 * <p>The fields, their order and bounds mirror {@code fraud_jobs.rules} and {@code fraud_jobs.config}; a
 * value is converted as pydantic's lax mode converts the JSON value (an int for a float field, {@code true}
 * for a number, {@code 7.0} for an int, {@code 0}/{@code 1} for a bool), and the first invalid field is
 * named with pydantic's wording. Python applies all parts of the document at once and only when that fails
 * applies them one by one, skipping and naming those that fail; every constraint is on one field, so
 * applying them one by one always gives the same config and the same problems.
 *
 * <p>Where a damaged document would make Python raise rather than skip (a blocklist id that is not a
 * valid id, a non-finite or non-numeric rule value, alpha outside [0, 1]), the part is skipped here. A
 * format-1 document (the list of messages of earlier jobs) is not folded here: named, and the file config
 * alone is live.
 */
final class ConfigFold {
  private static final ObjectMapper JSON =
      JsonMapper.builder()
          .enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS)
          .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
          .build();
  private static final JsonNodeFactory NODES = JsonNodeFactory.instance;
  private static final double NONE = Double.NaN;
  private static final int MAX_ID_LEN = 128;
  private static final BigInteger LONG_LIMIT = BigInteger.ONE.shiftLeft(63);
  private static final BigInteger JSON_BIG_INT = BigInteger.TEN.pow(18);

  private enum Kind {
    BOOL,
    INT,
    FLOAT,
    IDS,
    RULE
  }

  /** One field: its kind and bounds ({@code lo} exclusive when {@code loOpen}; NaN: no bound). */
  private record Field(String name, Kind kind, double lo, boolean loOpen, double hi) {}

  private static Field bool(String name) {
    return new Field(name, Kind.BOOL, NONE, false, NONE);
  }

  private static Field ge(String name, Kind kind, double lo, double hi) {
    return new Field(name, kind, lo, false, hi);
  }

  private static Field gt(String name, Kind kind, double lo, double hi) {
    return new Field(name, kind, lo, true, hi);
  }

  private static final Field ENABLED = bool("enabled");
  private static final Field WEIGHT = ge("weight", Kind.FLOAT, 0.0, 1.0);

  /** DetectorConfig's rule fields -> the rule's fields, in declaration order. */
  private static final Map<String, List<Field>> RULES = new LinkedHashMap<>();

  /** Rule code -> DetectorConfig field ({@code fraud_jobs.config.RULE_FIELDS}). */
  private static final Map<String, String> FIELD_OF_CODE = new TreeMap<>();

  static {
    rule("FR-001", "high_value",
        ge("min_history", Kind.INT, 2, 10_000),
        gt("z_threshold", Kind.FLOAT, 0.0, 1000.0),
        ge("min_std_ratio", Kind.FLOAT, 0.0, 10.0),
        ge("min_amount", Kind.FLOAT, 0.0, NONE));
    rule("FR-002", "velocity",
        ge("max_count", Kind.INT, 1, 31),
        gt("window_s", Kind.FLOAT, 0.0, 7 * 86400.0));
    rule("FR-003", "travel",
        gt("max_speed_kmh", Kind.FLOAT, 0.0, 100_000.0),
        ge("min_distance_km", Kind.FLOAT, 0.0, NONE));
    rule("FR-004", "unusual_hour",
        ge("min_history", Kind.INT, 1, 100_000),
        ge("max_share", Kind.FLOAT, 0.0, 1.0));
    rule("FR-005", "blocklist", new Field("customers", Kind.IDS, NONE, false, NONE),
        new Field("terminals", Kind.IDS, NONE, false, NONE));
    rule("FR-006", "anomaly", ge("threshold", Kind.FLOAT, 0.0, 1.0));
    rule("FR-007", "terminal_risk",
        ge("min_frauds", Kind.INT, 1, 8),
        gt("window_s", Kind.FLOAT, 0.0, 365 * 86400.0));
  }

  private static void rule(String code, String name, Field... specific) {
    List<Field> fields = new ArrayList<>(List.of(ENABLED, WEIGHT));
    fields.addAll(List.of(specific));
    RULES.put(name, List.copyOf(fields));
    FIELD_OF_CODE.put(code, name);
  }

  /** DetectorConfig's fields in declaration order (the rules first). */
  private static final List<Field> CONFIG = configFields();

  private static List<Field> configFields() {
    List<Field> fields = new ArrayList<>();
    RULES.keySet().forEach(name -> fields.add(new Field(name, Kind.RULE, NONE, false, NONE)));
    fields.add(ge("alpha", Kind.FLOAT, 0.0, 1.0));
    fields.add(ge("alert_threshold", Kind.FLOAT, 0.0, 1.0));
    fields.add(gt("state_ttl_s", Kind.FLOAT, 0.0, NONE));
    fields.add(bool("ml_features"));
    fields.add(ge("label_delay_s", Kind.FLOAT, 0.0, NONE));
    return List.copyOf(fields);
  }

  private static final String[] KINDS = {"customers", "terminals"};

  private ConfigFold() {}

  /** A value pydantic would refuse: where ({@code high_value.z_threshold}) and its message. */
  private static final class Invalid extends Exception {
    private static final long serialVersionUID = 1L;

    Invalid(String where, String message) {
      super(where + ": " + message);
    }
  }

  /** A format-2 document that is not what control.py writes. */
  private static final class Damaged extends Exception {
    private static final long serialVersionUID = 1L;

    Damaged(String message) {
      super(message);
    }
  }

  static Rules fold(String baseJson, String controlsJson) {
    ObjectNode base;
    try {
      base = validate(parse(baseJson), true);
    } catch (JsonProcessingException e) {
      throw new IllegalArgumentException("detector config is not JSON: " + e.getOriginalMessage(), e);
    } catch (Invalid e) {
      throw new IllegalArgumentException("detector config: " + e.getMessage(), e);
    }
    List<String> problems = new ArrayList<>();
    ObjectNode cfg = controlsJson == null || controlsJson.isEmpty() ? base : fold(base, controlsJson, problems);
    return new Rules(cfg, problems);
  }

  private static JsonNode parse(String text) throws JsonProcessingException {
    JsonNode doc = JSON.readTree(text);
    if (doc == null || doc.isMissingNode()) {
      throw new JsonParseException((JsonParser) null, "no JSON value");
    }
    return doc;
  }

  private static ObjectNode fold(ObjectNode base, String controlsJson, List<String> problems) {
    JsonNode doc;
    try {
      doc = parse(controlsJson);
    } catch (JsonProcessingException e) {
      problems.add("accepted control state is not JSON: " + e.getOriginalMessage());
      return base;
    }
    if (doc.isArray()) {
      problems.add(
          "accepted control state has format 1 (a list of messages), which only the Python job folds;"
              + " the file config alone is live until a control message is accepted");
      return base;
    }
    JsonNode format = doc.isObject() ? doc.get("format") : null;
    if (format == null || !format.isNumber() || format.doubleValue() != 2.0) {
      String found = doc.isObject() ? pyRepr(format) : PyFormat.repr(pyType(doc));
      problems.add("accepted control state has unknown format " + found + " (known: list, 2)");
      return base;
    }
    try {
      return applyParts(base, doc, problems);
    } catch (Damaged e) {
      problems.add("accepted control state (format 2) is damaged: " + e.getMessage());
      return base;
    }
  }

  /**
   * Each part of the document in {@code _Overrides.patches} order (rules by code, alpha, alert_threshold,
   * blocklist) applied to the config so far; a part that does not validate is named and skipped.
   */
  private static ObjectNode applyParts(ObjectNode base, JsonNode doc, List<String> problems)
      throws Damaged {
    // read in the order of _Overrides.from_doc, so a document missing several keys names the same one
    JsonNode rules = required(doc, "rules");
    if (!rules.isObject()) {
      throw new Damaged("AttributeError(\"rules is not an object\")");
    }
    Map<String, JsonNode> patches = new TreeMap<>();
    for (Iterator<Map.Entry<String, JsonNode>> it = rules.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> entry = it.next();
      if (!entry.getValue().isObject()) {
        throw new Damaged("TypeError(\"the patch of rule " + entry.getKey() + " is not an object\")");
      }
      patches.put(entry.getKey(), entry.getValue());
    }
    JsonNode alpha = required(doc, "alpha");
    JsonNode threshold = required(doc, "alert_threshold");
    List<List<JsonNode>> added = idLists(required(doc, "blocklist_add"));
    List<List<JsonNode>> removed = idLists(required(doc, "blocklist_remove"));
    if (!required(doc, "recent").isObject()) {
      throw new Damaged("TypeError(\"recent is not an object\")");
    }
    required(doc, "horizon");

    ObjectNode cfg = base;
    for (Map.Entry<String, JsonNode> patch : patches.entrySet()) {
      String part = "control compacted rules " + patch.getKey() + ": ";
      String field = FIELD_OF_CODE.get(patch.getKey());
      if (field == null) {
        problems.add(part + "unknown rule code " + PyFormat.repr(patch.getKey()) + " (known: "
            + knownCodes() + ")");
        continue;
      }
      ObjectNode next = cfg.deepCopy();
      ObjectNode rule = (ObjectNode) next.get(field);
      for (Iterator<Map.Entry<String, JsonNode>> it = patch.getValue().fields(); it.hasNext(); ) {
        Map.Entry<String, JsonNode> value = it.next();
        rule.set(value.getKey(), value.getValue());
      }
      cfg = apply(cfg, next, part, problems);
    }
    for (String name : List.of("alpha", "alert_threshold")) {
      JsonNode value = name.equals("alpha") ? alpha : threshold;
      if (!value.isNull()) {
        ObjectNode next = cfg.deepCopy();
        next.set(name, value);
        cfg = apply(cfg, next, "control compacted " + name + ": ", problems);
      }
    }
    boolean any = false;
    for (int k = 0; k < KINDS.length; k++) {
      any |= !added.get(k).isEmpty() || !removed.get(k).isEmpty();
    }
    if (any) {
      ObjectNode next = cfg.deepCopy();
      ObjectNode blocklist = (ObjectNode) next.get("blocklist");
      for (int k = 0; k < KINDS.length; k++) {
        List<JsonNode> ids = new ArrayList<>();
        blocklist.get(KINDS[k]).forEach(ids::add);
        ids.addAll(added.get(k));
        ids.removeAll(removed.get(k));
        blocklist.set(KINDS[k], NODES.arrayNode().addAll(ids));
      }
      cfg = apply(cfg, next, "control compacted blocklist: ", problems);
    }
    return cfg;
  }

  private static ObjectNode apply(ObjectNode cfg, ObjectNode next, String part, List<String> problems) {
    try {
      return validate(next, false);
    } catch (Invalid e) {
      problems.add(part + e.getMessage());
      return cfg;
    }
  }

  private static JsonNode required(JsonNode doc, String key) throws Damaged {
    JsonNode value = doc.get(key);
    if (value == null) {
      throw new Damaged("KeyError(" + PyFormat.repr(key) + ")");
    }
    return value;
  }

  private static List<List<JsonNode>> idLists(JsonNode patch) throws Damaged {
    List<List<JsonNode>> lists = new ArrayList<>();
    for (String kind : KINDS) {
      if (!patch.isObject()) {
        throw new Damaged("TypeError(\"a blocklist patch is not an object\")");
      }
      JsonNode ids = required(patch, kind);
      if (!ids.isArray()) {
        throw new Damaged("TypeError(\"the blocklist " + kind + " are not a list\")");
      }
      List<JsonNode> list = new ArrayList<>();
      ids.forEach(list::add);
      lists.add(list);
    }
    return lists;
  }

  private static String knownCodes() {
    List<String> codes = new ArrayList<>();
    FIELD_OF_CODE.keySet().forEach(code -> codes.add(PyFormat.repr(code)));
    return "[" + String.join(", ", codes) + "]";
  }

  /**
   * The config validated and normalised: fields in declaration order, canonical types, ids sorted.
   * {@code json}: as {@code model_validate_json} (the file config), else as {@code model_validate} of the
   * Python values (a control part); they differ in a few messages only.
   */
  private static ObjectNode validate(JsonNode cfg, boolean json) throws Invalid {
    return validateModel(cfg, CONFIG, "", "DetectorConfig", json);
  }

  private static ObjectNode validateModel(
      JsonNode input, List<Field> fields, String prefix, String model, boolean json) throws Invalid {
    if (!input.isObject()) {
      throw new Invalid(prefix.isEmpty() ? "DetectorConfig" : prefix.substring(0, prefix.length() - 1),
          "Input should be a valid dictionary or instance of " + model);
    }
    ObjectNode out = NODES.objectNode();
    for (Field field : fields) {
      JsonNode value = input.get(field.name());
      String where = prefix + field.name();
      if (value == null) {
        throw new Invalid(where, "Field required (the config is complete as model_dump_json writes it)");
      }
      out.set(field.name(), convert(field, value, where, json));
    }
    for (Iterator<String> names = input.fieldNames(); names.hasNext(); ) {
      String name = names.next();
      if (!out.has(name)) {
        throw new Invalid(prefix + name, "Extra inputs are not permitted");
      }
    }
    return out;
  }

  private static JsonNode convert(Field field, JsonNode value, String where, boolean json)
      throws Invalid {
    switch (field.kind()) {
      case RULE:
        return validateModel(value, RULES.get(field.name()), where + ".", ruleModel(field.name()), json);
      case BOOL:
        return NODES.booleanNode(toBool(value, where, json));
      case INT:
        BigInteger i = toInt(value, where);
        if (i.compareTo(BigInteger.valueOf((long) field.lo())) < 0) {
          throw new Invalid(where, "Input should be greater than or equal to " + bound(field.lo()));
        }
        if (i.compareTo(BigInteger.valueOf((long) field.hi())) > 0) {
          throw new Invalid(where, "Input should be less than or equal to " + bound(field.hi()));
        }
        return NODES.numberNode(i.longValue());
      case FLOAT:
        double x = toFloat(value, where, json);
        if (field.loOpen() ? !(x > field.lo()) : !(x >= field.lo())) {
          throw new Invalid(where, "Input should be greater than " + (field.loOpen() ? "" : "or equal to ")
              + bound(field.lo()));
        }
        if (x > field.hi()) {
          throw new Invalid(where, "Input should be less than or equal to " + bound(field.hi()));
        }
        return NODES.numberNode(x);
      case IDS:
        return toIds(value, where, json);
      default:
        throw new IllegalStateException(field.kind().name());
    }
  }

  private static String ruleModel(String field) {
    switch (field) {
      case "travel":
        return "ImpossibleTravelRule";
      case "anomaly":
        return "AnomalyRule";
      default:
        StringBuilder name = new StringBuilder();
        for (String word : field.split("_")) {
          name.append(Character.toUpperCase(word.charAt(0))).append(word.substring(1));
        }
        return name + "Rule";
    }
  }

  /** pydantic's spelling of a bound (Rust's f64 Display: {@code 1000}, {@code 0.25}). */
  private static String bound(double b) {
    return BigDecimal.valueOf(b).stripTrailingZeros().toPlainString();
  }

  private static boolean toBool(JsonNode v, String where, boolean json) throws Invalid {
    if (v.isBoolean()) {
      return v.booleanValue();
    }
    if (v.isIntegralNumber()) {
      BigInteger i = v.bigIntegerValue();
      // pydantic's JSON reader keeps ints of 19 digits and more as big ints, Python's values beyond 64 bits
      boolean big = json ? i.abs().compareTo(JSON_BIG_INT) >= 0 : i.bitLength() > 63;
      return intAsBool(i, big, where);
    }
    if (v.isFloatingPointNumber()) {
      double d = v.doubleValue();
      if (!Double.isFinite(d) || d != Math.rint(d)) {
        throw new Invalid(where, "Input should be a valid boolean");
      }
      BigInteger i = new BigDecimal(d).toBigInteger();
      return intAsBool(i, i.bitLength() > 63, where);
    }
    throw new Invalid(where, "Input should be a valid boolean");
  }

  private static boolean intAsBool(BigInteger i, boolean big, String where) throws Invalid {
    if (i.signum() == 0 || i.equals(BigInteger.ONE)) {
      return i.signum() != 0;
    }
    if (big) {
      throw new Invalid(where, "Input should be a valid boolean");
    }
    throw new Invalid(where, "Input should be a valid boolean, unable to interpret input");
  }

  private static BigInteger toInt(JsonNode v, String where) throws Invalid {
    if (v.isBoolean()) {
      return v.booleanValue() ? BigInteger.ONE : BigInteger.ZERO;
    }
    if (v.isIntegralNumber()) {
      return v.bigIntegerValue();
    }
    if (v.isFloatingPointNumber()) {
      double d = v.doubleValue();
      if (!Double.isFinite(d)) {
        throw new Invalid(where, "Input should be a finite number");
      }
      if (d != Math.rint(d)) {
        throw new Invalid(where, "Input should be a valid integer, got a number with a fractional part");
      }
      BigInteger i = new BigDecimal(d).toBigInteger();
      if (i.abs().compareTo(LONG_LIMIT) >= 0) {
        throw new Invalid(where, "Unable to parse input string as an integer, exceeded maximum size");
      }
      return i;
    }
    throw new Invalid(where, "Input should be a valid integer");
  }

  private static double toFloat(JsonNode v, String where, boolean json) throws Invalid {
    double d;
    if (v.isBoolean()) {
      d = v.booleanValue() ? 1.0 : 0.0;
    } else if (v.isIntegralNumber()) {
      d = v.bigIntegerValue().doubleValue();
      if (Double.isInfinite(d) && !json) { // JSON reads it as infinity: "finite number" below
        throw new Invalid(where, "Input should be a valid number");
      }
    } else if (v.isFloatingPointNumber()) {
      d = v.doubleValue();
    } else {
      throw new Invalid(where, "Input should be a valid number");
    }
    if (!Double.isFinite(d)) {
      throw new Invalid(where, "Input should be a finite number");
    }
    return d;
  }

  private static ArrayNode toIds(JsonNode v, String where, boolean json) throws Invalid {
    if (!v.isArray()) {
      throw new Invalid(where, "Input should be a valid " + (json ? "array" : "frozenset"));
    }
    TreeSet<String> ids = new TreeSet<>();
    int index = 0;
    for (JsonNode id : v) {
      String at = where + "." + index++;
      if (!id.isTextual()) {
        throw new Invalid(at, "Input should be a valid string");
      }
      String text = id.textValue();
      int length = text.codePointCount(0, text.length());
      if (length < 1) {
        throw new Invalid(at, "String should have at least 1 character");
      }
      if (length > MAX_ID_LEN) {
        throw new Invalid(at, "String should have at most " + MAX_ID_LEN + " characters");
      }
      ids.add(text);
    }
    ArrayNode out = NODES.arrayNode();
    ids.forEach(out::add);
    return out;
  }

  /** Python's repr of the JSON value Python's json module reads ({@code None} for a missing key). */
  private static String pyRepr(JsonNode v) {
    if (v == null || v.isNull()) {
      return "None";
    }
    if (v.isBoolean()) {
      return v.booleanValue() ? "True" : "False";
    }
    if (v.isIntegralNumber()) {
      return v.bigIntegerValue().toString();
    }
    if (v.isNumber()) {
      return PyFormat.repr(v.doubleValue());
    }
    if (v.isTextual()) {
      return PyFormat.repr(v.textValue());
    }
    List<String> items = new ArrayList<>();
    if (v.isArray()) {
      v.forEach(item -> items.add(pyRepr(item)));
      return "[" + String.join(", ", items) + "]";
    }
    v.fields().forEachRemaining(e -> items.add(PyFormat.repr(e.getKey()) + ": " + pyRepr(e.getValue())));
    return "{" + String.join(", ", items) + "}";
  }

  /** {@code type(value).__name__} of the JSON value Python's json module reads. */
  private static String pyType(JsonNode v) {
    if (v.isNull()) {
      return "NoneType";
    }
    if (v.isBoolean()) {
      return "bool";
    }
    if (v.isIntegralNumber()) {
      return "int";
    }
    if (v.isNumber()) {
      return "float";
    }
    if (v.isTextual()) {
      return "str";
    }
    return v.isArray() ? "list" : "dict";
  }
}
