# syncd runtime image: `syncd run` as a non-root user, the SQLite ledger (if used) in a volume.
# Build: docker build -t syncd .   Run: see README "Container".

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY syncd ./syncd
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    SYNCD_CONFIG=/etc/syncd/syncd.toml \
    SYNCD_LEDGER__URL=sqlite:////var/lib/syncd/syncd.db \
    SYNCD_DAEMON__LISTEN=0.0.0.0:8787
RUN useradd --system --uid 10001 --home-dir /var/lib/syncd --shell /usr/sbin/nologin syncd \
    && mkdir -p /var/lib/syncd /etc/syncd && chown syncd /var/lib/syncd
COPY --from=build /wheels /wheels
# The simulators (syncd/testing) are for tests and the demo only: not in the image.
RUN pip install /wheels/*.whl && rm -rf /wheels \
    && python -c "import pathlib, shutil, syncd; shutil.rmtree(pathlib.Path(syncd.__file__).parent / 'testing')"
USER syncd
WORKDIR /var/lib/syncd
VOLUME ["/var/lib/syncd"]
EXPOSE 8787
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8787/healthz', timeout=4)"]
STOPSIGNAL SIGTERM
# Exec form: syncd is PID 1 and receives SIGTERM itself (it drains the cycle in flight).
ENTRYPOINT ["syncd"]
CMD ["run"]
