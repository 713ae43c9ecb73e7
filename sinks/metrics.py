"""Search sink metrics, registered once per Metrics registry (one per process)."""

from __future__ import annotations

import threading
from typing import Any
from weakref import WeakKeyDictionary

from prometheus_client import Counter, Histogram

from akhbar.metrics import STEP_BUCKETS, Metrics

_BY_REGISTRY: WeakKeyDictionary[Metrics, SearchMetrics] = WeakKeyDictionary()
_LOCK = threading.Lock()

# Kinds of bulk errors (docs/metrics.md).
REJECTED = "rejected"
RETRYABLE = "retryable"
UNAVAILABLE = "unavailable"


class SearchMetrics:
    """Bulk send time and bulk errors by kind and the engine's error type."""

    def __init__(self, metrics: Metrics) -> None:
        registry = metrics.registry
        self.bulk_seconds = Histogram(
            "akhbar_search_bulk_seconds",
            "Time one bulk send took",
            buckets=STEP_BUCKETS,
            registry=registry,
        )
        self.bulk_errors = Counter(
            "akhbar_search_bulk_errors",
            "Failed bulk items and requests, by kind (rejected, retryable, unavailable)",
            ["kind", "error_type"],
            registry=registry,
        )

    def error(self, kind: str, error_type: str) -> Any:
        return self.bulk_errors.labels(kind, error_type)

    @classmethod
    def of(cls, metrics: Metrics) -> SearchMetrics:
        """The search counters in `metrics`' registry, created on first use."""
        with _LOCK:
            found = _BY_REGISTRY.get(metrics)
            if found is None:
                found = _BY_REGISTRY[metrics] = cls(metrics)
            return found
