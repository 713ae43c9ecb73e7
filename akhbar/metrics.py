"""Prometheus metrics for the stages of one process.

One Metrics object per process holds its own registry (no module globals), is
handed to every runner, and is served with the health checks and the status
page by akhbar/observe/server.py. docs/metrics.md lists every name.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    start_http_server,
)

from akhbar.article import Article
from akhbar.bus import TopicPartition

# Steps range from microseconds (pass-through) to seconds (fetching a page).
STEP_BUCKETS = (0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 120)
# From a page fetched a second ago to an archive imported days after it was fetched.
LATENCY_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 6 * 3600, 86_400, 604_800)
# Outlets number in the hundreds; an archive with arbitrary `source` values must
# not grow the registry without bound.
MAX_SOURCE_LABELS = 500
OTHER_SOURCE = "other"
# Reasons a message is dropped on purpose (docs/metrics.md).
DROP_FILTERED = "filtered"
DROP_DUPLICATE = "duplicate"
DROP_REDELIVERED = "redelivered"
# How many stored articles the status page keeps in memory (metrics.recent_articles).
RECENT_ARTICLES = 50
# Entities shown per article on the status page.
SUMMARY_ENTITIES = 12


class Metrics:
    """Counters, histograms and gauges labelled by stage; one per process."""

    def __init__(self) -> None:
        # `*_created` series double the output and no dashboard reads them
        # (a process-wide switch in prometheus-client; setting it again is harmless).
        disable_created_metrics()
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        labels = ["stage"]
        self.messages_in = Counter(
            "akhbar_messages_in", "Messages read from the bus", labels, registry=self.registry
        )
        self.messages_out = Counter(
            "akhbar_messages_out",
            "Articles produced or handed to a sink",
            labels,
            registry=self.registry,
        )
        self.dropped = Counter(
            "akhbar_messages_dropped",
            "Messages let go on purpose, by reason (filtered, duplicate, redelivered)",
            ["stage", "reason"],
            registry=self.registry,
        )
        self.dead_lettered = Counter(
            "akhbar_messages_dead_lettered",
            "Messages sent to a dead-letter topic",
            ["stage", "reason"],
            registry=self.registry,
        )
        self.retries = Counter(
            "akhbar_step_retries",
            "Step attempts that failed and were retried",
            labels,
            registry=self.registry,
        )
        self.commits = Counter(
            "akhbar_commits",
            "Offset commits after a successful flush",
            labels,
            registry=self.registry,
        )
        self.flush_failures = Counter(
            "akhbar_flush_failures",
            "Flushes of outputs that failed (nothing committed)",
            labels,
            registry=self.registry,
        )
        self.step_seconds = Histogram(
            "akhbar_step_seconds",
            "Time one step took",
            labels,
            buckets=STEP_BUCKETS,
            registry=self.registry,
        )
        self.flush_seconds = Histogram(
            "akhbar_flush_seconds",
            "Time one checkpoint took: flush of outputs and dead letters, then commit",
            labels,
            buckets=STEP_BUCKETS,
            registry=self.registry,
        )
        self.latency = Histogram(
            "akhbar_end_to_end_latency_seconds",
            "From the article's fetched_at to the commit after a sink stored it",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.stored_by_source = Counter(
            "akhbar_articles_stored",
            "Articles a sink stored, by source",
            ["stage", "source"],
            registry=self.registry,
        )
        self.lag = Gauge(
            "akhbar_consumer_lag",
            "Messages after the group's committed offset (log end minus committed)",
            ["stage", "topic", "partition"],
            registry=self.registry,
        )
        self.running = Gauge(
            "akhbar_stage_running",
            "1 while the stage's thread runs, 0 once it stopped",
            labels,
            registry=self.registry,
        )
        self.build_info = Gauge(
            "akhbar_build_info",
            "Always 1: the version and the bus backend",
            ["version", "backend"],
            registry=self.registry,
        )
        self.liveness = Liveness()
        self.recent = RecentArticles(RECENT_ARTICLES)

    def serve(self, address: str) -> None:
        """Serve /metrics alone on host:port in a background thread (no health checks)."""
        host, _, port = address.rpartition(":")
        start_http_server(int(port), addr=host or "127.0.0.1", registry=self.registry)

    def for_stage(self, stage: str, sink: bool = False) -> StageMetrics:
        return StageMetrics(self, stage, sink)


class StageMetrics:
    """One stage's series, looked up once: `labels()` costs more than the increment."""

    def __init__(self, metrics: Metrics, stage: str, sink: bool = False) -> None:
        self._metrics = metrics
        self._stage = stage
        self.messages_in = metrics.messages_in.labels(stage)
        self.messages_out = metrics.messages_out.labels(stage)
        self.filtered = metrics.dropped.labels(stage, DROP_FILTERED)
        self.retries = metrics.retries.labels(stage)
        self.commits = metrics.commits.labels(stage)
        self.flush_failures = metrics.flush_failures.labels(stage)
        self.step_seconds = metrics.step_seconds.labels(stage)
        self.flush_seconds = metrics.flush_seconds.labels(stage)
        # End-to-end latency is measured where articles are stored: sink stages only.
        self.latency = metrics.latency.labels(stage) if sink else None
        self.running = metrics.running.labels(stage)
        self._sources: dict[str, Any] = {}
        self._lag: dict[TopicPartition, Any] = {}

    def dead_lettered(self, reason: str) -> Any:
        return self._metrics.dead_lettered.labels(self._stage, reason)

    def dropped(self, reason: str) -> Any:
        return self._metrics.dropped.labels(self._stage, reason)

    def stored(self, source: str | None) -> Any:
        """The stored-articles counter of `source`, created on its first article."""
        name = source or "unknown"
        child = self._sources.get(name)
        if child is None:
            if len(self._sources) >= MAX_SOURCE_LABELS:
                name = OTHER_SOURCE
            child = self._sources[name] = self._metrics.stored_by_source.labels(self._stage, name)
        return child

    def set_lag(self, lag: Mapping[TopicPartition, int]) -> None:
        for tp, messages in lag.items():
            gauge = self._lag.get(tp)
            if gauge is None:
                gauge = self._lag[tp] = self._metrics.lag.labels(self._stage, tp[0], str(tp[1]))
            gauge.set(messages)


