#!/usr/bin/env bash
# Fetch the third-party CRDs that the cluster tests install, at the releases shared/crds/README.md names.
# Used by the GitHub workflows only: our own CI gets them from the shared directory beside the checkout.
set -euo pipefail
dest="${1:?usage: fetch-upstream-crds.sh DIR}"
mkdir -p "$dest"
raw=https://raw.githubusercontent.com
fetch() { curl -fsSL --retry 3 -o "$dest/$1" "$2"; }
fetch flinkdeployments.flink.apache.org-v1.yml \
  "$raw/apache/flink-kubernetes-operator/release-1.15.0/helm/flink-kubernetes-operator/crds/flinkdeployments.flink.apache.org-v1.yml"
fetch kafkatopics.kafka.strimzi.io.yaml \
  "$raw/strimzi/strimzi-kafka-operator/main/packaging/install/cluster-operator/043-Crd-kafkatopic.yaml"
fetch postgresql.cnpg.io_clusters.yaml \
  "$raw/cloudnative-pg/cloudnative-pg/v1.30.0/config/crd/bases/postgresql.cnpg.io_clusters.yaml"
fetch postgresql.cnpg.io_databases.yaml \
  "$raw/cloudnative-pg/cloudnative-pg/v1.30.0/config/crd/bases/postgresql.cnpg.io_databases.yaml"
ls -l "$dest"
