"""The CloudNativePG stand-in lives in the package so the local demo can use it too."""

from fraud_operator.devstack.standins.cnpg import (
    CNPG_HEALTHY_PHASE,
    AppDatabase,
    cnpg_app_database,
    write_cnpg_app_secret,
    write_cnpg_cluster,
    write_cnpg_cluster_not_ready,
    write_cnpg_cluster_ready,
)

__all__ = [
    "CNPG_HEALTHY_PHASE",
    "AppDatabase",
    "cnpg_app_database",
    "write_cnpg_app_secret",
    "write_cnpg_cluster",
    "write_cnpg_cluster_not_ready",
    "write_cnpg_cluster_ready",
]
