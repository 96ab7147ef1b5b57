package io.streamflow.detector;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.zip.ZipEntry;
import java.util.zip.ZipInputStream;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonProcessingException;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.json.JsonReadFeature;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.json.JsonMapper;

/**
 * A compiled-model artifact as {@code fraud_models.scorer.CompiledModel.to_bytes} writes it: a zip of
 * {@code .npy} entries (stored or deflated), one of them {@code meta.npy}, the metadata as UTF-8 JSON bytes.
 *
 * <p>Only what the scorer needs is accepted: npy format 1 to 3, C order, little-endian {@code <f8 <f4 <i8 <i4
 * <i2 |i1 |u1 |b1}; anything else (pickled objects, Fortran order, other dtypes, a short data block, two
 * entries of one name) is refused with a {@link ModelLoadException} naming it. The bytes are read once, so
 * the sha256 checked is the sha256 of what is parsed.
 */
public final class NpzArtifact {
    private static final byte[] NPY_MAGIC = {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y'};
    private static final JsonMapper JSON =
            JsonMapper.builder().enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS).build();

    private final JsonNode meta;
    private final Map<String, NpyArray> arrays;

    private NpzArtifact(JsonNode meta, Map<String, NpyArray> arrays) {
        this.meta = meta;
        this.arrays = arrays;
    }

    /** The metadata object (Python's {@code json.loads}; NaN and Infinity literals allowed, as there). */
    public JsonNode meta() {
        return meta;
    }

    /** The array stored as {@code name.npy}, or null. */
    public NpyArray array(String name) {
        return arrays.get(name);
    }

    /** Names of the arrays besides {@code meta}. */
    public Set<String> names() {
        return Collections.unmodifiableSet(arrays.keySet());
    }

    /** Hex sha256 of bytes. */
    public static String sha256(byte[] data) {
        try {
            byte[] digest = MessageDigest.getInstance("SHA-256").digest(data);
            StringBuilder out = new StringBuilder(64);
            for (byte b : digest) {
                out.append(Character.forDigit((b >> 4) & 0xf, 16)).append(Character.forDigit(b & 0xf, 16));
            }
            return out.toString();
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("no SHA-256 in this JVM", e);
        }
    }

    /**
     * Read {@code path} once, check its sha256 when {@code expectedSha256} is not null (the message is
     * {@code fraud_models.artifacts.fetch}'s), and parse it.
     */
    public static NpzArtifact read(Path path, String expectedSha256) throws ModelLoadException {
        byte[] data;
        try {
            data = Files.readAllBytes(path);
        } catch (IOException e) {
            throw new ModelLoadException("cannot read model artifact " + path + ": " + e, e);
        }
        checkSha256(data, expectedSha256, path.toString());
        return parse(data);
    }

    /** Refuse {@code data} unless its sha256 is {@code expectedSha256} (any case); null checks nothing. */
    public static void checkSha256(byte[] data, String expectedSha256, String shown) throws ModelLoadException {
        if (expectedSha256 == null) {
            return;
        }
        String expected = expectedSha256.toLowerCase(Locale.ROOT);
        String actual = sha256(data);
        if (!actual.equals(expected)) {
            throw new ModelLoadException(
                    "sha256 mismatch for " + shown + ": expected " + expected + ", got " + actual
                            + " (tampered or stale)");
        }
    }

    /** Parse artifact bytes; a {@link ModelLoadException} says what is wrong. */
    public static NpzArtifact parse(byte[] data) throws ModelLoadException {
        if (data.length < 4 || data[0] != 'P' || data[1] != 'K' || data[2] != 3 || data[3] != 4) {
            throw unreadable("not a zip archive");
        }
        Map<String, NpyArray> arrays = new HashMap<>();
        try (ZipInputStream zip = new ZipInputStream(new ByteArrayInputStream(data))) {
            byte[] block = new byte[1 << 16];
            for (ZipEntry entry = zip.getNextEntry(); entry != null; entry = zip.getNextEntry()) {
                String name = entry.getName();
                if (entry.isDirectory() || !name.endsWith(".npy")) {
                    throw unreadable("entry " + PyFormat.repr(name) + " is not an .npy array");
                }
                String key = name.substring(0, name.length() - 4);
                ByteArrayOutputStream bytes = new ByteArrayOutputStream(Math.max(64, (int) entry.getSize()));
                for (int n = zip.read(block); n > 0; n = zip.read(block)) {
                    bytes.write(block, 0, n);
                }
                NpyArray array = NpyArray.parse(key, bytes.toByteArray());
                if (arrays.put(key, array) != null) {
                    throw unreadable("two entries named " + PyFormat.repr(name));
                }
            }
        } catch (IOException | IllegalArgumentException e) { // ZipException (bad CRC, truncation) is an IOException
            throw unreadable(e.getMessage() == null ? e.toString() : e.getMessage());
        }
        NpyArray metaBytes = arrays.remove("meta");
        if (metaBytes == null) {
            throw unreadable("no meta.npy entry");
        }
        if (!(metaBytes.descr.equals("|u1") || metaBytes.descr.equals("|i1")) || metaBytes.shape.length != 1) {
            throw unreadable("meta.npy is " + metaBytes.descr + " of shape " + metaBytes.shapeText()
                    + ", not the bytes of a JSON document");
        }
        JsonNode meta;
        try {
            String text = StandardCharsets.UTF_8.newDecoder()
                    .decode(ByteBuffer.wrap(metaBytes.data))
                    .toString();
            meta = JSON.readTree(text);
        } catch (java.nio.charset.CharacterCodingException e) {
            throw unreadable("meta.npy is not UTF-8");
        } catch (JsonProcessingException e) {
            throw unreadable("meta.npy is not JSON: " + e.getOriginalMessage());
        }
        return new NpzArtifact(meta, arrays);
    }

