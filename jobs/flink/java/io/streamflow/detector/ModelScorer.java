package io.streamflow.detector;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.TreeMap;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;

/**
 * {@code fraud_models.scorer.CompiledModel.score_batch} on the JVM, bit for bit up to the link function,
 * which is {@code fraud_models.portable_math}'s ({@link PortableMath}): numpy's {@code np.exp} and
 * {@code 2.0 ** y} round differently on different CPUs and a BLAS {@code @} sums in a CPU-dependent order,
 * so {@code score_batch} must use portable_math and a left-to-right linear sum for the two to agree exactly
 * (tests/jobs/flink/jvm/test_scorer_equal.py checks both stages).
 *
 * <p>A tree ensemble walks every tree to its leaf as the batch walk does (its depth group's number of
 * levels, leaves routed on feature 0 against +inf, NaN to the side the node says) and sums the leaf values
 * as numpy's {@code take(...).sum(axis=1)} does: per depth group, in ascending depth, numpy's pairwise
 * summation over the group's trees in root order (blocks of 8,192, numpy's buffer size), each group's sum
 * added to a total that starts at 0. A linear model sums its terms in column order after the intercept
 * (the order of {@code score}). Rows are independent: a row scores the same alone or in any batch.
 *
 * <p>Immutable and thread-safe; a batch allocates one small scratch buffer, and a caller scoring row by
 * row can keep its own ({@link Scratch}).
 */
public final class ModelScorer {
    /** {@code fraud_models.scorer}'s artifact format tag. */
    public static final String FORMAT = "streamflow-compiled-model/1";

    private static final String NAN_INPUT = "NaN in the model's input features";
    private static final List<String> SUPPORTED =
            List.of("isolation_forest", "logistic_regression", "hist_gradient_boosting");
    private static final List<String> TREE_ARRAYS =
            List.of("feature", "threshold", "children", "missing_left", "value", "roots");
    private static final List<String> LINEAR_ARRAYS = List.of("columns", "mean", "scale", "coef");
    /** numpy's default buffer size: a reduction longer than this is summed pairwise in blocks of it. */
    private static final int NUMPY_BUFSIZE = 8192;
    private static final int PW_BLOCKSIZE = 128;

    private final String algorithm;
    private final String version;
    private final String featureSchemaId;
    private final int nFeatures;
    private final boolean inputFloat32;
    private final double offset;
    private final Combiner combiner;
    private final boolean linear;
    private final boolean isolationForest;

    // Linear model.
    private final int[] columns;
    private final double[] mean;
    private final double[] scale;
    private final double[] coef;

    // Tree ensembles: per node the feature read (0 for a leaf), the threshold (+inf for a leaf),
    // children at 2 * node (goes left) and 2 * node + 1 (goes right), where NaN goes, the leaf value.
    private final int[] feature;
    private final double[] threshold;
    private final int[] children;
    private final boolean[] missingRight;
    private final double[] value;
    private final int[] groupDepth;
    private final int[][] groupRoots;
    private final int maxGroup;

