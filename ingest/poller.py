"""The feed poller: polls the feeds it holds and turns new entries into discovered articles.

A `FeedPoller` is driven by a PollerMember (ingest/poller_group.py), which gives
it the feeds of the partitions it was assigned and their saved states. Each
`read` polls the feeds that are due, concurrently (asyncio + httpx, bounded in
total and per host), and returns one Article per entry never emitted before
(url, id, title, summary and date from the feed; empty text: the fetch stage
fills it in). A feed that fails is logged, counted and polled again later with
backoff; it never stops the poller and is never disabled for good.

The new states of the feeds polled are held until `take_states`, which the
member calls after the bus has flushed the articles, to publish them to
`feeds.state`. An article id emitted recently by another feed of this poller
is not emitted again (a cheap first filter; the fetch stage's is final).
"""

from __future__ import annotations

import asyncio
import calendar
import hashlib
import random
import re
import time
from collections import OrderedDict, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import feedparser
import httpx

from akhbar.article import Article, canonical_url
from akhbar.logs import get_logger
from ingest.feeds import Feed
from ingest.fetch import (
    USER_AGENT,
    AddressGuard,
    FetchError,
    HostPacer,
    PermanentFetchError,
    TransientFetchError,
    retry_after_seconds,
)
from ingest.host_pool import HostPools
from ingest.metrics import IngestMetrics
from ingest.state import FeedState, entry_digest

NAME = "poller"
VERSION = "1"

# Busy outlets publish every few minutes; polling faster only loads their servers.
MIN_INTERVAL_S = 120.0
# A feed that is quiet or broken is still looked at daily: it may come back.
MAX_INTERVAL_S = 24 * 3600.0
# Until a feed's rate is known, poll it this often.
DEFAULT_INTERVAL_S = 900.0
# Spread polls of feeds that share an interval, so they do not all fire at once.
JITTER = 0.1
# Feeds polled at once by one read(); bounds memory and the batch the runner flushes.
POLL_BATCH = 1000
# Requests in flight at once, overall and to one host (outlets throttle crawlers).
MAX_CONCURRENT = 200
MAX_PER_HOST = 4
# Article ids remembered for the first cross-feed filter: a few days of a large list.
RECENT_ARTICLE_IDS = 200_000
# A feed is a few hundred KB; more than this is not a feed.
MAX_FEED_BYTES = 5 * 1024 * 1024
MAX_REDIRECTS = 5
FEED_TIMEOUT_S = 30.0
# Bound on one whole poll, redirects included: a server dripping a byte at a time
# never trips the read timeout, and one read() waits for all of its feeds.
FEED_TOTAL_TIMEOUT_S = 45.0
# Poll twice per expected item: a new item waits half an interval on average.
POLLS_PER_ITEM = 2.0
DAY_S = 24 * 3600.0
SY_PERIODS = {"hourly": 3600.0, "daily": DAY_S, "weekly": 7 * DAY_S, "monthly": 30 * DAY_S}
MAX_AGE = re.compile(r"max-age\s*=\s*(\d+)")


@dataclass
class PollResult:
    """What one poll of one feed gave: new articles and the feed's new state."""

    state: FeedState
    articles: list[Article] = field(default_factory=list)


