"""The Article message: ids, the wire format, and schema versions."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from akhbar.article import SCHEMA_VERSION, Article, article_id, canonical_url, decode_article
from akhbar.errors import InvalidArticle
from tests.helpers.articles import make_article


def test_id_is_the_sha256_of_the_canonical_url() -> None:
    url = "https://www.aljazeera.net/news/2016/12/13/حلب/?utm_source=rss&utm_medium=feed#top"
    canonical = canonical_url(url)
    assert canonical == "https://www.aljazeera.net/news/2016/12/13/%D8%AD%D9%84%D8%A8"
    assert article_id(url) == hashlib.sha256(canonical.encode()).hexdigest()


@pytest.mark.parametrize(
    "variant",
    [
        "http://news.example/story/1",
        "https://NEWS.example/story/1/",
        "https://news.example/story/1?utm_campaign=x",
        "https://news.example/story/1#comments",
    ],
)
def test_links_to_the_same_story_get_the_same_id(variant: str) -> None:
    assert article_id(variant) == article_id("https://news.example/story/1")


def test_query_parameters_that_name_the_story_are_kept() -> None:
    assert article_id("https://x.example/n.aspx?NewsID=1") != article_id(
        "https://x.example/n.aspx?NewsID=2"
    )


def test_wire_format_round_trips_arabic_text_and_later_fields() -> None:
    # A field no stage of this version declares (entities, added by enrich, now is one).
    article = make_article(7).model_copy(
        update={"sentiment": [{"text": "حلب", "label": "neutral"}]}
    )
    raw = article.to_bytes()
    assert "حلب".encode() in raw, "Arabic travels as UTF-8, not escaped"
    decoded = decode_article(raw)
    assert decoded == article
    assert decoded.model_extra == {"sentiment": [{"text": "حلب", "label": "neutral"}]}


def test_times_without_a_zone_are_taken_as_utc() -> None:
    article = Article.create("https://x.example/a", fetched_at="2015-07-21 02:51:32")
    assert article.fetched_at.isoformat() == "2015-07-21T02:51:32+00:00"


def test_stamps_append_to_the_processor_trail() -> None:
    article = make_article(1).stamped("normalize", "1.2").stamped("enrich", "3")
    assert [(p.name, p.version) for p in article.processors] == [
        ("normalize", "1.2"),
        ("enrich", "3"),
    ]


def _as_dict(article: Article) -> dict[str, Any]:
    return json.loads(article.to_bytes())


def test_a_newer_schema_version_is_invalid_with_the_reason() -> None:
    data = {**_as_dict(make_article(1)), "schema_version": SCHEMA_VERSION + 1}
    with pytest.raises(InvalidArticle, match="newer than this stage reads"):
        decode_article(json.dumps(data))


def test_an_older_schema_version_is_upgraded_step_by_step() -> None:
    # Given a version-1 message, read by a stage at version 3 whose upgrades rename a field
    data = {**_as_dict(make_article(1)), "headline": "عنوان"}
    data.pop("title")

    def v1_to_v2(d: dict[str, Any]) -> dict[str, Any]:
        return {**d, "title": d.pop("headline")}

    def v2_to_v3(d: dict[str, Any]) -> dict[str, Any]:
        return {**d, "language": d.get("language") or "ar"}

    article = decode_article(json.dumps(data), upgrades={1: v1_to_v2, 2: v2_to_v3}, current=3)

    assert article.schema_version == 3
    assert article.title == "عنوان"
    assert article.language == "ar"


def test_an_older_version_without_an_upgrade_path_is_invalid() -> None:
    data = {**_as_dict(make_article(1)), "schema_version": 0}
    with pytest.raises(InvalidArticle, match="no upgrade from schema_version 0"):
        decode_article(json.dumps(data))


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"\xff\xfe", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'{"id": "x"}', "schema_version missing"),
        (b'{"schema_version": true}', "schema_version missing"),
        (b'{"schema_version": 1, "url": "https://x.example/a"}', "not a valid article"),
    ],
)
def test_messages_that_are_not_articles_are_invalid(raw: bytes, reason: str) -> None:
    with pytest.raises(InvalidArticle, match=reason):
        decode_article(raw)


@given(st.text(min_size=1, max_size=2000))
def test_any_text_survives_the_wire(text: str) -> None:
    article = make_article(1).model_copy(update={"text": text})
    assert decode_article(article.to_bytes()).text == text
