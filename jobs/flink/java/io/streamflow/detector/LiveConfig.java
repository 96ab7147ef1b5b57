package io.streamflow.detector;

import java.io.Serializable;
import org.apache.flink.api.common.state.BroadcastState;
import org.apache.flink.api.common.state.MapStateDescriptor;
import org.apache.flink.api.common.state.ReadOnlyBroadcastState;
import org.apache.flink.api.common.typeinfo.Types;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The live rules of a keyed stage: the file config folded with the control manager's compacted document.
 *
 * <p>The Python control manager (parallelism 1) is the only place that accepts a control message; it
 * broadcasts the compacted document, which every stage keeps in broadcast state and folds over its own file
 * config (so a restore with a changed file config folds the same overrides over the new one).
 */
final class LiveConfig implements Serializable {
    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LoggerFactory.getLogger(LiveConfig.class);

    /** The broadcast state: one entry, {@link #KEY}, holding the compacted control document. */
    static final MapStateDescriptor<String, String> CONTROLS =
            new MapStateDescriptor<>("controls", Types.STRING, Types.STRING);

    static final String KEY = "accepted";

    private final String baseJson;
    private transient Rules rules;

    LiveConfig(String baseJson) {
        this.baseJson = baseJson;
    }

    /** The file config alone (before any element: the TTL of the state is configured from it). */
    Rules base() {
        return fold(null);
    }

    Rules current(ReadOnlyBroadcastState<String, String> state) throws Exception {
        if (rules == null) { // first element after (re)start: the broadcast state may hold controls
            rules = fold(state.get(KEY));
        }
        return rules;
    }

    void update(BroadcastState<String, String> state, String controls) throws Exception {
        state.put(KEY, controls);
        rules = fold(controls);
    }

    private Rules fold(String controls) {
        Rules folded = Rules.fromConfigJson(baseJson, controls);
        for (String problem : folded.problems()) {
            LOG.warn("control message skipped: {}", problem);
        }
        return folded;
    }
}
