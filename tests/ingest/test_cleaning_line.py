"""The fetch stage's cleaning thread: pages from many fetch threads, one time bound per page."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from akhbar.article import Article
from akhbar.errors import InvalidArticle
from ingest.clean import CleaningClosed, CleaningLine, ExtractionTimeout, PageCleaner, clean_page
from ingest.fixture_server import article_page, load_saudinewsnet
from tests.ingest.conftest import ARTICLES

PAGES = 6


def sample_pages() -> list[tuple[str, Article]]:
    articles = load_saudinewsnet(ARTICLES, PAGES)
    return [
        (article_page(article, str(n)), Article.create(f"https://news.invalid/{n}"))
        for n, article in enumerate(articles)
    ]


def test_pages_from_many_threads_come_back_cleaned_each_to_its_caller() -> None:
    pages = sample_pages()
    expected = [clean_page(html, d.url, d) for html, d in pages]
    cleaner = PageCleaner(0, timeout_s=30)
    cleaner.start()
    try:
        with ThreadPoolExecutor(len(pages)) as pool:
            got = list(pool.map(lambda p: cleaner(p[0], p[1].url, p[1]), pages))
    finally:
        cleaner.close()
    assert [a.id for a in got] == [d.id for _, d in pages]
    assert [a.text for a in got] == [a.text for a in expected]
    assert all(a.text_source == "page" for a in got)


def test_a_page_the_cleaner_refuses_fails_in_its_own_caller_only() -> None:
    (html, good), (_, bad) = sample_pages()[:2]

    def refuse_one(page_html: str, url: str, discovered: Article) -> Article:
        if discovered.id == bad.id:
            raise InvalidArticle("not an article")
        return clean_page(page_html, url, discovered)

    line = CleaningLine(refuse_one, timeout_s=30)
    try:
        with pytest.raises(InvalidArticle, match="not an article"):
            line.clean(html, bad.url, bad)
        assert line.clean(html, good.url, good).text_source == "page"
    finally:
        line.close()


def stuck_on(article_id: str, release: threading.Event) -> Callable[[str, str, Article], Article]:
    """`clean_page`, except that the page `article_id` waits for `release` first."""

    def clean(page_html: str, url: str, discovered: Article) -> Article:
        if discovered.id == article_id:
            release.wait(30)
        return clean_page(page_html, url, discovered)

    return clean


def test_a_runaway_page_times_out_and_the_pages_behind_it_are_cleaned() -> None:
    """The stuck extraction is injected (a cleaner that waits on an event): no real
    page can be made to run away on demand."""
    (html, stuck), (_, after) = sample_pages()[:2]
    release = threading.Event()

    line = CleaningLine(stuck_on(stuck.id, release), timeout_s=0.5)
    try:
        with ThreadPoolExecutor(2) as pool:
            first = pool.submit(line.clean, html, stuck.url, stuck)
            time.sleep(0.1)  # the stuck page is taken first
            second = pool.submit(line.clean, html, after.url, after)
            with pytest.raises(ExtractionTimeout, match="extraction-timeout"):
                first.result(timeout=10)
            assert second.result(timeout=10).id == after.id
    finally:
        release.set()
        line.close()


def test_pages_still_queued_at_close_fail_instead_of_waiting_forever() -> None:
    (html, first), (_, queued) = sample_pages()[:2]
    release = threading.Event()

    def slow(page_html: str, url: str, discovered: Article) -> Article:
        release.wait(30)
        return clean_page(page_html, url, discovered)

    line = CleaningLine(slow, timeout_s=30)
    with ThreadPoolExecutor(2) as pool:
        in_hand = pool.submit(line.clean, html, first.url, first)
        time.sleep(0.1)
        waiting = pool.submit(line.clean, html, queued.url, queued)
        time.sleep(0.1)
        line.close()
        with pytest.raises(CleaningClosed):
            waiting.result(timeout=10)
        release.set()
        assert in_hand.result(timeout=10).id == first.id
    with pytest.raises(CleaningClosed):
        line.clean(html, first.url, first)


def test_a_batch_is_cleaned_back_to_back_in_its_order_on_one_thread() -> None:
    pages = sample_pages()
    cleaned: list[tuple[str, str]] = []

    def recording(page_html: str, url: str, discovered: Article) -> Article:
        cleaned.append((discovered.id, threading.current_thread().name))
        return clean_page(page_html, url, discovered)

    line = CleaningLine(recording, timeout_s=30)
    try:
        results = line.clean_all([(html, d.url, d) for html, d in pages])
        got = [result.result(timeout=30) for result in results]
    finally:
        line.close()
    assert [a.id for a in got] == [d.id for _, d in pages]
    assert [article_id for article_id, _ in cleaned] == [d.id for _, d in pages]
    assert len({thread for _, thread in cleaned}) == 1
    assert all(a.text_source == "page" for a in got)


def test_a_runaway_page_in_a_batch_times_out_and_the_rest_of_the_batch_is_cleaned() -> None:
    """The stuck extraction is injected, as above."""
    pages = sample_pages()
    stuck = pages[1][1]
    release = threading.Event()

    line = CleaningLine(stuck_on(stuck.id, release), timeout_s=0.5)
    try:
        results = line.clean_all([(html, d.url, d) for html, d in pages])
        with pytest.raises(ExtractionTimeout, match="extraction-timeout"):
            results[1].result(timeout=10)
        others = [results[n].result(timeout=10) for n in range(len(pages)) if n != 1]
        assert [a.id for a in others] == [d.id for n, (_, d) in enumerate(pages) if n != 1]
    finally:
        release.set()
        line.close()
