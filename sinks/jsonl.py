"""JSON Lines files of enriched articles, one file per day of `fetched_at` (UTC).

`flush` appends the buffered articles and fsyncs before the runner commits, so
a committed article is on disk. A flush that fails part-way (a full disk) cuts
the file back to where it was, so no half line is left behind, and forgets the
buffer: the runner sends those articles again.

Delivery is at least once: after a crash between the fsync and the commit, the
articles since the last commit are appended again (same ids).
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from akhbar.article import Article
from akhbar.bus import Message
from akhbar.errors import SinkUnavailable
from akhbar.runner import Rejection

NAME = "jsonl"
VERSION = "1"


class JsonlSink:
    """Appends articles to `<dir>/<YYYY-MM-DD>.jsonl`."""

    def __init__(self, directory: Path) -> None:
        self._dir = directory
        self._dir.mkdir(parents=True, exist_ok=True)
        self._buffer: dict[str, list[bytes]] = defaultdict(list)

    def add(self, article: Article, record: Message) -> None:
        day = article.fetched_at.date().isoformat()
        self._buffer[day].append(article.to_bytes() + b"\n")

    def flush(self) -> Sequence[Rejection]:
        buffer, self._buffer = self._buffer, defaultdict(list)
        for day, lines in sorted(buffer.items()):
            self._append(self._dir / f"{day}.jsonl", b"".join(lines))
        return ()

    def _append(self, path: Path, data: bytes) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            size_before = os.fstat(fd).st_size
            try:
                _write_all(fd, data)
                os.fsync(fd)
            except OSError as exc:
                os.ftruncate(fd, size_before)
                raise SinkUnavailable(f"cannot write {path}: {exc.strerror}") from exc
        finally:
            os.close(fd)

    def close(self) -> None:
        """Nothing is held open between flushes."""


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
