# nowrec container image: one image for the API (the default command), the Kafka consumer
# (`python -m serving.consumer`) and the batch pipeline (`python -m pipelines train ...`, the
# training CronJob). Build from the repository root:
#
#   docker build -t REGISTRY/nowrec:0.1.0 .
#
# Two stages: the builder compiles what has no wheel (hnswlib is published as a source
# distribution only) into a virtual environment; the runtime stage copies that environment onto
# the same slim base, without compilers, headers or pip caches. Models and data sets are never
# part of the image: bundles come from the artifacts volume (NOWREC_ARTIFACTS) at run time.

# The base, pinned by tag and by digest (the multi-platform index of 3.13.15-slim-bookworm), so a
# rebuild gets the same bytes; bump both together. Override for a mirror with
# --build-arg PYTHON_IMAGE=mirror.example/library/python:3.13.15-slim-bookworm@sha256:...
ARG PYTHON_IMAGE=python:3.13.15-slim-bookworm@sha256:2325bb286ec344af3e5898cc224b5844e2707ac6e26b1632516fd3edc84a5e26

# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder

# HNSWLIB_NO_NATIVE: hnswlib's build otherwise adds -march=native, and a wheel built for the
# build machine's CPU dies with SIGILL on a node without the same instruction set.
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    HNSWLIB_NO_NATIVE=1

RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*

RUN python -m venv /opt/nowrec
ENV PATH=/opt/nowrec/bin:$PATH
WORKDIR /src

# The pinned dependencies of pyproject.toml first, in their own layer: a code change does not
# rebuild them. (README.md is read by the package metadata.)
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > requirements.txt \
    && pip install --requirement requirements.txt

# Then the project itself (not editable: the runtime stage has no source tree). pip compiles
# the .pyc files here, so the read-only runtime never needs to write them. The import check
# runs with -P: the installed packages, not the source tree in the working directory.
COPY engine ./engine
COPY pipelines ./pipelines
COPY serving ./serving
RUN pip install --no-deps . \
    && pip check \
    && python -P -c "import hnswlib, numba, serving.app, pipelines.cli"

# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="nowrec" \
      org.opencontainers.image.description="Session-based real-time product recommendations: API, Kafka consumer and batch pipeline" \
      org.opencontainers.image.licenses="Apache-2.0"

# NOWREC_HOST / NOWREC_CONSUMER_METRICS_HOST: listen on every interface inside the container
# (the settings default to loopback for workstations). NUMBA_CACHE_DIR: numba caches compiled
# kernels beside the source by default, which is read-only here; /tmp is writable (an emptyDir
# in Kubernetes). OMP/OpenBLAS: one thread, one core per API pod (scale with pods).
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/nowrec/bin:$PATH \
    NOWREC_HOST=0.0.0.0 \
    NOWREC_PORT=8000 \
    NOWREC_CONSUMER_METRICS_HOST=0.0.0.0 \
    NOWREC_ARTIFACTS=/var/lib/nowrec/artifacts \
    NUMBA_CACHE_DIR=/tmp/numba-cache \
    OMP_NUM_THREADS=1 \
    OPENBLAS_NUM_THREADS=1

# A numeric user: Kubernetes can only verify runAsNonRoot against a numeric USER.
RUN groupadd --system --gid 10001 nowrec \
    && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
       --shell /usr/sbin/nologin nowrec \
    && install -d -o 10001 -g 10001 /var/lib/nowrec /var/lib/nowrec/artifacts

COPY --from=builder /opt/nowrec /opt/nowrec

WORKDIR /var/lib/nowrec
USER 10001:10001

# 8000: the API (NOWREC_PORT); 9100: the API's /metrics when NOWREC_METRICS_PORT moves them off
# the API's port (as the Kubernetes manifests do); 9108: the standalone consumer's /metrics
# (NOWREC_CONSUMER_METRICS_PORT).
EXPOSE 8000 9100 9108

# For `docker run` of the API (Kubernetes ignores HEALTHCHECK and uses the pod's probes).
# The consumer and pipeline commands serve no /healthz: run them with --no-healthcheck.
HEALTHCHECK --interval=30s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('NOWREC_PORT', '8000'), timeout=2)"]

# The API; the consumer Deployment and the training CronJob override the command.
CMD ["python", "-m", "serving"]
