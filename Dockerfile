# syntax=docker/dockerfile:1
# Two images from one checkout:
#   docker build --target operator -t streamflow-operator .   # `streamflow operator` (kopf), non-root
#   docker build --target job      -t streamflow-job .        # Flink 2.2 + PyFlink + fraud_jobs + connector jars
# Every version below is checked against the project by tests/shipping/test_dockerfile.py: Python against
# pyproject.toml, Flink against the apache-flink pin, the jars against operator/devstack/flink.py.

ARG PYTHON_VERSION=3.11.14
ARG FLINK_VERSION=2.2.1

# ---------------------------------------------------------------- operator: build a venv, copy it alone

FROM python:${PYTHON_VERSION}-slim-bookworm AS operator-build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml README.md ./
COPY .ci/constraints.txt ./constraints.txt
COPY operator ./operator
COPY jobs ./jobs
COPY models ./models
COPY cli ./cli
# Only the operator's extra: no PyFlink, Beam, scikit-learn or matplotlib (tests/shipping checks the list).
RUN /opt/venv/bin/pip install -c constraints.txt '.[operator]'

FROM python:${PYTHON_VERSION}-slim-bookworm AS operator
# A fixed numeric user, so that runAsNonRoot can be verified by the kubelet without /etc/passwd.
RUN useradd --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin streamflow
COPY --from=operator-build /opt/venv /opt/venv
# No .pyc writes: the chart runs this image with a read-only root filesystem.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 10001:10001
# 8080: kopf liveness (GET /healthz), 9090: Prometheus metrics (the defaults of `streamflow operator`).
EXPOSE 8080 9090
ENTRYPOINT ["streamflow", "operator"]
CMD ["--all-namespaces"]

# ---------------------------------------------------------------- job: Python 3.11 built against the Flink base

# The official Flink image has no Python 3.11; building it on the same base keeps glibc and OpenSSL identical,
# and only /opt/python (with PyFlink and fraud_jobs installed) is copied into the final stage.
FROM flink:${FLINK_VERSION}-scala_2.12-java17 AS job-build
ARG PYTHON_VERSION
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# (the official Flink image builds as root and drops to "flink" only in its entrypoint)
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential ca-certificates curl libbz2-dev libffi-dev liblzma-dev libssl-dev xz-utils zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /tmp/python
RUN curl -fsSL "https://www.python.org/ftp/python/${PYTHON_VERSION}/Python-${PYTHON_VERSION}.tar.xz" \
      | tar -xJ --strip-components=1 \
 && ./configure --prefix=/opt/python --with-ensurepip=install \
 && make -j"$(nproc)" \
 && make install \
 && ln -s python3 /opt/python/bin/python \
 && rm -rf /tmp/python /opt/python/lib/python3.*/test
WORKDIR /src
COPY pyproject.toml README.md ./
COPY .ci/constraints.txt ./constraints.txt
COPY operator ./operator
COPY jobs ./jobs
COPY models ./models
COPY cli ./cli
RUN /opt/python/bin/python -m pip install --no-cache-dir --disable-pip-version-check -c constraints.txt '.[job]' \
 && find /opt/python -name __pycache__ -prune -exec rm -rf {} +

# ---------------------------------------------------------------- job: connector jars, resolved by Maven

# Exactly what operator/devstack/flink.py resolves for local runs (FLINK_CONNECTOR_ARTIFACTS and their runtime
# dependencies, less what flink-dist carries), fetched by Maven from its default repository, pinned by sha256.
FROM maven:3.9.11-eclipse-temurin-17 AS jars
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
WORKDIR /jars
RUN set -e; for entry in \
      org.apache.flink:flink-connector-kafka:5.0.0-2.2=6bb63f7b09930d99745325393b481c092b0c26d626e738b7a1fd6fd8d7d4f1da \
      org.apache.flink:flink-connector-jdbc-core:4.0.0-2.0=ccb9691bf1d0f97574ae768e1bef05a39c06d7f7b13996e9d485fbdd69dcbfec \
      org.apache.flink:flink-connector-jdbc-postgres:4.0.0-2.0=b59c29dc65cafe8ae398e69072b9f6022f4a978a09002fd06a05a1a8dd3348d6 \
      org.postgresql:postgresql:42.7.8=2a32a9dcbc42d67a50ad3a0de5efd102c8d2be46720045f2cbd6689f160ab7c7 \
      org.apache.kafka:kafka-clients:4.2.0=bcf39f152c5553c2501a491fc4a73c5b0330741e8eed96a481323b8ee89738af \
      at.yawk.lz4:lz4-java:1.10.1=a58a84c4271e50df4c96ed916ccb7e48a869f8ed9cdcda1ad5d3d4c33b0214a3 \
      org.xerial.snappy:snappy-java:1.1.10.7=4c766cb3f855415ee734b2392949a0b6f12a60879334a74518deaf6270d32e36 \
      com.github.luben:zstd-jni:1.5.6-10=b6c3237e24b8252a5a9c3a0e1ae30ef8f323412e74bd358548b7a9e527d676df \
      org.checkerframework:checker-qual:3.49.5=508c83c62c344f6f7ee28f47b88a8797d6116d043bfd1ca0576c828dd1df2880 \
      org.apache.commons:commons-lang3:3.18.0=4eeeae8d20c078abb64b015ec158add383ac581571cddc45c68f0c9ae0230720 \
      com.fasterxml.jackson.core:jackson-annotations:2.18.2=581bd61000ef7648943f781ca05689e56d03f6052748365a8e2b3a9b5d3fa32f \
      com.fasterxml.jackson.core:jackson-core:2.18.2=d8054ae7c0d1c2d2f55d28e46026ebe5892881f3fab5f439233184381c3b4a1f \
      com.fasterxml.jackson.core:jackson-databind:2.18.2=4b364e6850dc89172fcf1d4dd26b8ff5488eda44ff4657e22dd265203dd5ab3c \
      com.fasterxml.jackson.datatype:jackson-datatype-jdk8:2.18.2=f30d77f5826b9e9813342e84ab412095ed4ed5cf4fef6f93cebb848cb0fd0294 \
      com.fasterxml.jackson.datatype:jackson-datatype-jsr310:2.18.2=e2d202d4606e23aeaf8a5a9632db06f5fefd5b63d251c3f503f9faaa78530e5c \
    ; do \
      coord="${entry%%=*}"; sum="${entry##*=}"; \
      rest="${coord#*:}"; artifact="${rest%%:*}"; version="${rest#*:}"; \
      mvn -B -q org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy \
        -Dartifact="${coord}:jar" -DoutputDirectory=/jars; \
      echo "${sum}  ${artifact}-${version}.jar" | sha256sum -c -; \
    done \
 && rm -rf /root/.m2
