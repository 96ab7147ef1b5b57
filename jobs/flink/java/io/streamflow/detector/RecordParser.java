package io.streamflow.detector;

import java.io.IOException;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Set;

import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonFactory;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonParser;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.JsonToken;

/**
 * The fast path of {@code fraud_jobs.schemas.parse_transaction} and {@code parse_label}: bytes to a parsed
 * record when Python would certainly accept them with the same field values, or {@code null} ("defer") in every
 * other case. It never judges a record bad: a deferred record goes to the Python parser, which dead-letters it
 * with its reason or returns the model, whose {@code model_dump_json()} this parser always accepts.
 *
 * <p>What the fast path takes (each a subset of what Python accepts, proven by {@code test_parser_equal.py}):
 * well-formed UTF-8 of at most 16 KB starting with a JSON object (no BOM, no NUL byte); strict RFC 8259 JSON
 * (Jackson's defaults) with no duplicate key and no nested object or array in unknown fields; JSON strings
 * without lone surrogates; ids of 1..128 code points without control characters; numbers as JSON numbers
 * (ints and floats for amount/lat/lon, ints only for schema_version); times only as
 * {@code YYYY-MM-DDTHH:MM:SS[.f{1,6}](Z|+HH:MM|-HH:MM)}. Anything else (NaN literals, {@code 24:00}, a space for
 * {@code T}, offsets with seconds, 7+ fraction digits, schema versions beyond a long, labels' lax coercions such
 * as {@code "2"} or {@code 2.0} for a version) is deferred.
 */
public final class RecordParser {
    /** {@code fraud_jobs.schemas.MAX_PAYLOAD_BYTES}. */
    public static final int MAX_PAYLOAD_BYTES = 16 * 1024;

    private static final int MAX_ID_LENGTH = 128;
    private static final double MAX_AMOUNT = 1_000_000.0;
    private static final int MAX_FLOAT_CHARS = 40;
    private static final int MAX_LONG_CHARS = 20;
    private static final int MAX_UNKNOWN_NUMBER_CHARS = 1000;
    private static final long DEFER = Long.MIN_VALUE;
    private static final long MIN_UTC_MICROS = epochDay(2000, 1, 1) * 86_400_000_000L;
    private static final long END_UTC_MICROS = epochDay(2101, 1, 1) * 86_400_000_000L;
    private static final String[] PAYMENT_METHODS = {
        "card_present", "card_not_present", "contactless", "wallet", "bank_transfer"
    };
    private static final String[] CHANNELS = {"pos", "ecommerce", "atm", "mobile"};
    private static final int ABSENT = -1;
    private static final int INVALID = -2;
    private static final JsonFactory JSON = JsonFactory.builder().build();
    private static final double[] POWERS_OF_TEN = {
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18,
        1e19, 1e20, 1e21, 1e22
    };

    private RecordParser() {}

