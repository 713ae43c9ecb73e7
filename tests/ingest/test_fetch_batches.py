"""The fetch stage's chunks: every page downloaded first, then all cleaned back to back."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from akhbar.article import Article
from ingest.clean import PageCleaner, clean_page
from ingest.fetch import FetchedPage, PageFetcher, PermanentFetchError, TransientFetchError
from ingest.fixture_server import FixtureServer
from ingest.stage import FetchBatches, FetchStep


class TimedFetcher(PageFetcher):
    """The real fetcher, noting when each download ended."""

    def __init__(self) -> None:
        super().__init__(allow_hosts=["127.0.0.1"], host_spacing_s=0, max_per_host=4)
        self.ended: list[float] = []

    def fetch(self, url: str) -> FetchedPage:
        try:
            return super().fetch(url)
        finally:
            self.ended.append(time.monotonic())


@pytest.fixture
def fetcher() -> Iterator[TimedFetcher]:
    timed = TimedFetcher()
    yield timed
    timed.close()


def test_a_chunk_is_downloaded_whole_before_its_pages_are_cleaned_in_order(
    site: FixtureServer, fetcher: TimedFetcher
) -> None:
    # Given a chunk of good pages, a page that is gone, one that fails for now, and
    # one whose URL was cleaned before
    base = site.base_url
    good = [Article.create(f"{base}/news/{n}") for n in range(6)]
    gone = Article.create(f"{base}/hostile/404")
    failing = Article.create(f"{base}/hostile/500")
    known = Article.create(f"{base}/news/7")
    chunk = [good[0], gone, *good[1:3], failing, known, *good[3:]]
    cleanings: list[tuple[float, str]] = []

    def timed_clean(html: str, url: str, discovered: Article) -> Article:
        cleanings.append((time.monotonic(), discovered.id))
        return clean_page(html, url, discovered)

    cleaner = PageCleaner(0, timeout_s=30, clean=timed_clean)
    step = FetchStep(fetcher, cleaner=cleaner, already_cleaned=lambda i: i == known.id)
    batches = FetchBatches(step, cleaner, concurrency=4)
    # When the chunk is started
    try:
        results = batches(chunk)
        outcomes = {
            a.id: r.exception(timeout=30) or r.result() for a, r in zip(chunk, results, strict=True)
        }
    finally:
        batches.close()
        cleaner.close()
    # Then the good pages are cleaned articles, the failures are the runner's to handle
    assert all(outcomes[a.id].text_source == "page" for a in good)  # type: ignore[union-attr]
    assert isinstance(outcomes[gone.id], PermanentFetchError)
    assert isinstance(outcomes[failing.id], TransientFetchError)
    assert outcomes[known.id] is None
    # And no page was cleaned before the last download ended, then all in the chunk's order
    assert len(fetcher.ended) == len(chunk) - 1  # the known one was not requested
    assert min(at for at, _ in cleanings) >= max(fetcher.ended)
    assert [article_id for _, article_id in cleanings] == [a.id for a in chunk if a in good]


def test_a_chunk_started_after_the_close_fails_without_cleaning(
    site: FixtureServer, fetcher: TimedFetcher
) -> None:
    cleaner = PageCleaner(0, timeout_s=30)
    step = FetchStep(fetcher, cleaner=cleaner)
    batches = FetchBatches(step, cleaner, concurrency=2)
    cleaner.close()
    done = threading.Event()
    try:
        (result,) = batches([Article.create(f"{site.base_url}/news/1")])
        result.add_done_callback(lambda _: done.set())
        assert done.wait(30)
        assert result.exception() is not None
    finally:
        batches.close()
