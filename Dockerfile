# Genesys ETL image: the official Spark 4.1 / Java 17 / Python 3 image plus the MongoDB Spark
# Connector, our runtime Python dependencies and the application code.
#
#   docker build -t genesys-etl .
#   docker run --rm --env-file etl.env genesys-etl run
#
# The ENTRYPOINT is spark-submit.sh, so the arguments are the app's (see --help). Secrets come
# from the environment or mounted secret files, never from the command line.

# Runtime base. 4.1.2 is the newest 4.1.x tag we know apache/spark publishes (apache/spark-docker
# has 4.1.0, 4.1.1 and 4.1.2 as scala2.13-java17-python3-ubuntu). Local tests use pyspark 4.1.4
# from PyPI, the same 4.1 line. Use --build-arg SPARK_IMAGE=... for a newer patch release.
ARG SPARK_IMAGE=apache/spark:4.1.2-scala2.13-java17-python3-ubuntu

# ---- Stage 1: resolve the connector and driver jars with the same pom as scripts/setup.sh.
FROM maven:3.9-eclipse-temurin-17 AS jars
WORKDIR /build
COPY scripts/connector/pom.xml pom.xml
RUN mvn -q -B dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory=/build/jars

# ---- Stage 2: the runtime.
FROM ${SPARK_IMAGE} AS runtime

USER root

COPY --from=jars /build/jars/*.jar /opt/spark/jars/

# Python 3.11 for the app (it needs tomllib and datetime.UTC; pyproject says >=3.11), because
# the base image is Ubuntu 22.04 whose python3 is 3.10. Jammy ships python3.11 in universe.
# Driver and executors all run this venv (PYSPARK_PYTHON below), so versions always match.
RUN set -eux; \
    apt-get update; \
    apt-get install -y --no-install-recommends python3.11 python3.11-venv; \
    rm -rf /var/lib/apt/lists/*; \
    python3.11 -m venv /opt/genesys-etl/venv

# Runtime dependencies only (not the test extras). PySpark itself is the image's own
# /opt/spark/python, which spark-submit puts on the path: the pyspark line is dropped here so pip
# never installs a second, possibly different Spark next to it, and the build fails if any
# other package drags one in.
COPY pyproject.toml /tmp/pyproject.toml
RUN set -eux; \
    sed -n '/^dependencies = \[/,/^\]/s/^ *"\([^"]*\)",\{0,1\}$/\1/p' /tmp/pyproject.toml \
      | grep -v '^pyspark' > /tmp/requirements.txt; \
    cat /tmp/requirements.txt; \
    /opt/genesys-etl/venv/bin/pip install --no-cache-dir -r /tmp/requirements.txt; \
    if /opt/genesys-etl/venv/bin/pip show pyspark >/dev/null 2>&1; then \
      echo "a dependency pulled in pyspark; the image's Spark must stay the only one" >&2; \
      exit 1; \
    fi; \
    rm -f /tmp/pyproject.toml /tmp/requirements.txt

WORKDIR /opt/genesys-etl
COPY app/ app/
COPY connectors/ connectors/
COPY jobs/ jobs/
COPY conf/ conf/
COPY spark-submit.sh spark-submit.sh
# Build the --py-files zip now: at run time the non-root user cannot write here.
RUN chmod 0755 spark-submit.sh && ./spark-submit.sh --package

ENV PYSPARK_PYTHON=/opt/genesys-etl/venv/bin/python \
    PYSPARK_DRIVER_PYTHON=/opt/genesys-etl/venv/bin/python \
    SPARK_MASTER=local[2]

# The base image's non-root user (uid 185); checkpoints and scratch go to its work dir.
USER spark
WORKDIR /opt/spark/work-dir
ENTRYPOINT ["/opt/genesys-etl/spark-submit.sh"]
CMD ["run"]
