"""The embedded bus: Kafka's semantics in one SQLite file, for one machine.

Each topic has partitions; a message goes to `crc32(key) % partitions`, so one
key's messages keep their order. Offsets count up per partition. A consumer group
commits the next offset to read per partition, in the same file, and a restarted
consumer starts from there: what was read but not committed comes again.

SQLite in WAL mode lets the stages of one process (or several processes on one
machine) read while one of them writes. A group has one consumer at a time,
guarded by an advisory file lock that the kernel drops when the process dies;
growing past one consumer per group is what the Kafka backend is for.

Topic settings follow Kafka's names. `cleanup.policy=compact` keeps the latest
message per key (older ones and tombstones past the retention time are deleted
by the retention pass) and never deletes the latest by age; `compact,delete`
does both; the default `delete` drops messages past `retention.ms` (else the
bus's retention_hours). A tombstone (value None) is stored as an empty value.
"""

from __future__ import annotations

import fcntl
import itertools
import json
import os
import sqlite3
import threading
import time
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from tenacity import retry, retry_if_exception, stop_after_delay, wait_random

from akhbar.bus import (
    AssignCallback,
    Headers,
    LostCallback,
    Message,
    OffsetRange,
    RevokeCallback,
    StoredMessage,
    TopicConfigs,
    TopicPartition,
)
from akhbar.errors import BusError

if TYPE_CHECKING:
    from akhbar.config import BusSettings

# A writer waits this long for another writer's transaction before giving up;
# long enough for a large batch on a slow disk.
BUSY_TIMEOUT_MS = 30_000
# How often an idle consumer looks for new messages: the added latency when idle.
IDLE_POLL_INTERVAL_S = 0.02
# Old messages are deleted at most this often, by whichever producer flushes.
RETENTION_CHECK_INTERVAL_S = 300.0
# `read_range` fetches this many rows per query: bounded memory for a long range.
READ_RANGE_CHUNK = 500

SCHEMA = """
CREATE TABLE IF NOT EXISTS topics (
    name TEXT PRIMARY KEY,
    partitions INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    "offset" INTEGER NOT NULL,
    key BLOB,
    value BLOB NOT NULL,
    headers TEXT,
    timestamp_ms INTEGER NOT NULL,
    PRIMARY KEY (topic, partition, "offset")
);
CREATE TABLE IF NOT EXISTS topic_configs (
    topic TEXT NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (topic, name)
);
CREATE TABLE IF NOT EXISTS commits (
    grp TEXT NOT NULL,
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    next_offset INTEGER NOT NULL,
    PRIMARY KEY (grp, topic, partition)
);
"""


def connect(path: Path, synchronous: str) -> sqlite3.Connection:
    """A connection in autocommit mode; transactions are opened explicitly."""
    conn = sqlite3.connect(
        path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
    )
    _use_wal(conn)
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    return conn


def _is_locked(error: BaseException) -> bool:
    return isinstance(error, sqlite3.OperationalError) and "locked" in str(error)


