"""The fetch stage's step: a discovered article in, the cleaned article out.

The fetch stage (a bounded Stage: the runner caps the time of one message) takes
`articles.discovered` a chunk at a time (`FetchBatches`): it downloads the chunk's
pages (ingest.fetch), then cleans them back to back (ingest.clean); retries go
through `FetchStep`, which does the same for one page. An article whose URL was cleaned
within the window is dropped before its page is fetched, and in any case
before it is sent (ingest.dedupe). A page that will never be fetched
raises PermanentFetchError, an InvalidArticle: the runner dead-letters the
message with the reason. Anything transient (timeouts, 429, 5xx) is raised as
it is and the runner retries with backoff; if it keeps failing the stage stops
without committing, and a restart tries again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial

from akhbar.article import Article
from akhbar.bus import Bus, open_bus
from akhbar.config import Settings
from akhbar.logs import get_logger
from akhbar.metrics import Metrics
from akhbar.runner import Stage
from akhbar.topics import Topics
from ingest.clean import PageCleaner, clean_page
from ingest.dedupe import DedupedOutput, FetchedIds
from ingest.fetch import (
    USER_AGENT,
    FetchedPage,
    FetchError,
    PageFetcher,
    PermanentFetchError,
    TransientFetchError,
)
from ingest.metrics import IngestMetrics
from ingest.poller_group import PollerMember, poller_member
from ingest.state import PageErrorStore

NAME = "fetch"
VERSION = "1"
# Pages downloaded together, then cleaned back to back: long enough uninterrupted
# cleaning runs, short enough that a chunk's pages wait little behind each other.
FETCH_BATCH = 16


class FetchStep:
    """Callable step: one page fetched and cleaned. The runner calls it to retry a
    message (and for every message when cleaning runs in worker processes), from the
    stage's `concurrency` threads at once; FetchBatches uses its `download` and
    `counted` for whole chunks.

    A transient failure is raised for the runner to retry with backoff, but on
    the article's `max_attempts`-th failure it becomes a PermanentFetchError: one
    page that keeps answering 500 must not stop the stage for every other page.
    The dead-lettered message can be replayed once the site recovers.
    """

    def __init__(
        self,
        fetcher: PageFetcher,
        metrics: IngestMetrics | None = None,
        max_attempts: int = 3,
        health: PageErrorStore | None = None,
        already_cleaned: Callable[[str], bool] | None = None,
        cleaner: Callable[[str, str, Article], Article] = clean_page,
    ) -> None:
        self.fetcher = fetcher
        self.cleaner = cleaner
        self.metrics = metrics
        self.health = health
        self.already_cleaned = already_cleaned
        self.max_attempts = max(1, max_attempts)
        self.log = get_logger(stage=NAME)
        self._failures: dict[str, int] = {}

    def __call__(self, discovered: Article) -> Article | None:
        if self.seen(discovered):
            return None  # the runner logs and counts the drop; no request is made
        return self._clean(discovered, self.download(discovered))

    def seen(self, discovered: Article) -> bool:
        """Whether the article's URL was cleaned within the dedupe window."""
        return self.already_cleaned is not None and self.already_cleaned(discovered.id)

    def download(self, discovered: Article) -> FetchedPage:
        """The article's page, or the FetchError the runner is to see: a transient one is
        retried, a permanent one (or the `max_attempts`-th transient) dead-lettered."""
        try:
            page = self.fetcher.fetch(discovered.url)
        except TransientFetchError as exc:
            self._count(discovered, exc)
            failures = self._failures[discovered.id] = self._failures.get(discovered.id, 0) + 1
            if failures >= self.max_attempts:
                del self._failures[discovered.id]
                self._record(discovered, exc)
                raise PermanentFetchError(
                    exc.kind, f"gave up after {failures} attempts: {exc}"
                ) from exc
            raise
        except FetchError as exc:
            self._count(discovered, exc)
            self._record(discovered, exc)
            raise
        self._failures.pop(discovered.id, None)
        return page

    def _record(self, discovered: Article, exc: FetchError) -> None:
        """A page given up on counts against its feed's health."""
        if self.health is not None and discovered.feed:
            self.health.record_page_error(discovered.feed, exc.kind, str(exc))

    def _count(self, discovered: Article, exc: FetchError) -> None:
        if self.metrics is not None:
            self.metrics.page_errors.labels(exc.kind).inc()
        self.log.warning(
            "page fetch failed",
            article_id=discovered.id,
            url=discovered.url,
            feed=discovered.feed,
            kind=exc.kind,
            reason=str(exc),
        )

    def _clean(self, discovered: Article, page: FetchedPage) -> Article:
        return self.counted(self.cleaner(page.text, page.url, discovered))

    def counted(self, article: Article) -> Article:
        """A cleaned article, counted by where its text came from."""
        source = str(getattr(article, "text_source", ""))
        if self.metrics is not None:
            self.metrics.cleaned.labels(source).inc()
        if source != "page":
            self.log.info(
                "page text too short; kept the feed's text",
                article_id=article.id,
                url=article.url,
            )
        return article


