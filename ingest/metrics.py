"""Ingest counters, registered once per Metrics registry (one per process)."""

from __future__ import annotations

import threading
from weakref import WeakKeyDictionary

from prometheus_client import Counter

from akhbar.metrics import Metrics

_BY_REGISTRY: WeakKeyDictionary[Metrics, IngestMetrics] = WeakKeyDictionary()
_LOCK = threading.Lock()


class IngestMetrics:
    """Feed polls by status, poll and page failures by kind, new entries, text sources."""

    def __init__(self, metrics: Metrics) -> None:
        registry = metrics.registry
        self.polls = Counter(
            "akhbar_feed_polls",
            "Feed polls by outcome: HTTP status of a poll that worked, else the error kind",
            ["status"],
            registry=registry,
        )
        self.poll_errors = Counter(
            "akhbar_feed_poll_errors", "Failed feed polls by kind", ["kind"], registry=registry
        )
        self.new_entries = Counter(
            "akhbar_feed_new_entries", "Entries emitted as discovered articles", registry=registry
        )
        self.page_errors = Counter(
            "akhbar_page_fetch_errors", "Failed page fetches by kind", ["kind"], registry=registry
        )
        self.repeats = Counter(
            "akhbar_fetch_repeats",
            "Discovered articles not sent again: their URL was cleaned within the window",
            registry=registry,
        )
        self.cleaned = Counter(
            "akhbar_pages_cleaned",
            "Pages cleaned, by where the text came from (page or feed)",
            ["text_source"],
            registry=registry,
        )

    @classmethod
    def of(cls, metrics: Metrics) -> IngestMetrics:
        """The ingest counters in `metrics`' registry, created on first use."""
        with _LOCK:
            found = _BY_REGISTRY.get(metrics)
            if found is None:
                found = _BY_REGISTRY[metrics] = cls(metrics)
            return found
