"""fraud_jobs: the fraud detector's pure logic, wire schemas and offline tools (no pyflink, no kubernetes).

- :mod:`fraud_jobs.schemas`: Transaction v1/v2, FraudAlert, DeadLetterRecord, Label, ControlMessage and the
  never-raising parsers (bytes -> model or DLQ record with a reason).
- :mod:`fraud_jobs.rules` / :mod:`fraud_jobs.config`: rules FR-001..FR-007 as domain objects, their
  combination, DetectorConfig and ``apply_control``.
- :mod:`fraud_jobs.state` / :mod:`fraud_jobs.logic`: one compact bytes value per key and the two keyed
  stages (``terminal_step``, ``customer_step``, ``apply_label_*``) a Flink KeyedProcessFunction calls.
- :mod:`fraud_jobs.scoring`: the Scorer protocol behind FR-006.
- :mod:`fraud_jobs.generator` / :mod:`fraud_jobs.replay`: ``streamflow generate`` and ``streamflow replay``.
- ``fraud_jobs.flink``: the PyFlink wiring (separate owner).
"""
