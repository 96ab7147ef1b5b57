package io.streamflow.detector;

import java.math.BigDecimal;
import java.math.MathContext;
import java.math.RoundingMode;

/**
 * Python's float and int formatting where the detector's texts use it, digit for digit.
 *
 * <p>Python rounds the exact binary value of a double half-even; {@code new BigDecimal(double)} is that
 * exact value, so rounding it the same way gives the same digits ({@code String.format} rounds a decimal
 * approximation half-up and differs on ties such as 0.125). Python keeps the sign of negative zero and of
 * values that round to zero ({@code format(-0.4, '.0f') == '-0'}) and spells non-finite values {@code inf},
 * {@code -inf} and {@code nan} (never {@code -nan}).
 */
public final class PyFormat {
  private static final MathContext SIX_DIGITS = new MathContext(6, RoundingMode.HALF_EVEN);

  private PyFormat() {}

  /** {@code format(x, f'.{decimals}f')}. */
  public static String fixed(double x, int decimals) {
    String special = nonFinite(x);
    if (special != null) {
      return special;
    }
    return sign(x) + new BigDecimal(Math.abs(x)).setScale(decimals, RoundingMode.HALF_EVEN).toPlainString();
  }

  /** {@code format(x, f'.{decimals}%')}: Python multiplies by 100 as a double first. */
  public static String percent(double x, int decimals) {
    return fixed(x * 100.0, decimals) + "%";
  }

  /**
   * {@code format(x, 'g')}: six significant digits; fixed notation when the decimal exponent is in [-4, 6),
   * otherwise {@code d.ddddde+XX}; trailing zeros and a trailing point removed.
   */
  public static String general(double x) {
    String special = nonFinite(x);
    if (special != null) {
      return special;
    }
    if (x == 0.0) {
      return sign(x) + "0";
    }
    BigDecimal rounded = new BigDecimal(Math.abs(x)).round(SIX_DIGITS).stripTrailingZeros();
    int exponent = rounded.precision() - rounded.scale() - 1;
    if (exponent >= -4 && exponent < 6) {
      return sign(x) + rounded.toPlainString();
    }
    return sign(x) + scientific(rounded.unscaledValue().toString(), exponent);
  }

  /** {@code format(x, f'0{width}d')}: the sign counts towards the width. */
  public static String zeroPadded(long x, int width) {
    String text = Long.toString(x);
    String sign = x < 0 ? "-" : "";
    String digits = text.substring(sign.length());
    int pad = width - sign.length() - digits.length();
    return pad > 0 ? sign + "0".repeat(pad) + digits : text;
  }

  /** {@code repr(x)}: the shortest digits that read back as {@code x} (Python 3's float repr). */
  public static String repr(double x) {
    String special = nonFinite(x);
    if (special != null) {
      return special;
    }
    if (x == 0.0) {
      return sign(x) + "0.0";
    }
    double magnitude = Math.abs(x);
    BigDecimal shortest = shortest(magnitude).stripTrailingZeros();
    String digits = shortest.unscaledValue().toString();
    int point = shortest.precision() - shortest.scale(); // digits before the decimal point
    String text;
    if (point <= -4 || point > 16) {
      text = scientific(digits, point - 1);
    } else if (point <= 0) {
      text = "0." + "0".repeat(-point) + digits;
    } else if (point >= digits.length()) {
      text = digits + "0".repeat(point - digits.length()) + ".0";
    } else {
      text = digits.substring(0, point) + "." + digits.substring(point);
    }
    return sign(x) + text;
  }

