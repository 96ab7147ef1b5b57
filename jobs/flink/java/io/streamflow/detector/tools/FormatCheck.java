package io.streamflow.detector.tools;

import io.streamflow.detector.PyFormat;
import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;

/**
 * Formats values with {@link PyFormat} for the test that compares them with Python's {@code format()}.
 *
 * <p>Each stdin line is a JSON array {@code [op, args...]} (doubles as {@code float.hex()} text):
 * {@code ["fixed", x, decimals]}, {@code ["percent", x, decimals]}, {@code ["general", x]},
 * {@code ["pad", n, width]}, {@code ["repr", x]}, {@code ["repr_str", s]}, {@code ["hex", x]}; each stdout
 * line is the result as a JSON string.
 */
public final class FormatCheck {
  private FormatCheck() {}

  public static void main(String[] args) throws IOException {
    ObjectMapper json = new ObjectMapper();
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    Writer out = new BufferedWriter(new OutputStreamWriter(System.out, StandardCharsets.UTF_8));
    for (String line = in.readLine(); line != null; line = in.readLine()) {
      if (line.isBlank()) {
        continue;
      }
      JsonNode call = json.readTree(line);
      out.write(json.writeValueAsString(format(call)));
      out.write('\n');
    }
    out.flush();
  }

  private static String format(JsonNode call) {
    String op = call.get(0).textValue();
    switch (op) {
      case "fixed":
        return PyFormat.fixed(x(call), call.get(2).intValue());
      case "percent":
        return PyFormat.percent(x(call), call.get(2).intValue());
      case "general":
        return PyFormat.general(x(call));
      case "pad":
        return PyFormat.zeroPadded(call.get(1).longValue(), call.get(2).intValue());
      case "repr":
        return PyFormat.repr(x(call));
      case "repr_str":
        return PyFormat.repr(call.get(1).textValue());
      case "hex":
        return PyFormat.hex(x(call));
      default:
        throw new IllegalArgumentException("unknown op " + op);
    }
  }

  private static double x(JsonNode call) {
    return PyFormat.fromHex(call.get(1).textValue());
  }
}
