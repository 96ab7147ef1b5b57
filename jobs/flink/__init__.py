"""The detector as a real PyFlink job: keyed state per terminal and customer, exactly-once Kafka sinks.

:mod:`fraud_jobs.flink.settings` (the config file), :mod:`fraud_jobs.flink.functions` (thin Flink functions
around the pure logic), :mod:`fraud_jobs.flink.topology` (the graph), :mod:`fraud_jobs.flink.cli`
(``streamflow job run``). ``python -m fraud_jobs.detector --config FILE`` is the cluster entry point.
"""

__all__: list[str] = []
