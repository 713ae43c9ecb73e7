"""The feed list: YAML the ops people edit, or OPML exported from a feed reader.

`load_feeds` is called at start-up by `akhbar run --feeds FILE` and by the
`akhbar feeds` commands; it raises FeedListError naming the file and the
problem, so a bad list stops the start instead of polling nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from xml.etree import ElementTree  # expat >= 2.4 refuses entity-expansion bombs

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from akhbar.errors import AkhbarError

DEFAULT_FEEDS = Path(__file__).with_name("default_feeds.yaml")


class FeedListError(AkhbarError):
    """The feed list cannot be read; the message names the file and the entry."""


class Feed(BaseModel):
    """One feed to poll. `interval_s` pins the poll interval; otherwise it adapts.

    `listed_in` is set by the poller when it publishes a feed list file (the
    file's absolute path): such a feed is removed when its line leaves the file.
    Feeds published on their own (`akhbar feeds add`, `import-opml`) have none,
    and stay until `akhbar feeds remove`.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(min_length=8, pattern=r"^https?://")
    name: str = ""
    language: str = "ar"
    tags: tuple[str, ...] = ()
    interval_s: float | None = Field(default=None, gt=0)
    listed_in: str | None = None


def load_feeds(path: Path) -> list[Feed]:
    """The feeds in a YAML or OPML file, duplicates (same URL) dropped."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise FeedListError(f"cannot read feed list {path}: {exc.strerror}") from exc
    entries = parse_opml(raw, path) if _looks_like_opml(raw) else _parse_yaml(raw, path)
    feeds: dict[str, Feed] = {}
    for number, entry in enumerate(entries, start=1):
        try:
            feed = Feed.model_validate(entry)
        except ValidationError as exc:
            problem = exc.errors()[0]
            raise FeedListError(
                f"{path}: feed {number}: {'.'.join(map(str, problem['loc']))}: {problem['msg']}"
            ) from exc
        feeds.setdefault(feed.url, feed)
    return list(feeds.values())


def save_feeds(path: Path, feeds: list[Feed]) -> None:
    data = {"feeds": [feed.model_dump(exclude_defaults=True, mode="json") for feed in feeds]}
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def _looks_like_opml(raw: bytes) -> bool:
    return b"<opml" in raw[:2048].lower()


def _parse_yaml(raw: bytes, path: Path) -> list[Any]:
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise FeedListError(f"feed list {path} is not valid YAML: {exc}") from exc
    if isinstance(data, dict):
        data = data.get("feeds")
    if not isinstance(data, list):
        raise FeedListError(f"feed list {path} must hold a list under `feeds:`")
    return [{"url": item} if isinstance(item, str) else item for item in data]


def parse_opml(raw: bytes, path: Path) -> list[dict[str, Any]]:
    """Every outline with an xmlUrl, at any depth; a parent outline's text becomes a tag."""
    try:
        root = ElementTree.fromstring(raw)
    except ElementTree.ParseError as exc:
        raise FeedListError(f"OPML file {path} is not valid XML: {exc}") from exc
    found: list[dict[str, Any]] = []
    body = root.find("body")
    _walk_outlines(body if body is not None else root, (), found)
    return found


def _walk_outlines(node: Any, tags: tuple[str, ...], found: list[dict[str, Any]]) -> None:
    for outline in node.findall("outline"):
        label = outline.get("title") or outline.get("text") or ""
        if not outline.get("xmlUrl"):
            _walk_outlines(outline, (*tags, label) if label else tags, found)
            continue
        entry: dict[str, Any] = {"url": outline.get("xmlUrl"), "name": label, "tags": tags}
        if outline.get("language"):
            entry["language"] = outline.get("language")
        found.append(entry)