class FeedPoller:
    """Polls the feeds it is given; see the module docstring for when states are handed out."""

    name = NAME
    version = VERSION

    def __init__(
        self,
        feeds: list[Feed] | None = None,
        allow_hosts: tuple[str, ...] = (),
        user_agent: str = USER_AGENT,
        once: bool = False,
        metrics: IngestMetrics | None = None,
        max_per_host: int = MAX_PER_HOST,
        total_timeout_s: float = FEED_TOTAL_TIMEOUT_S,
        host_spacing_s: float = 0.0,
    ) -> None:
        self.total_timeout_s = total_timeout_s
        # Polls of one host start at least this far apart, across rounds: an outlet
        # with dozens of feeds sees them one after another, not as a burst. Only its
        # booking is used: the per-host limit is the round's asyncio semaphores.
        self._spacing = HostPacer(host_spacing_s, max_per_host)
        self.feeds: dict[str, Feed] = {}
        self.states: dict[str, FeedState] = {}
        for feed in feeds or []:
            self.add_feed(feed)
        self.guard = AddressGuard(allow_hosts)
        self.user_agent = user_agent
        self.once = once
        self.metrics = metrics
        self.max_per_host = max_per_host
        self.log = get_logger(stage=NAME)
        self._polled_once: set[str] = set()
        self._pending_states: dict[str, FeedState] = {}
        self._recent_ids: OrderedDict[str, None] = OrderedDict()
        self._loop = asyncio.new_event_loop()
        self._pools = HostPools(
            self.guard, max_per_host, user_agent, httpx.Timeout(FEED_TIMEOUT_S, connect=10.0)
        )

    def add_feed(self, feed: Feed) -> None:
        """Poll `feed` from now on (a changed feed keeps its state)."""
        self.feeds[feed.url] = feed
        self.states.setdefault(feed.url, FeedState(url=feed.url, name=feed.name))

    def remove_feed(self, url: str) -> None:
        """Stop polling `url`: it was removed, or its partition moved to another poller."""
        self.feeds.pop(url, None)
        self.states.pop(url, None)
        self._pending_states.pop(url, None)

    def load_state(self, state: FeedState) -> None:
        """A feed's saved state, read before it is first polled here."""
        self.states[state.url] = state

    @property
    def exhausted(self) -> bool:
        """With `once`: every feed has been polled in this process."""
        return self.once and self._polled_once >= self.feeds.keys()

    def read(self, max_items: int) -> list[Article]:
        due = self._due_feeds(time.time())
        if not due:
            return []
        results = self._loop.run_until_complete(self._poll_all(due))
        articles: list[Article] = []
        for result in results:
            articles.extend(self._accept(result))
        return articles

    def next_due(self) -> float | None:
        """When the next feed is due (epoch seconds), None without feeds."""
        return min((self.states[url].next_poll for url in self.feeds), default=None)

    def take_states(self) -> list[FeedState]:
        """The states changed since the last call (call after the bus flushed the articles)."""
        states = list(self._pending_states.values())
        self._pending_states.clear()
        return states

    def close(self) -> None:
        self._loop.run_until_complete(self._pools.aclose())
        self._loop.close()

    # -- scheduling -----------------------------------------------------------

    def _due_feeds(self, now: float) -> list[Feed]:
        if self.once:
            pending = [url for url in self.feeds if url not in self._polled_once]
            return [self.feeds[url] for url in pending[:POLL_BATCH]]
        due = [url for url in self.feeds if self.states[url].next_poll <= now]
        due.sort(key=lambda url: self.states[url].next_poll)
        return [self.feeds[url] for url in due[:POLL_BATCH]]

    def _accept(self, result: PollResult) -> list[Article]:
        """Keep the new state until take_states; drop articles another feed just gave."""
        url = result.state.url
        if url not in self.feeds:
            return []  # removed, or its partition moved away, while it was polled
        self.states[url] = result.state
        self._pending_states[url] = result.state
        self._polled_once.add(url)
        fresh = [article for article in result.articles if self._first_time(article.id)]
        if self.metrics is not None:
            self.metrics.new_entries.inc(len(fresh))
        return fresh

    def _first_time(self, article_id: str) -> bool:
        if article_id in self._recent_ids:
            return False
        self._recent_ids[article_id] = None
        if len(self._recent_ids) > RECENT_ARTICLE_IDS:
            self._recent_ids.popitem(last=False)
        return True

    # -- polling --------------------------------------------------------------

    async def _poll_all(self, feeds: list[Feed]) -> list[PollResult]:
        overall = asyncio.Semaphore(MAX_CONCURRENT)
        per_host: defaultdict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(self.max_per_host)
        )

        async def bounded(feed: Feed) -> PollResult:
            host = urlsplit(feed.url).netloc
            async with per_host[host]:
                # Spacing is waited for holding only the host's slot, so one busy
                # outlet does not hold back the others.
                delay = self._spacing.reserve(host)
                if delay > 0:
                    await asyncio.sleep(delay)
                async with overall:
                    return await self._poll(feed)

        results = await asyncio.gather(*(bounded(feed) for feed in feeds))
        await self._pools.end_round()
        return results

    async def _poll(self, feed: Feed) -> PollResult:
        state = self.states[feed.url].copy()
        state.name = feed.name
        now = time.time()
        state.last_poll, state.polls = now, state.polls + 1
        try:
            response, body = await asyncio.wait_for(
                self._get(feed.url, state), self.total_timeout_s
            )
        except TimeoutError:
            timeout = TransientFetchError(
                "timeout", f"no whole feed within {self.total_timeout_s:g} s from {feed.url}"
            )
            return self._failed(feed, state, timeout, now)
        except FetchError as exc:
            return self._failed(feed, state, exc, now)
        state.last_status = response.status_code
        if response.status_code == 304 or _same_body(state, body):
            self._succeeded(feed, state, response, None, now)
            return PollResult(state)
        parsed = feedparser.parse(body, response_headers=dict(response.headers))
        if parsed.bozo:
            error = PermanentFetchError("malformed-feed", f"{parsed.bozo_exception}")
            if not any(entry.get("link") for entry in parsed.entries):
                return self._failed(feed, state, error, now)
            self._recovered(feed, state, error)
        result = self._new_entries(feed, state, parsed, now)
        state.body_hash = hashlib.sha256(body).hexdigest()
        state.etag = response.headers.get("etag")
        state.last_modified = response.headers.get("last-modified")
        self._succeeded(feed, state, response, parsed, now)
        return result

    async def _get(self, url: str, state: FeedState) -> tuple[httpx.Response, bytes]:
        """The feed's response and body: conditional, redirects checked, size capped."""
        headers = {}
        if state.etag:
            headers["If-None-Match"] = state.etag
        elif state.last_modified:
            headers["If-Modified-Since"] = state.last_modified
        for _hop in range(MAX_REDIRECTS + 1):
            # The address itself is checked when the connection opens (AsyncGuardedBackend).
            self.guard.check_url(url)
            try:
                response, body = await self._request(url, headers)
            except httpx.TimeoutException as exc:
                raise TransientFetchError("timeout", f"{type(exc).__name__} on {url}") from exc
            except httpx.HTTPError as exc:
                raise TransientFetchError("connection", f"{exc!r} on {url}") from exc
            # 304 is a 3xx too; only a Location makes it a redirect.
            if not response.has_redirect_location:
                _check_feed_status(response)
                return response, body
            url = urljoin(url, response.headers.get("location", url))
        raise PermanentFetchError("redirects", f"more than {MAX_REDIRECTS} redirects")

    async def _request(self, url: str, headers: dict[str, str]) -> tuple[httpx.Response, bytes]:
        response = await self._pools.open(url, headers)
        try:
            chunks, size = [], 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > MAX_FEED_BYTES:
                    raise PermanentFetchError("too-large", f"feed over {MAX_FEED_BYTES} bytes")
                chunks.append(chunk)
            return response, b"".join(chunks)
        finally:
            await response.aclose()

    def _new_entries(self, feed: Feed, state: FeedState, parsed: Any, now: float) -> PollResult:
        result = PollResult(state)
        listed: set[str] = set()
        for entry in parsed.entries:
            key = entry_key(entry)
            if key is None:
                continue
            digest = entry_digest(key)
            listed.add(digest)
            if digest in state.seen:
                continue
            state.seen[digest] = now
            state.entries += 1
            article = discovered_article(feed, entry)
            if article is None:
                self.log.info("entry without a usable link", feed=feed.url, entry=key)
                continue
            result.articles.append(article)
        state.forget_old_entries(listed, now)
        return result

    def _succeeded(
        self, feed: Feed, state: FeedState, response: httpx.Response, parsed: Any, now: float
    ) -> None:
        state.error_streak = 0
        state.last_success = now
        if self.metrics is not None:
            self.metrics.polls.labels(str(response.status_code)).inc()
        if parsed is not None:
            state.items_per_day = items_per_day(parsed.entries) or state.items_per_day
        interval = feed.interval_s or adaptive_interval(state.items_per_day, parsed, response)
        state.interval_s = interval
        state.next_poll = now + _jittered(interval)

    def _recovered(self, feed: Feed, state: FeedState, error: FetchError) -> None:
        """Broken XML that feedparser could still read: use it, but tell ops."""
        state.last_error, state.last_error_kind = str(error), error.kind
        if self.metrics is not None:
            self.metrics.poll_errors.labels(error.kind).inc()
        self.log.warning(
            "feed is malformed; using what could be read", feed=feed.url, reason=str(error)
        )

    def _failed(self, feed: Feed, state: FeedState, error: FetchError, now: float) -> PollResult:
        state.error_streak += 1
        state.errors += 1
        state.last_error = str(error)
        state.last_error_kind = error.kind
        retry_after = getattr(error, "retry_after_s", None) or 0.0
        backoff = min(MAX_INTERVAL_S, MIN_INTERVAL_S * 2 ** (state.error_streak - 1))
        state.next_poll = now + _jittered(max(backoff, retry_after))
        if self.metrics is not None:
            self.metrics.polls.labels(error.kind).inc()
            self.metrics.poll_errors.labels(error.kind).inc()
        self.log.warning(
            "feed poll failed",
            feed=feed.url,
            kind=error.kind,
            reason=str(error),
            error_streak=state.error_streak,
            retry_in_s=round(state.next_poll - now),
        )
        return PollResult(state)


