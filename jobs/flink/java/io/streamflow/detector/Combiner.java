package io.streamflow.detector;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;

/**
 * {@code fraud_models.combiner.Combiner}: the learned combination of the model's score and the rules'
 * hits that a model artifact carries. Every term is added in Python's order with Python's
 * {@code min}/{@code max}, and {@code log} and the sigmoid are fdlibm's ({@link PortableMath#log},
 * {@link PortableMath#sigmoid}), so a score here equals Python's bit for bit. Immutable.
 */
public final class Combiner implements Serializable {
    private static final long serialVersionUID = 1L;
    /** {@code fraud_models.combiner.PROBABILITY_EPS}. */
    public static final double PROBABILITY_EPS = 1e-9;
    private static final String MODEL_RULE = "FR-006";
    private static final Pattern CODE = Pattern.compile("FR-[0-9]{3}");
    private static final Set<String> FIELDS = Set.of("bias", "model_weight", "rule_weights");

    private final double bias;
    private final double modelWeight;
    private final Map<String, Double> ruleWeights;

    Combiner(double bias, double modelWeight, Map<String, Double> ruleWeights) {
        this.bias = bias;
        this.modelWeight = modelWeight;
        this.ruleWeights = Collections.unmodifiableMap(new LinkedHashMap<>(ruleWeights));
    }

    /**
     * {@code Combiner.from_meta}: the combiner of an artifact's metadata, refused with Python's message
     * (prefixed {@code artifact's}, as {@code CompiledModel} raises it).
     */
    public static Combiner fromMeta(JsonNode meta) throws ModelLoadException {
        if (meta == null || !meta.isObject()) {
            throw refused("combiner must be an object");
        }
        List<String> extra = new ArrayList<>();
        for (Iterator<String> names = meta.fieldNames(); names.hasNext(); ) {
            String name = names.next();
            if (!FIELDS.contains(name)) {
                extra.add(name);
            }
        }
        if (!extra.isEmpty()) {
            Collections.sort(extra);
            throw refused("combiner has unknown field(s) " + String.join(", ", extra));
        }
        double bias = finite(meta.get("bias"), "combiner.bias");
        double modelWeight = finite(meta.get("model_weight"), "combiner.model_weight");
        JsonNode rules = meta.get("rule_weights");
        Map<String, Double> weights = new LinkedHashMap<>();
        if (rules != null) {
            if (!rules.isObject()) {
                throw refused("combiner.rule_weights must be an object");
            }
            for (Iterator<Map.Entry<String, JsonNode>> it = rules.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> entry = it.next();
                String code = entry.getKey();
                if (!CODE.matcher(code).matches() || code.equals(MODEL_RULE)) {
                    throw refused("combiner.rule_weights: " + PyFormat.repr(code)
                            + " is not a rule code the combiner takes");
                }
                weights.put(code, finite(entry.getValue(), "combiner.rule_weights." + code));
            }
        }
        return new Combiner(bias, modelWeight, weights);
    }

    private static double finite(JsonNode node, String name) throws ModelLoadException {
        if (node == null || !node.isNumber() || !Double.isFinite(node.doubleValue())) {
            throw refused(name + " must be a finite number");
        }
        return node.doubleValue();
    }

    private static ModelLoadException refused(String message) {
        return new ModelLoadException("artifact's " + message);
    }

    /** {@code fraud_models.combiner.logit}: the log-odds of {@code p} clipped to [eps, 1 - eps]. */
    public static double logit(double p) {
        double q = Rules.pyMin(1.0 - PROBABILITY_EPS, Rules.pyMax(PROBABILITY_EPS, p));
        return PortableMath.log(q / (1.0 - q));
    }

    /** {@code Combiner.score}: the combined score of a model score and the hits, in hit order. */
    public double score(double mlScore, List<RuleHit> hits) {
        double z = bias;
        z += modelWeight * logit(mlScore);
        double floor = 0.0;
        for (RuleHit hit : hits) {
            Double learned = ruleWeights.get(hit.code());
            if (learned != null) {
                z += learned;
            } else if (!hit.code().equals(MODEL_RULE)) {
                floor += hit.weight();
            }
        }
        floor = Rules.pyMin(1.0, floor);
        return Rules.pyMax(PortableMath.sigmoid(z), floor);
    }

    @Override
    public String toString() {
        return "Combiner(bias " + bias + ", model " + modelWeight + ", rules " + ruleWeights + ")";
    }
}
