package io.streamflow.detector.tools;

import io.streamflow.detector.ModelLoadException;
import io.streamflow.detector.ModelScorer;
import io.streamflow.detector.NpzArtifact;
import io.streamflow.detector.PortableMath;

import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.DoubleUnaryOperator;

/**
 * The JVM scorer for the equality test (tests/jobs/flink/jvm/test_scorer_equal.py) and its benchmark. Every
 * double, in and out, is the 16 hex digits of its IEEE-754 bits.
 *
 * <ul>
 *   <li>{@code ScoreCheck ARTIFACT...} with rows on stdin (one a line, features separated by spaces): per
 *       row and model, tab-separated, {@code <score> <total>} (total: {@link ModelScorer#total}) or
 *       {@code error <message>}. Rows are scored in batches of 1,024 by {@link ModelScorer#scoreBatch} and
 *       one by one by {@link ModelScorer#score}; the two must agree (else exit 1).
 *   <li>{@code ScoreCheck --load} with {@code PATH<TAB>SHA256|-<TAB>SCHEMA_ID} lines on stdin: per line
 *       {@code ok <model>} or {@code error <message>} of {@link ModelScorer#load}.
 *   <li>{@code ScoreCheck --math exp|exp2|sigmoid|log} with one double a line: {@link PortableMath}'s result.
 *   <li>{@code ScoreCheck --bench ARTIFACT SECONDS} with rows on stdin: {@code batch_ns_per_row <x>} and
 *       {@code row_ns_per_row <x>}, the best of repeated timed passes over the rows after a warm-up.
 * </ul>
 */
public final class ScoreCheck {
    private static final int BATCH = 1024;

    private ScoreCheck() {}

