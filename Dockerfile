# syncd runtime image (finished by the deployment issue; kept simple and conventional).
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY syncd ./syncd
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home /var/lib/syncd syncd && mkdir -p /var/lib/syncd && chown syncd /var/lib/syncd
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels \
    && python -c "import shutil, syncd, pathlib; shutil.rmtree(pathlib.Path(syncd.__file__).parent / 'testing')"
USER syncd
WORKDIR /var/lib/syncd
VOLUME ["/var/lib/syncd"]
ENV SYNCD_CONFIG=/etc/syncd/syncd.toml SYNCD_LEDGER__URL=sqlite:////var/lib/syncd/syncd.db
ENTRYPOINT ["syncd"]
CMD ["reconcile"]