class FetchBatches:
    """The fetch stage's batch start (Stage.start_batch): called by the runner with a
    chunk of discovered articles, it returns at once a future per article.

    The chunk's pages are all downloaded first, `concurrency` at a time; when the
    last download is done its pages go to the cleaning line together and are cleaned
    back to back, with no download in flight in between (a download's socket
    wake-ups between two cleanings cost the cleaning code its cache warmth: 0.15-0.35
    ms a page). A failed download's future holds its FetchError (retried by the
    runner through the step, or dead-lettered); a page whose cleaning runs past its
    bound, ExtractionTimeout. `close()` ends the download threads.
    """

    def __init__(self, step: FetchStep, cleaner: PageCleaner, concurrency: int) -> None:
        self.step = step
        self.cleaner = cleaner
        self._pool = ThreadPoolExecutor(max(1, concurrency), thread_name_prefix="fetch-pages")

    def __call__(self, articles: list[Article]) -> list[Future[Article | None]]:
        results: list[Future[Article | None]] = [Future() for _ in articles]
        wanted = [
            (article, result)
            for article, result in zip(articles, results, strict=True)
            if not self._already_cleaned(article, result)
        ]
        if wanted:
            _Downloads(self.step, self.cleaner, wanted).start(self._pool)
        return results

    def _already_cleaned(self, article: Article, result: Future[Article | None]) -> bool:
        if self.step.seen(article):
            result.set_result(None)  # the runner logs and counts the drop; no request is made
            return True
        return False

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class _Downloads:
    """One chunk's downloads; the last to finish hands the pages to the cleaning line."""

    def __init__(
        self,
        step: FetchStep,
        cleaner: PageCleaner,
        wanted: list[tuple[Article, Future[Article | None]]],
    ) -> None:
        self.step = step
        self.cleaner = cleaner
        self.wanted = wanted
        self.pages: list[FetchedPage | None] = [None] * len(wanted)
        self._left = len(wanted)
        self._lock = threading.Lock()

    def start(self, pool: ThreadPoolExecutor) -> None:
        for index in range(len(self.wanted)):
            pool.submit(self._download, index)

    def _download(self, index: int) -> None:
        article, result = self.wanted[index]
        try:
            self.pages[index] = self.step.download(article)
        except BaseException as exc:  # the runner decides: retry or dead-letter
            result.set_exception(exc)
        with self._lock:
            self._left -= 1
            last = self._left == 0
        if last:
            self._clean_all()

    def _clean_all(self) -> None:
        fetched = [
            (article, result, page)
            for (article, result), page in zip(self.wanted, self.pages, strict=True)
            if page is not None
        ]
        try:
            cleaned = self.cleaner.clean_all(
                [(page.text, page.url, article) for article, _, page in fetched]
            )
        except BaseException as exc:  # closing: none of these pages is committed
            for _, result, _ in fetched:
                result.set_exception(exc)
            return
        for (_, result, _), outcome in zip(fetched, cleaned, strict=True):
            outcome.add_done_callback(partial(self._hand_on, result))

    def _hand_on(self, result: Future[Article | None], outcome: Future[Article]) -> None:
        """Runs in the cleaning thread as each page is done: counted, then to the runner."""
        try:
            result.set_result(self.step.counted(outcome.result()))
        except BaseException as exc:  # the cleaning's own error, for the runner to judge
            result.set_exception(exc)


def fetch_stage(settings: Settings, metrics: Metrics | None = None) -> Stage:
    """The fetch stage: articles.discovered -> articles.cleaned, bounded per message,
    each URL cleaned once per `ingest.dedupe_window_days`."""
    ingest = settings.ingest
    fetcher = PageFetcher(
        allow_hosts=ingest.allow_hosts,
        user_agent=ingest.user_agent or USER_AGENT,
        host_spacing_s=ingest.host_spacing_s,
        obey_robots=ingest.obey_robots,
        total_timeout_s=ingest.page_timeout_s,
        max_per_host=ingest.fetch_max_per_host,
    )
    cleaner = PageCleaner(ingest.clean_processes, ingest.clean_timeout_s)
    cleaner.start()
    topics = Topics(settings.bus.topic_prefix)
    ingest_metrics = IngestMetrics.of(metrics) if metrics else None
    # The stage's sink opens its own bus client; the ids are shared with the step.
    bus = open_bus(settings.bus)
    ids = FetchedIds(bus, topics.fetched, ingest.dedupe_window_days * 24 * 3600)
    step = FetchStep(
        fetcher,
        ingest_metrics,
        max_attempts=settings.runner.step_retries + 1,
        health=PageErrorStore(ingest.state_path),
        already_cleaned=ids.known,
        cleaner=cleaner,
    )
    batches = (
        FetchBatches(step, cleaner, ingest.fetch_concurrency) if cleaner.cleans_in_batches else None
    )
    closers = (cleaner.close, fetcher.close, *((batches.close,) if batches else ()))
    return Stage(
        NAME,
        VERSION,
        topics.discovered,
        step,
        sink=lambda: DedupedOutput(bus, topics.cleaned, ids, ingest_metrics, also_close=closers),
        bounded=True,
        concurrency=ingest.fetch_concurrency,
        start_batch=batches,
        batch_size=FETCH_BATCH,
    )


def poller_runner(
    settings: Settings, bus: Bus, metrics: Metrics, stop: threading.Event, once: bool = False
) -> PollerMember | None:
    """This process's feed poller onto articles.discovered, or None without a feed list."""
    return poller_member(settings, bus, metrics, stop, once)
