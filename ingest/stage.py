"""The fetch stage's step: a discovered article in, the cleaned article out.

`FetchStep` runs in the fetch stage (a bounded Stage: the runner caps the time
of one message) for every message on `articles.discovered`. It fetches the page
(ingest.fetch) and cleans it (ingest.clean); an article whose URL was cleaned
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


class FetchStep:
    """Callable step, called from the stage's `concurrency` threads at once.

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
        if self.already_cleaned is not None and self.already_cleaned(discovered.id):
            return None  # the runner logs and counts the drop; no request is made
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
        return self._clean(discovered, page)

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
        article = self.cleaner(page.text, page.url, discovered)
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
    return Stage(
        NAME,
        VERSION,
        topics.discovered,
        step,
        sink=lambda: DedupedOutput(
            bus, topics.cleaned, ids, ingest_metrics, also_close=(cleaner.close, fetcher.close)
        ),
        bounded=True,
        concurrency=ingest.fetch_concurrency,
    )


def poller_runner(
    settings: Settings, bus: Bus, metrics: Metrics, stop: threading.Event, once: bool = False
) -> PollerMember | None:
    """This process's feed poller onto articles.discovered, or None without a feed list."""
    return poller_member(settings, bus, metrics, stop, once)
