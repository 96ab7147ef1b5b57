package io.streamflow.detector;

import java.util.Collection;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.state.rocksdb.ConfigurableRocksDBOptionsFactory;
import org.apache.flink.state.rocksdb.RocksDBOptionsFactory;
import org.rocksdb.ColumnFamilyOptions;
import org.rocksdb.DBOptions;
import org.rocksdb.Env;
import org.rocksdb.Priority;

/**
 * RocksDB options Flink's configuration cannot express ({@code state.backend.rocksdb.options-factory}),
 * applied after the configured ones.
 *
 * <p>Compactions run at the lowest CPU priority. A TaskManager's cores are shared by its task threads and
 * RocksDB's background threads; every checkpoint flushes the memtables, and each compaction of level-0
 * files into level 1 rewrites level 1, which with keys as random as customers is most of the state. At
 * normal priority such a compaction takes a core from the task threads for as long as it runs and every
 * event waiting meanwhile is late. At the lowest priority it uses what the tasks leave; flushes keep
 * normal priority, since a checkpoint's synchronous phase waits for them.
 *
 * <p>{@code streamflow.rocksdb.level0-compaction-trigger} (RocksDB's default when unset: 4): level-0 files
 * that start a compaction into level 1; more means fewer rewrites of level 1 and more files a read may
 * consult (the bloom filters answer most of those).
 */
public final class BackgroundCompaction implements ConfigurableRocksDBOptionsFactory {
    private static final long serialVersionUID = 1L;

    public static final ConfigOption<Boolean> LOW_PRIORITY =
            ConfigOptions.key("streamflow.rocksdb.compaction-low-cpu-priority")
                    .booleanType()
                    .defaultValue(true)
                    .withDescription("Run RocksDB's compaction threads at the lowest CPU priority.");

    public static final ConfigOption<Integer> LEVEL0_TRIGGER =
            ConfigOptions.key("streamflow.rocksdb.level0-compaction-trigger")
                    .intType()
                    .noDefaultValue()
                    .withDescription("Level-0 files that trigger a compaction into level 1.");

    private boolean lowPriority = true;
    private Integer level0Trigger;

    @Override
    public RocksDBOptionsFactory configure(ReadableConfig configuration) {
        lowPriority = configuration.get(LOW_PRIORITY);
        level0Trigger = configuration.getOptional(LEVEL0_TRIGGER).orElse(null);
        if (level0Trigger != null && level0Trigger < 1) {
            throw new IllegalArgumentException(LEVEL0_TRIGGER.key() + " must be at least 1, got " + level0Trigger);
        }
        return this;
    }

    @Override
    public DBOptions createDBOptions(DBOptions currentOptions, Collection<AutoCloseable> handlesToClose) {
        if (!lowPriority) {
            return currentOptions;
        }
        Env env = Env.getDefault(); // process-wide: every RocksDB instance of the TaskManager shares its pools
        env.lowerThreadPoolCPUPriority(Priority.LOW);
        return currentOptions.setEnv(env);
    }

    @Override
    public ColumnFamilyOptions createColumnOptions(
            ColumnFamilyOptions currentOptions, Collection<AutoCloseable> handlesToClose) {
        if (level0Trigger == null) {
            return currentOptions;
        }
        // The slowdown and stop triggers stay above it, at RocksDB's distances from the default 4 (20, 36).
        return currentOptions
                .setLevel0FileNumCompactionTrigger(level0Trigger)
                .setLevel0SlowdownWritesTrigger(Math.max(currentOptions.level0SlowdownWritesTrigger(), level0Trigger + 16))
                .setLevel0StopWritesTrigger(Math.max(currentOptions.level0StopWritesTrigger(), level0Trigger + 32));
    }

    @Override
    public String toString() {
        return "BackgroundCompaction(lowPriority=" + lowPriority + ", level0Trigger=" + level0Trigger + ")";
    }
}
