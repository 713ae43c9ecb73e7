"""Prometheus metrics for the stages of one process.

One Metrics object per process holds its own registry (no module globals), is
handed to every runner, and can serve `/metrics` on a configured address.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

# Steps range from microseconds (pass-through) to seconds (fetching a page).
STEP_BUCKETS = (0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 120)


class Metrics:
    """Counters and histograms labelled by stage."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
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
            "Messages a step dropped on purpose",
            labels,
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

    def serve(self, address: str) -> None:
        """Serve /metrics on host:port in a background thread."""
        host, _, port = address.rpartition(":")
        start_http_server(int(port), addr=host or "127.0.0.1", registry=self.registry)

    def for_stage(self, stage: str) -> StageMetrics:
        return StageMetrics(self, stage)


class StageMetrics:
    """One stage's series, looked up once: `labels()` costs more than the increment."""

    def __init__(self, metrics: Metrics, stage: str) -> None:
        self._metrics = metrics
        self._stage = stage
        self.messages_in = metrics.messages_in.labels(stage)
        self.messages_out = metrics.messages_out.labels(stage)
        self.dropped = metrics.dropped.labels(stage)
        self.retries = metrics.retries.labels(stage)
        self.commits = metrics.commits.labels(stage)
        self.flush_failures = metrics.flush_failures.labels(stage)
        self.step_seconds = metrics.step_seconds.labels(stage)

    def dead_lettered(self, reason: str) -> Any:
        return self._metrics.dead_lettered.labels(self._stage, reason)