    private ModelScorer(JsonNode meta, NpzArtifact artifact) throws ModelLoadException {
        algorithm = text(meta, "algorithm");
        version = text(meta, "version");
        featureSchemaId = text(meta, "feature_schema_id");
        nFeatures = integer(meta, "n_features");
        inputFloat32 = truthy(meta.get("input_float32"));
        offset = number(meta, "offset");
        combiner = meta.has("combiner") ? Combiner.fromMeta(meta.get("combiner")) : null;
        if (!SUPPORTED.contains(algorithm)) {
            throw new ModelLoadException("unsupported algorithm " + PyFormat.repr(algorithm)
                    + " (supported: " + String.join(", ", SUPPORTED) + ")");
        }
        linear = algorithm.equals("logistic_regression");
        isolationForest = algorithm.equals("isolation_forest");
        List<String> missing = new ArrayList<>();
        for (String name : linear ? LINEAR_ARRAYS : TREE_ARRAYS) {
            if (artifact.array(name) == null) {
                missing.add(name);
            }
        }
        if (!missing.isEmpty()) {
            throw new ModelLoadException("artifact lacks array(s) " + String.join(", ", missing));
        }
        if (linear) {
            long[] cols = oneDimensional(artifact, "columns", LINEAR_ARRAYS).longs();
            mean = oneDimensional(artifact, "mean", LINEAR_ARRAYS).doubles();
            scale = oneDimensional(artifact, "scale", LINEAR_ARRAYS).doubles();
            coef = oneDimensional(artifact, "coef", LINEAR_ARRAYS).doubles();
            columns = new int[cols.length];
            for (int i = 0; i < cols.length; i++) {
                if (cols[i] < 0 || cols[i] >= nFeatures) {
                    throw inconsistentLinear();
                }
                columns[i] = (int) cols[i];
            }
            if (mean.length != cols.length || scale.length != cols.length || coef.length != cols.length) {
                throw inconsistentLinear();
            }
            feature = children = null;
            threshold = value = null;
            missingRight = null;
            groupDepth = null;
            groupRoots = null;
            maxGroup = 0;
            return;
        }
        columns = null;
        mean = scale = coef = null;
        long[] feat = oneDimensional(artifact, "feature", TREE_ARRAYS).longs();
        NpzArtifact.NpyArray thresholds = oneDimensional(artifact, "threshold", TREE_ARRAYS);
        if (thresholds.descr().equals("<f4")) {
            throw new ModelLoadException("incomplete or corrupt model artifact: array 'threshold' is <f4;"
                    + " score_batch cannot gather float32 thresholds into its float64 buffer");
        }
        double[] thr = thresholds.doubles();
        NpzArtifact.NpyArray kids = artifact.array("children");
        boolean[] missingLeft = oneDimensional(artifact, "missing_left", TREE_ARRAYS).booleans();
        NpzArtifact.NpyArray values = oneDimensional(artifact, "value", TREE_ARRAYS);
        long[] roots = oneDimensional(artifact, "roots", TREE_ARRAYS).longs();
        if (!values.descr().equals("<f8")) {
            throw new ModelLoadException("incomplete or corrupt model artifact: array 'value' is "
                    + values.descr() + "; leaf values must be float64 (<f8), as numpy sums others in their own type");
        }
        int n = feat.length;
        int[] shape = kids.shape();
        if (shape.length != 2 || shape[0] != n || shape[1] != 2 || thr.length != n || missingLeft.length != n
                || values.size() != n) {
            throw inconsistentTrees();
        }
        long[] child = kids.longs();
        long maxFeature = Long.MIN_VALUE;
        for (int i = 0; i < n; i++) {
            maxFeature = Math.max(maxFeature, feat[i]);
            if (child[2 * i] < 0 || child[2 * i] >= n || child[2 * i + 1] < 0 || child[2 * i + 1] >= n) {
                throw inconsistentTrees();
            }
            // Children come after their parent: every walk ends at a leaf.
            if (feat[i] >= 0 && (child[2 * i] <= i || child[2 * i + 1] <= i)) {
                throw inconsistentTrees();
            }
        }
        if (n > 0 && maxFeature >= nFeatures) {
            throw inconsistentTrees();
        }
        for (long root : roots) {
            if (root < 0 || root >= n) {
                throw inconsistentTrees();
            }
        }
        value = values.doubles();
        feature = new int[n];
        threshold = new double[n];
        children = new int[2 * n];
        missingRight = new boolean[n];
        int[] nodeDepth = new int[n];
        for (int i = 0; i < n; i++) {
            boolean leaf = feat[i] < 0;
            int left = (int) child[2 * i];
            int right = (int) child[2 * i + 1];
            children[2 * i] = left;
            children[2 * i + 1] = right;
            missingRight[i] = !missingLeft[i];
            // As the batch tables: a leaf is routed on feature 0 against +inf (a leaf whose children are
            // itself stays put), so every walk takes its group's number of steps, with no test for leaves.
            feature[i] = leaf ? 0 : (int) feat[i];
            threshold[i] = leaf ? Double.POSITIVE_INFINITY : thr[i];
            if (!leaf) {
                nodeDepth[left] = nodeDepth[i] + 1;
                nodeDepth[right] = nodeDepth[i] + 1;
            }
        }
        // _tree_depths: np.maximum.reduceat(depth, roots), then the trees grouped by depth, ascending.
        TreeMap<Integer, List<Integer>> groups = new TreeMap<>();
        for (int t = 0; t < roots.length; t++) {
            int from = (int) roots[t];
            int to = t + 1 < roots.length ? (int) roots[t + 1] : n;
            int depth = nodeDepth[from];
            for (int i = from + 1; i < to; i++) {
                depth = Math.max(depth, nodeDepth[i]);
            }
            groups.computeIfAbsent(depth, k -> new ArrayList<>()).add(from);
        }
        groupDepth = new int[groups.size()];
        groupRoots = new int[groups.size()][];
        int g = 0;
        int largest = 0;
        for (var entry : groups.entrySet()) {
            groupDepth[g] = entry.getKey();
            groupRoots[g] = entry.getValue().stream().mapToInt(Integer::intValue).toArray();
            largest = Math.max(largest, groupRoots[g].length);
            g++;
        }
        maxGroup = largest;
    }

