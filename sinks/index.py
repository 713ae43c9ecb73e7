"""The search index's layout: the index template, index names, and article documents.

One code path for Elasticsearch 8/9 and OpenSearch 2.x: everything here is the
REST API the two share (composable index templates, aliases, the bulk API).

Layout: one index per month, `<prefix>-articles-YYYY.MM`, chosen from the
article's own date (published, else fetched). The template attaches every such
index to the read alias `<prefix>-articles` when it is created, so the index grows
month by month without reindexing and readers always query the alias. A write
alias with size-based rollover was not chosen: after a rollover a redelivered
article would land in the new index next to its old copy, and `_id` = article id
would no longer make indexing idempotent. With the month taken from the article,
the same article always goes to the same index.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from akhbar.article import Article

# Arabic text is searched three ways: the built-in `arabic` analyzer (stop words,
# normalization, light stemming), and a folded form without stop words or
# stemming, so a query spelled على finds text written علي (a common spelling in
# Egyptian-style news copy) and أ/إ/آ, ة/ه, ى/ي variants meet.
FOLDED_ANALYZER = "akhbar_arabic_folded"
ANALYSIS = {
    "char_filter": {
        # arabic_normalization folds these too, but only after tokenizing; folding
        # first keeps the tokenizer's word boundaries the same for every spelling.
        "akhbar_arabic_letters": {
            "type": "mapping",
            "mappings": ["ى => ي", "ة => ه", "أ => ا", "إ => ا", "آ => ا", "ٱ => ا", "ـ => "],
        }
    },
    "analyzer": {
        FOLDED_ANALYZER: {
            "type": "custom",
            "char_filter": ["akhbar_arabic_letters"],
            "tokenizer": "standard",
            "filter": ["lowercase", "decimal_digit", "arabic_normalization"],
        }
    },
}

# A title or name longer than this is not a useful exact-match keyword.
KEYWORD_IGNORE_ABOVE = 512


def _arabic_text(with_keyword: bool = False) -> dict[str, Any]:
    fields: dict[str, Any] = {"folded": {"type": "text", "analyzer": FOLDED_ANALYZER}}
    if with_keyword:
        fields["keyword"] = {"type": "keyword", "ignore_above": KEYWORD_IGNORE_ABOVE}
    return {"type": "text", "analyzer": "arabic", "fields": fields}


_KEYWORD = {"type": "keyword", "ignore_above": KEYWORD_IGNORE_ABOVE}
_NAME = {"type": "keyword", "fields": {"text": {"type": "text", "analyzer": FOLDED_ANALYZER}}}
# Entity types get a field each; names of any other type still land in entity_names.
ENTITY_TYPES = ("person", "location", "organization", "misc")

MAPPINGS: dict[str, Any] = {
    # Fields not listed are kept in _source but not indexed: an upstream stage adding
    # a field can never make an article unindexable.
    "dynamic": False,
    "properties": {
        "id": {"type": "keyword"},
        "url": {"type": "keyword"},
        "feed": {"type": "keyword"},
        "source": {"type": "keyword"},
        "language": {"type": "keyword"},
        "author": _KEYWORD,
        "title": _arabic_text(with_keyword=True),
        "text": _arabic_text(),
        "search_title": _arabic_text(),
        "search_text": _arabic_text(),
        "published_at": {"type": "date"},
        "fetched_at": {"type": "date"},
        "date": {"type": "date"},
        "story_id": {"type": "keyword"},
        "entities": {"properties": {kind: _NAME for kind in ENTITY_TYPES}},
        "entity_names": _NAME,
        "quotes": {
            "properties": {"text": _arabic_text(), "speaker": _NAME},
        },
        "quantities": {
            "properties": {
                "text": {"type": "text", "analyzer": FOLDED_ANALYZER},
                "value": {"type": "double"},
                "unit": {"type": "keyword"},
            }
        },
        "dates": {"type": "date", "ignore_malformed": True},
        "processors": {"properties": {"name": {"type": "keyword"}, "version": {"type": "keyword"}}},
    },
}


def alias_name(prefix: str) -> str:
    """The read alias over every monthly index."""
    return f"{prefix}-articles"


def index_name(prefix: str, when: datetime) -> str:
    return f"{alias_name(prefix)}-{when:%Y.%m}"


def index_template(prefix: str) -> dict[str, Any]:
    """The composable index template for `<prefix>-articles-*`."""
    return {
        "index_patterns": [f"{alias_name(prefix)}-*"],
        "template": {
            "settings": {
                "number_of_shards": 1,
                # One node in development, replicas wherever there is a second node.
                "auto_expand_replicas": "0-1",
                "analysis": ANALYSIS,
            },
            "mappings": MAPPINGS,
            "aliases": {alias_name(prefix): {}},
        },
    }


def article_date(article: Article) -> datetime:
    """The date an article is filed under: when it was published, else when it was fetched."""
    return article.published_at or article.fetched_at


def document(article: Article) -> dict[str, Any]:
    """The indexed document: the article's fields, with entities gathered by type.

    Upstream stages describe entities, quotes and quantities in their own shape;
    they are read leniently here (a dict by type, or a list of objects with a type),
    so a shape this sink does not know is kept in _source, never a mapping error.
    """
    doc = article.model_dump(mode="json", exclude_none=True)
    doc["date"] = article_date(article).isoformat()
    raw_entities = doc.pop("entities", None)
    if raw_entities is not None:
        by_type = entities_by_type(raw_entities)
        doc["entities"] = by_type
        doc["entity_names"] = sorted({name for names in by_type.values() for name in names})
        doc["entities_raw"] = raw_entities
    for name, keep in _SHAPED_FIELDS.items():
        if name in doc:
            doc[f"{name}_raw"] = doc[name]
            doc[name] = [shaped for item in _as_list(doc[name]) if (shaped := keep(item))]
    return doc


def _quote(item: Any) -> dict[str, Any] | None:
    if isinstance(item, str):
        return {"text": item}
    if isinstance(item, dict):
        return {k: v for k, v in item.items() if k in ("text", "speaker") and isinstance(v, str)}
    return None


def _quantity(item: Any) -> dict[str, Any] | None:
    if isinstance(item, str):
        return {"text": item}
    if not isinstance(item, dict):
        return None
    shaped: dict[str, Any] = {
        k: v for k, v in item.items() if k in ("text", "unit") and isinstance(v, str)
    }
    value = item.get("value")
    if isinstance(value, int | float) and not isinstance(value, bool):
        shaped["value"] = value
    return shaped


def _date(item: Any) -> str | None:
    if isinstance(item, dict):
        item = item.get("value") or item.get("date")
    return item if isinstance(item, str) else None


# Fields whose items are reduced to the mapped shape; the original stays in `<name>_raw`.
_SHAPED_FIELDS = {"quotes": _quote, "quantities": _quantity, "dates": _date}


def entities_by_type(raw: Any) -> dict[str, list[str]]:
    """`{type: [name, ...]}` from `{type: [...]}` or `[{type, text|name}, ...]`."""
    pairs: Iterable[tuple[Any, Any]]
    if isinstance(raw, dict):
        pairs = ((kind, name) for kind, names in raw.items() for name in _as_list(names))
    elif isinstance(raw, list):
        pairs = ((_entity_type(item), item) for item in raw if isinstance(item, dict))
    else:
        return {}
    by_type: dict[str, list[str]] = {}
    for kind, item in pairs:
        name = _entity_name(item)
        if name and isinstance(kind, str):
            by_type.setdefault(_canonical_type(kind), []).append(name)
    return by_type


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _entity_type(item: dict[str, Any]) -> Any:
    return item.get("type") or item.get("label")


def _entity_name(item: Any) -> str | None:
    if isinstance(item, str):
        return item
    if isinstance(item, dict):
        for key in ("text", "name", "normalized"):
            if isinstance(item.get(key), str):
                return str(item[key])
    return None


# Labels used by Arabic NER corpora (ANERcorp, Wojood) and common NER tools.
_TYPE_ALIASES = {
    "per": "person",
    "pers": "person",
    "person": "person",
    "loc": "location",
    "gpe": "location",
    "location": "location",
    "org": "organization",
    "organization": "organization",
    "organisation": "organization",
}


def _canonical_type(kind: str) -> str:
    return _TYPE_ALIASES.get(kind.lower(), "misc")


# Every Arabic field, with the folded forms, so a spelling variant still matches;
# titles weigh more than body text.
SEARCH_FIELDS = (
    "title^3",
    "title.folded^2",
    "search_title^2",
    "search_title.folded",
    "text",
    "text.folded",
    "search_text",
    "search_text.folded",
    "entity_names.text",
)
HIGHLIGHT_FIELDS = ("title", "title.folded", "text", "text.folded")


def search_body(
    query: str,
    *,
    entity: str | None = None,
    source: str | None = None,
    since: str | None = None,
    until: str | None = None,
    size: int = 10,
) -> dict[str, Any]:
    """A search request: `query` over the Arabic fields, filtered, with highlights."""
    filters: list[dict[str, Any]] = []
    if entity:
        filters.append({"term": {"entity_names": entity}})
    if source:
        filters.append({"term": {"source": source}})
    if since or until:
        bounds = {k: v for k, v in (("gte", since), ("lte", until)) if v}
        filters.append({"range": {"date": bounds}})
    return {
        "size": size,
        "query": {
            "bool": {
                "must": [{"multi_match": {"query": query, "fields": list(SEARCH_FIELDS)}}],
                "filter": filters,
            }
        },
        "highlight": {"fields": {name: {} for name in HIGHLIGHT_FIELDS}},
        "_source": ["id", "url", "source", "title", "date"],
    }
