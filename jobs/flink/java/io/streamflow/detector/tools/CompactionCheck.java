package io.streamflow.detector.tools;

import io.streamflow.detector.BackgroundCompaction;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;
import org.rocksdb.ColumnFamilyOptions;
import org.rocksdb.DBOptions;
import org.rocksdb.FlushOptions;
import org.rocksdb.Options;
import org.rocksdb.RocksDB;

/**
 * Opens a RocksDB with {@link BackgroundCompaction}'s options, as Flink would apply them, and reports what
 * they did, for the test that checks them: {@code args[0]} is the level-0 trigger to configure ("-" for
 * none). Writes and flushes until a compaction has run, then prints one JSON object: the column family's
 * level-0 triggers, the files left in level 0, and each RocksDB thread's name and nice value read from
 * {@code /proc/self/task}. A configuration the factory refuses prints {@code {"error": message}}.
 */
public final class CompactionCheck {
  private CompactionCheck() {}

  public static void main(String[] args) throws Exception {
    ObjectMapper json = new ObjectMapper();
    Configuration config = new Configuration();
    if (!args[0].equals("-")) {
      config.set(BackgroundCompaction.LEVEL0_TRIGGER, Integer.parseInt(args[0]));
    }
    BackgroundCompaction factory = new BackgroundCompaction();
    try {
      factory.configure(config);
    } catch (IllegalArgumentException e) {
      System.out.println(json.writeValueAsString(Map.of("error", e.getMessage())));
      return;
    }
    RocksDB.loadLibrary();
    List<AutoCloseable> handles = new ArrayList<>();
    DBOptions db = factory.createDBOptions(new DBOptions().setCreateIfMissing(true), handles);
    ColumnFamilyOptions cf = factory.createColumnOptions(new ColumnFamilyOptions(), handles);
    Path dir = Files.createTempDirectory("compaction-check");
    Map<String, Object> out = new LinkedHashMap<>();
    try (Options options = new Options(db, cf);
        RocksDB rocks = RocksDB.open(options, dir.toString());
        FlushOptions flush = new FlushOptions().setWaitForFlush(true)) {
      int trigger = cf.level0FileNumCompactionTrigger();
      for (int file = 0; file < trigger; file++) {
        for (int key = 0; key < 1000; key++) {
          rocks.put(("k" + key).getBytes(StandardCharsets.UTF_8), ("v" + file).getBytes(StandardCharsets.UTF_8));
        }
        rocks.flush(flush);
      }
      long deadline = System.nanoTime() + 30_000_000_000L;
      while (level0Files(rocks) >= trigger && System.nanoTime() < deadline) {
        Thread.sleep(50);
      }
      out.put("level0_trigger", trigger);
      out.put("level0_slowdown", cf.level0SlowdownWritesTrigger());
      out.put("level0_stop", cf.level0StopWritesTrigger());
      out.put("level0_files", level0Files(rocks));
      out.put("threads", rocksdbThreads());
    }
    for (AutoCloseable handle : handles) {
      handle.close();
    }
    System.out.println(json.writeValueAsString(out));
  }

  private static long level0Files(RocksDB rocks) throws Exception {
    return Long.parseLong(rocks.getProperty("rocksdb.num-files-at-level0"));
  }

  /** Each thread whose name starts with "rocksdb": its name and nice value (field 19 of its stat). */
  private static List<Map<String, Object>> rocksdbThreads() throws IOException {
    List<Map<String, Object>> threads = new ArrayList<>();
    try (DirectoryStream<Path> tasks = Files.newDirectoryStream(Path.of("/proc/self/task"))) {
      for (Path task : tasks) {
        String name = Files.readString(task.resolve("comm"), StandardCharsets.UTF_8).strip();
        if (!name.startsWith("rocksdb")) {
          continue;
        }
        String stat = Files.readString(task.resolve("stat"), StandardCharsets.UTF_8);
        String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        threads.add(Map.of("name", name, "nice", Integer.parseInt(fields[16])));
      }
    }
    return threads;
  }
}
