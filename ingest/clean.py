"""Cleaning a fetched page into an article: trafilatura, with the feed entry as fallback.

`clean_page` is called by the fetch stage's step with the fetched HTML and the
discovered article (what the feed said). It never raises for a page without an
article: when extraction fails or finds too little, the feed's title and summary
become the text, and `text_source` says so. Arabic breaking-news briefs are a
sentence or two long and must not be dropped for being short.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.pool
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import trafilatura
from htmldate import find_date
from htmldate.utils import load_html
from lxml import etree
from lxml.html import HtmlElement

from akhbar.article import Article
from akhbar.errors import InvalidArticle
from ingest.fetch import decode_html

# Below this many characters the page's text is a menu or a teaser, not the article.
MIN_TEXT_CHARS = 200
# trafilatura's time grows with the tree; pages beyond this are pathological.
MAX_HTML_CHARS = 3_000_000
# A date further ahead than this is a parsing error or a placeholder, not a publication date.
MAX_FUTURE = timedelta(days=1)
TEXT_FROM_PAGE = "page"
TEXT_FROM_FEED = "feed"
DATE_FORMAT = "%Y-%m-%dT%H:%M:%S%z"
QUICK_DATE_PARAMS = {"extensive_search": False}


def clean_page(html: str, page_url: str, discovered: Article) -> Article:
    """The full article: page text and metadata, falling back to the feed entry's."""
    # The page is parsed once. htmldate's parser keeps comments, which trafilatura's
    # drops and without which a date can lose the page's own zone (UTC is reported),
    # so the date is read first and the comments removed after.
    tree = load_html(html[:MAX_HTML_CHARS])
    page_date = _page_date(tree) if tree is not None else None
    document = _extract(_without_comments(tree), page_url) if tree is not None else {}
    text = (document.get("text") or "").strip()
    fields: dict[str, Any] = {
        "title": document.get("title") or discovered.title,
        "author": document.get("author") or discovered.author,
        "language": document.get("language") or discovered.language,
        "published_at": publication_date(page_date, discovered.published_at),
        "canonical_url": document.get("url") or page_url,
        "image": document.get("image"),
        "categories": _as_list(document.get("categories")),
        "tags": _as_list(document.get("tags")),
        "sitename": document.get("sitename"),
    }
    if len(text) >= MIN_TEXT_CHARS:
        fields.update(text=text, text_source=TEXT_FROM_PAGE)
    else:
        fields.update(text=_feed_text(discovered, text), text_source=TEXT_FROM_FEED)
    fields = {key: value for key, value in fields.items() if value not in (None, [], "")}
    return discovered.model_copy(update={**fields, "fetched_at": datetime.now(UTC)})


def _extract(tree: HtmlElement, url: str) -> dict[str, Any]:
    # Comments are not the article; favor_precision drops more related-link and
    # teaser blocks and scored higher on benchmarks/extraction_quality.py.
    document = trafilatura.bare_extraction(
        tree,
        url=url,
        with_metadata=True,
        include_comments=False,
        include_tables=True,
        favor_precision=True,
        # The date is already known; the quickest search will do.
        date_extraction_params=QUICK_DATE_PARAMS,
    )
    if document is None:
        return {}
    return dict(document.as_dict()) if hasattr(document, "as_dict") else dict(document)


def _feed_text(discovered: Article, page_text: str) -> str:
    """Title, summary and whatever short text the page had, without repeats."""
    parts: list[str] = []
    summary = str(getattr(discovered, "summary", "") or "")
    for part in (discovered.title or "", summary, page_text):
        part = part.strip()
        if part and all(part not in seen for seen in parts):
            parts.append(part)
    return "\n\n".join(parts)


def _as_list(value: Any) -> list[str]:
    if not value:
        return []
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return [str(item) for item in value]


