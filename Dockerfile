# syncd runtime image: `syncd run` as a non-root user, the SQLite ledger (if used) in a volume.
# Build: docker build -t syncd:0.1.0 .   Run: see README "Container".
# Dependencies are exactly requirements.lock (hashes checked; `make lock` regenerates it).
# BASE: any Debian-like image with Python 3.11+ and pip (CI builds on a local one).
ARG BASE=python:3.11-slim

FROM ${BASE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore PIP_BREAK_SYSTEM_PACKAGES=1
WORKDIR /src
COPY requirements.lock ./
# The locked wheels, each checked against its hash; then syncd's own wheel, alone.
RUN python -m pip wheel --require-hashes --no-deps --wheel-dir /wheels/deps -r requirements.lock
COPY pyproject.toml README.md ./
COPY syncd ./syncd
RUN python -m pip wheel --no-deps --wheel-dir /wheels/syncd .

FROM ${BASE}
ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore \
    SYNCD_CONFIG=/etc/syncd/syncd.toml \
    SYNCD_DAEMON__LISTEN=0.0.0.0:8787 \
    CREDENTIALS_DIRECTORY=/run/secrets
# Nothing else is set by environment: the ledger, the stores and their tokens come from the
# mounted config (a SYNCD_* variable would silently beat it). A relative token_file
# ("main-sq") is read from $CREDENTIALS_DIRECTORY, where Docker and compose put secrets.
RUN useradd --system --uid 10001 --home-dir /var/lib/syncd --shell /usr/sbin/nologin syncd \
    && mkdir -p /var/lib/syncd /etc/syncd && chown syncd /var/lib/syncd
WORKDIR /var/lib/syncd
VOLUME ["/var/lib/syncd"]
EXPOSE 8787
# /healthz on the address the configuration listens on (0.0.0.0 and :: are asked on loopback).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "from urllib.request import urlopen; from syncd.config import load_settings; d = load_settings().daemon; h = {'0.0.0.0': '127.0.0.1', '::': '::1'}.get(d.host, d.host); urlopen(f'http://[{h}]:{d.port}/healthz' if ':' in h else f'http://{h}:{d.port}/healthz', timeout=4)"]
STOPSIGNAL SIGTERM
# Exec form: syncd is PID 1 and receives SIGTERM itself (it drains the cycle in flight, up to
# daemon.shutdown_timeout_seconds: give `docker stop`/`docker run` a --stop-timeout above it).
ENTRYPOINT ["syncd"]
CMD ["run"]
# The dependencies first (a layer that changes only with the lock), offline from the wheels
# built above, hashes checked again; then syncd. The simulators (syncd/testing) are for tests
# and the demo only: not in the build context, nor in the image.
COPY --from=build /wheels/deps /wheels/deps
COPY requirements.lock /tmp/requirements.lock
RUN PIP_BREAK_SYSTEM_PACKAGES=1 python -m pip install --no-index --find-links /wheels/deps --require-hashes \
        -r /tmp/requirements.lock \
    && rm -rf /wheels /tmp/requirements.lock
COPY --from=build /wheels/syncd /wheels/syncd
RUN PIP_BREAK_SYSTEM_PACKAGES=1 python -m pip install --no-index --no-deps /wheels/syncd/*.whl && rm -rf /wheels \
    && python -c "import pathlib, shutil, syncd; shutil.rmtree(pathlib.Path(syncd.__file__).parent / 'testing', ignore_errors=True)"
USER syncd
