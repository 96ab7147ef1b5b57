"""A tiny job whose keyed function creates state with PyFlink's *default* TTL cleanup (``-py`` for bin/flink).

On a real TaskManager in thread mode this fails in ``open()``: the default background cleanup builds a
Java ``Duration`` through the Py4J gateway, which only the client has (FLINK-40628). The detector's
``_ttl`` configures cleanup explicitly for this reason; the standalone-cluster test proves the cluster
catches the bug class by running this job and expecting that failure.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

from pyflink.common import Configuration, Time, Types
from pyflink.datastream import KeyedProcessFunction, RuntimeContext, StreamExecutionEnvironment
from pyflink.datastream.state import StateTtlConfig, ValueStateDescriptor


class DefaultTtlCounter(KeyedProcessFunction):  # type: ignore[misc]
    """Counts per key in a ValueState whose TTL uses PyFlink's default cleanup settings."""

    def open(self, runtime_context: RuntimeContext) -> None:
        desc = ValueStateDescriptor("count", Types.LONG())
        desc.enable_time_to_live(StateTtlConfig.new_builder(Time.days(1)).build())
        self.count = runtime_context.get_state(desc)

    def process_element(self, value: Any, ctx: Any) -> Iterator[Any]:
        current = (self.count.value() or 0) + 1
        self.count.update(current)
        yield value[0], current


def main(job_name: str) -> None:
    conf = Configuration()
    conf.set_string("python.execution-mode", "thread")
    conf.set_string("state.backend.type", "rocksdb")
    conf.set_string("restart-strategy.type", "none")  # fail once, visibly, instead of restarting
    env = StreamExecutionEnvironment.get_execution_environment(conf)
    env.set_parallelism(1)
    source = env.from_collection([("a", 1), ("b", 2)], Types.TUPLE([Types.STRING(), Types.INT()]))
    source.key_by(lambda v: v[0], Types.STRING()).process(DefaultTtlCounter()).print()
    env.execute_async(job_name)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "default-ttl-probe")