# Switching a new file to WAL takes a lock that SQLite does not wait for (the busy
# handler is not called): a process opening the file while another switches it gets
# "database is locked" at once, so stages starting together try the switch again.
@retry(
    retry=retry_if_exception(_is_locked),
    wait=wait_random(0.005, 0.05),
    stop=stop_after_delay(BUSY_TIMEOUT_MS / 1000),
    reraise=True,
)
def _use_wal(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA journal_mode=WAL")


def encode_headers(headers: Headers) -> str | None:
    # latin-1 maps every byte to one code point, so any header value round-trips.
    return json.dumps([[k, v.decode("latin-1")] for k, v in headers]) if headers else None


def decode_headers(raw: str | None) -> Headers:
    return tuple((k, v.encode("latin-1")) for k, v in json.loads(raw)) if raw else ()


class EmbeddedBus:
    """A Bus over one SQLite file; see the module docstring for its semantics."""

    def __init__(self, settings: BusSettings) -> None:
        self.path = settings.embedded_path
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.partitions = settings.partitions
        self.synchronous = settings.embedded_synchronous
        self.retention_s = settings.retention_hours * 3600
        with self._connect() as conn:
            conn.executescript(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        return connect(self.path, self.synchronous)

    def ensure_topics(self, topics: Iterable[str], configs: TopicConfigs | None = None) -> None:
        topics = list(topics)
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            existing = {row[0] for row in conn.execute("SELECT name FROM topics")}
            new = [topic for topic in topics if topic not in existing]
            conn.executemany(
                "INSERT INTO topics(name, partitions) VALUES (?, ?)",
                [(topic, self.partitions) for topic in new],
            )
            conn.executemany(
                "INSERT OR REPLACE INTO topic_configs(topic, name, value) VALUES (?, ?, ?)",
                [
                    (topic, name, value)
                    for topic in new
                    for name, value in (configs or {}).get(topic, {}).items()
                ],
            )
            conn.execute("COMMIT")
        finally:
            conn.close()

    def reader(self, topic: str, partitions: Iterable[int]) -> EmbeddedPartitionReader:
        return EmbeddedPartitionReader(self, topic, partitions)

    def partition_count(self, topic: str) -> int:
        conn = self._connect()
        try:
            row = conn.execute("SELECT partitions FROM topics WHERE name = ?", (topic,)).fetchone()
        finally:
            conn.close()
        if row is None:
            raise BusError(f"topic {topic} does not exist")
        return int(row[0])

    def compact(self) -> None:
        """Apply retention and compaction now; producers do it every few minutes anyway."""
        conn = self._connect()
        try:
            apply_retention(conn, self.retention_s)
        finally:
            conn.close()

    def producer(self) -> EmbeddedProducer:
        return EmbeddedProducer(self)

    def consumer(
        self,
        group: str,
        topics: Sequence[str],
        on_revoke: RevokeCallback | None = None,
        on_assign: AssignCallback | None = None,
        on_lost: LostCallback | None = None,
    ) -> EmbeddedConsumer:
        # A group's partitions never move on one machine, so on_revoke and on_lost never run
        # and on_assign runs once, here, with every partition.
        self.ensure_topics(topics)
        consumer = EmbeddedConsumer(self, group, topics)
        if on_assign is not None:
            on_assign(sorted(consumer.assignment()))
        return consumer

    def list_topics(self) -> list[str]:
        conn = self._connect()
        try:
            return [name for (name,) in conn.execute("SELECT name FROM topics ORDER BY name")]
        finally:
            conn.close()

    def offset_ranges(self, topic: str) -> dict[int, OffsetRange]:
        conn = self._connect()
        try:
            return {
                partition: _offset_range(conn, topic, partition)
                for partition in range(_partition_count(conn, topic))
            }
        finally:
            conn.close()

    def offsets_for_time(self, topic: str, timestamp_ms: int) -> dict[int, int]:
        conn = self._connect()
        try:
            found = {}
            for partition in range(_partition_count(conn, topic)):
                row = conn.execute(
                    'SELECT MIN("offset") FROM messages '
                    "WHERE topic = ? AND partition = ? AND timestamp_ms >= ?",
                    (topic, partition, timestamp_ms),
                ).fetchone()
                found[partition] = (
                    int(row[0]) if row[0] is not None else _offset_range(conn, topic, partition)[1]
                )
            return found
        finally:
            conn.close()

    def read_range(self, topic: str, ranges: Mapping[int, OffsetRange]) -> Iterator[Message]:
        conn = self._connect()
        try:
            _partition_count(conn, topic)
            for partition, (start, stop) in sorted(ranges.items()):
                yield from _read_partition(conn, topic, partition, start, stop)
        finally:
            conn.close()

    def close(self) -> None:
        """Nothing to release: each producer and consumer owns its connection."""


def _partition_count(conn: sqlite3.Connection, topic: str) -> int:
    row = conn.execute("SELECT partitions FROM topics WHERE name = ?", (topic,)).fetchone()
    if row is None:
        raise BusError(f"no topic named {topic!r} on the embedded bus")
    return int(row[0])


def _offset_range(conn: sqlite3.Connection, topic: str, partition: int) -> OffsetRange:
    first, last = conn.execute(
        'SELECT MIN("offset"), MAX("offset") FROM messages WHERE topic = ? AND partition = ?',
        (topic, partition),
    ).fetchone()
    if last is not None:
        return int(first), int(last) + 1
    # Empty, or emptied by retention: the next offset is past anything a group committed.
    row = conn.execute(
        "SELECT MAX(next_offset) FROM commits WHERE topic = ? AND partition = ?",
        (topic, partition),
    ).fetchone()
    end = int(row[0] or 0)
    return end, end


def _read_partition(
    conn: sqlite3.Connection, topic: str, partition: int, start: int, stop: int
) -> Iterator[Message]:
    position = start
    while position < stop:
        rows = conn.execute(
            'SELECT "offset", key, value, headers, timestamp_ms FROM messages '
            'WHERE topic = ? AND partition = ? AND "offset" >= ? AND "offset" < ? '
            'ORDER BY "offset" LIMIT ?',
            (topic, partition, position, stop, READ_RANGE_CHUNK),
        ).fetchall()
        if not rows:
            return
        for offset, key, value, headers, timestamp_ms in rows:
            yield StoredMessage(
                topic, partition, offset, key, value, decode_headers(headers), timestamp_ms
            )
        position = rows[-1][0] + 1


class EmbeddedProducer:
    """Buffers sends in memory and stores them in one transaction per `flush`."""

    def __init__(self, bus: EmbeddedBus) -> None:
        self._bus = bus
        self._conn = bus._connect()
        self._pending: list[tuple[str, bytes | None, bytes, Headers, int]] = []
        self._partitions: dict[str, int] = {}
        self._round_robin = itertools.count()
        self._last_retention = time.monotonic()
        self._lock = threading.Lock()

    def send(
        self, topic: str, value: bytes | None, key: bytes | None = None, headers: Headers = ()
    ) -> None:
        stored = b"" if value is None else value  # a tombstone
        with self._lock:
            self._pending.append((topic, key, stored, headers, int(time.time() * 1000)))

    def flush(self, timeout: float | None = None) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
        if not batch:
            return
        try:
            self._store(batch)
        except sqlite3.Error as exc:
            raise BusError(f"embedded bus could not store {len(batch)} messages: {exc}") from exc
        self._apply_retention()

    def _store(self, batch: list[tuple[str, bytes | None, bytes, Headers, int]]) -> None:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            next_offsets: dict[TopicPartition, int] = {}
            rows = []
            for topic, key, value, headers, timestamp_ms in batch:
                partition = self._partition_for(topic, key)
                tp = (topic, partition)
                if tp not in next_offsets:
                    next_offsets[tp] = self._next_offset(topic, partition)
                offset = next_offsets[tp]
                next_offsets[tp] = offset + 1
                rows.append(
                    (topic, partition, offset, key, value, encode_headers(headers), timestamp_ms)
                )
            conn.executemany(
                'INSERT INTO messages(topic, partition, "offset", key, value, headers, '
                "timestamp_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _next_offset(self, topic: str, partition: int) -> int:
        row = self._conn.execute(
            'SELECT MAX("offset") FROM messages WHERE topic = ? AND partition = ?',
            (topic, partition),
        ).fetchone()
        if row[0] is not None:
            return int(row[0]) + 1
        # Retention may have emptied the partition: never reuse an offset a group committed.
        row = self._conn.execute(
            "SELECT MAX(next_offset) FROM commits WHERE topic = ? AND partition = ?",
            (topic, partition),
        ).fetchone()
        return int(row[0] or 0)

    def _partition_for(self, topic: str, key: bytes | None) -> int:
        partitions = self._partitions.get(topic)
        if partitions is None:
            partitions = self._topic_partitions(topic)
            self._partitions[topic] = partitions
        if key is None:
            return next(self._round_robin) % partitions
        return zlib.crc32(key) % partitions

    def _topic_partitions(self, topic: str) -> int:
        self._conn.execute(
            "INSERT OR IGNORE INTO topics(name, partitions) VALUES (?, ?)",
            (topic, self._bus.partitions),
        )
        row = self._conn.execute("SELECT partitions FROM topics WHERE name = ?", (topic,))
        return int(row.fetchone()[0])

    def _apply_retention(self) -> None:
        """Delete messages older than the retention time, as Kafka's time retention does."""
        now = time.monotonic()
        if now - self._last_retention < RETENTION_CHECK_INTERVAL_S:
            return
        self._last_retention = now
        apply_retention(self._conn, self._bus.retention_s)

    def close(self) -> None:
        self._conn.close()


class EmbeddedConsumer:
    """Reads every partition of its topics for its group (one consumer per group)."""

    def __init__(self, bus: EmbeddedBus, group: str, topics: Sequence[str]) -> None:
        self._group = group
        self._lock_file = _lock_group(bus.path, group)
        self._conn = bus._connect()
        self._assignment = self._partitions_of(topics)
        self._positions: dict[TopicPartition, int] = {}
        self._paused = False
        self.rewind()

    def _partitions_of(self, topics: Sequence[str]) -> list[TopicPartition]:
        assignment = []
        for topic in topics:
            row = self._conn.execute("SELECT partitions FROM topics WHERE name = ?", (topic,))
            assignment += [(topic, p) for p in range(int(row.fetchone()[0]))]
        return assignment

    def rewind(self) -> None:
        committed = dict.fromkeys(self._assignment, 0)
        rows = self._conn.execute(
            "SELECT topic, partition, next_offset FROM commits WHERE grp = ?", (self._group,)
        )
        for topic, partition, next_offset in rows:
            if (topic, partition) in committed:
                committed[(topic, partition)] = int(next_offset)
        self._positions = committed

    def poll(self, timeout: float, max_records: int) -> list[Message]:
        deadline = time.monotonic() + timeout
        while True:
            records = [] if self._paused else self._read(max_records)
            if records or time.monotonic() >= deadline:
                return records
            time.sleep(min(IDLE_POLL_INTERVAL_S, max(0.0, deadline - time.monotonic())))

    def _read(self, max_records: int) -> list[Message]:
        records: list[Message] = []
        for topic, partition in self._assignment:
            if len(records) >= max_records:
                break
            position = self._positions[(topic, partition)]
            rows = self._conn.execute(
                'SELECT "offset", key, value, headers, timestamp_ms FROM messages '
                'WHERE topic = ? AND partition = ? AND "offset" >= ? ORDER BY "offset" LIMIT ?',
                (topic, partition, position, max_records - len(records)),
            ).fetchall()
            for offset, key, value, headers, timestamp_ms in rows:
                records.append(
                    StoredMessage(
                        topic, partition, offset, key, value, decode_headers(headers), timestamp_ms
                    )
                )
            if rows:
                self._positions[(topic, partition)] = rows[-1][0] + 1
        return records

    def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        if not offsets:
            return
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.executemany(
                "INSERT OR REPLACE INTO commits(grp, topic, partition, next_offset) "
                "VALUES (?, ?, ?, ?)",
                [(self._group, t, p, o) for (t, p), o in offsets.items()],
            )
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            raise BusError(f"embedded bus could not commit for {self._group}: {exc}") from exc

    def pause(self) -> None:
        self._paused = True

    def resume(self) -> None:
        self._paused = False

    def at_end(self) -> bool:
        for (topic, partition), position in self._positions.items():
            row = self._conn.execute(
                'SELECT MAX("offset") FROM messages WHERE topic = ? AND partition = ?',
                (topic, partition),
            ).fetchone()
            if row[0] is not None and position <= row[0]:
                return False
        return True

    def lag(self) -> dict[TopicPartition, int]:
        try:
            committed = {
                (topic, partition): int(next_offset)
                for topic, partition, next_offset in self._conn.execute(
                    "SELECT topic, partition, next_offset FROM commits WHERE grp = ?",
                    (self._group,),
                )
            }
            lag = {}
            for topic, partition in self._assignment:
                first, last = self._conn.execute(
                    'SELECT MIN("offset"), MAX("offset") FROM messages '
                    "WHERE topic = ? AND partition = ?",
                    (topic, partition),
                ).fetchone()
                end = 0 if last is None else int(last) + 1
                start = committed.get((topic, partition), 0 if first is None else int(first))
                lag[(topic, partition)] = max(0, end - start)
            return lag
        except sqlite3.Error as exc:
            raise BusError(f"embedded bus could not read offsets for {self._group}: {exc}") from exc

    def assignment(self) -> set[TopicPartition]:
        return set(self._assignment)

    def close(self) -> None:
        self._conn.close()
        self._lock_file.close()


class EmbeddedPartitionReader:
    """Reads chosen partitions of a topic from their start; see PartitionReader."""

    def __init__(self, bus: EmbeddedBus, topic: str, partitions: Iterable[int]) -> None:
        self._conn = bus._connect()
        self._topic = topic
        self._positions = dict.fromkeys(partitions, 0)

    def read_to_end(self, timeout: float = 60.0) -> list[Message]:
        found: list[Message] = []
        try:
            for partition, position in self._positions.items():
                rows = self._conn.execute(
                    'SELECT "offset", key, value, headers, timestamp_ms FROM messages '
                    'WHERE topic = ? AND partition = ? AND "offset" >= ? ORDER BY "offset"',
                    (self._topic, partition, position),
                ).fetchall()
                found += [
                    StoredMessage(self._topic, partition, o, k, v, decode_headers(h), t)
                    for o, k, v, h, t in rows
                ]
                if rows:
                    self._positions[partition] = rows[-1][0] + 1
        except sqlite3.Error as exc:
            raise BusError(f"embedded bus could not read {self._topic}: {exc}") from exc
        return found

    def close(self) -> None:
        self._conn.close()


def apply_retention(conn: sqlite3.Connection, default_retention_s: float) -> None:
    """Delete what each topic's cleanup policy lets go, as Kafka's log cleaner does."""
    policies: dict[str, dict[str, str]] = {}
    for topic, name, value in conn.execute("SELECT topic, name, value FROM topic_configs"):
        policies.setdefault(topic, {})[name] = value
    now_ms = time.time() * 1000
    default_cutoff = int(now_ms - default_retention_s * 1000)
    # Topics without settings: the bus-wide time retention, in one statement.
    conn.execute(
        "DELETE FROM messages WHERE timestamp_ms < ? AND topic NOT IN "
        "(SELECT DISTINCT topic FROM topic_configs)",
        (default_cutoff,),
    )
    for topic, config in policies.items():
        policy = set(config.get("cleanup.policy", "delete").split(","))
        retention_ms = float(config.get("retention.ms", default_retention_s * 1000))
        cutoff = int(now_ms - retention_ms)
        if "delete" in policy:
            conn.execute(
                f"DELETE FROM messages WHERE topic = ? AND timestamp_ms < ? AND {_NOT_LAST}",
                (topic, cutoff, topic),
            )
        if "compact" in policy:
            _compact(conn, topic, tombstone_cutoff_ms=cutoff)


# The last message of a partition stays, whatever it is: offsets are numbered from
# it, and readers outside a group (which commit nothing) must never see one reused.
_NOT_LAST = (
    '(partition, "offset") NOT IN (SELECT partition, MAX("offset") FROM messages '
    "WHERE topic = ? GROUP BY partition)"
)


def _compact(conn: sqlite3.Connection, topic: str, tombstone_cutoff_ms: int) -> None:
    """Keep the latest message per key; drop tombstones once they are older than the cutoff."""
    conn.execute(
        'DELETE FROM messages WHERE topic = ? AND key IS NOT NULL AND (partition, "offset") '
        'NOT IN (SELECT partition, MAX("offset") FROM messages WHERE topic = ? '
        "AND key IS NOT NULL GROUP BY partition, key)",
        (topic, topic),
    )
    conn.execute(
        "DELETE FROM messages WHERE topic = ? AND length(value) = 0 AND timestamp_ms < ? "
        f"AND {_NOT_LAST}",
        (topic, tombstone_cutoff_ms, topic),
    )


def _lock_group(db_path: Path, group: str) -> TextIO:
    """Hold the group's lock file for as long as the consumer lives."""
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in group)
    lock_path = db_path.with_name(f"{db_path.name}.{safe}.lock")
    handle = open(lock_path, "a+")  # noqa: SIM115 - held open for the consumer's lifetime
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        handle.close()
        raise BusError(
            f"consumer group {group!r} already has a consumer on {db_path}; the embedded "
            "bus allows one consumer per group (use the Kafka backend to scale out)"
        ) from exc
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle
