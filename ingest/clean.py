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
from collections.abc import Callable, Sequence
from concurrent.futures import Future, InvalidStateError
from copy import deepcopy
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
# trafilatura's own extractor is run alone first; only when it finds less text than
# this is the page extracted again with the comparison against readability and
# jusText. On benchmarks/extraction_quality.py comparing every page scored F1 0.964;
# comparing below 500, 1,000 or 2,000 characters 0.966, 0.964, 0.964, at a third
# less CPU a page; below 200, 0.959 (short extractions are where the fallbacks help).
COMPARE_BELOW_CHARS = 500


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
    """trafilatura's extraction of the page: its own extractor alone, or, when that
    finds little, the full cascade with the fallback extractors compared."""
    # The first pass may prune the tree it is given; the second needs it whole.
    whole = deepcopy(tree)
    document = _trafilatura(tree, url, compare=False)
    if len(document.get("text") or "") >= COMPARE_BELOW_CHARS:
        return document
    return _trafilatura(whole, url, compare=True)


def _trafilatura(tree: HtmlElement, url: str, compare: bool) -> dict[str, Any]:
    # Comments are not the article; favor_precision drops more related-link and
    # teaser blocks and scored higher on benchmarks/extraction_quality.py.
    document = trafilatura.bare_extraction(
        tree,
        url=url,
        fast=not compare,
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

    @property
    def cleans_in_batches(self) -> bool:
        """True when `clean_all` is offered: cleaning in this process, on the line."""
        return self._line is not None

    def clean_all(self, pages: Sequence[tuple[str, str, Article]]) -> list[Future[Article]]:
        """Queue downloaded pages (HTML, URL, discovered article) to be cleaned back to back;
        a future per page (CleaningLine.clean_all). Only when `cleans_in_batches`."""
        if self._line is None:
            raise RuntimeError("batches are cleaned on the line only (processes = 0)")
        return self._line.clean_all(pages)

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
    """A downloaded page waiting for the cleaning thread; `result` is settled by that
    thread, or by the watcher when the cleaning runs past its bound."""

    html: str
    page_url: str
    discovered: Article
    result: Future[Article] = field(default_factory=Future)
    started: float | None = None
    cleaned_by: threading.Thread | None = None


class CleaningLine:
    """One thread that cleans the pages handed to it, one after another, in order.

    `clean()` is called from the fetch step's threads and waits for its page;
    `clean_all()` is called by the fetch step with a whole batch of downloaded pages
    and returns at once, a future per page. One page is cleaned at a time (threads
    cleaning at once only took the interpreter from each other), and each page has a
    time bound of its own, counted from when its cleaning began, not from when it was
    queued: with the fetch threads taking turns under a lock, a runaway page held the
    lock, and every page behind it ran into the runner's step timeout and was
    dead-lettered. A watcher thread, which sleeps until the page in hand reaches its
    bound, settles a page that runs past `timeout_s` with ExtractionTimeout; the
    thread stuck on it is abandoned (a thread cannot be stopped) and a new one takes
    the pages queued behind it. Pages still queued at `close()` fail with
    CleaningClosed.
    """

    def __init__(self, clean: Callable[[str, str, Article], Article], timeout_s: float) -> None:
        self._clean = clean
        self.timeout_s = timeout_s
        self._queue: queue.SimpleQueue[_Page | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._watcher: threading.Thread | None = None
        # The page being cleaned, for the watcher; `_busy` wakes a watcher that found
        # the line idle, and costs nothing (no waiter) while it is not.
        self._current: _Page | None = None
        self._busy = threading.Event()
        self._closing = threading.Event()
        self._closed = False

    def start(self) -> None:
        with self._lock:
            self._ensure_threads()

    def clean(self, html: str, page_url: str, discovered: Article) -> Article:
        """The cleaned article, once the cleaning thread comes to this page; CleaningClosed
        if the line is closed before it does, ExtractionTimeout past the page's bound."""
        (result,) = self.clean_all([(html, page_url, discovered)])
        return result.result()

    def clean_all(self, pages: Sequence[tuple[str, str, Article]]) -> list[Future[Article]]:
        """Queue the pages (HTML, URL, discovered article) to be cleaned back to back, in
        order; a future per page. Raises CleaningClosed once the line is closed."""
        queued = [_Page(html, page_url, discovered) for html, page_url, discovered in pages]
        with self._lock:
            if self._closed:
                raise CleaningClosed("the fetch stage is closing; the page was not cleaned")
            self._ensure_threads()
            for page in queued:
                self._queue.put(page)
        return [page.result for page in queued]

    def close(self) -> None:
        """The thread ends after the page in hand; the pages still queued fail with
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
                    _settle(page, error=CleaningClosed("the fetch stage closed before cleaning"))
            self._queue.put(None)
        self._closing.set()
        self._busy.set()  # the watcher sees the line closed and ends

    def _ensure_threads(self) -> None:
        """Start the cleaning thread and the watcher if they are not running (under the lock)."""
        if self._closed:
            return
        if self._thread is None:
            self._start_thread()
        if self._watcher is None:
            self._watcher = threading.Thread(target=self._watch, name="clean-watch", daemon=True)
            self._watcher.start()

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
            if not page.result.set_running_or_notify_cancel():
                continue  # its message was given up on before its turn
            page.cleaned_by = me
            page.started = time.monotonic()
            self._current = page
            self._busy.set()
            try:
                article = self._clean(page.html, page.page_url, page.discovered)
            except BaseException as exc:  # handed to whoever waits for the page
                _settle(page, error=exc)
            else:
                _settle(page, article=article)
            if self._current is page:
                self._current = None

    def _watch(self) -> None:
        """Sleep until the page in hand reaches its bound; abandon it if it is still in hand.

        Between two pages of a busy line this thread does not wake: it wakes once per
        `timeout_s` at most, or when the line goes from idle to busy."""
        while not self._closed:
            page = self._current
            if page is None or page.started is None or page.result.done():
                # Nothing in hand: wait for the next page (`_busy` is set after `_current`).
                self._busy.clear()
                page = self._current
                if (page is None or page.result.done()) and not self._closed:
                    self._busy.wait()
                continue
            left = page.started + self.timeout_s - time.monotonic()
            if left > 0:
                self._closing.wait(left)
            elif self._current is page:
                self._abandon(page)

    def _abandon(self, page: _Page) -> None:
        """Fail the page with ExtractionTimeout; a new thread takes the queue, and the one
        stuck on `page` ends when it comes back. A page that was cleaned meanwhile keeps
        its article and its thread."""
        late = ExtractionTimeout(
            f"extraction-timeout: cleaning took longer than {self.timeout_s:g} s"
        )
        with self._lock:
            if not _settle(page, error=late):
                return
            if self._current is page:
                self._current = None
            if not self._closed and self._thread is page.cleaned_by:
                self._start_thread()


def _settle(
    page: _Page, article: Article | None = None, error: BaseException | None = None
) -> bool:
    """Give the page its outcome; False if it had one already (the cleaning and its
    timeout raced, and the other won)."""
    try:
        if error is not None:
            page.result.set_exception(error)
        else:
            page.result.set_result(article)  # type: ignore[arg-type]
    except InvalidStateError:
        return False
    return True


def _ready() -> bool:
    return True