def _check_feed_status(response: httpx.Response) -> None:
    status = response.status_code
    if status < 400:
        return
    retry_after = retry_after_seconds(response.headers.get("retry-after"))
    raise TransientFetchError(f"http-{status}", f"feed answered {status}", retry_after)


def _same_body(state: FeedState, body: bytes) -> bool:
    """Some servers ignore validators; an unchanged body is unchanged all the same."""
    return state.body_hash is not None and hashlib.sha256(body).hexdigest() == state.body_hash


def entry_key(entry: Any) -> str | None:
    """The entry's identity: its guid, else its canonical link, else title and date."""
    guid = (entry.get("id") or "").strip()
    if guid:
        return f"guid:{guid}"
    link = (entry.get("link") or "").strip()
    if link:
        return f"url:{canonical_url(link)}"
    title, date = entry.get("title") or "", entry.get("published") or entry.get("updated") or ""
    if title:
        return "title:" + hashlib.sha256(f"{title}\n{date}".encode()).hexdigest()
    return None


def discovered_article(feed: Feed, entry: Any) -> Article | None:
    link = (entry.get("link") or "").strip()
    if not link.startswith(("http://", "https://")):
        return None
    summary = entry.get("summary") or ""
    return Article.create(
        link,
        feed=feed.url,
        source=feed.name or urlsplit(feed.url).netloc,
        title=(entry.get("title") or "").strip() or None,
        language=feed.language,
        published_at=_entry_date(entry),
        summary=_strip_tags(summary),
        tags=list(feed.tags),
    )


