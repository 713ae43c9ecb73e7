"""The Article message: the one record every topic carries.

An Article travels as UTF-8 JSON, keyed by its `id`. Stages read the fields they
need, add their own, and stamp their name and version into `processors`. Fields a
stage does not know are kept as they are (``extra="allow"``), so an older stage
in a rolling upgrade passes a newer stage's additions through untouched.

Schema versions: a message written with an older `schema_version` is upgraded
step by step by the functions in an upgrade table; one with a newer version, or
an older one with no upgrade path, is an InvalidArticle and is dead-lettered with
the reason (it can be replayed once the stage is upgraded).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from courlan import normalize_url
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from akhbar.errors import InvalidArticle

SCHEMA_VERSION = 1

# Maps a schema version N to the function that turns an N message (a dict) into
# an N+1 message. Empty while version 1 is the only one ever written.
Upgrade = Callable[[dict[str, Any]], dict[str, Any]]
UPGRADES: Mapping[int, Upgrade] = {}


class ProcessorStamp(BaseModel):
    """Which stage touched the article, at which version: replay decides from this."""

    model_config = ConfigDict(frozen=True)

    name: str
    version: str


class TextSpan(BaseModel):
    """A stretch of a text by character offsets: text[start:end]."""

    model_config = ConfigDict(frozen=True)

    start: int
    end: int


class EntityMention(BaseModel):
    """A named entity: PERS, LOC, ORG or MISC, by offsets into display_text."""

    text: str
    type: str
    start: int
    end: int
    canonical: str


class QuantityMention(BaseModel):
    """A number and what it counts; kind is count, money, percent or duration (a span of time)."""

    text: str
    value: float | None = None
    unit: str | None = None
    approx: bool
    kind: str
    start: int
    end: int


class QuoteMention(BaseModel):
    """Quoted or reported words and who said them.

    speaker_type is PERS or ORG (an entity), source (an unnamed source such as مصدر عسكري),
    or None: the speaker is the verb's subject words, not recognised as an entity, or unknown.
    """

    text: str
    speaker: str | None = None
    speaker_type: str | None = None
    start: int
    end: int


class DateMention(BaseModel):
    """A date in the text; value is an ISO date, or None when it cannot be resolved."""

    text: str
    value: str | None = None
    start: int
    end: int


class Article(BaseModel):
    """One news article as it moves through the pipeline."""

    model_config = ConfigDict(extra="allow", validate_assignment=False)

    schema_version: int = Field(default=SCHEMA_VERSION, strict=True)
    id: str = Field(min_length=64, max_length=64, description="sha256 of the canonical URL")
    url: str = Field(min_length=1)
    feed: str | None = None
    source: str | None = None
    fetched_at: datetime
    published_at: datetime | None = None
    title: str | None = None
    author: str | None = None
    language: str | None = None
    text: str = ""
    processors: list[ProcessorStamp] = Field(default_factory=list)
    # Added by the normalize stage (processors/normalize.py); `text` and `title`
    # stay as received. Display forms are for reading and extraction, search
    # forms (diacritics, alef/ya/teh marbuta folded, ASCII digits) for matching.
    display_text: str | None = None
    display_title: str | None = None
    search_text: str | None = None
    search_title: str | None = None
    sentences: list[TextSpan] | None = Field(
        default=None, description="sentence offsets into display_text"
    )
    token_count: int | None = None
    script: str | None = Field(default=None, description="Arab, Latn, other or none")
    is_arabic: bool | None = None
    repairs: dict[str, int] | None = Field(
        default=None, description="what normalization repaired, and how often"
    )
    # Added by the enrich stage (processors/enrich.py); offsets are into display_text.
    entities: list[EntityMention] | None = None
    quantities: list[QuantityMention] | None = None
    quotes: list[QuoteMention] | None = None
    dates: list[DateMention] | None = None
    story_id: str | None = Field(default=None, description="id of the story's first article")
    duplicate_of: str | None = Field(default=None, description="id of the article this copies")

    @field_validator("fetched_at", "published_at")
    @classmethod
    def assume_utc(cls, value: datetime | None) -> datetime | None:
        """A time without a zone is taken as UTC, so every time compares with every other."""
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value

    @classmethod
    def create(cls, url: str, **fields: Any) -> Article:
        """A new article for `url`, with its id derived from the canonical URL."""
        fields.setdefault("fetched_at", datetime.now(UTC))
        return cls(id=article_id(url), url=url, **fields)

    def stamped(self, name: str, version: str) -> Article:
        """This article with `name`/`version` appended to its processor trail."""
        stamp = ProcessorStamp(name=name, version=version)
        return self.model_copy(update={"processors": [*self.processors, stamp]})

    def to_bytes(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()


def canonical_url(url: str) -> str:
    """The form of `url` that names one article, whatever feed or link led to it.

    Tracking parameters are dropped and the rest sorted (courlan), the fragment and
    a trailing slash are dropped, and http is taken as https: outlets serve both and
    link to both, and the same story must get the same id.
    """
    normalized = normalize_url(url.strip())
    scheme, netloc, path, query, _fragment = urlsplit(normalized)
    if scheme == "http":
        scheme = "https"
    if len(path) > 1:
        path = path.rstrip("/")
    return urlunsplit((scheme, netloc.lower(), path or "/", query, ""))


def article_id(url: str) -> str:
    """The article id: hex sha256 of the canonical URL."""
    return hashlib.sha256(canonical_url(url).encode()).hexdigest()


def decode_article(
    raw: bytes | str,
    upgrades: Mapping[int, Upgrade] = UPGRADES,
    current: int = SCHEMA_VERSION,
) -> Article:
    """Parse one message into an Article, upgrading an older schema.

    Raises InvalidArticle, naming the reason, for anything that is not a readable
    article of this or an upgradable version.
    """
    # Fast path for the common case, a valid message of the current version;
    # anything else takes the path below, which names what is wrong.
    try:
        article = Article.model_validate_json(raw)
        if article.schema_version == current:
            return article
    except ValidationError:
        pass
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidArticle(f"not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidArticle(f"not a JSON object but {type(data).__name__}")
    data = _upgrade(data, upgrades, current)
    try:
        return Article.model_validate(data)
    except ValidationError as exc:
        raise InvalidArticle(f"not a valid article: {_summarize(exc)}") from exc


def _upgrade(data: dict[str, Any], upgrades: Mapping[int, Upgrade], current: int) -> dict[str, Any]:
    version = data.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise InvalidArticle(f"schema_version missing or not an integer: {version!r}")
    if version > current:
        raise InvalidArticle(
            f"schema_version {version} is newer than this stage reads ({current}); "
            "replay it after upgrading the stage"
        )
    while version < current:
        upgrade = upgrades.get(version)
        if upgrade is None:
            raise InvalidArticle(f"no upgrade from schema_version {version} to {current}")
        data = upgrade(data)
        version += 1
        data["schema_version"] = version
    return data


def _summarize(exc: ValidationError) -> str:
    parts = [f"{'.'.join(map(str, e['loc'])) or '<root>'}: {e['msg']}" for e in exc.errors()]
    return "; ".join(parts[:5])
