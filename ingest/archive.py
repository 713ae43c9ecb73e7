"""Import articles from JSON Lines archives onto `articles.cleaned`.

Each line is one article as a JSON object with at least `url`. Article fields
are taken as they are; the keys of scraped-news dumps such as SaudiNewsNet
(`content`, `date_extracted`) are mapped onto them. A line that is not an article
is rejected with its reason and dead-lettered; the import goes on.

The position in each file is saved after the runner has flushed what was read,
so a restarted import goes on where the last flush ended (lines after it are
sent again, and keep their ids).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from akhbar.article import Article, article_id

NAME = "archive"
VERSION = "1"

# Keys of common scraped-news dumps, mapped to Article fields.
FIELD_ALIASES = {"content": "text", "date_extracted": "fetched_at", "date": "published_at"}


@dataclass(frozen=True)
class Rejected:
    """A line that is not an article, kept whole for the dead-letter topic."""

    raw: bytes
    reason: str
    where: str


def parse_line(line: bytes, where: str) -> Article | Rejected:
    """One archive line as an Article, or the reason it is not one."""
    try:
        data = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return Rejected(line, f"not JSON: {exc}", where)
    if not isinstance(data, dict) or not isinstance(data.get("url"), str):
        return Rejected(line, "not a JSON object with a string `url`", where)
    try:
        return Article.model_validate(_as_article_fields(data))
    except ValidationError as exc:
        return Rejected(line, f"not a valid article: {exc.errors()[0]['msg']}", where)


def _as_article_fields(data: dict[str, Any]) -> dict[str, Any]:
    fields = {FIELD_ALIASES.get(key, key): value for key, value in data.items()}
    fields.setdefault("id", article_id(fields["url"]))
    fields.setdefault("fetched_at", datetime.now(UTC))
    return fields


class ArchiveSource:
    """Reads archive files line by line; `commit` saves how far the flushed part reaches."""

    name = NAME
    version = VERSION

    def __init__(self, paths: list[Path], state_path: Path) -> None:
        self._paths = list(paths)
        self._state_path = state_path
        self._done: dict[str, int] = self._load_state()
        self._read: dict[str, int] = dict(self._done)
        self._current: tuple[str, Any] | None = None

    def _load_state(self) -> dict[str, int]:
        try:
            return {str(k): int(v) for k, v in json.loads(self._state_path.read_text()).items()}
        except FileNotFoundError:
            return {}

    @property
    def exhausted(self) -> bool:
        return all(self._read.get(str(p), 0) == -1 for p in self._paths)

    def read(self, max_items: int) -> list[Article | Rejected]:
        items: list[Article | Rejected] = []
        while len(items) < max_items:
            handle = self._open_next()
            if handle is None:
                break
            key, lines = handle
            line = lines.readline()
            if not line:
                lines.close()
                self._current = None
                self._read[key] = -1  # the whole file is read
                continue
            self._read[key] += 1
            if line.strip():
                items.append(parse_line(line, f"{key}:{self._read[key]}"))
        return items

    def _open_next(self) -> tuple[str, Any] | None:
        if self._current is not None:
            return self._current
        for path in self._paths:
            key = str(path)
            done = self._read.get(key, 0)
            if done == -1:
                continue
            lines = path.open("rb")
            for _ in range(done):
                lines.readline()
            self._read[key] = done
            self._current = (key, lines)
            return self._current
        return None

    def commit(self) -> None:
        """Remember everything read so far as done (call after the bus flushed it)."""
        self._done = dict(self._read)
        tmp = self._state_path.with_suffix(".tmp")
        tmp.parent.mkdir(parents=True, exist_ok=True)
        with tmp.open("w") as out:
            json.dump(self._done, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self._state_path)

    def close(self) -> None:
        if self._current is not None:
            self._current[1].close()
            self._current = None