    /**
     * {@code CompiledModel.from_bytes}: the artifact's format, algorithm, metadata and arrays checked, as
     * Python checks them (a float32 {@code value} array, which Python sums in float32, is refused).
     */
    public static ModelScorer fromArtifact(NpzArtifact artifact) throws ModelLoadException {
        JsonNode meta = artifact.meta();
        JsonNode format = meta.isObject() ? meta.get("format") : null;
        if (format == null || !format.isTextual() || !format.textValue().equals(FORMAT)) {
            throw new ModelLoadException("not a compiled model (format " + PyFormat.repr(FORMAT) + " expected)");
        }
        return new ModelScorer(meta, artifact);
    }

    /**
     * {@code load_model} for a local file: sha256 (when given), then the artifact, then the feature schema:
     * a model trained on another schema, or for another number of features, is refused.
     */
    public static ModelScorer load(Path path, String expectedSha256, String expectedSchemaId)
            throws ModelLoadException {
        return checked(fromArtifact(NpzArtifact.read(path, expectedSha256)), expectedSchemaId);
    }

    /** {@link #load} for artifact bytes fetched elsewhere; {@code shown} names them in messages. */
    public static ModelScorer load(byte[] data, String shown, String expectedSha256, String expectedSchemaId)
            throws ModelLoadException {
        NpzArtifact.checkSha256(data, expectedSha256, shown);
        return checked(fromArtifact(NpzArtifact.parse(data)), expectedSchemaId);
    }

    private static ModelScorer checked(ModelScorer model, String expectedSchemaId) throws ModelLoadException {
        if (!model.featureSchemaId.equals(expectedSchemaId)) {
            throw new ModelLoadException("feature schema mismatch: model " + PyFormat.repr(model.version)
                    + " was trained on schema " + PyFormat.repr(model.featureSchemaId) + ", this job computes "
                    + PyFormat.repr(expectedSchemaId));
        }
        int expected = Features.FEATURE_NAMES.size();
        if (model.nFeatures != expected) {
            throw new ModelLoadException(
                    "model expects " + model.nFeatures + " features, schema has " + expected);
        }
        return model;
    }

    /** The learned combiner the artifact carries ({@code CompiledModel.combiner}), or null. */
    public Combiner combiner() {
        return combiner;
    }

    public String algorithm() {
        return algorithm;
    }

    public String version() {
        return version;
    }

    public String featureSchemaId() {
        return featureSchemaId;
    }

    public int nFeatures() {
        return nFeatures;
    }

    /**
     * Scores of the rows ({@code score_batch}). Like Python, one bad row fails the batch: an
     * {@link IllegalArgumentException} for a row of the wrong length, or with a NaN the model cannot take
     * (any feature for isolation_forest, a used column for logistic_regression).
     */
    public double[] scoreBatch(double[][] rows) {
        double[] out = new double[rows.length];
        double[] scratch = new double[maxGroup];
        double[] row32 = inputFloat32 ? new double[nFeatures] : null;
        for (int i = 0; i < rows.length; i++) {
            checkLength(rows.length, rows[i]);
            out[i] = post(total(rows[i], scratch, row32));
        }
        return out;
    }

    /** One row's score: {@code score_batch} of a batch of that row alone (so the same bits as in any batch). */
    public double score(double[] row) {
        return score(row, scratch());
    }

    /**
     * {@link #score(double[])} in the caller's working space, which a caller scoring every event keeps: the
     * trees' values of one group alone take 300 doubles, allocated per row otherwise.
     */
    public double score(double[] row, Scratch scratch) {
        checkLength(1, row);
        return post(total(row, scratch.trees, scratch.row32));
    }

    /** Working space for {@link #score(double[], Scratch)}, for one thread at a time. */
    public Scratch scratch() {
        return new Scratch(maxGroup, inputFloat32 ? nFeatures : -1);
    }

    /** What scoring one row writes to: the trees' values of a group, the row rounded to float32. */
    public static final class Scratch {
        final double[] trees;
        final double[] row32;

        private Scratch(int trees, int features) {
            this.trees = new double[trees];
            this.row32 = features < 0 ? null : new double[features];
        }
    }

    /**
     * The row's value before the link function: the leaf-value total of a tree ensemble (Python's
     * {@code _batch_totals}), or {@code z} of a linear model (intercept included).
     */
    public double total(double[] row) {
        checkLength(1, row);
        return total(row, new double[maxGroup], inputFloat32 ? new double[nFeatures] : null);
    }