def publication_date(page_date_text: str | None, feed_date: datetime | None) -> datetime | None:
    """The page's own date first, then the feed's; times and zones kept, the future refused.

    htmldate often knows only the day. When the feed's timestamp falls on that
    day it is the same date with its time and zone, so it is kept.
    """
    now = datetime.now(UTC)
    page_date = _parse_date(page_date_text)
    if feed_date is not None and feed_date - now > MAX_FUTURE:
        feed_date = None
    if page_date is None or page_date - now > MAX_FUTURE:
        return feed_date
    if feed_date is not None and feed_date.date() == page_date.date():
        return feed_date
    return page_date


def _page_date(tree: HtmlElement) -> str | None:
    # htmldate copies a tree it is given before pruning it, so the tree stays whole.
    try:
        found = find_date(tree, outputformat=DATE_FORMAT, original_date=True, extensive_search=True)
    except (ValueError, TypeError):
        return None
    return str(found) if found else None


def _without_comments(tree: HtmlElement) -> HtmlElement:
    """The tree as trafilatura's own parser would build it: comments and their
    markers removed, the text around them kept."""
    etree.strip_elements(tree, etree.Comment, with_tail=False)
    return tree


def _parse_date(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("+0000", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# URL for a page that came without one (a file or stdin): ids must still be stable.
UNKNOWN_URL = "about:blank"


def extract(html: str | bytes, url: str | None = None) -> Article:
    """One page on its own (`akhbar process --html`): the fetch stage's cleaning, with
    no feed entry to fall back on; bytes are decoded as the fetcher decodes them."""
    if isinstance(html, bytes):
        html, _charset = decode_html(html, None)
    page_url = url or UNKNOWN_URL
    return clean_page(html, page_url, Article.create(page_url))


class ExtractionTimeout(InvalidArticle):
    """trafilatura ran past the extraction timeout on this page: it is dead-lettered."""


class CleaningClosed(RuntimeError):
    """The fetch stage closed while the page waited to be cleaned; its message is not
    committed, so a restart fetches it again."""


class PageCleaner:
    """Runs `clean_page` for the fetch step: in one cleaning thread of this process
    (`processes` 0) or in `processes` worker processes.

    Called from the fetch stage's step threads, each with a page it has just
    downloaded; the call returns the cleaned article. A page on which extraction
    runs past `timeout_s` raises ExtractionTimeout (an InvalidArticle: the runner
    dead-letters it). In a thread, the stuck cleaning cannot be stopped: it is left
    to finish on its own and a new thread cleans the pages after it. In processes,
    the workers are terminated and started afresh. Workers start through a fork
    server, never by forking a process that runs Kafka client threads.
    """

    def __init__(
        self,
        processes: int,
        timeout_s: float,
        clean: Callable[[str, str, Article], Article] = clean_page,
    ) -> None:
        self.processes = processes
        self.timeout_s = timeout_s
        self._clean = clean
        self._pool: multiprocessing.pool.Pool | None = None
        self._lock = threading.Lock()
        self._line = CleaningLine(clean, timeout_s) if processes == 0 else None

    def __call__(self, html: str, page_url: str, discovered: Article) -> Article:
        if self._line is not None:
            return self._line.clean(html, page_url, discovered)
        pool = self._get_pool()
        pending = pool.apply_async(self._clean, (html, page_url, discovered))
        try:
            return pending.get(timeout=self.timeout_s)
        except multiprocessing.TimeoutError:
            self._restart(pool)
            raise ExtractionTimeout(
                f"extraction-timeout: cleaning took longer than {self.timeout_s:g} s"
            ) from None

    def start(self) -> None:
        """Start the cleaning thread, or the workers and wait until they answer (their
        imports take seconds), so the first pages do not wait for them."""
        if self._line is not None:
            self._line.start()
        else:
            self._get_pool().apply(_ready)

    def _get_pool(self) -> multiprocessing.pool.Pool:
        with self._lock:
            if self._pool is None:
                context = multiprocessing.get_context("forkserver")
                context.set_forkserver_preload(["ingest.clean"])
                self._pool = context.Pool(self.processes)
            return self._pool

    def _restart(self, stuck: multiprocessing.pool.Pool) -> None:
        """Terminate the workers (the stuck one among them); the next call starts new ones.

        Pages cleaned by the other workers at this moment fail as timeouts too and
        are dead-lettered with that reason, replayable.
        """
        with self._lock:
            if self._pool is stuck:
                self._pool = None
        stuck.terminate()

    def close(self) -> None:
        if self._line is not None:
            self._line.close()
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.terminate()


@dataclass
class _Page:
    """A downloaded page waiting for the cleaning thread, and what became of it."""

    html: str
    page_url: str
    discovered: Article
    done: threading.Event = field(default_factory=threading.Event)
    started: float | None = None
    cleaned_by: threading.Thread | None = None
    article: Article | None = None
    error: BaseException | None = None


class CleaningLine:
    """One thread that cleans the pages the fetch threads hand it, one after another.

    `clean()` is called from the fetch step's threads and waits for its page.
    One page is cleaned at a time, as the fetch threads' downloads overlap it (the
    threads cleaning at once only took the interpreter from each other), and each
    page has a time bound of its own: with the fetch threads taking turns under a
    lock, a runaway page held the lock, and every page behind it ran into the
    runner's step timeout and was dead-lettered. A page whose cleaning runs past `timeout_s`
    (counted from when its cleaning began, not from when it was queued) raises
    ExtractionTimeout in its caller; the thread stuck on it is abandoned (a thread
    cannot be stopped) and a new one takes the pages queued behind it.
    """

    def __init__(self, clean: Callable[[str, str, Article], Article], timeout_s: float) -> None:
        self._clean = clean
        self.timeout_s = timeout_s
        self._queue: queue.SimpleQueue[_Page | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False

    def start(self) -> None:
        with self._lock:
            if self._thread is None and not self._closed:
                self._start_thread()

    def clean(self, html: str, page_url: str, discovered: Article) -> Article:
        """The cleaned article, once the cleaning thread comes to this page; CleaningClosed
        if the line is closed before it does."""
        page = _Page(html, page_url, discovered)
        with self._lock:
            if self._closed:
                raise CleaningClosed("the fetch stage is closing; the page was not cleaned")
            if self._thread is None:
                self._start_thread()
            self._queue.put(page)
        self._wait(page)
        if page.error is not None:
            raise page.error
        assert page.article is not None
        return page.article

    def close(self) -> None:
        """The thread ends after the page in hand; the callers of pages still queued get
        CleaningClosed (a stopping stage commits none of them)."""
        with self._lock:
            self._closed = True
            self._thread = None
            while True:
                try:
                    page = self._queue.get_nowait()
                except queue.Empty:
                    break
                if page is not None:
                    page.error = CleaningClosed("the fetch stage closed before cleaning the page")
                    page.done.set()
            self._queue.put(None)

    def _wait(self, page: _Page) -> None:
        while True:
            started = page.started
            if started is None:
                wait_s = self.timeout_s  # still queued behind others: its own time has not begun
            else:
                wait_s = started + self.timeout_s - time.monotonic()
            if page.done.wait(max(wait_s, 0.0)):
                return
            if started is not None:
                self._abandon(page)
                raise ExtractionTimeout(
                    f"extraction-timeout: cleaning took longer than {self.timeout_s:g} s"
                )

    def _abandon(self, page: _Page) -> None:
        """A new thread takes the queue; the one stuck on `page` ends when it comes back."""
        with self._lock:
            if not self._closed and self._thread is page.cleaned_by:
                self._start_thread()

    def _start_thread(self) -> None:
        thread = threading.Thread(target=self._run, name="clean-pages", daemon=True)
        self._thread = thread
        thread.start()

    def _run(self) -> None:
        me = threading.current_thread()
        while self._thread is me:
            page = self._queue.get()
            if page is None:
                return
            page.cleaned_by = me
            page.started = time.monotonic()
            try:
                page.article = self._clean(page.html, page.page_url, page.discovered)
            except BaseException as exc:  # handed to the fetch thread that waits for it
                page.error = exc
            page.done.set()


def _ready() -> bool:
    return True
