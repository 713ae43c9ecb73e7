"""What the feed pollers remember: one FeedState per feed, kept in the `feeds.state` table.

`feeds.state` is a compacted topic keyed by feed URL, co-partitioned with the
`feeds` topic (same keys, same partition count), so the poller that holds a
partition of the feed list finds those feeds' state in the same partition of
the state table. Each state says when the feed is polled next, its validators
(ETag, Last-Modified, body hash), its error streak and last error, last
success, items per day, and a window of digests of the entries it has emitted.

A poller publishes a feed's new state only after the bus has flushed the
articles that poll emitted: killed before that, the next owner polls again and
emits those entries again with the same ids (the fetch stage drops repeats);
killed after, it emits none of them twice.

`PageErrorStore` is a small SQLite file the fetch stage writes beside itself:
per feed and kind, how many pages failed and why, for `akhbar feeds health`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
import threading
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

# An entry that has left its feed is remembered this much longer: some feeds
# reorder or re-list recent items, and a story that comes back later is news again.
SEEN_GRACE_S = 3 * 24 * 3600.0
# 12 bytes of SHA-256: collisions among a feed's few hundred entries are out of reach.
DIGEST_BYTES = 12
# How long a writer waits for the other connection's transaction to end.
BUSY_TIMEOUT_S = 30.0


@dataclass
class FeedState:
    """One feed's state, as published to `feeds.state`."""

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
    # Digest of each entry emitted (entry_digest) -> when it was first seen.
    seen: dict[str, float] = field(default_factory=dict)

    def copy(self) -> FeedState:
        """A copy that can be changed without touching this one (seen included)."""
        return FeedState(**{**vars(self), "seen": dict(self.seen)})

    def forget_old_entries(self, listed: set[str], now: float) -> None:
        """Keep the digests the feed still lists, and the others for SEEN_GRACE_S."""
        self.seen = {
            digest: first_seen
            for digest, first_seen in self.seen.items()
            if digest in listed or now - first_seen < SEEN_GRACE_S
        }


_FIELDS = {f.name for f in fields(FeedState)}


def entry_digest(entry_key: str) -> str:
    """A short, stable stand-in for an entry key in the seen window."""
    digest = hashlib.sha256(entry_key.encode()).digest()[:DIGEST_BYTES]
    return base64.b64encode(digest).decode()


def encode_state(state: FeedState) -> bytes:
    """The state's message. Its fields are plain values and one flat dict, so they are
    dumped as they are: dataclasses.asdict deep-copies the seen window first, which
    cost ten times the dump and more than the poll itself."""
    return json.dumps(vars(state), ensure_ascii=False, separators=(",", ":")).encode()


def decode_state(raw: bytes) -> FeedState:
    """A FeedState from its message; fields a newer version added are ignored.

    Raises ValueError (json.JSONDecodeError, TypeError) for a value that is not a state.
    """
    data = json.loads(raw)
    if not isinstance(data, dict) or not isinstance(data.get("url"), str):
        raise ValueError("a feed state is a JSON object with a url")
    return FeedState(**{key: value for key, value in data.items() if key in _FIELDS})


_SCHEMA = """
CREATE TABLE IF NOT EXISTS page_errors (
    feed TEXT NOT NULL, kind TEXT NOT NULL, count INTEGER NOT NULL,
    last_reason TEXT NOT NULL, last_at REAL NOT NULL,
    PRIMARY KEY (feed, kind)
) WITHOUT ROWID;
"""


class PageErrorStore:
    """Failed page fetches per feed, in SQLite. Raises sqlite3 errors as they come:
    losing a health counter is not worth hiding a broken disk."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Fetch stages of one machine write this file from several connections.
        self._db = sqlite3.connect(
            path, check_same_thread=False, isolation_level=None, timeout=BUSY_TIMEOUT_S
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        # The fetch stage's steps run in several threads; one statement at a time.
        self._lock = threading.Lock()

    def record_page_error(self, feed: str, kind: str, reason: str) -> None:
        """Count one failed page fetch against its feed, for feed health."""
        with self._lock:
            self._record(feed, kind, reason)

    def _record(self, feed: str, kind: str, reason: str) -> None:
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

    def close(self) -> None:
        self._db.close()


def health_rows(states: list[FeedState]) -> list[dict[str, Any]]:
    """Every feed's state as a dict, worst first (longest error streak)."""
    ordered = sorted(states, key=lambda s: (-s.error_streak, s.url))
    return [{k: v for k, v in asdict(state).items() if k != "seen"} for state in ordered]