    private void checkLength(int rows, double[] row) {
        if (row.length != nFeatures) {
            throw new IllegalArgumentException(
                    "expected an array of shape (n, " + nFeatures + "), got (" + rows + ", " + row.length + ")");
        }
    }

    private double post(double total) {
        if (linear) {
            return PortableMath.sigmoid(total);
        }
        if (isolationForest) {
            return PortableMath.exp2(-total / offset);
        }
        return PortableMath.sigmoid(offset + total);
    }

    private double total(double[] row, double[] scratch, double[] row32) {
        if (linear) {
            for (int c : columns) {
                if (Double.isNaN(row[c])) {
                    throw new IllegalArgumentException(NAN_INPUT);
                }
            }
            double z = offset;
            for (int j = 0; j < columns.length; j++) {
                z += (row[columns[j]] - mean[j]) / scale[j] * coef[j];
            }
            return z;
        }
        double[] x = row;
        if (row32 != null) {
            for (int f = 0; f < nFeatures; f++) {
                row32[f] = (float) row[f];
                if (isolationForest && Double.isNaN(row32[f])) {
                    throw new IllegalArgumentException(NAN_INPUT);
                }
            }
            x = row32;
        }
        boolean withNan = false;
        for (double v : x) {
            withNan |= v != v;
        }
        double total = 0.0;
        for (int g = 0; g < groupRoots.length; g++) {
            int[] roots = groupRoots[g];
            int depth = groupDepth[g];
            int t = 0;
            // Eight trees at a time: their walks are independent chains of loads the CPU overlaps (and the
            // steps have no branch to mispredict). A row without NaN skips the NaN test.
            for (; t + 8 <= roots.length; t += 8) {
                int n0 = roots[t];
                int n1 = roots[t + 1];
                int n2 = roots[t + 2];
                int n3 = roots[t + 3];
                int n4 = roots[t + 4];
                int n5 = roots[t + 5];
                int n6 = roots[t + 6];
                int n7 = roots[t + 7];
                if (withNan) {
                    for (int step = 0; step < depth; step++) {
                        n0 = children[2 * n0 + right(x[feature[n0]], n0)];
                        n1 = children[2 * n1 + right(x[feature[n1]], n1)];
                        n2 = children[2 * n2 + right(x[feature[n2]], n2)];
                        n3 = children[2 * n3 + right(x[feature[n3]], n3)];
                        n4 = children[2 * n4 + right(x[feature[n4]], n4)];
                        n5 = children[2 * n5 + right(x[feature[n5]], n5)];
                        n6 = children[2 * n6 + right(x[feature[n6]], n6)];
                        n7 = children[2 * n7 + right(x[feature[n7]], n7)];
                    }
                } else {
                    for (int step = 0; step < depth; step++) {
                        n0 = children[2 * n0 + (x[feature[n0]] > threshold[n0] ? 1 : 0)];
                        n1 = children[2 * n1 + (x[feature[n1]] > threshold[n1] ? 1 : 0)];
                        n2 = children[2 * n2 + (x[feature[n2]] > threshold[n2] ? 1 : 0)];
                        n3 = children[2 * n3 + (x[feature[n3]] > threshold[n3] ? 1 : 0)];
                        n4 = children[2 * n4 + (x[feature[n4]] > threshold[n4] ? 1 : 0)];
                        n5 = children[2 * n5 + (x[feature[n5]] > threshold[n5] ? 1 : 0)];
                        n6 = children[2 * n6 + (x[feature[n6]] > threshold[n6] ? 1 : 0)];
                        n7 = children[2 * n7 + (x[feature[n7]] > threshold[n7] ? 1 : 0)];
                    }
                }
                scratch[t] = value[n0];
                scratch[t + 1] = value[n1];
                scratch[t + 2] = value[n2];
                scratch[t + 3] = value[n3];
                scratch[t + 4] = value[n4];
                scratch[t + 5] = value[n5];
                scratch[t + 6] = value[n6];
                scratch[t + 7] = value[n7];
            }
            for (; t < roots.length; t++) {
                int node = roots[t];
                for (int step = 0; step < depth; step++) {
                    node = children[2 * node + right(x[feature[node]], node)];
                }
                scratch[t] = value[node];
            }
            total += numpySum(scratch, roots.length);
        }
        return total;
    }

    /** 1 if the walk goes right at {@code node} for feature value {@code v}: above the threshold, or NaN sent right. */
    private int right(double v, int node) {
        return (v > threshold[node] | (v != v & missingRight[node])) ? 1 : 0;
    }

