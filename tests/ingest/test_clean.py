"""Cleaning real Arabic pages fetched from the fixture site, against their shipped expectations."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

import ingest.clean
from akhbar.article import Article
from ingest.clean import TEXT_FROM_FEED, TEXT_FROM_PAGE, clean_page, publication_date
from ingest.fetch import PageFetcher, decode_html
from ingest.fixture_server import FixtureServer
from tests.ingest.conftest import PAGES, ROOT

# A page of the article-extraction benchmark where trafilatura's own extractor alone
# finds only 121 characters; the fallback extractors find the article.
RESCUED_PAGE = (
    ROOT / "tests/fixtures/extraction-benchmark/"
    "0ec95c7261d122f304728e90c983450ef1ce1e0b423546835c397d50aaf0d0f2"
)

# Share of the expected text's 4-word shingles found in ours, and of ours in the
# expected: the extraction benchmark's metric, per page.
MIN_RECALL = 0.95
MIN_PRECISION = 0.8


def shingles(text: str) -> set[tuple[str, ...]]:
    words = text.split()
    return {tuple(words[i : i + 4]) for i in range(max(len(words) - 3, 0))}


def precision_recall(ours: str, expected: str) -> tuple[float, float]:
    got, want = shingles(ours), shingles(expected)
    common = len(got & want)
    return common / max(len(got), 1), common / max(len(want), 1)


def cleaned(site: FixtureServer, name: str, url: str) -> Article:
    fetcher = PageFetcher(allow_hosts=["127.0.0.1"], host_spacing_s=0)
    page = fetcher.fetch(f"{site.base_url}/pages/{name}")
    return clean_page(page.text, url, Article.create(url))


def test_cnn_arabic_title_and_text(site: FixtureServer) -> None:
    expected = json.loads((PAGES / "cnn-arabic/expected_metadata.json").read_text())
    article = cleaned(site, "page", expected["url"])
    precision, recall = precision_recall(
        article.text, (PAGES / "cnn-arabic/expected_text.txt").read_text()
    )
    assert article.title == expected["title"]
    assert recall >= MIN_RECALL
    assert precision >= MIN_PRECISION
    assert article.text_source == TEXT_FROM_PAGE  # type: ignore[attr-defined]


def test_lbc_title_text_and_date(site: FixtureServer) -> None:
    expected = json.loads((PAGES / "fundus-lbc/LBCGroup.json").read_text())["V1"]
    url = next(iter(json.loads((PAGES / "fundus-lbc/meta.info").read_text()).values()))["url"]
    article = cleaned(site, "LBCGroup_2026_01_08", url)
    paragraphs = [p for section in expected["body"]["sections"] for p in section["paragraphs"]]
    precision, recall = precision_recall(article.text, "\n".join(paragraphs))
    assert article.title == expected["title"]
    assert (precision, recall) >= (MIN_PRECISION, MIN_RECALL)
    assert article.published_at == datetime.fromisoformat(expected["publishing_date"])


def test_a_page_the_first_extraction_finds_little_in_is_extracted_again_with_the_fallbacks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a page on which trafilatura's own extractor finds almost nothing
    html, _charset = decode_html(RESCUED_PAGE.with_suffix(".html").read_bytes(), None)
    expected = json.loads(RESCUED_PAGE.with_suffix(".json").read_text())
    discovered = Article.create(expected["url"], title="-")
    # When it is cleaned
    article = clean_page(html, discovered.url, discovered)
    # Then the article is the page's, as the benchmark's expected text has it
    precision, recall = precision_recall(article.text, expected["articleBody"])
    assert article.text_source == TEXT_FROM_PAGE  # type: ignore[attr-defined]
    assert (precision, recall) >= (MIN_PRECISION, MIN_RECALL)
    # which the first extraction alone would have missed
    monkeypatch.setattr(ingest.clean, "COMPARE_BELOW_CHARS", 0)
    first_only = clean_page(html, discovered.url, discovered)
    assert first_only.text_source == TEXT_FROM_FEED  # type: ignore[attr-defined]


HTMLDATE_PAGES = json.loads((PAGES / "htmldate/expected_dates.json").read_text())


@pytest.mark.parametrize("url", list(HTMLDATE_PAGES))
def test_htmldate_pages_dates(site: FixtureServer, url: str) -> None:
    expected = HTMLDATE_PAGES[url]
    article = cleaned(site, expected["file"].removesuffix(".html"), url)
    assert article.published_at is not None
    assert article.published_at.date().isoformat() == expected["date"]


def test_a_short_brief_keeps_the_feeds_title_and_summary(site: FixtureServer) -> None:
    # Given a feed entry for a page without an article (navigation only)
    discovered = Article.create(
        f"{site.base_url}/hostile/no-article",
        title="عاجل: زلزال بقوة 5 درجات يضرب جنوب البلاد",
        summary="أفاد مركز رصد الزلازل بوقوع هزة أرضية دون أنباء عن إصابات.",
        published_at=datetime(2026, 1, 2, 9, 30, tzinfo=UTC),
    )
    page = PageFetcher(allow_hosts=["127.0.0.1"], host_spacing_s=0).fetch(discovered.url)
    # When it is cleaned
    article = clean_page(page.text, page.url, discovered)
    # Then the text is the feed's, and says so
    assert article.text_source == TEXT_FROM_FEED  # type: ignore[attr-defined]
    assert discovered.title is not None and discovered.title in article.text
    assert "هزة أرضية" in article.text
    assert article.published_at == discovered.published_at


def test_the_feed_date_keeps_its_time_and_zone_when_the_page_agrees() -> None:
    riyadh = datetime(2020, 8, 24, 14, 5, tzinfo=timezone(timedelta(hours=3)))
    assert publication_date("2020-08-24T00:00:00", riyadh) == riyadh
    assert publication_date("2020-08-20T00:00:00", riyadh) == datetime(2020, 8, 20, tzinfo=UTC)


def test_dates_far_in_the_future_are_refused() -> None:
    future = datetime.now(UTC) + timedelta(days=30)
    assert publication_date(future.isoformat(), future) is None
    assert publication_date(future.isoformat(), None) is None
