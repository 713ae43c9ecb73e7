"""Feed health from the poller's state file: which feeds fail, which have gone quiet.

Read by `akhbar status`, the status page and the `akhbar_feeds` gauge, always
through a read-only connection: the poller owns the file. A feed is

* `failing` when its last poll failed (its error streak is above 0);
* `quiet` when polls work but no new item came for QUIET_FACTOR times its usual
  gap between items (from its publishing rate), or for longer than the poller
  remembers entries (a feed that gave entries once and none for 30 days);
* `ok` otherwise.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

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


def read_feed_health(path: Path, now: float | None = None) -> list[FeedHealth]:
    """Every feed in the state file, failing first, then quiet, then ok.

    Raises sqlite3.Error when the file is missing or unreadable.
    """
    now = time.time() if now is None else now
    if not path.exists():
        raise sqlite3.OperationalError(f"no feed state at {path}")
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=READ_TIMEOUT_S)
    db.row_factory = sqlite3.Row
    try:
        last_items = dict(
            db.execute("SELECT feed, MAX(seen_at) FROM seen_entries GROUP BY feed").fetchall()
        )
        pages: dict[str, dict[str, int]] = {}
        last_page: dict[str, tuple[float, str]] = {}
        for row in db.execute("SELECT feed, kind, count, last_reason, last_at FROM page_errors"):
            pages.setdefault(row["feed"], {})[row["kind"]] = row["count"]
            if row["last_at"] > last_page.get(row["feed"], (0.0, ""))[0]:
                last_page[row["feed"]] = (row["last_at"], row["last_reason"])
        feeds = [
            _health(row, last_items.get(row["url"]), now)
            for row in db.execute("SELECT * FROM feeds")
        ]
    finally:
        db.close()
    for feed in feeds:
        feed.page_errors = pages.get(feed.url, {})
        feed.last_page_error = last_page.get(feed.url, (0.0, None))[1]
    order = {state: i for i, state in enumerate(("failing", "quiet", "ok"))}
    return sorted(feeds, key=lambda f: (order[f.state], -f.error_streak, f.url))


def _health(row: sqlite3.Row, last_item: float | None, now: float) -> FeedHealth:
    feed = FeedHealth(
        url=row["url"],
        name=row["name"] or "",
        state="ok",
        error_streak=int(row["error_streak"] or 0),
        last_error=row["last_error"],
        last_error_kind=row["last_error_kind"],
        last_success=row["last_success"],
        last_poll=row["last_poll"],
        last_item=last_item,
        items_per_day=float(row["items_per_day"] or 0.0),
    )
    if feed.error_streak > 0:
        feed.state = "failing"
    elif is_quiet(feed, int(row["entries"] or 0), row["interval_s"], now):
        feed.state = "quiet"
    return feed


def is_quiet(feed: FeedHealth, entries: int, interval_s: float | None, now: float) -> bool:
    """No new item for QUIET_FACTOR times the feed's usual gap (or poll interval, if longer)."""
    if feed.last_item is None:
        # It gave entries once, and the poller has forgotten them all: 30 days of nothing.
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
    """The `akhbar_feeds{state}` gauge, read from the state file when scraped (cached)."""

    def __init__(self, path: Path) -> None:
        self._path = path
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
                counts = count_by_state(read_feed_health(self._path))
            except sqlite3.Error:
                return None  # the poller has not written its state yet
            self._cached = (now, counts)
            return counts
