"""The fetch stage's step: a discovered article in, the cleaned article out.

`FetchStep` runs in the fetch stage (a bounded Stage: the runner caps the time
of one message) for every message on `articles.discovered`. It fetches the page
(ingest.fetch) and cleans it (ingest.clean). A page that will never be fetched
raises PermanentFetchError, an InvalidArticle: the runner dead-letters the
message with the reason. Anything transient (timeouts, 429, 5xx) is raised as
it is and the runner retries with backoff; if it keeps failing the stage stops
without committing, and a restart tries again.
"""

from __future__ import annotations

import threading

from akhbar.article import Article
from akhbar.bus import Bus
from akhbar.config import Settings
from akhbar.logs import get_logger
from akhbar.metrics import Metrics
from akhbar.runner import SourceRunner, Stage
from akhbar.topics import Topics
from ingest.clean import clean_page
from ingest.feeds import load_feeds
from ingest.fetch import (
    USER_AGENT,
    FetchedPage,
    FetchError,
    PageFetcher,
    PermanentFetchError,
    TransientFetchError,
)
from ingest.metrics import IngestMetrics
from ingest.poller import FeedPoller
from ingest.state import FeedStateStore

NAME = "fetch"
VERSION = "1"


class FetchStep:
    """Callable step; one per stage thread (the fetcher's connection pool is not shared).

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
        health: FeedStateStore | None = None,
    ) -> None:
        self.fetcher = fetcher
        self.metrics = metrics
        self.health = health
        self.max_attempts = max(1, max_attempts)
        self.log = get_logger(stage=NAME)
        self._failures: dict[str, int] = {}

    def __call__(self, discovered: Article) -> Article:
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
        article = clean_page(page.text, page.url, discovered)
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
    """The fetch stage: articles.discovered -> articles.cleaned, bounded per message."""
    ingest = settings.ingest
    fetcher = PageFetcher(
        allow_hosts=ingest.allow_hosts,
        user_agent=ingest.user_agent or USER_AGENT,
        host_spacing_s=ingest.host_spacing_s,
        obey_robots=ingest.obey_robots,
        total_timeout_s=ingest.page_timeout_s,
    )
    topics = Topics(settings.bus.topic_prefix)
    step = FetchStep(
        fetcher,
        IngestMetrics.of(metrics) if metrics else None,
        max_attempts=settings.runner.step_retries + 1,
        health=FeedStateStore(ingest.state_path),
    )
    return Stage(NAME, VERSION, topics.discovered, step, output_topic=topics.cleaned, bounded=True)


def poller_runner(
    settings: Settings, bus: Bus, metrics: Metrics, stop: threading.Event, once: bool = False
) -> SourceRunner | None:
    """The feed poller onto articles.discovered, or None when no feed list is configured."""
    ingest = settings.ingest
    if ingest.feeds is None:
        return None
    poller = FeedPoller(
        load_feeds(ingest.feeds),
        ingest.state_path,
        allow_hosts=tuple(ingest.allow_hosts),
        user_agent=ingest.user_agent or USER_AGENT,
        once=once,
        metrics=IngestMetrics.of(metrics),
        # A feed is fetched like a page, and bounded the same way.
        total_timeout_s=ingest.page_timeout_s,
    )
    topic = Topics(settings.bus.topic_prefix).discovered
    return SourceRunner(bus, poller, topic, settings.runner, metrics, stop)
