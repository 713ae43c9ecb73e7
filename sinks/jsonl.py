"""JSON Lines files of enriched articles, each record of the input topic exactly once.

Layout under the sink's directory:

    YYYY-MM-DD/<topic>+<partition>+<first offset>+<last offset>.jsonl[.gz]   closed files
    .open/<topic>+<partition>/YYYY-MM-DD+<first offset>.jsonl[.gz]          being written
    .state/<topic>+<partition>.json                                          the checkpoint
    .state/stored-articles.sqlite3                                           articles stored

Readers look only at the date directories, where a file appears whole, by a
rename after fsync, once it reaches the size or age limit (or the stage stops).

Exactly once, after the pattern of Kafka Connect's file sinks: every flush appends
to the open files and fsyncs them, then atomically replaces the partition's
checkpoint, which records each open file's length and the last offset stored.
Only then does the runner commit. After a crash the sink truncates every open
file to its checkpointed length (dropping a tail written after the last
checkpoint), deletes open files the checkpoint does not know, and skips any
redelivered record at or below the last offset stored: a crash between the
checkpoint and the commit repeats records the files already hold, and those are
skipped rather than written twice.

Each article exactly once, too: an upstream stage that crashes re-produces
articles as new records with new offsets. The sink keeps the key of every article
it stored (its id and processor stamps, see sinks/stored_keys.py) for
dedupe_window_days and drops a record whose article it already holds; a
reprocessing by a newer processor version has other stamps and is written. Each
flush records its keys after the lines are fsynced and before the checkpoint, and
reading a checkpoint forgets the keys above it, so the keys and the files agree
after a crash at any point.
"""

from __future__ import annotations

import fcntl
import gzip
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any

from akhbar.article import Article
from akhbar.bus import Message, TopicPartition
from akhbar.config import JsonlSinkSettings
from akhbar.errors import SinkUnavailable
from akhbar.logs import get_logger
from akhbar.metrics import DROP_DUPLICATE, DROP_REDELIVERED, Metrics
from akhbar.runner import Rejection
from sinks.stored_keys import Key, StoredArticles, StoredKey, article_key

NAME = "jsonl"
VERSION = "2"

OPEN_DIR = ".open"
STATE_DIR = ".state"
# Offsets are zero-padded in file names so names sort in offset order.
OFFSET_DIGITS = 20
# Each flush is compressed as its own gzip member (a valid multi-member file).
# Level 1 compresses Arabic news JSON about 2.8x at about twice the speed of level
# 5 (3.5x), measured on examples/saudinewsnet-sample.jsonl; compression, not the
# disk, is what bounds this sink with gzip on.
GZIP_LEVEL = 1
# The idle timer looks this often at most, so a short age limit is kept closely.
MAX_IDLE_CHECK_S = 1.0
# Keys older than the window are deleted this often at most: one indexed delete,
# frequent enough that the table never holds much more than the window.
PRUNE_INTERVAL_S = 600.0
SECONDS_PER_DAY = 86_400


@dataclass
class OpenFile:
    """A file being written: its offsets so far, checkpointed length and opening time."""

    first: int
    last: int
    size: int
    opened_at: float

    def as_json(self) -> dict[str, Any]:
        return {
            "first": self.first,
            "last": self.last,
            "size": self.size,
            "opened_at": self.opened_at,
        }


@dataclass
class Batch:
    """Lines for one date waiting for the next flush, with their first and last offsets."""

    first: int
    last: int = -1
    lines: list[bytes] = field(default_factory=list)
    keys: list[StoredKey] = field(default_factory=list)


@dataclass
class PartitionFiles:
    """The files of one input partition: the last offset stored and the open file per date."""

    stored_through: int = -1
    open: dict[str, OpenFile] = field(default_factory=dict)
    buffer: dict[str, Batch] = field(default_factory=dict)
    buffered_through: int = -1
    # Buffered records dropped as articles already stored, counted once stored.
    dropped: int = 0
    # The checkpoint as this process last read or wrote it: if the file says
    # otherwise, another process has written the partition since.
    checkpoint: dict[str, Any] = field(default_factory=dict)


