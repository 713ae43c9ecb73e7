"""Feed health from the pollers' `feeds.state` table: which feeds fail, which went quiet.

Read by `akhbar status`, the status page and the `akhbar_feeds` gauge from the
compacted state topic every poller publishes to (so one view covers every
poller of a consumer group), plus the fetch stage's page-error file. A feed is

* `failing` when its last poll failed (its error streak is above 0);
* `quiet` when polls work but no new item came for QUIET_FACTOR times its usual
  gap between items (from its publishing rate), or for longer than the poller
  remembers entries (a feed that gave entries once and none since);
* `ok` otherwise.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from akhbar.bus import open_bus
from akhbar.errors import AkhbarError, BusError
from akhbar.topics import Topics

if TYPE_CHECKING:
    from akhbar.config import Settings
    from ingest.state import FeedState

# "Several times their usual interval": one late item is normal, four are not.
QUIET_FACTOR = 4.0
SECONDS_PER_DAY = 86_400.0
# A scrape every few seconds must not re-read a large seen-entries table each time.
GAUGE_CACHE_S = 10.0
# A reader waits this long for the poller's write transaction.
READ_TIMEOUT_S = 5.0
STATES = ("ok", "failing", "quiet")


@dataclass
class FeedHealth:
    """One feed's health, with what ops need to act on it."""

    url: str
    name: str
    state: str
    error_streak: int
    last_error: str | None
    last_error_kind: str | None
    last_success: float | None
    last_poll: float | None
    last_item: float | None
    items_per_day: float
    page_errors: dict[str, int] = field(default_factory=dict)
    last_page_error: str | None = None

    @property
    def label(self) -> str:
        return self.name or self.url


def feed_state_source(settings: Settings) -> str:
    """Where feed health is read from, as ops would name it."""
    return (
        f"{Topics(settings.bus.topic_prefix).feed_state} on the {settings.bus.resolved_backend} bus"
    )


def read_feed_health(settings: Settings, now: float | None = None) -> list[FeedHealth]:
    """Every feed in the `feeds.state` table, failing first, then quiet, then ok.

    Page errors come from the fetch stage's file (`ingest.state_path`) when it
    exists. Raises AkhbarError (BusError) when the table cannot be read,
    ValueError for a state that does not decode, sqlite3.Error for a broken file.
    """
    # ingest builds on the core, not the reverse: imported where it is used.
    from ingest.poller_group import read_table
    from ingest.state import decode_state

    now = time.time() if now is None else now
    topic = Topics(settings.bus.topic_prefix).feed_state
    try:
        bus = open_bus(settings.bus)
        try:
            table = read_table(bus, topic)
        finally:
            bus.close()
    except AkhbarError:
        raise
    except Exception as exc:  # a client library's own error: name the table that failed
        raise BusError(f"could not read {topic}: {type(exc).__name__}: {exc}") from exc
    pages, last_page = read_page_errors(settings.ingest.state_path)
    feeds = [_health(decode_state(raw), now) for raw in table.values()]
    for feed in feeds:
        feed.page_errors = pages.get(feed.url, {})
        feed.last_page_error = last_page.get(feed.url, (0.0, None))[1]
    order = {state: i for i, state in enumerate(("failing", "quiet", "ok"))}
    return sorted(feeds, key=lambda f: (order[f.state], -f.error_streak, f.url))


def read_page_errors(
    path: Path,
) -> tuple[dict[str, dict[str, int]], dict[str, tuple[float, str | None]]]:
    """Failed pages by feed and kind, and each feed's latest reason, read-only."""
    pages: dict[str, dict[str, int]] = {}
    last_page: dict[str, tuple[float, str | None]] = {}
    if not path.exists():
        return pages, last_page
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=READ_TIMEOUT_S)
    db.row_factory = sqlite3.Row
    try:
        for row in db.execute("SELECT feed, kind, count, last_reason, last_at FROM page_errors"):
            pages.setdefault(row["feed"], {})[row["kind"]] = row["count"]
            if row["last_at"] > last_page.get(row["feed"], (0.0, None))[0]:
                last_page[row["feed"]] = (row["last_at"], row["last_reason"])
    finally:
        db.close()
    return pages, last_page


def _health(state: FeedState, now: float) -> FeedHealth:
    feed = FeedHealth(
        url=state.url,
        name=state.name,
        state="ok",
        error_streak=state.error_streak,
        last_error=state.last_error,
        last_error_kind=state.last_error_kind,
        last_success=state.last_success,
        last_poll=state.last_poll,
        last_item=max(state.seen.values(), default=None),
        items_per_day=float(state.items_per_day or 0.0),
    )
    if feed.error_streak > 0:
        feed.state = "failing"
    elif is_quiet(feed, state.entries, state.interval_s, now):
        feed.state = "quiet"
    return feed


def is_quiet(feed: FeedHealth, entries: int, interval_s: float | None, now: float) -> bool:
    """No new item for QUIET_FACTOR times the feed's usual gap (or poll interval, if longer)."""
    if feed.last_item is None:
        # It gave entries once, and the poller has forgotten them all: long quiet.
        return entries > 0
    if feed.items_per_day <= 0:
        return False  # no rate known yet: nothing to compare with
    usual_gap = max(SECONDS_PER_DAY / feed.items_per_day, interval_s or 0.0)
    return now - feed.last_item > QUIET_FACTOR * usual_gap


def count_by_state(feeds: list[FeedHealth]) -> dict[str, int]:
    counts = dict.fromkeys(STATES, 0)
    for feed in feeds:
        counts[feed.state] += 1
    return counts


class FeedHealthCollector(Collector):
    """The `akhbar_feeds{state}` gauge, read from `feeds.state` when scraped (cached)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._cached: tuple[float, dict[str, int]] | None = None

    def collect(self) -> Iterator[GaugeMetricFamily]:
        gauge = GaugeMetricFamily(
            "akhbar_feeds", "Feeds by health state (ok, failing, quiet)", labels=["state"]
        )
        counts = self._counts()
        if counts is not None:
            for state, count in counts.items():
                gauge.add_metric([state], count)
        yield gauge

    def _counts(self) -> dict[str, int] | None:
        with self._lock:
            now = time.monotonic()
            if self._cached is not None and now - self._cached[0] < GAUGE_CACHE_S:
                return self._cached[1]
            try:
                counts = count_by_state(read_feed_health(self._settings))
            except (AkhbarError, ValueError, sqlite3.Error):
                return None  # no poller has written its state yet, or the bus is away
            self._cached = (now, counts)
            return counts