@dataclass
class StageLife:
    """What /healthz knows of one stage: its thread, its last loop turn, how it ended."""

    thread: threading.Thread
    last_beat: float
    finished: bool = False
    error: str | None = None


class Liveness:
    """Stage threads of this process, registered by the runners as they start and stop.

    A runner calls `started` from its own thread, `beat` once per turn of its loop
    (not per message), and `finished` when it returns or raises.
    """

    def __init__(self) -> None:
        self._stages: dict[str, StageLife] = {}
        self._lock = threading.Lock()

    def started(self, stage: str) -> None:
        with self._lock:
            self._stages[stage] = StageLife(threading.current_thread(), time.monotonic())

    def beat(self, stage: str) -> None:
        life = self._stages.get(stage)
        if life is not None:
            life.last_beat = time.monotonic()

    def finished(self, stage: str, error: BaseException | None = None) -> None:
        life = self._stages.get(stage)
        if life is not None:
            life.finished = True
            life.error = repr(error) if error is not None else None

    def snapshot(self) -> dict[str, StageLife]:
        with self._lock:
            return dict(self._stages)


class RecentArticles:
    """The latest articles the sinks of this process stored, for the status page.

    Fed by the runner of a sink stage after each commit, so only stored articles
    appear; two sinks storing the same article show it once. Bounded: the oldest
    go first.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        return self._size

    def resize(self, size: int) -> None:
        with self._lock:
            self._size = size
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def add(self, summaries: list[dict[str, Any]]) -> None:
        with self._lock:
            for summary in summaries[-self._size :]:
                self._items.pop(summary["id"], None)
                self._items[summary["id"]] = summary
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def latest(self) -> list[dict[str, Any]]:
        """Newest first."""
        with self._lock:
            return list(reversed(self._items.values()))


def article_summary(article: Article) -> dict[str, Any]:
    """What the status page shows of a stored article: small, plain data, no text."""
    entities: dict[str, str] = {}
    for mention in article.entities or ():
        entities.setdefault(mention.canonical or mention.text, mention.type)
        if len(entities) >= SUMMARY_ENTITIES:
            break
    return {
        "id": article.id,
        "url": article.url,
        "title": article.display_title or article.title or "",
        "source": article.source or "",
        "published_at": article.published_at.isoformat() if article.published_at else None,
        "language": article.language,
        "is_arabic": article.is_arabic,
        "entities": list(entities.items()),
    }
