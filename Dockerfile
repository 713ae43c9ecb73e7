# One image for every Akhbar stage; docker-compose.yml picks the stage by command.
FROM python:3.11-slim AS build
ENV UV_NO_CACHE=1
RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /src
COPY requirements.lock pyproject.toml README.md ./
RUN uv venv /opt/akhbar && uv pip sync --python /opt/akhbar/bin/python --require-hashes requirements.lock
COPY akhbar ./akhbar
COPY ingest ./ingest
COPY processors ./processors
COPY sinks ./sinks
RUN uv pip install --python /opt/akhbar/bin/python --no-deps .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 akhbar && mkdir /data && chown akhbar /data
COPY --from=build /opt/akhbar /opt/akhbar
# The shipped feed list, for the poller and fetch services; mount another over it.
COPY ingest/default_feeds.yaml /etc/akhbar/feeds.yaml
COPY deploy/docker/healthcheck.py /opt/akhbar/healthcheck.py
# Metrics and health on every interface of the container: Prometheus scrapes it
# over the compose network (the settings' default is loopback only).
ENV PATH=/opt/akhbar/bin:$PATH PYTHONUNBUFFERED=1 AKHBAR_METRICS__ADDRESS=0.0.0.0:9464
EXPOSE 9464
USER akhbar
WORKDIR /data
VOLUME ["/data"]
# start-period: the enrich stage loads its entity model before it answers.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["/usr/local/bin/python", "/opt/akhbar/healthcheck.py"]
ENTRYPOINT ["akhbar"]
CMD ["--help"]
