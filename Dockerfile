# Firewatch container image.
#
#   docker build -t firewatch .
#   docker run --rm -v firewatch-data:/data --env-file firewatch.env firewatch migrate
#   docker run -d -p 3000:3000 -v firewatch-data:/data --env-file firewatch.env firewatch
#
# The entrypoint is the `firewatch` command: the default argument is `run`, and any other
# argument is a subcommand (`migrate`, `check-config`, `policy show`, `outbox`).

# The base image of both stages: the official Python image. CI, which reaches no image
# registry, passes a stand-in built from Debian's packages (.ci/docker-check):
#   docker build --build-arg PYTHON_IMAGE=firewatch-ci/python:3.11-bookworm ...
ARG PYTHON_IMAGE=python:3.11-slim

# --- build: install Firewatch and its dependencies into a virtualenv ---------------------
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
# The dependencies first, in a layer of their own that a rebuild reuses until
# pyproject.toml or constraints.txt change. constraints.txt: the versions CI tested
# (storage/sqlite_driver.py builds on SQLAlchemy's and aiosqlite's internals).
COPY pyproject.toml constraints.txt ./
RUN pip install --upgrade pip \
    && python -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies'], sep='\n')" > /tmp/requirements.txt \
    && pip install -c constraints.txt -r /tmp/requirements.txt
# README.md and LICENSE are optional (the wildcards let COPY go on without them).
# bot/emulator/manifest.yaml (the emulator's scopes, for `firewatch demo`) links to manifest.yaml.
COPY README.m[d] LICENS[E] manifest.yaml ./
COPY bot ./bot
COPY storage ./storage
RUN pip install -c constraints.txt . \
    && firewatch --help > /dev/null

# --- runtime: the virtualenv on a clean slim image, as a non-root user -------------------
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="Firewatch" \
      org.opencontainers.image.description="A Slack bot that walks an on-call team through its own incident policy." \
      org.opencontainers.image.licenses="MIT"

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    FIREWATCH_DATA_DIR=/data \
    FIREWATCH_HOST=0.0.0.0 \
    FIREWATCH_PORT=3000

# A fixed numeric uid/gid, so `runAsNonRoot` checks and bind-mount ownership are predictable.
RUN groupadd --system --gid 10001 firewatch \
    && useradd --system --uid 10001 --gid firewatch --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin firewatch \
    && mkdir -p /data /app \
    && chown firewatch:firewatch /data

COPY --from=builder /opt/venv /opt/venv

# An empty working directory: Settings also reads ./.env, so one could be mounted here.
WORKDIR /app
# The SQLite database (the default) lives here; a named volume keeps it across upgrades.
VOLUME ["/data"]
USER 10001:10001

EXPOSE 3000

# /health/live answers as soon as the HTTP server is up, in HTTP and Socket Mode alike.
# The slim image has no curl: Python's urllib does the request (non-2xx raises, exit 1).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health/live' % os.environ.get('FIREWATCH_PORT', '3000'), timeout=4)" || exit 1

# Exec form: firewatch is PID 1 and handles SIGTERM (`docker stop`) by stopping cleanly.
ENTRYPOINT ["firewatch"]
CMD ["run"]