    /** A transaction exactly as {@code parse_transaction} would return it, or null to defer to Python. */
    public static ParsedTransaction transaction(byte[] raw) {
        if (!plausible(raw)) {
            return null;
        }
        try (JsonParser p = JSON.createParser(raw)) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                return null;
            }
            long version = 1;
            String transactionId = null;
            String customerId = null;
            String terminalId = null;
            double amount = Double.NaN;
            long eventMicros = DEFER;
            String currency = "EUR";
            int paymentMethod = ABSENT;
            int channel = ABSENT;
            String deviceId = null;
            double lat = Double.NaN;
            double lon = Double.NaN;
            int seen = 0;
            UnknownKeys unknown = null;
            String name;
            while ((name = p.nextFieldName()) != null) {
                JsonToken t = p.nextToken();
                int bit;
                boolean ok;
                switch (name) {
                    case "schema_version" -> {
                        bit = 1;
                        version = version(p, t);
                        ok = version >= 1;
                    }
                    case "transaction_id" -> {
                        bit = 1 << 1;
                        transactionId = id(p, t, 1);
                        ok = transactionId != null;
                    }
                    case "customer_id" -> {
                        bit = 1 << 2;
                        customerId = id(p, t, 1);
                        ok = customerId != null;
                    }
                    case "terminal_id" -> {
                        bit = 1 << 3;
                        terminalId = id(p, t, 1);
                        ok = terminalId != null;
                    }
                    case "amount" -> {
                        bit = 1 << 4;
                        amount = number(p, t);
                        ok = amount >= 0.0 && amount <= MAX_AMOUNT;
                    }
                    case "event_time" -> {
                        bit = 1 << 5;
                        eventMicros = time(p, t);
                        ok = eventMicros != DEFER;
                    }
                    case "currency" -> {
                        bit = 1 << 6;
                        currency = currency(p, t);
                        ok = currency != null;
                    }
                    case "payment_method" -> {
                        bit = 1 << 7;
                        paymentMethod = choice(p, t, PAYMENT_METHODS);
                        ok = paymentMethod != INVALID;
                    }
                    case "channel" -> {
                        bit = 1 << 8;
                        channel = choice(p, t, CHANNELS);
                        ok = channel != INVALID;
                    }
                    case "device_id" -> {
                        bit = 1 << 9;
                        ok = t == JsonToken.VALUE_NULL || (deviceId = id(p, t, 0)) != null;
                    }
                    case "lat" -> {
                        bit = 1 << 10;
                        lat = t == JsonToken.VALUE_NULL ? Double.NaN : number(p, t);
                        ok = t == JsonToken.VALUE_NULL || (lat >= -90.0 && lat <= 90.0);
                    }
                    case "lon" -> {
                        bit = 1 << 11;
                        lon = t == JsonToken.VALUE_NULL ? Double.NaN : number(p, t);
                        ok = t == JsonToken.VALUE_NULL || (lon >= -180.0 && lon <= 180.0);
                    }
                    default -> {
                        bit = 0;
                        ok = ignorable(p, t, name) && (unknown = UnknownKeys.add(unknown, name)) != null;
                    }
                }
                if (!ok || (seen & bit) != 0) {
                    return null;
                }
                seen |= bit;
            }
            if (!endOfObject(p) || (seen & 0b111110) != 0b111110 || Double.isNaN(lat) != Double.isNaN(lon)) {
                return null;
            }
            return new ParsedTransaction(
                    version,
                    transactionId,
                    customerId,
                    terminalId,
                    amount,
                    eventMicros,
                    currency,
                    paymentMethod < 0 ? null : PAYMENT_METHODS[paymentMethod],
                    channel < 0 ? null : CHANNELS[channel],
                    deviceId,
                    !Double.isNaN(lat),
                    lat,
                    lon);
        } catch (IOException | RuntimeException e) {
            return null; // malformed JSON (or a Jackson limit): Python names the reason
        }
    }

    /** A label exactly as {@code parse_label} would return it, or null to defer to Python. */
    public static ParsedLabel label(byte[] raw) {
        if (!plausible(raw)) {
            return null;
        }
        try (JsonParser p = JSON.createParser(raw)) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                return null;
            }
            long version = 1;
            String transactionId = null;
            boolean isFraud = false;
            long confirmedMicros = DEFER;
            String terminalId = null;
            String customerId = null;
            long txEventMicros = DEFER;
            int seen = 0;
            UnknownKeys unknown = null;
            String name;
            while ((name = p.nextFieldName()) != null) {
                JsonToken t = p.nextToken();
                int bit;
                boolean ok;
                switch (name) {
                    case "schema_version" -> {
                        bit = 1;
                        version = version(p, t);
                        ok = version >= 1;
                    }
                    case "transaction_id" -> {
                        bit = 1 << 1;
                        transactionId = id(p, t, 1);
                        ok = transactionId != null;
                    }
                    case "is_fraud" -> {
                        bit = 1 << 2;
                        isFraud = t == JsonToken.VALUE_TRUE;
                        ok = isFraud || t == JsonToken.VALUE_FALSE;
                    }
                    case "confirmed_at" -> {
                        bit = 1 << 3;
                        confirmedMicros = time(p, t);
                        ok = confirmedMicros != DEFER;
                    }
                    case "terminal_id" -> {
                        bit = 1 << 4;
                        terminalId = id(p, t, 1);
                        ok = terminalId != null;
                    }
                    case "customer_id" -> {
                        bit = 1 << 5;
                        customerId = id(p, t, 1);
                        ok = customerId != null;
                    }
                    case "tx_event_time" -> {
                        bit = 1 << 6;
                        txEventMicros = time(p, t);
                        ok = txEventMicros != DEFER;
                    }
                    default -> {
                        bit = 0;
                        ok = ignorable(p, t, name) && (unknown = UnknownKeys.add(unknown, name)) != null;
                    }
                }
                if (!ok || (seen & bit) != 0) {
                    return null;
                }
                seen |= bit;
            }
            if (!endOfObject(p) || (seen & 0b1111110) != 0b1111110 || confirmedMicros < txEventMicros) {
                return null;
            }
            return new ParsedLabel(
                    version, transactionId, isFraud, confirmedMicros, terminalId, customerId, txEventMicros);
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    /**
     * Size, encoding and first character as {@code decode_json_object} wants them. Well-formed UTF-8 as Python
     * decodes it (no overlong forms, no encoded surrogates, nothing above U+10FFFF); a NUL byte is never valid
     * JSON outside a string nor raw inside one, and refusing it keeps Jackson's UTF-16/32 detection out.
     */
    static boolean plausible(byte[] raw) {
        if (raw == null || raw.length > MAX_PAYLOAD_BYTES) {
            return false;
        }
        int n = raw.length;
        int i = 0;
        while (i < n && (raw[i] == ' ' || raw[i] == '\n' || raw[i] == '\r' || raw[i] == '\t')) {
            i++;
        }
        if (i == n || raw[i] != '{') {
            return false;
        }
        while (i < n) {
            int c = raw[i];
            if (c > 0) {
                i++;
                continue;
            }
            if (c == 0) {
                return false;
            }
            c &= 0xFF;
            if (c < 0xC2 || c > 0xF4) {
                return false;
            }
            if (c < 0xE0) {
                if (i + 1 >= n || (raw[i + 1] & 0xC0) != 0x80) {
                    return false;
                }
                i += 2;
            } else if (c < 0xF0) {
                if (i + 2 >= n) {
                    return false;
                }
                int c1 = raw[i + 1] & 0xFF;
                boolean second = c == 0xE0 ? c1 >= 0xA0 && c1 <= 0xBF
                        : c == 0xED ? c1 >= 0x80 && c1 <= 0x9F
                        : (c1 & 0xC0) == 0x80;
                if (!second || (raw[i + 2] & 0xC0) != 0x80) {
                    return false;
                }
                i += 3;
            } else {
                if (i + 3 >= n) {
                    return false;
                }
                int c1 = raw[i + 1] & 0xFF;
                boolean second = c == 0xF0 ? c1 >= 0x90 && c1 <= 0xBF
                        : c == 0xF4 ? c1 >= 0x80 && c1 <= 0x8F
                        : (c1 & 0xC0) == 0x80;
                if (!second || (raw[i + 2] & 0xC0) != 0x80 || (raw[i + 3] & 0xC0) != 0x80) {
                    return false;
                }
                i += 4;
            }
        }
        return true;
    }

    /** The object ended and nothing but whitespace follows (Jackson would read a second root value). */
    private static boolean endOfObject(JsonParser p) throws IOException {
        return p.currentToken() == JsonToken.END_OBJECT && p.nextToken() == null;
    }

    /** A strict int that fits a long, or 0 (deferred: floats, bools, strings, null, ints beyond a long). */
    private static long version(JsonParser p, JsonToken t) throws IOException {
        return t == JsonToken.VALUE_NUMBER_INT && fitsLong(p) ? p.getLongValue() : 0;
    }

    private static boolean fitsLong(JsonParser p) throws IOException {
        return p.getTextLength() <= MAX_LONG_CHARS && p.getNumberType() != JsonParser.NumberType.BIG_INTEGER;
    }

    /**
     * A JSON number as pydantic's strict float takes it (an int converted, a float read correctly rounded, as
     * jiter does), or NaN to defer (bools, strings, ints beyond a long, floats longer than tested).
     */
    private static double number(JsonParser p, JsonToken t) throws IOException {
        if (t == JsonToken.VALUE_NUMBER_INT) {
            return fitsLong(p) ? (double) p.getLongValue() : Double.NaN;
        }
        if (t == JsonToken.VALUE_NUMBER_FLOAT && p.getTextLength() <= MAX_FLOAT_CHARS) {
            double d = decimal(p.getTextCharacters(), p.getTextOffset(), p.getTextLength());
            if (Double.isNaN(d)) {
                d = Double.parseDouble(p.getText());
            }
            return Double.isInfinite(d) ? Double.NaN : d;
        }
        return Double.NaN;
    }

    /**
     * A plain decimal ({@code -ddd.ddd}, Jackson has checked the syntax) of at most 15 digits, with at most 22
     * after the point, is exactly {@code digits / 10^k}: both are exact doubles and one IEEE division rounds
     * correctly (Clinger's fast path), as {@code Double.parseDouble} would, without its cost. NaN otherwise.
     */
    private static double decimal(char[] c, int offset, int length) {
        int i = offset;
        int end = offset + length;
        boolean negative = c[i] == '-';
        if (negative) {
            i++;
        }
        long digits = 0;
        int count = 0;
        int point = -1;
        for (; i < end; i++) {
            char ch = c[i];
            if (ch >= '0' && ch <= '9') {
                digits = digits * 10 + (ch - '0');
                count++;
            } else if (ch == '.') {
                point = count;
            } else {
                return Double.NaN; // an exponent
            }
        }
        int scale = point < 0 ? 0 : count - point;
        if (count > 15 || scale >= POWERS_OF_TEN.length) {
            return Double.NaN;
        }
        double value = digits / POWERS_OF_TEN[scale];
        return negative ? -value : value;
    }

    /** {@code _Id} (or the device id with minLength 0): a string, no control characters, length in code points. */
    private static String id(JsonParser p, JsonToken t, int minLength) throws IOException {
        if (t != JsonToken.VALUE_STRING) {
            return null;
        }
        String s = p.getText();
        int n = s.length();
        if (n > 2 * MAX_ID_LENGTH) {
            return null;
        }
        int codePoints = 0;
        for (int i = 0; i < n; i++) {
            char c = s.charAt(i);
            if (c < 0x20 || c == 0x7F) {
                return null;
            }
            if (Character.isSurrogate(c)) {
                if (!Character.isHighSurrogate(c) || i + 1 == n || !Character.isLowSurrogate(s.charAt(i + 1))) {
                    return null;
                }
                i++;
            }
            codePoints++;
        }
        return codePoints >= minLength && codePoints <= MAX_ID_LENGTH ? s : null;
    }

    private static String currency(JsonParser p, JsonToken t) throws IOException {
        if (t != JsonToken.VALUE_STRING || p.getTextLength() != 3) {
            return null;
        }
        char[] c = p.getTextCharacters();
        int o = p.getTextOffset();
        for (int i = o; i < o + 3; i++) {
            if (c[i] < 'A' || c[i] > 'Z') {
                return null;
            }
        }
        return c[o] == 'E' && c[o + 1] == 'U' && c[o + 2] == 'R' ? "EUR" : new String(c, o, 3);
    }

    /** An enum value (pydantic's lax enum takes exactly the value strings) or null: index, ABSENT or INVALID. */
    private static int choice(JsonParser p, JsonToken t, String[] values) throws IOException {
        if (t == JsonToken.VALUE_NULL) {
            return ABSENT;
        }
        if (t != JsonToken.VALUE_STRING) {
            return INVALID;
        }
        String s = p.getText();
        for (int i = 0; i < values.length; i++) {
            if (values[i].equals(s)) {
                return i;
            }
        }
        return INVALID;
    }

    /**
     * An unknown field Python ignores after jiter read it: scalars only (nested values are deferred), strings
     * without lone surrogates (jiter refuses them), numbers within Jackson's and jiter's digit limits.
     */
    private static boolean ignorable(JsonParser p, JsonToken t, String name) throws IOException {
        if (!pairedSurrogates(name.toCharArray(), 0, name.length())) {
            return false;
        }
        return switch (t) {
            case VALUE_STRING -> pairedSurrogates(p.getTextCharacters(), p.getTextOffset(), p.getTextLength());
            case VALUE_NUMBER_INT, VALUE_NUMBER_FLOAT -> p.getTextLength() <= MAX_UNKNOWN_NUMBER_CHARS;
            case VALUE_TRUE, VALUE_FALSE, VALUE_NULL -> true;
            default -> false;
        };
    }

    private static boolean pairedSurrogates(char[] c, int offset, int length) {
        int end = offset + length;
        for (int i = offset; i < end; i++) {
            if (Character.isSurrogate(c[i])) {
                if (!Character.isHighSurrogate(c[i]) || i + 1 == end || !Character.isLowSurrogate(c[i + 1])) {
                    return false;
                }
                i++;
            }
        }
        return true;
    }

    private static long time(JsonParser p, JsonToken t) throws IOException {
        if (t != JsonToken.VALUE_STRING) {
            return DEFER;
        }
        return isoMicros(p.getTextCharacters(), p.getTextOffset(), p.getTextLength());
    }

    /**
     * {@code _check_time} on the subset {@code YYYY-MM-DDTHH:MM:SS[.f{1,6}](Z|+HH:MM|-HH:MM)} of what
     * {@code datetime.fromisoformat} reads: epoch microseconds (UTC), or DEFER for anything else, an invalid
     * date or time, or a year outside 2000..2100 as written or in UTC.
     */
    static long isoMicros(char[] s, int off, int len) {
        if (len < 20 || len > 32) {
            return DEFER;
        }
        int year = digits(s, off, 4);
        int month = digits(s, off + 5, 2);
        int day = digits(s, off + 8, 2);
        int hour = digits(s, off + 11, 2);
        int minute = digits(s, off + 14, 2);
        int second = digits(s, off + 17, 2);
        if (s[off + 4] != '-' || s[off + 7] != '-' || s[off + 10] != 'T' || s[off + 13] != ':'
                || s[off + 16] != ':' || year < 2000 || year > 2100 || month < 1 || month > 12 || day < 1
                || day > daysInMonth(year, month) || hour < 0 || hour > 23 || minute < 0 || minute > 59
                || second < 0 || second > 59) {
            return DEFER;
        }
        int i = off + 19;
        int end = off + len;
        long fraction = 0;
        if (s[i] == '.') {
            int start = ++i;
            while (i < end && i - start < 6 && s[i] >= '0' && s[i] <= '9') {
                fraction = fraction * 10 + (s[i] - '0');
                i++;
            }
            if (i == start) {
                return DEFER;
            }
            for (int k = i - start; k < 6; k++) {
                fraction *= 10;
            }
        }
        long offsetSeconds;
        if (end - i == 1 && s[i] == 'Z') {
            offsetSeconds = 0;
        } else if (end - i == 6 && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
            int oh = digits(s, i + 1, 2);
            int om = digits(s, i + 4, 2);
            if (oh < 0 || oh > 23 || om < 0 || om > 59) {
                return DEFER;
            }
            offsetSeconds = (s[i] == '-' ? -1 : 1) * (oh * 3600L + om * 60L);
        } else {
            return DEFER;
        }
        long local = (epochDay(year, month, day) * 86_400L + hour * 3600L + minute * 60L + second) * 1_000_000L
                + fraction;
        long utc = local - offsetSeconds * 1_000_000L;
        return utc >= MIN_UTC_MICROS && utc < END_UTC_MICROS ? utc : DEFER;
    }

    /** A fixed-width run of ASCII digits, or -1. */
    private static int digits(char[] s, int at, int width) {
        int v = 0;
        for (int i = at; i < at + width; i++) {
            char c = s[i];
            if (c < '0' || c > '9') {
                return -1;
            }
            v = v * 10 + (c - '0');
        }
        return v;
    }

    private static int daysInMonth(int year, int month) {
        return switch (month) {
            case 2 -> (year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)) ? 29 : 28;
            case 4, 6, 9, 11 -> 30;
            default -> 31;
        };
    }

    /** Days since 1970-01-01 of a proleptic Gregorian date (days_from_civil, H. Hinnant). */
    static long epochDay(long year, long month, long day) {
        long y = month <= 2 ? year - 1 : year;
        long era = Math.floorDiv(y, 400);
        long yoe = y - era * 400;
        long doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
        long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146_097 + doe - 719_468;
    }

    /** Names of unknown fields seen so far: a short list, a set once there are many. */
    private static final class UnknownKeys {
        private static final int LINEAR = 8;
        private final String[] few = new String[LINEAR];
        private int count;
        private Set<String> many;

        /** The keys with {@code name} added, or null if it was there already (a duplicate key). */
        static UnknownKeys add(UnknownKeys keys, String name) {
            UnknownKeys k = keys == null ? new UnknownKeys() : keys;
            if (k.many != null) {
                return k.many.add(name) ? k : null;
            }
            for (int i = 0; i < k.count; i++) {
                if (k.few[i].equals(name)) {
                    return null;
                }
            }
            if (k.count < LINEAR) {
                k.few[k.count++] = name;
            } else {
                k.many = new HashSet<>(Arrays.asList(k.few));
                k.many.add(name);
            }
            return k;
        }
    }
}
