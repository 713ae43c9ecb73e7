"""Settings: one typed object, read once at start-up and passed down.

Sources, lowest priority first: the defaults here, a YAML file (`--config FILE`
or `AKHBAR_CONFIG`), then environment variables `AKHBAR_<SECTION>__<KEY>`, for
example `AKHBAR_BUS__KAFKA__BOOTSTRAP_SERVERS=broker:9092`.

A key that does not exist is an error, never a silent default: a typo in a
deployment must stop it at start-up, with the key named.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from akhbar.errors import ConfigError

ENV_PREFIX = "AKHBAR_"
ENV_NESTED_DELIMITER = "__"
# Variables under these prefixes belong to the test suite and the service
# scripts, not to the settings.
ENV_NOT_SETTINGS = ("AKHBAR_TEST_", "AKHBAR_SERVICES_", "AKHBAR_CONFIG")


class Section(BaseModel):
    """A group of settings; unknown keys are errors."""

    model_config = ConfigDict(extra="forbid")


class KafkaSettings(Section):
    # NoDecode: the environment gives `host:port,host:port`, not JSON.
    bootstrap_servers: Annotated[list[str], NoDecode] = Field(min_length=1)
    client_id: str = "akhbar"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None
    # A cleaned article with its page text stays far below this; the cap keeps
    # one hostile page from blocking a partition.
    max_message_bytes: int = 4 * 1024 * 1024
    linger_ms: int = 5
    batch_size: int = 256 * 1024
    compression: Literal["gzip", "lz4", "zstd", "snappy"] | None = None
    fetch_max_bytes: int = 32 * 1024 * 1024
    # The runner bounds the time of one message (runner.step_timeout_s) well below this.
    max_poll_interval_ms: int = 300_000
    # How long a crashed member keeps its partitions before the group moves them.
    session_timeout_ms: int = Field(default=30_000, ge=6_000)

    @field_validator("bootstrap_servers", mode="before")
    @classmethod
    def split_servers(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [server.strip() for server in value.split(",") if server.strip()]
        return value


class BusSettings(Section):
    backend: Literal["auto", "embedded", "kafka"] = "auto"
    kafka: KafkaSettings | None = None
    embedded_path: Path = Path("data/bus.sqlite3")
    # FULL syncs every transaction to disk; NORMAL survives a process crash but
    # not a power cut, for about twice the write speed.
    embedded_synchronous: Literal["FULL", "NORMAL"] = "FULL"
    partitions: int = Field(default=3, ge=1)
    replication_factor: int = Field(default=1, ge=1)
    retention_hours: float = Field(default=7 * 24, gt=0)
    topic_prefix: str = ""

    @property
    def resolved_backend(self) -> Literal["embedded", "kafka"]:
        if self.backend == "auto":
            return "kafka" if self.kafka is not None else "embedded"
        if self.backend == "kafka" and self.kafka is None:
            raise ConfigError("bus.backend is kafka but bus.kafka.bootstrap_servers is not set")
        return self.backend


class RunnerSettings(Section):
    # Outputs are flushed and offsets committed this often: the window of work a
    # crash can make the pipeline repeat.
    commit_interval_s: float = Field(default=1.0, gt=0)
    max_batch: int = Field(default=500, ge=1)
    poll_timeout_s: float = Field(default=0.2, gt=0)
    step_retries: int = Field(default=5, ge=0)
    retry_backoff_initial_s: float = Field(default=0.2, gt=0)
    retry_backoff_max_s: float = Field(default=30.0, gt=0)
    # A message whose step takes longer is dead-lettered, so one slow page cannot
    # hold its partition past Kafka's max poll interval. None: no bound.
    step_timeout_s: float | None = Field(default=120.0, gt=0)
    shutdown_timeout_s: float = Field(default=30.0, gt=0)


class ArchiveSettings(Section):
    """JSON Lines files of articles to import (one object per line, `url` required)."""

    paths: list[Path] = Field(default_factory=list)
    state_path: Path = Path("data/archive-state.json")


class JsonlSinkSettings(Section):
    enabled: bool = True
    dir: Path = Path("data/articles")
    # Files are filed under the article's publication date (fetch date when it has
    # none), or under the date it was fetched.
    partition_by: Literal["published", "fetched"] = "published"
    # A file is closed (and becomes visible to readers) at this size or age,
    # whichever comes first; age bounds how stale the visible files can be.
    rotate_bytes: int = Field(default=64 * 1024 * 1024, ge=1)
    rotate_age_s: float = Field(default=60.0, gt=0)
    gzip: bool = False
    # An article (id and processor stamps) stored this recently is not written
    # again when an upstream stage redelivers it; older keys are forgotten so the
    # table of stored keys stays bounded.
    dedupe_window_days: float = Field(default=30.0, gt=0)


class SearchSinkSettings(Section):
    enabled: bool = False
    # NoDecode: the environment gives `https://a:9200,https://b:9200`, not JSON.
    hosts: Annotated[list[str], NoDecode] = Field(default=["http://127.0.0.1:9200"], min_length=1)
    index_prefix: str = "akhbar"
    api_key: SecretStr | None = None
    username: str | None = None
    password: SecretStr | None = None
    ca_certs: Path | None = None
    verify_certs: bool = True
    request_timeout_s: float = Field(default=30.0, gt=0)
    # One bulk request holds at most this many articles or bytes; the engines
    # advise bulk bodies of a few MB.
    bulk_max_docs: int = Field(default=1000, ge=1)
    bulk_max_bytes: int = Field(default=8 * 1024 * 1024, ge=1)
    # A partly filled batch is sent after this long, even between commits.
    bulk_max_age_s: float = Field(default=1.0, gt=0)

    @field_validator("hosts", mode="before")
    @classmethod
    def split_hosts(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [host.strip() for host in value.split(",") if host.strip()]
        return value


class SinkSettings(Section):
    jsonl: JsonlSinkSettings = Field(default_factory=JsonlSinkSettings)
    search: SearchSinkSettings = Field(default_factory=SearchSinkSettings)


class LogSettings(Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["json", "console"] = "json"


class IngestSettings(Section):
    """Feed polling and page fetching (the poller and fetch stages run only with a feed list)."""

    feeds: Path | None = None  # YAML or OPML feed list
    # The fetch stage's page errors per feed (feed state itself is the feeds.state topic).
    state_path: Path = Path("data/feeds.sqlite3")
    # Hosts fetched even though they resolve to private or loopback addresses.
    allow_hosts: list[str] = Field(default_factory=list)
    user_agent: str | None = None  # None: Akhbar's own, with its contact URL
    obey_robots: bool = False
    # Requests to one host at least this far apart: page fetches, and feed polls too.
    host_spacing_s: float = Field(default=1.0, ge=0)
    # Bound on one page fetch or one feed poll, redirects included: slow-drip servers
    # never time out a read.
    page_timeout_s: float = Field(default=45.0, gt=0)
    # Feed polls in flight to one host at once: outlets throttle crawlers.
    poll_max_per_host: int = Field(default=4, ge=1)
    # Pages fetched at once by one fetch stage process, in all and from one host.
    fetch_concurrency: int = Field(default=8, ge=1)
    fetch_max_per_host: int = Field(default=2, ge=1)
    # Worker processes that clean pages beside the fetching (0: in the fetch threads,
    # the faster on benchmarks/ingest_throughput.py with 2 cores), and how long one
    # page's extraction may run in a worker before the workers are restarted.
    clean_processes: int = Field(default=0, ge=0)
    clean_timeout_s: float = Field(default=30.0, gt=0)
    # An article cleaned this recently is not fetched again when another feed (or a
    # repeated poll) discovers it; older ids are forgotten so the table stays bounded.
    dedupe_window_days: float = Field(default=7.0, gt=0)


class MetricsSettings(Section):
    # host:port for /metrics; loopback by default so nothing is exposed by accident.
    address: str | None = None
    # The status page shows this many of the latest stored articles (kept in memory).
    recent_articles: int = Field(default=50, ge=1, le=10_000)


class EnrichSettings(Section):
    """The extraction stage: where story fingerprints are kept, and for how long."""

    stories_path: Path = Path("data/stories.sqlite")
    # Copies and follow-ups of a story appear within days; older articles are forgotten.
    story_window_hours: float = Field(default=72.0, gt=0)


class Settings(BaseSettings):
    """Everything Akhbar can be told; see the module docstring for the sources."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=ENV_NESTED_DELIMITER,
        extra="forbid",
        case_sensitive=False,
    )

    bus: BusSettings = Field(default_factory=BusSettings)
    runner: RunnerSettings = Field(default_factory=RunnerSettings)
    archive: ArchiveSettings = Field(default_factory=ArchiveSettings)
    sinks: SinkSettings = Field(default_factory=SinkSettings)
    log: LogSettings = Field(default_factory=LogSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    enrich: EnrichSettings = Field(default_factory=EnrichSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The YAML file arrives as init arguments; the environment overrides it.
        return env_settings, init_settings

    def masked(self) -> dict[str, Any]:
        """The settings as plain data, secrets replaced by '**********'."""
        return self.model_dump(mode="json")


def load_settings(path: Path | None = None) -> Settings:
    """Read the YAML file (if any) and the environment; ConfigError names what is wrong."""
    if path is None and os.environ.get("AKHBAR_CONFIG"):
        path = Path(os.environ["AKHBAR_CONFIG"])
    values = _read_yaml(path) if path else {}
    for name in os.environ:
        _check_env_name(name)
    try:
        return Settings(**values)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, path)) from exc
    except SettingsError as exc:
        cause = f": {exc.__cause__}" if exc.__cause__ else ""
        raise ConfigError(f"invalid settings in environment: {exc}{cause}") from exc


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read settings file {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"settings file {path} is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"settings file {path} must hold a mapping, not {type(data).__name__}")
    return data


def _check_env_name(name: str) -> None:
    """Raise ConfigError when an AKHBAR_ variable names no setting.

    pydantic-settings ignores variables that match no field, which would turn
    `AKHBAR_BUS__BAKEND=kafka` into a silent default.
    """
    upper = name.upper()
    if not upper.startswith(ENV_PREFIX) or upper.startswith(ENV_NOT_SETTINGS):
        return
    model: Any = Settings
    for part in upper[len(ENV_PREFIX) :].lower().split(ENV_NESTED_DELIMITER):
        fields = getattr(model, "model_fields", None)
        if fields is None:
            break  # a JSON value for a whole section or list
        if part not in fields:
            raise ConfigError(
                f"unknown setting in environment: {name} "
                f"({part!r} is not one of: {', '.join(sorted(fields))})"
            )
        model = _section_type(fields[part].annotation)


def _section_type(annotation: Any) -> Any:
    """The Section class inside an annotation such as `KafkaSettings | None`, if any."""
    candidates = getattr(annotation, "__args__", (annotation,))
    return next((c for c in candidates if isinstance(c, type) and issubclass(c, Section)), None)


def _describe(exc: ValidationError, path: Path | None) -> str:
    where = f" (from {path} and the environment)" if path else ""
    problems = []
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"])
        if error["type"] == "extra_forbidden":
            problems.append(f"unknown key {key!r}")
        else:
            problems.append(f"{key}: {error['msg']} (got {error.get('input')!r})")
    return f"invalid settings{where}: " + "; ".join(problems)