    /** {@code np.add.reduce} of {@code a[0:n]} along a contiguous axis: pairwise per buffer-sized block. */
    static double numpySum(double[] a, int n) {
        double sum = 0.0;
        for (int start = 0; start < n; start += NUMPY_BUFSIZE) {
            sum += pairwiseSum(a, start, Math.min(NUMPY_BUFSIZE, n - start));
        }
        return sum;
    }

    /** numpy's {@code DOUBLE_pairwise_sum} (loops_utils.h.src) over {@code a[from:from + n]}. */
    static double pairwiseSum(double[] a, int from, int n) {
        if (n < 8) {
            double res = 0.0;
            for (int i = 0; i < n; i++) {
                res += a[from + i];
            }
            return res;
        }
        if (n <= PW_BLOCKSIZE) {
            double r0 = a[from];
            double r1 = a[from + 1];
            double r2 = a[from + 2];
            double r3 = a[from + 3];
            double r4 = a[from + 4];
            double r5 = a[from + 5];
            double r6 = a[from + 6];
            double r7 = a[from + 7];
            int i;
            for (i = 8; i < n - (n % 8); i += 8) {
                r0 += a[from + i];
                r1 += a[from + i + 1];
                r2 += a[from + i + 2];
                r3 += a[from + i + 3];
                r4 += a[from + i + 4];
                r5 += a[from + i + 5];
                r6 += a[from + i + 6];
                r7 += a[from + i + 7];
            }
            double res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7));
            for (; i < n; i++) {
                res += a[from + i];
            }
            return res;
        }
        int n2 = n / 2;
        n2 -= n2 % 8;
        return pairwiseSum(a, from, n2) + pairwiseSum(a, from + n2, n - n2);
    }

    // -- metadata, read as Python's int(), float(), bool() read it ----------------------------------------

    private static JsonNode field(JsonNode meta, String key) throws ModelLoadException {
        JsonNode node = meta.get(key);
        if (node == null) {
            throw new ModelLoadException("incomplete or corrupt model artifact: KeyError(" + PyFormat.repr(key) + ")");
        }
        return node;
    }

    private static String text(JsonNode meta, String key) throws ModelLoadException {
        JsonNode node = field(meta, key);
        if (!node.isTextual()) {
            throw new ModelLoadException(
                    "incomplete or corrupt model artifact: meta " + PyFormat.repr(key) + " is not a string");
        }
        return node.textValue();
    }

    private static int integer(JsonNode meta, String key) throws ModelLoadException {
        JsonNode node = field(meta, key);
        if (node.isIntegralNumber() && node.canConvertToInt() && node.intValue() >= 0) {
            return node.intValue();
        }
        throw new ModelLoadException(
                "incomplete or corrupt model artifact: meta " + PyFormat.repr(key) + " is not a count");
    }

    private static double number(JsonNode meta, String key) throws ModelLoadException {
        JsonNode node = field(meta, key);
        if (!node.isNumber()) {
            throw new ModelLoadException(
                    "incomplete or corrupt model artifact: meta " + PyFormat.repr(key) + " is not a number");
        }
        return node.doubleValue();
    }

    private static boolean truthy(JsonNode node) {
        if (node == null || node.isNull()) {
            return false;
        }
        if (node.isBoolean()) {
            return node.booleanValue();
        }
        if (node.isNumber()) {
            return node.doubleValue() != 0.0;
        }
        if (node.isTextual()) {
            return !node.textValue().isEmpty();
        }
        return node.size() > 0;
    }

    private static NpzArtifact.NpyArray oneDimensional(NpzArtifact artifact, String name, List<String> group)
            throws ModelLoadException {
        NpzArtifact.NpyArray array = artifact.array(name);
        if (array.shape().length != 1) {
            throw group == LINEAR_ARRAYS ? inconsistentLinear() : inconsistentTrees();
        }
        return array;
    }

    private static ModelLoadException inconsistentLinear() {
        return new ModelLoadException("artifact's linear arrays are inconsistent (corrupt artifact)");
    }

    private static ModelLoadException inconsistentTrees() {
        return new ModelLoadException("artifact's tree arrays are inconsistent (corrupt artifact)");
    }

    @Override
    public String toString() {
        return "ModelScorer(" + algorithm + " " + version + ", " + (linear ? columns.length + " columns"
                : feature.length + " nodes in " + Arrays.stream(groupRoots).mapToInt(r -> r.length).sum()
                        + " trees") + ")";
    }
}
