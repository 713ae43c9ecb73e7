"""A local news site for tests, benchmarks and the demo: real articles, real pages, hostile ones.

`FixtureServer` is started by the test suite, `akhbar demo` and the benchmarks;
it binds 127.0.0.1 on a free port and serves from memory:

* `/feeds/news.xml` (RSS) and `/feeds/news.atom` (Atom): one entry per article
  given (real SaudiNewsNet articles), with ETag and Last-Modified; answers 304
  to a matching conditional GET. `publish()` adds entries while it runs.
* `/news/<n>`: that article wrapped in a realistic page (navigation, related
  links, comments, footer).
* `/pages/<name>`: real Arabic pages from a directory, served as they are;
  `/feeds/pages.xml` lists them.
* `/hostile/<case>` and `/feeds/hostile.xml`: the cases a real crawler meets
  (see HOSTILE_CASES); `/feeds/malformed.xml` is broken XML.
* `/bench/<n>.xml`: tiny feeds for the polling benchmark, 304 when unchanged.
* `/redirect?to=URL`: a 302 to URL (redirects to other hosts).
* `/feeds/section/<k>-of-<n>.xml`: one of n section feeds; section k lists the
  articles i with i % n in {k, k - 1}, so every article is in two sections.

Every request is logged (`requests_log`: time, path, User-Agent), so tests can
tell which poller polled which feed when.

Every slow or large answer is bounded and ends by itself.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import html
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import brotli

HUGE_BODY_BYTES = 50 * 1024 * 1024
GZIP_BOMB_BYTES = 200 * 1024 * 1024
# The slow-drip page sends one byte this often, for at most SLOW_DRIP_MAX_S.
SLOW_DRIP_INTERVAL_S = 0.2
SLOW_DRIP_MAX_S = 60.0
RETRY_AFTER_S = 120
# A link no fetcher may follow: the cloud metadata address.
PRIVATE_URL = "http://169.254.169.254/latest/meta-data/"

CP1256_TEXT = (
    "أعلنت وزارة الصحة اليوم عن افتتاح مستشفى جديد في مدينة الرياض بسعة خمسمائة سرير، "
    "وقال المتحدث باسم الوزارة إن المستشفى سيخدم أكثر من مليون نسمة في الأحياء الشمالية "
    "من المدينة، وإن العمل فيه سيبدأ مطلع الشهر المقبل بعد اكتمال تجهيز الأقسام كافة. "
) * 3

HOSTILE_CASES = {
    "cp1256": "windows-1256 page, charset only in its meta tag",
    "cp1256-latin-header": "windows-1256 page whose header says iso-8859-1",
    "cp1256-unlabelled": "windows-1256 page with no charset anywhere",
    "utf8-latin-header": "UTF-8 page whose header says iso-8859-1",
    "brotli": "brotli-compressed page",
    "huge": "50 MB body without Content-Length",
    "huge-declared": "Content-Length of 50 MB",
    "gzip-bomb": "200 MB of zeros in a small gzip body",
    "redirect-loop": "redirects to itself forever",
    "slow": "one byte every 0.2 s",
    "404": "not found",
    "410": "gone",
    "429": "too many requests, Retry-After 120",
    "500": "server error",
    "pdf": "application/pdf",
    "no-article": "navigation and footer only",
    "private-redirect": "redirect to the cloud metadata address",
}


@dataclass
class SiteArticle:
    """One article the site publishes."""

    title: str
    text: str
    published: datetime
    author: str = ""
    summary: str = ""


@dataclass
class _Site:
    articles: list[SiteArticle] = field(default_factory=list)
    pages: dict[str, bytes] = field(default_factory=dict)
    # Article pages as sent, built on first request: articles are only ever appended.
    article_pages: dict[str, bytes] = field(default_factory=dict)
    feed_version: int = 0
    requests: int = 0
    log: list[tuple[float, str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class FixtureServer:
    """The local site; `start()` returns its base URL, `stop()` shuts it down."""

    def __init__(self, articles: list[SiteArticle], pages_dir: Path | None = None) -> None:
        self.site = _Site(articles=list(articles))
        if pages_dir is not None:
            self.site.pages = _load_pages(pages_dir)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.base_url = ""

    def start(self) -> str:
        site = self.site

        class Handler(_Handler):
            pass

        Handler.site = site
        self._server = QuietHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        return self.base_url

    def publish(self, article: SiteArticle) -> None:
        """Add an entry at the top of the feeds (their ETag changes)."""
        with self.site.lock:
            self.site.articles.append(article)
            self.site.feed_version += 1

    @property
    def requests(self) -> int:
        return self.site.requests

    def requests_log(self) -> list[tuple[float, str, str]]:
        """(time.time(), path, User-Agent) of every request so far."""
        with self.site.lock:
            return list(self.site.log)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FixtureServer:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def load_saudinewsnet(path: Path, limit: int | None = None) -> list[SiteArticle]:
    """SiteArticles from a SaudiNewsNet JSON Lines file (keys title, content, date_extracted)."""
    articles = []
    # SaudiNewsNet's times are Riyadh local time.
    riyadh = timezone(timedelta(hours=3))
    for line in path.read_text(encoding="utf-8").splitlines()[:limit]:
        row = json.loads(line)
        published = datetime.fromisoformat(row["date_extracted"]).replace(tzinfo=riyadh)
        articles.append(
            SiteArticle(
                title=row["title"],
                text=row["content"],
                published=published,
                author=row.get("author") or "",
                summary=row["content"][:160],
            )
        )
    return articles


def _load_pages(directory: Path) -> dict[str, bytes]:
    pages = {}
    for path in sorted(directory.rglob("*")):
        if path.suffix == ".html":
            pages[path.stem] = path.read_bytes()
        elif path.name.endswith(".html.gz"):
            pages[path.name.removesuffix(".html.gz")] = gzip.decompress(path.read_bytes())
    return pages


class QuietHTTPServer(ThreadingHTTPServer):
    """A threaded HTTP server that says nothing when a client hangs up (the fixture site,
    and the page-client tests' server)."""

    daemon_threads = True
    # The default backlog of 5 drops connections when a poller opens hundreds at once.
    request_queue_size = 1024

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up on hostile pages is the point, not an error."""


class _Handler(BaseHTTPRequestHandler):
    site: _Site
    protocol_version = "HTTP/1.1"
    # Headers and body in one write: written apart, they meet the client's delayed
    # ACK and every request takes 40 ms.
    wbufsize = 64 * 1024

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests and benchmarks make thousands of requests."""

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        with self.site.lock:
            self.site.requests += 1
            self.site.log.append((time.time(), path, self.headers.get("User-Agent", "")))
        # The client gave up, as it should on hostile pages.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._route(path)

    def _route(self, path: str) -> None:
        routes: dict[str, Callable[[], None]] = {
            "/feeds/news.xml": lambda: self._feed(rss=True),
            "/feeds/news.atom": lambda: self._feed(rss=False),
            "/feeds/pages.xml": self._pages_feed,
            "/feeds/hostile.xml": self._hostile_feed,
            "/feeds/malformed.xml": lambda: self._send(
                200, b"<rss><channel><item><title>broken", "application/rss+xml"
            ),
            "/robots.txt": lambda: self._send(200, b"User-agent: *\nDisallow: /private/\n"),
        }
        if path in routes:
            routes[path]()
        elif path.startswith("/news/"):
            self._article(path.removeprefix("/news/"))
        elif path.startswith("/pages/"):
            self._page(path.removeprefix("/pages/"))
        elif path.startswith("/hostile/"):
            self._hostile(path.removeprefix("/hostile/"))
        elif path.startswith("/bench/"):
            self._bench_feed(path)
        elif path == "/redirect":
            target = parse_qs(urlsplit(self.path).query).get("to", ["/"])[0]
            self._send(302, b"", headers={"Location": target})
        elif path.startswith("/feeds/section/"):
            self._section_feed(path.removeprefix("/feeds/section/").removesuffix(".xml"))
        else:
            self._send(404, b"not found")

    # -- plumbing -------------------------------------------------------------

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str = "text/plain; charset=utf-8",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _conditional(self, body: bytes, content_type: str, modified: datetime) -> None:
        etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
        last_modified = format_datetime(modified.astimezone(UTC), usegmt=True)
        if self.headers.get("If-None-Match") == etag or (
            not self.headers.get("If-None-Match")
            and self.headers.get("If-Modified-Since") == last_modified
        ):
            self.send_response(304)
            self.send_header("ETag", etag)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self._send(200, body, content_type, {"ETag": etag, "Last-Modified": last_modified})

    # -- feeds ----------------------------------------------------------------

    def _base(self) -> str:
        return f"http://{self.headers.get('Host', '127.0.0.1')}"

    def _feed(self, rss: bool) -> None:
        with self.site.lock:
            articles = list(enumerate(self.site.articles))
        base = self._base()
        entries = [(f"{base}/news/{i}", a.title, a.summary, a.published) for i, a in articles]
        newest = max((a.published for _, a in articles), default=datetime(2015, 1, 1, tzinfo=UTC))
        body = _rss(entries) if rss else _atom(entries, newest)
        kind = "application/rss+xml" if rss else "application/atom+xml"
        self._conditional(body.encode(), f"{kind}; charset=utf-8", newest)

    def _pages_feed(self) -> None:
        base = self._base()
        now = datetime(2026, 1, 1, tzinfo=UTC)
        entries = [(f"{base}/pages/{name}", name, "", now) for name in self.site.pages]
        self._conditional(_rss(entries).encode(), "application/rss+xml", now)

    def _hostile_feed(self) -> None:
        base = self._base()
        now = datetime(2026, 1, 1, tzinfo=UTC)
        entries = [
            (f"{base}/hostile/{case}", f"حالة {case}", why, now)
            for case, why in HOSTILE_CASES.items()
        ]
        entries.append((PRIVATE_URL, "رابط داخلي", "a link into the private network", now))
        self._conditional(_rss(entries).encode(), "application/rss+xml", now)

    def _section_feed(self, name: str) -> None:
        section, _, sections = name.partition("-of-")
        if not (section.isdigit() and sections.isdigit() and int(sections) > 0):
            self._send(404, b"no such section")
            return
        k, n = int(section), int(sections)
        with self.site.lock:
            articles = list(enumerate(self.site.articles))
        base = self._base()
        entries = [
            (f"{base}/news/{i}", a.title, a.summary, a.published)
            for i, a in articles
            if i % n in (k, (k - 1) % n)
        ]
        newest = max((a.published for _, a in articles), default=datetime(2015, 1, 1, tzinfo=UTC))
        self._conditional(_rss(entries).encode(), "application/rss+xml; charset=utf-8", newest)

    def _bench_feed(self, path: str) -> None:
        now = datetime(2026, 1, 1, tzinfo=UTC)
        entries = [(f"{self._base()}{path}/item", "خبر", "", now)]
        self._conditional(_rss(entries).encode(), "application/rss+xml", now)

    # -- pages ----------------------------------------------------------------

    def _article(self, number: str) -> None:
        with self.site.lock:
            articles = self.site.articles
            article = (
                articles[int(number)] if number.isdigit() and int(number) < len(articles) else None
            )
        if article is None:
            self._send(404, b"no such article")
            return
        page = self.site.article_pages.get(number)
        if page is None:
            page = self.site.article_pages[number] = article_page(article, number).encode()
        self._send(200, page, "text/html; charset=utf-8")

    def _page(self, name: str) -> None:
        body = self.site.pages.get(name)
        if body is None:
            self._send(404, b"no such page")
            return
        self._send(200, body, "text/html")

    def _hostile(self, case: str) -> None:
        handler = getattr(self, "_hostile_" + case.replace("-", "_"), None)
        if handler is None:
            self._send(404, b"no such case")
            return
        handler()

    def _hostile_cp1256(self) -> None:
        self._send(200, _cp1256_page(meta=True), "text/html")

    def _hostile_cp1256_latin_header(self) -> None:
        self._send(200, _cp1256_page(meta=True), "text/html; charset=iso-8859-1")

    def _hostile_cp1256_unlabelled(self) -> None:
        self._send(200, _cp1256_page(meta=False), "text/html")

    def _hostile_utf8_latin_header(self) -> None:
        body = _plain_page("صحة", CP1256_TEXT).encode("utf-8")
        self._send(200, body, "text/html; charset=iso-8859-1")

    def _hostile_brotli(self) -> None:
        body = brotli.compress(_plain_page("صحة", CP1256_TEXT).encode("utf-8"))
        self._send(200, body, "text/html; charset=utf-8", {"Content-Encoding": "br"})

    def _hostile_huge(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Connection", "close")
        self.end_headers()
        chunk = b"<p>" + b"x" * 65_530 + b"</p>"
        for _ in range(HUGE_BODY_BYTES // len(chunk)):
            self.wfile.write(chunk)
        self.close_connection = True

    def _hostile_huge_declared(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(HUGE_BODY_BYTES))
        self.end_headers()
        self.wfile.write(b"<html>")
        self.close_connection = True

    def _hostile_gzip_bomb(self) -> None:
        self._send(200, _gzip_bomb(), "text/html", {"Content-Encoding": "gzip"})

    def _hostile_redirect_loop(self) -> None:
        self._send(302, b"", headers={"Location": "/hostile/redirect-loop"})

    def _hostile_private_redirect(self) -> None:
        self._send(302, b"", headers={"Location": PRIVATE_URL})

    def _hostile_slow(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Connection", "close")
        self.end_headers()
        deadline = time.monotonic() + SLOW_DRIP_MAX_S
        while time.monotonic() < deadline:
            self.wfile.write(b" ")
            self.wfile.flush()
            time.sleep(SLOW_DRIP_INTERVAL_S)
        self.close_connection = True

    def _hostile_404(self) -> None:
        self._send(404, b"not found")

    def _hostile_410(self) -> None:
        self._send(410, b"gone")

    def _hostile_429(self) -> None:
        self._send(429, b"slow down", headers={"Retry-After": str(RETRY_AFTER_S)})

    def _hostile_500(self) -> None:
        self._send(500, b"internal error")

    def _hostile_pdf(self) -> None:
        self._send(200, b"%PDF-1.4\n%%EOF\n", "application/pdf")

    def _hostile_no_article(self) -> None:
        self._send(200, _chrome("", "").encode(), "text/html; charset=utf-8")


_BOMB: list[bytes] = []


def _gzip_bomb() -> bytes:
    if not _BOMB:
        _BOMB.append(gzip.compress(b"\0" * GZIP_BOMB_BYTES, compresslevel=9))
    return _BOMB[0]


def _rss(entries: list[tuple[str, str, str, datetime]]) -> str:
    items = "".join(
        f"<item><title>{html.escape(title)}</title><link>{html.escape(link)}</link>"
        f"<guid isPermaLink='true'>{html.escape(link)}</guid>"
        f"<description>{html.escape(summary)}</description>"
        f"<pubDate>{format_datetime(published.astimezone(UTC), usegmt=True)}</pubDate></item>"
        for link, title, summary, published in reversed(entries)
    )
    return (
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
        "<title>أخبار محلية</title><link>http://127.0.0.1/</link><ttl>5</ttl>"
        f"<description>fixture</description>{items}</channel></rss>"
    )


def _atom(entries: list[tuple[str, str, str, datetime]], updated: datetime) -> str:
    items = "".join(
        f"<entry><title>{html.escape(title)}</title><link href='{html.escape(link)}'/>"
        f"<id>{html.escape(link)}</id><summary>{html.escape(summary)}</summary>"
        f"<updated>{published.isoformat()}</updated></entry>"
        for link, title, summary, published in reversed(entries)
    )
    return (
        "<?xml version='1.0' encoding='utf-8'?><feed xmlns='http://www.w3.org/2005/Atom'>"
        f"<title>أخبار محلية</title><id>urn:fixture</id><updated>{updated.isoformat()}</updated>"
        f"{items}</feed>"
    )


def article_page(article: SiteArticle, number: str) -> str:
    """The article inside the chrome of a news site: what trafilatura has to cut away."""
    paragraphs = "".join(
        f"<p>{html.escape(p.strip())}</p>" for p in article.text.split("\n") if p.strip()
    )
    published = article.published.isoformat()
    body = (
        f"<article><h1>{html.escape(article.title)}</h1>"
        f"<div class='byline'>{html.escape(article.author)} - <time datetime='{published}'>"
        f"{published}</time></div><div class='article-body'>{paragraphs}</div></article>"
    )
    head = (
        f"<meta property='article:published_time' content='{published}'>"
        f"<meta property='og:title' content='{html.escape(article.title, quote=True)}'>"
        f"<link rel='canonical' href='/news/{number}'>"
    )
    return _chrome(body, head, article.title)


def _chrome(body: str, head: str, title: str = "الرئيسية") -> str:
    nav = "".join(
        f"<li><a href='/section/{i}'>{name}</a></li>"
        for i, name in enumerate(["الرئيسية", "محليات", "دولي", "اقتصاد", "رياضة", "ثقافة"])
    )
    related = "".join(
        f"<li><a href='/news/{i}'>خبر ذو صلة رقم {i}: تطورات جديدة في الملف</a></li>"
        for i in range(5)
    )
    comments = "".join(
        f"<div class='comment'><b>زائر {i}</b><p>تعليق القارئ رقم {i}: شكرا على الخبر.</p></div>"
        for i in range(3)
    )
    return (
        f"<!DOCTYPE html><html lang='ar' dir='rtl'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)} | صحيفة الأخبار</title>{head}</head><body>"
        f"<header><nav><ul>{nav}</ul></nav><div class='ad'>إعلان</div></header>"
        f"<main>{body}<aside><h3>أخبار ذات صلة</h3><ul>{related}</ul></aside>"
        f"<section id='comments'><h3>التعليقات</h3>{comments}</section></main>"
        "<footer><p>جميع الحقوق محفوظة © صحيفة الأخبار</p><a href='/privacy'>سياسة الخصوصية</a>"
        "<a href='/contact'>اتصل بنا</a></footer></body></html>"
    )


def _plain_page(title: str, text: str, meta: str = "") -> str:
    return (
        f"<html><head>{meta}<title>{title}</title></head><body><article><h1>{title}</h1>"
        f"<p>{text}</p></article></body></html>"
    )


def _cp1256_page(meta: bool) -> bytes:
    tag = "<meta http-equiv='Content-Type' content='text/html; charset=windows-1256'>"
    return _plain_page("صحة", CP1256_TEXT, tag if meta else "").encode("windows-1256")