    private static ModelLoadException unreadable(String why) {
        return new ModelLoadException("unreadable model artifact: " + why);
    }

    /** One {@code .npy} array: its dtype, shape and little-endian data. */
    public static final class NpyArray {
        private final String name;
        private final String descr;
        private final int[] shape;
        private final byte[] data;

        private NpyArray(String name, String descr, int[] shape, byte[] data) {
            this.name = name;
            this.descr = descr;
            this.shape = shape;
            this.data = data;
        }

        /** The numpy dtype string, e.g. {@code <f8}. */
        public String descr() {
            return descr;
        }

        /** The shape (a copy). */
        public int[] shape() {
            return shape.clone();
        }

        /** Number of elements. */
        public int size() {
            return data.length / itemSize(descr);
        }

        /** Whether the dtype is a float (f8 or f4). */
        public boolean isFloat() {
            return descr.charAt(1) == 'f';
        }

        /** The elements as doubles (floats and integers widened as numpy's astype(float64) does). */
        public double[] doubles() {
            int n = size();
            double[] out = new double[n];
            ByteBuffer buf = ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN);
            for (int i = 0; i < n; i++) {
                switch (descr) {
                    case "<f8":
                        out[i] = buf.getDouble(8 * i);
                        break;
                    case "<f4":
                        out[i] = buf.getFloat(4 * i);
                        break;
                    default:
                        out[i] = (double) integer(buf, i);
                }
            }
            return out;
        }