# Filesystem plugins for checkpoints and savepoints on object stores, each in its own directory under plugins/
# as Flink loads them (one isolated class loader per plugin). Exactly fraud_operator.api.storage's
# FILESYSTEM_PLUGINS, whose schemes are the storage URIs the FraudPipeline API accepts.
RUN set -e; for entry in \
      s3-fs-presto/org.apache.flink:flink-s3-fs-presto:2.2.0=f5aa119d94e55dff89641649a1bc61f3da172a3b445f425c6866d336a4afc320 \
      gs-fs-hadoop/org.apache.flink:flink-gs-fs-hadoop:2.0.0=4ca31d429762ed55507b29f1f1ddef1639b9aaa9737dba9e79bde300c6b00f34 \
      azure-fs-hadoop/org.apache.flink:flink-azure-fs-hadoop:2.0.0=625c6100dd07c9e6807af0f610d0efc39b9943010ef424cec5f541e2c499c2a1 \
    ; do \
      dir="${entry%%/*}"; rest="${entry#*/}"; coord="${rest%%=*}"; sum="${rest##*=}"; \
      name="${coord#*:}"; artifact="${name%%:*}"; version="${name#*:}"; \
      mvn -B -q org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy \
        -Dartifact="${coord}:jar" -DoutputDirectory="/plugins/${dir}"; \
      echo "${sum}  /plugins/${dir}/${artifact}-${version}.jar" | sha256sum -c -; \
    done \
 && rm -rf /root/.m2

# ---------------------------------------------------------------- job: the detector's Java half

# fraud_jobs.flink.jvm compiles the same sources the same way at first use; in the image it is built once here,
# against the Flink jars of the PyFlink installed above, and the job finds it through STREAMFLOW_DETECTOR_JAR.
FROM maven:3.9.11-eclipse-temurin-17 AS detector-jar
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
WORKDIR /build
COPY --from=job-build /opt/python/lib/python3.11/site-packages/pyflink/lib ./flink/lib
COPY --from=job-build /opt/python/lib/python3.11/site-packages/pyflink/opt ./flink/opt
COPY jobs/flink/java ./java
RUN find java -name '*.java' > sources.txt \
 && javac --release 17 -encoding UTF-8 -Xlint:all,-serial,-processing -Werror -d classes \
      -cp "flink/lib/*:$(ls flink/opt/flink-python-*.jar)" @sources.txt \
 && mkdir /detector && jar cf /detector/streamflow-detector.jar -C classes .

FROM flink:${FLINK_VERSION}-scala_2.12-java17 AS job
COPY --from=job-build /opt/python /opt/python
COPY --from=jars /jars/ /opt/flink/lib/
COPY --from=jars /plugins/ /opt/flink/plugins/
COPY --from=detector-jar /detector/streamflow-detector.jar /opt/streamflow/lib/streamflow-detector.jar
# /opt/streamflow/config: the detector ConfigMap; /opt/streamflow/models: a read-only claim with artifacts;
# /opt/streamflow/model-cache: the https:// artifact cache (the pod template mounts an emptyDir there).
RUN mkdir -p /opt/streamflow/config /opt/streamflow/models /opt/streamflow/model-cache \
 && chown -R 9999:9999 /opt/streamflow/model-cache
# PyFlink's PythonDriver and the Python workers run `python` from PATH.
ENV PATH=/opt/python/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    STREAMFLOW_MODEL_CACHE=/opt/streamflow/model-cache \
    STREAMFLOW_DETECTOR_JAR=/opt/streamflow/lib/streamflow-detector.jar
# The official image's user "flink"; the FlinkDeployment's pod template runs as this uid.
USER 9999:9999
