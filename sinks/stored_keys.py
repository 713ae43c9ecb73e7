"""The articles the JSON Lines sink has stored, so an article redelivered upstream is dropped.

An article is known by its id and its processor stamps: the same article
re-produced by a stage that crashed has the same key and is not written again,
while a reprocessing by a newer version of a processor has other stamps and is.

The keys (a digest of id and stamps) live in one SQLite table in the sink's
state directory, each with the record (topic, partition, offset) that stored it
and when. The sink inserts a flush's keys after its lines are fsynced and before
its checkpoint; when it reads a partition's checkpoint back it forgets the keys
above the checkpointed offset, whose lines were cut from the open files. So
after a crash at any point the table and the files agree: no article lost, none
kept twice.
"""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from akhbar.article import Article
from akhbar.bus import TopicPartition

FILE_NAME = "stored-articles.sqlite3"
# Other processes of the consumer group may hold the table's write lock for the
# length of one flush; wait that long rather than fail.
BUSY_TIMEOUT_S = 30.0
# Keys per lookup query: far below SQLite's limit on parameters (32,766), and
# large enough that a flush of 20,000 articles takes a few dozen queries.
LOOKUP_CHUNK = 500
# Page cache of the table, in KiB. Keys are digests, so each insert and lookup
# lands on a random page: with SQLite's default 2 MB, a table of two million keys
# (a month of a large feed set) made the sink read pages from disk for most of
# them and run at less than half its speed.
CACHE_KIB = 64 * 1024

SCHEMA = """
CREATE TABLE IF NOT EXISTS stored (
    key BLOB PRIMARY KEY,
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    record_offset INTEGER NOT NULL,
    stored_at REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS stored_by_record ON stored (topic, partition, record_offset);
CREATE INDEX IF NOT EXISTS stored_by_time ON stored (stored_at);
"""

# Bytes of an article's key: a digest of its id and stamps. Secondary indexes
# repeat the key, so a short one keeps each flush's inserts cheap; at 128 bits
# two articles sharing a key is not a practical concern.
KEY_BYTES = 16

# One stored article: its key, and the offset of the record it came in.
Key = bytes
StoredKey = tuple[bytes, int]


def article_key(article: Article) -> Key:
    """A digest of the article's id and its processor stamps (name/version) in order."""
    stamps = " ".join(f"{s.name}/{s.version}" for s in article.processors)
    return hashlib.blake2b(f"{article.id} {stamps}".encode(), digest_size=KEY_BYTES).digest()


class StoredArticles:
    """The keys of the articles in a sink directory; made by JsonlSink when it starts.

    Calls come under the sink's lock, from its consumer thread and its timer. A
    failure of SQLite (a full disk, a corrupt file) raises sqlite3.Error, which the
    sink turns into SinkUnavailable for the flush, so the runner tries again.
    """

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / FILE_NAME
        self._conn = sqlite3.connect(
            self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
        self._conn.execute("PRAGMA journal_mode=WAL")
        # FULL: the keys must be on disk before the checkpoint that counts on them.
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        self._conn.executescript(SCHEMA)

    def known(self, keys: Sequence[Key]) -> set[Key]:
        """Those of `keys` already stored; one query per LOOKUP_CHUNK keys, not one per key."""
        ordered = sorted(set(keys))
        found: set[Key] = set()
        for start in range(0, len(ordered), LOOKUP_CHUNK):
            chunk = ordered[start : start + LOOKUP_CHUNK]
            rows = self._conn.execute(
                f"SELECT key FROM stored WHERE key IN ({', '.join('?' * len(chunk))})", chunk
            )
            found.update(key for (key,) in rows)
        return found

    def add(self, tp: TopicPartition, keys: Sequence[StoredKey]) -> None:
        """Record the keys of lines now fsynced in the partition's open files, durably."""
        now = time.time()
        with self._transaction():
            self._conn.executemany(
                "INSERT OR IGNORE INTO stored VALUES (?, ?, ?, ?, ?)",
                # In key order, so consecutive inserts land on the same B-tree pages.
                [(key, tp[0], tp[1], offset, now) for key, offset in sorted(keys)],
            )

    def forget_above(self, tp: TopicPartition, offset: int) -> int:
        """Forget the keys stored from records after `offset`: their lines are not in the files."""
        with self._transaction():
            cursor = self._conn.execute(
                "DELETE FROM stored WHERE topic = ? AND partition = ? AND record_offset > ?",
                (tp[0], tp[1], offset),
            )
        return cursor.rowcount

    def forget_older_than(self, seconds: float) -> int:
        """Forget the keys stored more than `seconds` ago; returns how many."""
        with self._transaction():
            cursor = self._conn.execute(
                "DELETE FROM stored WHERE stored_at < ?", (time.time() - seconds,)
            )
        return cursor.rowcount

    def count(self) -> int:
        return int(self._conn.execute("SELECT count(*) FROM stored").fetchone()[0])

    def close(self) -> None:
        self._conn.close()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK when the block raises."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")
