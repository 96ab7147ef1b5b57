"""The Flink operator stand-in lives in the package so the local demo can use it too."""

from fraud_operator.devstack.standins.flink_operator import flink_error, write_flink_operator_status

__all__ = ["flink_error", "write_flink_operator_status"]