        /** The elements of an integer or bool array as longs; a float array is refused. */
        public long[] longs() throws ModelLoadException {
            if (isFloat()) {
                throw new ModelLoadException(
                        "incomplete or corrupt model artifact: array " + PyFormat.repr(name) + " is " + descr
                                + ", an integer array is needed");
            }
            int n = size();
            long[] out = new long[n];
            ByteBuffer buf = ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN);
            for (int i = 0; i < n; i++) {
                out[i] = integer(buf, i);
            }
            return out;
        }

        /** Each element's truth (non-zero; NaN is true), as numpy's astype(bool). */
        public boolean[] booleans() {
            double[] values = doubles();
            boolean[] out = new boolean[values.length];
            for (int i = 0; i < values.length; i++) {
                out[i] = values[i] != 0.0;
            }
            return out;
        }

        private long integer(ByteBuffer buf, int i) {
            switch (descr) {
                case "<i8":
                    return buf.getLong(8 * i);
                case "<i4":
                    return buf.getInt(4 * i);
                case "<i2":
                    return buf.getShort(2 * i);
                case "|i1":
                    return buf.get(i);
                default: // |u1, |b1
                    return buf.get(i) & 0xff;
            }
        }

        String shapeText() {
            if (shape.length == 1) {
                return "(" + shape[0] + ",)";
            }
            StringBuilder out = new StringBuilder("(");
            for (int i = 0; i < shape.length; i++) {
                out.append(i == 0 ? "" : ", ").append(shape[i]);
            }
            return out.append(')').toString();
        }

        private static int itemSize(String descr) {
            return Integer.parseInt(descr.substring(2));
        }

        /** Parse one {@code .npy} file (numpy's format 1.0, 2.0 or 3.0). */
        static NpyArray parse(String name, byte[] file) {
            String where = "array " + PyFormat.repr(name) + ": ";
            if (file.length < 10 || !Arrays.equals(Arrays.copyOf(file, 6), NPY_MAGIC)) {
                throw new IllegalArgumentException(where + "not an .npy file");
            }
            int major = file[6] & 0xff;
            int headerLength;
            int start;
            if (major == 1) {
                headerLength = (file[8] & 0xff) | (file[9] & 0xff) << 8;
                start = 10;
            } else if (major == 2 || major == 3) {
                if (file.length < 12) {
                    throw new IllegalArgumentException(where + "truncated .npy header");
                }
                headerLength = (file[8] & 0xff) | (file[9] & 0xff) << 8 | (file[10] & 0xff) << 16
                        | (file[11] & 0xff) << 24;
                start = 12;
            } else {
                throw new IllegalArgumentException(where + "unsupported .npy format version " + major);
            }
            if (headerLength < 0 || start + headerLength > file.length) {
                throw new IllegalArgumentException(where + "truncated .npy header");
            }
            String header = new String(
                    file, start, headerLength, major == 3 ? StandardCharsets.UTF_8 : StandardCharsets.ISO_8859_1);
            Map<String, Object> dict = new HeaderParser(where, header).dict();
            if (!dict.keySet().equals(Set.of("descr", "fortran_order", "shape"))) {
                throw new IllegalArgumentException(where + "header keys are " + dict.keySet()
                        + ", expected descr, fortran_order and shape");
            }
            if (!(dict.get("descr") instanceof String)) {
                throw new IllegalArgumentException(where + "unsupported dtype (a structured or object array)");
            }
            String descr = (String) dict.get("descr");
            if (!Set.of("<f8", "<f4", "<i8", "<i4", "<i2", "|i1", "|u1", "|b1").contains(descr)) {
                throw new IllegalArgumentException(where + "unsupported dtype " + PyFormat.repr(descr));
            }
            if (!Boolean.FALSE.equals(dict.get("fortran_order"))) {
                throw new IllegalArgumentException(where + "Fortran-ordered arrays are not supported");
            }
            if (!(dict.get("shape") instanceof int[])) {
                throw new IllegalArgumentException(where + "the shape is not a tuple of integers");
            }
            int[] shape = (int[]) dict.get("shape");
            long count = 1;
            for (int d : shape) {
                count *= d;
                if (count > Integer.MAX_VALUE) {
                    throw new IllegalArgumentException(where + "too large");
                }
            }
            long bytes = count * itemSize(descr);
            int dataStart = start + headerLength;
            if (file.length - dataStart != bytes) {
                throw new IllegalArgumentException(where + (file.length - dataStart) + " bytes of data, its shape "
                        + Arrays.toString(shape) + " of " + descr + " needs " + bytes);
            }
            return new NpyArray(name, descr, shape, Arrays.copyOfRange(file, dataStart, file.length));
        }
    }

    /**
     * The header of an .npy file: a Python dict literal of string keys and values that are strings, True or
     * False, or tuples of non-negative integers (anything else is refused).
     */
    private static final class HeaderParser {
        private final String where;
        private final String text;
        private int pos;

        HeaderParser(String where, String text) {
            this.where = where;
            this.text = text;
        }

        Map<String, Object> dict() {
            Map<String, Object> out = new HashMap<>();
            expect('{');
            while (!peek('}')) {
                Object key = value();
                if (!(key instanceof String)) {
                    throw bad();
                }
                expect(':');
                if (out.put((String) key, value()) != null) {
                    throw bad();
                }
                if (!peek(',')) {
                    break;
                }
                expect(',');
            }
            expect('}');
            skipSpace();
            if (pos != text.length()) {
                throw bad();
            }
            return out;
        }

        private Object value() {
            skipSpace();
            if (pos >= text.length()) {
                throw bad();
            }
            char c = text.charAt(pos);
            if (c == '\'' || c == '"') {
                int end = text.indexOf(c, pos + 1);
                if (end < 0) {
                    throw bad();
                }
                String s = text.substring(pos + 1, end);
                if (s.indexOf('\\') >= 0) {
                    throw bad();
                }
                pos = end + 1;
                return s;
            }
            if (text.startsWith("True", pos)) {
                pos += 4;
                return Boolean.TRUE;
            }
            if (text.startsWith("False", pos)) {
                pos += 5;
                return Boolean.FALSE;
            }
            if (c == '(') {
                pos++;
                int[] dims = new int[0];
                while (!peek(')')) {
                    skipSpace();
                    int begin = pos;
                    while (pos < text.length() && Character.isDigit(text.charAt(pos))) {
                        pos++;
                    }
                    if (begin == pos || pos - begin > 9) {
                        throw bad();
                    }
                    dims = Arrays.copyOf(dims, dims.length + 1);
                    dims[dims.length - 1] = Integer.parseInt(text.substring(begin, pos));
                    if (!peek(',')) {
                        break;
                    }
                    expect(',');
                }
                expect(')');
                return dims;
            }
            throw bad();
        }

        private boolean peek(char c) {
            skipSpace();
            return pos < text.length() && text.charAt(pos) == c;
        }

        private void expect(char c) {
            if (!peek(c)) {
                throw bad();
            }
            pos++;
        }

        private void skipSpace() {
            while (pos < text.length() && Character.isWhitespace(text.charAt(pos))) {
                pos++;
            }
        }

        private IllegalArgumentException bad() {
            return new IllegalArgumentException(where + "malformed .npy header " + PyFormat.repr(text.strip()));
        }
    }
}