class JsonlSink:
    """Writes articles to date-partitioned JSON Lines files; made by the runner for `jsonl`.

    `add` buffers an article unless its record is already in the files; `flush`
    appends, fsyncs and checkpoints, then closes the files due for rotation. A
    flush that fails (a full disk) cuts the open files back to their checkpoint,
    forgets the buffer and raises SinkUnavailable: the runner sends those records
    again. One process writes a given partition at a time (a consumer group
    guarantees it); the checkpoint is reread after every flush, so a partition
    that moves to another process and back continues where the other left it.

    Files are also closed by age while the input is idle (a background timer),
    and a sink starting up adopts the open files of partitions idle for longer
    than the age limit, so a file left open by a stopped process is closed even
    if its partition never receives another record.

    An article already stored (same id and processor stamps, within
    dedupe_window_days) is dropped when its batch is flushed, and counted in
    `duplicates`, logged at INFO by that flush. The same timer forgets keys older than the window.
    """

    def __init__(self, settings: JsonlSinkSettings, metrics: Metrics | None = None) -> None:
        self._settings = settings
        stage = (metrics or Metrics()).for_stage(NAME)
        self._duplicates_metric = stage.dropped(DROP_DUPLICATE)
        self._skipped_metric = stage.dropped(DROP_REDELIVERED)
        self._dir = settings.dir
        self._suffix = ".jsonl.gz" if settings.gzip else ".jsonl"
        self._log = get_logger(stage=NAME)
        self._partitions: dict[TopicPartition, PartitionFiles] = {}
        # Only these partitions' files are closed by `close`: others may belong to
        # another process of the same consumer group.
        self._touched: set[TopicPartition] = set()
        for sub in (OPEN_DIR, STATE_DIR):
            (self._dir / sub).mkdir(parents=True, exist_ok=True)
        self._touched |= self._idle_partitions()
        self._stored = StoredArticles(self._dir / STATE_DIR)
        self._window_s = settings.dedupe_window_days * SECONDS_PER_DAY
        # Keys added since the last flush, so a duplicate within one batch is dropped too.
        self._buffered_keys: set[Key] = set()
        # Articles already stored, arriving again as new records from upstream.
        self.duplicates = self._duplicates_logged = 0
        # Records already in the files, skipped after a crash or a hand-over.
        self.skipped = self._skipped_logged = 0
        # add, flush, close and the idle timer all change the files and checkpoints.
        self._lock = threading.Lock()
        self._forget_expired()
        self._closed = threading.Event()
        self._timer = threading.Thread(target=self._rotate_idle, name="jsonl-rotate", daemon=True)
        self._timer.start()

    def add(self, article: Article, record: Message) -> None:
        with self._lock:
            self._add(article, record)

    def _add(self, article: Article, record: Message) -> None:
        files = self._files((record.topic, record.partition))
        if record.offset <= max(files.stored_through, files.buffered_through):
            self.skipped += 1  # already in the files: written before a crash or a rewind
            return
        key = article_key(article)
        if key in self._buffered_keys:
            # Twice in one batch: dropped, but its offset is stored like any other.
            files.dropped += 1
            files.buffered_through = record.offset
            return
        self._buffered_keys.add(key)
        date = self._date(article)
        batch = files.buffer.get(date)
        if batch is None:
            batch = files.buffer[date] = Batch(first=record.offset)
        batch.lines.append(_json_line(article))
        batch.keys.append((key, record.offset))
        batch.last = files.buffered_through = record.offset

    def flush(self) -> Sequence[Rejection]:
        if self.skipped > self._skipped_logged:
            newly = self.skipped - self._skipped_logged
            self._log.info("skipped records the files already hold", records=newly)
            self._skipped_metric.inc(newly)
            self._skipped_logged = self.skipped
        with self._lock:
            partitions, self._partitions = self._partitions, {}
            self._buffered_keys = set()
            for tp, files in partitions.items():
                if files.buffered_through > files.stored_through:
                    self._write(tp, files)
                self._rotate_due(tp, files, force=False)
        if self.duplicates > self._duplicates_logged:
            newly = self.duplicates - self._duplicates_logged
            self._log.info("dropped articles already stored", articles=newly, total=self.duplicates)
            self._duplicates_metric.inc(newly)
            self._duplicates_logged = self.duplicates
        return ()

    def close(self) -> None:
        """Close every open file, so readers see everything stored when the stage stops."""
        self._closed.set()
        self._timer.join()
        self._rotate_touched(force=True)
        self._stored.close()

    def _rotate_idle(self) -> None:
        interval = min(self._settings.rotate_age_s, MAX_IDLE_CHECK_S)
        prune_every = min(PRUNE_INTERVAL_S, self._window_s)
        next_prune = time.monotonic() + prune_every
        while not self._closed.wait(interval):
            try:
                self._rotate_touched(force=False)
                if time.monotonic() >= next_prune:
                    next_prune = time.monotonic() + prune_every
                    self._forget_expired()
            except Exception as exc:  # the timer must outlive a bad moment of the disk
                self._log.error("idle rotation failed; will retry", error=repr(exc))

    def _forget_expired(self) -> None:
        """Delete the keys of articles stored longer ago than the dedupe window."""
        with self._lock:
            forgotten = self._stored.forget_older_than(self._window_s)
        if forgotten:
            self._log.info(
                "forgot keys of articles stored before the dedupe window", keys=forgotten
            )

    def _rotate_touched(self, force: bool) -> None:
        with self._lock:
            for tp in sorted(self._touched):
                # Between flushes the open files match the checkpoint; a buffer not
                # yet flushed is kept as it is.
                files = self._partitions.get(tp) or self._recover(tp)
                self._rotate_due(tp, files, force=force)

    def _idle_partitions(self) -> set[TopicPartition]:
        """Partitions with open files whose checkpoint is older than the age limit."""
        idle = set()
        cutoff = time.time() - self._settings.rotate_age_s
        for path in (self._dir / STATE_DIR).glob("*.json"):
            if path.stat().st_mtime < cutoff:
                topic, _, partition = path.stem.rpartition("+")
                idle.add((topic, int(partition)))
        return idle

    # Partition state, on disk and recovered after a crash.

    def _files(self, tp: TopicPartition) -> PartitionFiles:
        files = self._partitions.get(tp)
        if files is None:
            files = self._partitions[tp] = self._recover(tp)
            self._touched.add(tp)
        return files

    def _recover(self, tp: TopicPartition) -> PartitionFiles:
        """The partition's checkpoint, with the open files cut back to match it."""
        with self._locked(tp):
            return self._recover_locked(tp)

    def _recover_locked(self, tp: TopicPartition) -> PartitionFiles:
        state = self._read_state(tp)
        files = PartitionFiles(stored_through=state.get("stored_through", -1), checkpoint=state)
        if "stored_through" not in state:
            files.stored_through = self._last_closed_offset(tp)
        open_dir = self._open_dir(tp)
        for date, entry in state.get("open", {}).items():
            open_file = OpenFile(**entry)
            path = self._open_path(tp, date, open_file.first)
            if path.exists():  # otherwise it was closed just before the crash
                _truncate(path, open_file.size)
                files.open[date] = open_file
        known = {self._open_path(tp, d, f.first).name for d, f in files.open.items()}
        for orphan in open_dir.glob(f"*{self._suffix}") if open_dir.exists() else ():
            if orphan.name not in known:  # created after the last checkpoint
                orphan.unlink()
        files.buffered_through = files.stored_through
        # Keys of lines cut from the open files above: those articles must be written again.
        self._stored.forget_above(tp, files.stored_through)
        return files

    def _read_state(self, tp: TopicPartition) -> dict[str, Any]:
        try:
            return dict(json.loads(self._state_path(tp).read_bytes()))
        except FileNotFoundError:
            return {}

    def _write_state(
        self,
        tp: TopicPartition,
        files: PartitionFiles,
        stored_through: int | None = None,
        open_files: dict[str, OpenFile] | None = None,
    ) -> None:
        """Replace the partition's checkpoint: by default with what `files` holds now."""
        state = {
            "stored_through": files.stored_through if stored_through is None else stored_through,
            "open": {
                date: f.as_json()
                for date, f in (files.open if open_files is None else open_files).items()
            },
        }
        _write_atomically(self._state_path(tp), json.dumps(state).encode())
        files.checkpoint = state

    @contextmanager
    def _locked(self, tp: TopicPartition) -> Iterator[None]:
        """Hold the partition's lock: between processes, while one reads or changes its files.

        A consumer group gives a partition to one process at a time, but the old
        owner's idle timer or a flush in progress can overlap a hand-over.
        """
        fd = os.open(self._dir / STATE_DIR / f"{_tp_name(tp)}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # and with it the lock

    def _taken_over(self, tp: TopicPartition, files: PartitionFiles) -> bool:
        return self._read_state(tp) != files.checkpoint

    def _last_closed_offset(self, tp: TopicPartition) -> int:
        """The highest offset in the closed files' names, for a directory without checkpoint."""
        last = -1
        for path in self._dir.glob(f"*/{_tp_name(tp)}+*"):
            if not path.parent.name.startswith("."):
                last = max(last, _last_offset(path.name))
        return last

    # Writing.

    def _write(self, tp: TopicPartition, files: PartitionFiles) -> None:
        """Append and fsync the buffer, then checkpoint; on failure cut back and raise."""
        with self._locked(tp):
            if self._taken_over(tp, files):
                files.buffer = {}
                raise SinkUnavailable(
                    f"partition {_tp_name(tp)} was written by another process; reading again"
                )
            self._write_locked(tp, files)

    def _write_locked(self, tp: TopicPartition, files: PartitionFiles) -> None:
        written: list[tuple[Path, int]] = []
        new_open = dict(files.open)
        try:
            keys = self._drop_stored(files)
            self._open_dir(tp).mkdir(parents=True, exist_ok=True)
            for date, batch in files.buffer.items():
                if not batch.lines:
                    continue
                current = new_open.get(date) or OpenFile(batch.first, -1, 0, time.time())
                path = self._open_path(tp, date, current.first)
                data = self._encode(b"".join(batch.lines))
                written.append((path, current.size))
                _append_durably(path, data)
                new_open[date] = OpenFile(
                    current.first, batch.last, current.size + len(data), current.opened_at
                )
            fsync_directory(self._open_dir(tp))
            # Before the checkpoint: a crash in between leaves keys above it, forgotten on recovery.
            if keys:
                self._stored.add(tp, keys)
            # Memory moves only once the checkpoint is on disk: after a failure it
            # still describes what the files hold.
            self._write_state(tp, files, files.buffered_through, new_open)
            files.open, files.stored_through = new_open, files.buffered_through
            self.duplicates += files.dropped
        except (OSError, sqlite3.Error) as exc:
            for path, size in written:
                _truncate(path, size)
            raise SinkUnavailable(f"cannot write JSON Lines under {self._dir}: {exc}") from exc
        finally:
            files.buffer = {}

    def _drop_stored(self, files: PartitionFiles) -> list[StoredKey]:
        """Drop the buffered articles already stored (re-produced upstream); the keys left.

        Looked up here, under the partition's lock, in one query per few hundred
        articles rather than one per `add`.
        """
        known = self._stored.known([key for b in files.buffer.values() for key, _ in b.keys])
        if known:
            for batch in files.buffer.values():
                kept = [
                    (k, line)
                    for k, line in zip(batch.keys, batch.lines, strict=True)
                    if k[0] not in known
                ]
                batch.keys, batch.lines = [k for k, _ in kept], [line for _, line in kept]
        files.dropped += len(known)
        return [key for batch in files.buffer.values() for key in batch.keys]

    def _encode(self, data: bytes) -> bytes:
        return gzip.compress(data, GZIP_LEVEL, mtime=0) if self._settings.gzip else data

    def _rotate_due(self, tp: TopicPartition, files: PartitionFiles, force: bool) -> None:
        now = time.time()
        due = [
            date
            for date, f in files.open.items()
            if force
            or f.size >= self._settings.rotate_bytes
            or now - f.opened_at >= self._settings.rotate_age_s
        ]
        if not due:
            return
        with self._locked(tp):
            if self._taken_over(tp, files):
                return  # its new owner rotates it
            self._rotate_locked(tp, files, due)

    def _rotate_locked(self, tp: TopicPartition, files: PartitionFiles, due: list[str]) -> None:
        try:
            for date in due:
                self._close_file(tp, date, files.open.pop(date))
            self._write_state(tp, files)
        except OSError as exc:
            # The data is safe in the open file and the checkpoint; closing is retried later.
            self._log.error("cannot close a JSON Lines file; will retry", error=str(exc))
            self._reread_checkpoint(tp, files)

    def _reread_checkpoint(self, tp: TopicPartition, files: PartitionFiles) -> None:
        """Make the open files in memory match the checkpoint again, keeping the buffer.

        A close that failed half-way (the file renamed, its checkpoint not written)
        leaves memory and disk apart. The articles buffered since the last flush
        must stay: dropping them would let the next flush succeed without them and
        the runner commit past records no file holds.
        """
        on_disk = self._recover_locked(tp)
        files.stored_through = on_disk.stored_through
        files.open = on_disk.open
        files.checkpoint = on_disk.checkpoint

    def _close_file(self, tp: TopicPartition, date: str, open_file: OpenFile) -> None:
        final_dir = self._dir / date
        final_dir.mkdir(exist_ok=True)
        final = final_dir / (
            f"{_tp_name(tp)}+{open_file.first:0{OFFSET_DIGITS}d}"
            f"+{open_file.last:0{OFFSET_DIGITS}d}{self._suffix}"
        )
        os.replace(self._open_path(tp, date, open_file.first), final)
        fsync_directory(final_dir)

    # Names.

    def _date(self, article: Article) -> str:
        when = article.fetched_at
        if self._settings.partition_by == "published" and article.published_at is not None:
            when = article.published_at
        return when.astimezone(UTC).date().isoformat()

    def _open_dir(self, tp: TopicPartition) -> Path:
        return self._dir / OPEN_DIR / _tp_name(tp)

    def _open_path(self, tp: TopicPartition, date: str, first: int) -> Path:
        return self._open_dir(tp) / f"{date}+{first:0{OFFSET_DIGITS}d}{self._suffix}"

    def _state_path(self, tp: TopicPartition) -> Path:
        return self._dir / STATE_DIR / f"{_tp_name(tp)}.json"


def _json_line(article: Article) -> bytes:
    """`article.to_bytes()` and a newline, without its round trip through str.

    pydantic's serializer makes bytes and model_dump_json decodes them to str, which
    to_bytes encodes again: a fifth of this sink's time per article.
    """
    return article.__pydantic_serializer__.to_json(article, exclude_none=True) + b"\n"


def _tp_name(tp: TopicPartition) -> str:
    return f"{tp[0]}+{tp[1]}"


def _last_offset(name: str) -> int:
    """The last offset in a closed file's name `<topic>+<partition>+<first>+<last>.jsonl[.gz]`."""
    return int(name.split(".jsonl")[0].rsplit("+", 1)[1])


def _append_durably(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def _truncate(path: Path, size: int) -> None:
    if path.exists() and path.stat().st_size != size:
        os.truncate(path, size)


def _write_atomically(path: Path, data: bytes) -> None:
    """Replace `path` with `data`: a reader, or a restart, sees the old or the new, never half."""
    temporary = path.with_name(f".{path.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:  # a nearly full disk can take part of a write
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except OSError:
        os.close(fd)
        temporary.unlink(missing_ok=True)  # a half-written checkpoint must not linger
        raise
    os.close(fd)
    os.replace(temporary, path)
    fsync_directory(path.parent)


def fsync_directory(directory: Path) -> None:
    """Make a rename or a new file in `directory` survive a power cut."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def closed_files(directory: Path) -> Iterator[Path]:
    """The closed files under a sink directory, by date, then partition and offset."""
    for day in sorted(p for p in directory.iterdir() if p.is_dir() and not p.name.startswith(".")):
        yield from sorted(day.glob("*.jsonl"))
        yield from sorted(day.glob("*.jsonl.gz"))


def read_lines(path: Path) -> Iterator[bytes]:
    """The lines of a closed file, gzip or not."""
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as lines:
        yield from (line for line in lines if line.strip())
