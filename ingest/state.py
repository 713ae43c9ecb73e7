"""What the feed poller remembers across restarts, in one SQLite file ops can read.

Tables (`sqlite3 data/feeds.sqlite3 'select * from feeds'`):

* `feeds`: per feed, the validators (ETag, Last-Modified, body hash), when it is
  polled next, its error streak and last error, last success, items per day;
* `seen_entries`: entry keys already emitted, per feed;
* `seen_articles`: article ids already emitted from any feed (the same story
  in two feeds is emitted once);
* `page_errors`: per feed and kind, how many of its pages failed and why (written
  by the fetch stage when it runs beside the poller, on the same data dir).

The poller writes here only in `commit`, after the bus has flushed what it
emitted, and in one transaction: a crash before it repeats a poll, never loses
an entry. Rows older than the seen window are pruned.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

# Entries older than this are forgotten: feeds list a few days of items, and a
# story that comes back after a month is news again.
SEEN_WINDOW_S = 30 * 24 * 3600

# How long a writer waits for the other connection's transaction to end.
BUSY_TIMEOUT_S = 30.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feeds (
    url TEXT PRIMARY KEY, name TEXT NOT NULL DEFAULT '',
    etag TEXT, last_modified TEXT, body_hash TEXT,
    next_poll REAL NOT NULL DEFAULT 0, interval_s REAL,
    error_streak INTEGER NOT NULL DEFAULT 0, last_error TEXT, last_error_kind TEXT,
    last_success REAL, last_poll REAL, last_status INTEGER,
    items_per_day REAL NOT NULL DEFAULT 0,
    polls INTEGER NOT NULL DEFAULT 0, errors INTEGER NOT NULL DEFAULT 0,
    entries INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS seen_entries (
    feed TEXT NOT NULL, entry_key TEXT NOT NULL, seen_at REAL NOT NULL,
    PRIMARY KEY (feed, entry_key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS page_errors (
    feed TEXT NOT NULL, kind TEXT NOT NULL, count INTEGER NOT NULL,
    last_reason TEXT NOT NULL, last_at REAL NOT NULL,
    PRIMARY KEY (feed, kind)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS seen_articles (
    article_id TEXT PRIMARY KEY, seen_at REAL NOT NULL
) WITHOUT ROWID;
"""


@dataclass
class FeedState:
    """One feed's row in `feeds`."""

    url: str
    name: str = ""
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    next_poll: float = 0.0
    interval_s: float | None = None
    error_streak: int = 0
    last_error: str | None = None
    last_error_kind: str | None = None
    last_success: float | None = None
    last_poll: float | None = None
    last_status: int | None = None
    items_per_day: float = 0.0
    polls: int = 0
    errors: int = 0
    entries: int = 0


_COLUMNS = [f.name for f in fields(FeedState)]


class FeedStateStore:
    """The SQLite file behind the poller. Raises sqlite3 errors as they come: the
    poller cannot work without its memory, and the runner restarts it."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # The poller and the fetch stage write this file from two connections.
        self._db = sqlite3.connect(
            path, check_same_thread=False, isolation_level=None, timeout=BUSY_TIMEOUT_S
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def load(self) -> dict[str, FeedState]:
        rows = self._db.execute(f"SELECT {', '.join(_COLUMNS)} FROM feeds").fetchall()
        return {row[0]: FeedState(*row) for row in rows}

    def seen_entry(self, feed: str, key: str) -> bool:
        query = "SELECT 1 FROM seen_entries WHERE feed = ? AND entry_key = ?"
        return self._db.execute(query, (feed, key)).fetchone() is not None

    def seen_article(self, article_id: str) -> bool:
        query = "SELECT 1 FROM seen_articles WHERE article_id = ?"
        return self._db.execute(query, (article_id,)).fetchone() is not None

    def commit(
        self,
        states: Iterable[FeedState],
        entries: Iterable[tuple[str, str]],
        article_ids: Iterable[str],
    ) -> None:
        """Save feed states and seen marks in one transaction."""
        now = time.time()
        placeholders = ", ".join("?" for _ in _COLUMNS)
        with self._transaction():
            self._db.executemany(
                f"INSERT OR REPLACE INTO feeds ({', '.join(_COLUMNS)}) VALUES ({placeholders})",
                [tuple(asdict(state).values()) for state in states],
            )
            self._db.executemany(
                "INSERT OR IGNORE INTO seen_entries VALUES (?, ?, ?)",
                [(feed, key, now) for feed, key in entries],
            )
            self._db.executemany(
                "INSERT OR IGNORE INTO seen_articles VALUES (?, ?)",
                [(article_id, now) for article_id in article_ids],
            )

    def record_page_error(self, feed: str, kind: str, reason: str) -> None:
        """Count one failed page fetch against its feed, for feed health."""
        with self._transaction():
            self._db.execute(
                "INSERT INTO page_errors VALUES (?, ?, 1, ?, ?) ON CONFLICT (feed, kind) DO "
                "UPDATE SET count = count + 1, last_reason = excluded.last_reason, "
                "last_at = excluded.last_at",
                (feed, kind, reason, time.time()),
            )

    def page_errors(self) -> dict[str, dict[str, int]]:
        """Failed page fetches by feed, then by kind."""
        found: dict[str, dict[str, int]] = {}
        for feed, kind, count in self._db.execute("SELECT feed, kind, count FROM page_errors"):
            found.setdefault(feed, {})[kind] = count
        return found

    def prune(self, window_s: float = SEEN_WINDOW_S) -> None:
        cutoff = time.time() - window_s
        with self._transaction():
            self._db.execute("DELETE FROM seen_entries WHERE seen_at < ?", (cutoff,))
            self._db.execute("DELETE FROM seen_articles WHERE seen_at < ?", (cutoff,))

    def health(self) -> list[dict[str, Any]]:
        """Every feed's row as a dict, worst first (longest error streak)."""
        states = sorted(self.load().values(), key=lambda s: (-s.error_streak, s.url))
        return [asdict(state) for state in states]

    def close(self) -> None:
        self._db.close()

    def _transaction(self) -> Any:
        db = self._db

        class _Tx:
            def __enter__(self) -> None:
                db.execute("BEGIN IMMEDIATE")

            def __exit__(self, exc_type: Any, *_: Any) -> None:
                db.execute("ROLLBACK" if exc_type else "COMMIT")

        return _Tx()
