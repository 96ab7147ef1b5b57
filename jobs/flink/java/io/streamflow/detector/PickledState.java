package io.streamflow.detector;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * State written by the Python detector (before its keyed stages moved to the JVM): Flink kept each key's
 * value as a Python pickle of the {@code bytes} object, whose contents are exactly the layout
 * {@link CustomerState} and {@link TerminalState} read. Unwrapping it lets a savepoint of that job restore
 * into this one with every customer's and terminal's history; this job writes the bare bytes.
 */
final class PickledState {
  private static final int PROTO = 0x80;
  private static final int FRAME = 0x95;
  private static final int SHORT_BINBYTES = 'C';
  private static final int BINBYTES = 'B';
  private static final int BINBYTES8 = 0x8e;

  private PickledState() {}

  /** {@code stored} itself, or the bytes inside a pickled {@code bytes} object. */
  static byte[] unwrap(byte[] stored) {
    if (stored.length == 0 || (stored[0] & 0xff) != PROTO) {
      return stored; // our own layouts start with their version byte (1)
    }
    ByteBuffer in = ByteBuffer.wrap(stored).order(ByteOrder.LITTLE_ENDIAN);
    try {
      in.position(2); // PROTO and its protocol number
      int op = in.get() & 0xff;
      if (op == FRAME) {
        in.getLong();
        op = in.get() & 0xff;
      }
      long length;
      if (op == SHORT_BINBYTES) {
        length = in.get() & 0xff;
      } else if (op == BINBYTES) {
        length = in.getInt() & 0xffffffffL;
      } else if (op == BINBYTES8) {
        length = in.getLong();
      } else {
        throw new StateCodecException(
            "pickled state holds opcode 0x" + Integer.toHexString(op) + ", not a bytes object");
      }
      if (length < 0 || length > in.remaining()) {
        throw new StateCodecException("pickled state of " + stored.length + " bytes is truncated");
      }
      int start = in.position();
      return Arrays.copyOfRange(stored, start, start + (int) length);
    } catch (java.nio.BufferUnderflowException e) {
      throw new StateCodecException("pickled state of " + stored.length + " bytes is truncated");
    }
  }
}