    public static void main(String[] args) throws IOException {
        Writer out = new BufferedWriter(new OutputStreamWriter(System.out, StandardCharsets.UTF_8), 1 << 16);
        if (args.length == 1 && args[0].equals("--load")) {
            BufferedReader in =
                    new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8), 1 << 16);
            for (String line = in.readLine(); line != null; line = in.readLine()) {
                String[] f = line.split("\t", -1);
                try {
                    String sha = f[1].equals("-") ? null : f[1];
                    ModelScorer model = ModelScorer.load(Path.of(f[0]), sha, f[2]);
                    out.append("ok ").append(model.toString());
                } catch (ModelLoadException e) {
                    out.append("error ").append(e.getMessage().replace('\n', ' '));
                }
                out.append('\n');
            }
            out.flush();
            return;
        }
        if (args.length == 2 && args[0].equals("--math")) {
            math(args[1], out);
            out.flush();
            return;
        }
        if (args.length == 3 && args[0].equals("--bench")) {
            bench(load(args[1]), readRows(), Double.parseDouble(args[2]), out);
            out.flush();
            return;
        }
        if (args.length == 0 || args[0].startsWith("--")) {
            throw new IllegalArgumentException(
                    "usage: ScoreCheck ARTIFACT... | --load | --math FUNCTION | --bench ARTIFACT SECONDS"
                            + "  (rows or doubles on stdin)");
        }
        List<double[]> rows = readRows();
        List<StringBuilder> lines = new ArrayList<>();
        for (int i = 0; i < rows.size(); i++) {
            lines.add(new StringBuilder(64 * args.length));
        }
        for (int m = 0; m < args.length; m++) {
            ModelScorer model = load(args[m]);
            for (int start = 0; start < rows.size(); start += BATCH) {
                double[][] batch =
                        rows.subList(start, Math.min(rows.size(), start + BATCH)).toArray(new double[0][]);
                double[] scores = null;
                try {
                    scores = model.scoreBatch(batch);
                } catch (IllegalArgumentException e) {
                    // As score_rows does: the rows at fault are found one by one.
                }
                for (int i = 0; i < batch.length; i++) {
                    StringBuilder line = lines.get(start + i);
                    if (m > 0) {
                        line.append('\t');
                    }
                    double score;
                    try {
                        score = model.score(batch[i]);
                    } catch (IllegalArgumentException e) {
                        if (scores != null) {
                            throw new IllegalStateException("row " + (start + i) + " fails alone, not in its batch");
                        }
                        line.append("error ").append(e.getMessage());
                        continue;
                    }
                    if (scores != null
                            && Double.doubleToRawLongBits(scores[i]) != Double.doubleToRawLongBits(score)) {
                        throw new IllegalStateException("row " + (start + i) + " scores differently alone");
                    }
                    appendBits(line, score).append(' ');
                    appendBits(line, model.total(batch[i]));
                }
            }
        }
        for (StringBuilder line : lines) {
            out.append(line).append('\n');
        }
        out.flush();
    }

    private static ModelScorer load(String path) {
        try {
            return ModelScorer.fromArtifact(NpzArtifact.read(Path.of(path), null));
        } catch (ModelLoadException e) {
            throw new IllegalArgumentException(e.getMessage(), e);
        }
    }

    private static List<double[]> readRows() throws IOException {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.US_ASCII), 1 << 16);
        List<double[]> rows = new ArrayList<>();
        for (String line = in.readLine(); line != null; line = in.readLine()) {
            if (line.isEmpty()) {
                continue;
            }
            String[] fields = line.trim().split(" +");
            double[] row = new double[fields.length];
            for (int i = 0; i < fields.length; i++) {
                row[i] = bits(fields[i]);
            }
            rows.add(row);
        }
        return rows;
    }

    private static void math(String function, Writer out) throws IOException {
        DoubleUnaryOperator f;
        switch (function) {
            case "exp":
                f = PortableMath::exp;
                break;
            case "exp2":
                f = PortableMath::exp2;
                break;
            case "sigmoid":
                f = PortableMath::sigmoid;
                break;
            case "log":
                f = PortableMath::log;
                break;
            default:
                throw new IllegalArgumentException("unknown function " + function);
        }
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.US_ASCII), 1 << 16);
        for (String line = in.readLine(); line != null; line = in.readLine()) {
            if (!line.isEmpty()) {
                appendBits(out, f.applyAsDouble(bits(line.trim()))).append('\n');
            }
        }
    }

    private static void bench(ModelScorer model, List<double[]> rows, double seconds, Writer out)
            throws IOException {
        double[][] all = rows.toArray(new double[0][]);
        double[][][] batches = new double[(all.length + BATCH - 1) / BATCH][][];
        for (int b = 0; b < batches.length; b++) {
            batches[b] = Arrays.copyOfRange(all, b * BATCH, Math.min(all.length, (b + 1) * BATCH));
        }
        double sink = 0;
        double bestBatch = Double.POSITIVE_INFINITY;
        double bestRow = Double.POSITIVE_INFINITY;
        long end = System.nanoTime() + (long) (seconds * 1e9);
        for (int pass = 0; pass < 3 || System.nanoTime() < end; pass++) {
            long t0 = System.nanoTime();
            for (double[][] batch : batches) {
                sink += model.scoreBatch(batch)[0];
            }
            long t1 = System.nanoTime();
            for (double[] row : all) {
                sink += model.score(row);
            }
            long t2 = System.nanoTime();
            if (pass > 0) { // the first pass warms the JIT up
                bestBatch = Math.min(bestBatch, (t1 - t0) / (double) all.length);
                bestRow = Math.min(bestRow, (t2 - t1) / (double) all.length);
            }
        }
        out.append("batch_ns_per_row ").append(String.format("%.1f", bestBatch)).append('\n');
        out.append("row_ns_per_row ").append(String.format("%.1f", bestRow)).append('\n');
        out.append("checksum ").append(Double.toString(sink)).append('\n');
    }

    private static double bits(String hex) {
        return Double.longBitsToDouble(Long.parseUnsignedLong(hex, 16));
    }

    private static <T extends Appendable> T appendBits(T out, double v) throws IOException {
        String hex = Long.toHexString(Double.doubleToRawLongBits(v));
        for (int i = hex.length(); i < 16; i++) {
            out.append('0');
        }
        out.append(hex);
        return out;
    }
}
