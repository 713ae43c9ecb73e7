"""Reading SaudiNewsNet day archives (one ZIP of one JSON array per day) as Articles."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from akhbar.article import Article


def read_articles(folder: Path, days: int | None = None) -> Iterator[Article]:
    """Articles of the first `days` day files (all with None), in file order."""
    for archive in sorted(folder.glob("*.zip"))[:days]:
        with zipfile.ZipFile(archive) as zipped:
            for name in zipped.namelist():
                for item in json.loads(zipped.read(name)):
                    if item.get("url") and item.get("content"):
                        yield _article(item)


def _article(item: dict[str, str]) -> Article:
    extracted = datetime.strptime(item["date_extracted"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    return Article.create(
        item["url"],
        source=item.get("source"),
        title=item.get("title"),
        text=item["content"],
        fetched_at=extracted,
        published_at=extracted,
    )
