package io.streamflow.detector.tools;

import io.streamflow.detector.CustomerFeatureState;
import io.streamflow.detector.Features;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Random;

/**
 * What one customer's feature window costs per event as it fills, for benchmarks/customer_window.py: for
 * each size, a state of that many payments (4 ms apart, amounts 5.00-199.99) is decoded, its features
 * computed, the payment observed and the state encoded, as the customer stage does for every event of the
 * key. The state's bytes are the same each time, so the window keeps its size. A size above {@link
 * Features#MAX_CUSTOMER_PAYMENTS} cannot arise any more (only from a state saved before the cap); there
 * {@code observe} cuts the copy to the cap and the encoding is of the cut state, so the figure is less than
 * such a key cost before the cap, when all its payments were encoded again.
 *
 * <p>Arguments: events per size, rounds, then the sizes. Output, one line a size and round, tab-separated:
 * size, round, nanoseconds per event (wall clock of this thread), encoded bytes.
 */
public final class WindowCost {
    private WindowCost() {}

    public static void main(String[] args) {
        if (args.length < 3) {
            throw new IllegalArgumentException("usage: WindowCost EVENTS ROUNDS SIZE...");
        }
        int events = Integer.parseInt(args[0]);
        int rounds = Integer.parseInt(args[1]);
        StringBuilder out = new StringBuilder();
        double sink = 0;
        for (int round = 1; round <= rounds; round++) {
            for (int i = 2; i < args.length; i++) {
                int size = Integer.parseInt(args[i]);
                Random random = new Random(size);
                byte[] bytes = size <= Features.MAX_CUSTOMER_PAYMENTS ? observed(size, random) : uncapped(size, random);
                double t = 1.7e9 + size * 0.004;
                long started = System.nanoTime();
                for (int e = 0; e < events; e++) {
                    CustomerFeatureState copy = CustomerFeatureState.fromBytes(bytes);
                    t += 0.004;
                    double amount = amount(random);
                    sink += copy.features(t, amount, false, 0, 0)[11];
                    copy.observe(t, amount, false, 0, 0);
                    sink += copy.toBytes().length;
                }
                long perEvent = (System.nanoTime() - started) / events;
                out.append(size).append('\t').append(round).append('\t').append(perEvent).append('\t');
                out.append(bytes.length).append('\n');
            }
        }
        System.out.print(out);
        System.err.println("checksum " + sink); // what the loop computed is used, so it is not elided
    }

    private static double amount(Random random) {
        return 5 + random.nextInt(19_500) / 100.0;
    }

    /** A state of {@code size} payments, 4 ms apart, built by observing them. */
    private static byte[] observed(int size, Random random) {
        CustomerFeatureState state = new CustomerFeatureState();
        for (int k = 1; k <= size; k++) {
            state.observe(1.7e9 + k * 0.004, amount(random), false, 0, 0);
        }
        return state.toBytes();
    }

    /** A state of {@code size} payments as it was stored before the cap: the encoding, written directly. */
    private static byte[] uncapped(int size, Random random) {
        ByteBuffer out = ByteBuffer.allocate(1 + 4 + 3 * 8 + 16 * size).order(ByteOrder.LITTLE_ENDIAN);
        out.put((byte) 1).putInt(size).putDouble(Double.NaN).putDouble(Double.NaN).putDouble(Double.NaN);
        for (int k = 1; k <= size; k++) {
            out.putDouble(1.7e9 + k * 0.004);
        }
        for (int k = 0; k < size; k++) {
            out.putDouble(amount(random));
        }
        return out.array();
    }
}
