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
ENV PATH=/opt/akhbar/bin:$PATH PYTHONUNBUFFERED=1
USER akhbar
WORKDIR /data
VOLUME ["/data"]
ENTRYPOINT ["akhbar"]
CMD ["--help"]