def _entry_date(entry: Any) -> datetime | None:
    parsed = entry.get("published_parsed") or entry.get("updated_parsed")
    if not parsed:
        return None
    return datetime.fromtimestamp(calendar.timegm(parsed), UTC)


def _strip_tags(summary: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", summary)).strip()


def items_per_day(entries: list[Any]) -> float:
    """Publishing rate from the entries' dates; 0 when fewer than two are dated."""
    stamps = sorted(
        calendar.timegm(e.get("published_parsed") or e.get("updated_parsed"))
        for e in entries
        if e.get("published_parsed") or e.get("updated_parsed")
    )
    if len(stamps) < 2:
        return 0.0
    span_days = max((stamps[-1] - stamps[0]) / DAY_S, 1 / 24)
    return (len(stamps) - 1) / span_days


def adaptive_interval(rate: float, parsed: Any, response: httpx.Response) -> float:
    """Poll interval from the publishing rate, raised to the feed's and server's hints."""
    interval = DAY_S / (rate * POLLS_PER_ITEM) if rate > 0 else DEFAULT_INTERVAL_S
    for hint in (_feed_hint_s(parsed), _cache_hint_s(response)):
        if hint:
            interval = max(interval, hint)
    return min(max(interval, MIN_INTERVAL_S), MAX_INTERVAL_S)


def _feed_hint_s(parsed: Any) -> float | None:
    """RSS <ttl> (minutes) or sy:updatePeriod / sy:updateFrequency."""
    if parsed is None:
        return None
    channel = parsed.get("feed", {})
    ttl = str(channel.get("ttl") or "")
    if ttl.isdigit():
        return int(ttl) * 60.0
    period = SY_PERIODS.get(str(channel.get("sy_updateperiod") or "").strip().lower())
    if period:
        frequency = str(channel.get("sy_updatefrequency") or "1").strip()
        return period / max(int(frequency) if frequency.isdigit() else 1, 1)
    return None


def _cache_hint_s(response: httpx.Response, now: float | None = None) -> float | None:
    """Cache-Control max-age, else how far ahead Expires is (RFC 9111 puts max-age first)."""
    match = MAX_AGE.search(response.headers.get("cache-control", ""))
    if match:
        return float(match.group(1))
    expires = response.headers.get("expires")
    if not expires:
        return None
    try:
        when = parsedate_to_datetime(expires).timestamp()
    except (TypeError, ValueError):
        return None
    ahead = when - (time.time() if now is None else now)
    return ahead if ahead > 0 else None


def _jittered(seconds: float) -> float:
    return seconds * random.uniform(1 - JITTER, 1 + JITTER)