  /**
   * {@code repr(s)} for a str: Python's quote choice and escapes. Printability of non-ASCII characters
   * follows Java's Unicode tables, which can lag Python's by a Unicode version (newly assigned characters).
   */
  public static String repr(String s) {
    char quote = s.indexOf('\'') >= 0 && s.indexOf('"') < 0 ? '"' : '\'';
    StringBuilder out = new StringBuilder(s.length() + 2).append(quote);
    s.codePoints()
        .forEach(
            cp -> {
              if (cp == quote || cp == '\\') {
                out.append('\\').appendCodePoint(cp);
              } else if (cp == '\t') {
                out.append("\\t");
              } else if (cp == '\n') {
                out.append("\\n");
              } else if (cp == '\r') {
                out.append("\\r");
              } else if (cp < ' ' || cp == 0x7f) {
                out.append(String.format("\\x%02x", cp));
              } else if (cp < 0x7f || printable(cp)) {
                out.appendCodePoint(cp);
              } else if (cp <= 0xff) {
                out.append(String.format("\\x%02x", cp));
              } else if (cp <= 0xffff) {
                out.append(String.format("\\u%04x", cp));
              } else {
                out.append(String.format("\\U%08x", cp));
              }
            });
    return out.append(quote).toString();
  }

  /** {@code x.hex()}: Python's exact hexadecimal spelling of a double. */
  public static String hex(double x) {
    String special = nonFinite(x);
    if (special != null) {
      return special;
    }
    long bits = Double.doubleToRawLongBits(x);
    long mantissa = bits & 0xfffffffffffffL;
    int biased = (int) ((bits >>> 52) & 0x7ff);
    String lead;
    int exponent;
    if (biased == 0) {
      lead = "0x0.";
      exponent = mantissa == 0 ? 0 : -1022;
    } else {
      lead = "0x1.";
      exponent = biased - 1023;
    }
    String fraction = String.format("%013x", mantissa);
    if (x == 0.0) {
      fraction = "0";
    }
    return sign(x) + lead + fraction + "p" + (exponent < 0 ? "-" : "+") + Math.abs(exponent);
  }

  /** {@code float.fromhex(s)} for what {@link #hex} (or Python's {@code float.hex}) writes. */
  public static double fromHex(String s) {
    switch (s) {
      case "inf":
        return Double.POSITIVE_INFINITY;
      case "-inf":
        return Double.NEGATIVE_INFINITY;
      case "nan":
        return Double.NaN;
      default:
        return Double.parseDouble(s);
    }
  }

  private static String nonFinite(double x) {
    if (Double.isNaN(x)) {
      return "nan";
    }
    if (Double.isInfinite(x)) {
      return x > 0 ? "inf" : "-inf";
    }
    return null;
  }

  private static String sign(double x) {
    return Double.doubleToRawLongBits(x) < 0 ? "-" : "";
  }

  /** {@code d.ddd} of {@code digits} (no trailing zeros) and Python's exponent: sign, at least 2 digits. */
  private static String scientific(String digits, int exponent) {
    String mantissa = digits.length() == 1 ? digits : digits.charAt(0) + "." + digits.substring(1);
    int e = Math.abs(exponent);
    return mantissa + "e" + (exponent < 0 ? "-" : "+") + (e < 10 ? "0" : "") + e;
  }

  /**
   * The shortest decimal that reads back as {@code x > 0}, the closest one if several: the nearest
   * p-digit decimal for the smallest p where it round-trips, or the other neighbour where only that one
   * does (just above a power of two the doubles below are twice as dense).
   */
  private static BigDecimal shortest(double x) {
    BigDecimal exact = new BigDecimal(x);
    for (int p = 1; p < 17; p++) {
      BigDecimal nearest = exact.round(new MathContext(p, RoundingMode.HALF_EVEN));
      if (nearest.doubleValue() == x) {
        return nearest;
      }
      RoundingMode away = nearest.compareTo(exact) < 0 ? RoundingMode.CEILING : RoundingMode.FLOOR;
      BigDecimal other = exact.round(new MathContext(p, away));
      if (other.doubleValue() == x) {
        return other;
      }
    }
    return exact.round(new MathContext(17, RoundingMode.HALF_EVEN));
  }

  /** Python's {@code str.isprintable} for one character (space printable, other separators not). */
  private static boolean printable(int cp) {
    switch (Character.getType(cp)) {
      case Character.CONTROL:
      case Character.FORMAT:
      case Character.SURROGATE:
      case Character.PRIVATE_USE:
      case Character.UNASSIGNED:
      case Character.LINE_SEPARATOR:
      case Character.PARAGRAPH_SEPARATOR:
      case Character.SPACE_SEPARATOR:
        return false;
      default:
        return true;
    }
  }
}
