"""The page fetcher against the fixture site: limits, charsets, refused addresses."""

from __future__ import annotations

import socket

import pytest

from ingest.feeds import Feed
from ingest.fetch import (
    AddressGuard,
    PageFetcher,
    PermanentFetchError,
    TransientFetchError,
    decode_html,
    retry_after_seconds,
)
from ingest.fixture_server import CP1256_TEXT, PRIVATE_URL, FixtureServer
from ingest.poller import FeedPoller

# A slow drip must end well before the fixture's 60 s, so the test stays short.
TEST_TOTAL_TIMEOUT_S = 3.0
ARABIC_SNIPPET = CP1256_TEXT.split("،")[0]


@pytest.fixture
def fetcher() -> PageFetcher:
    return PageFetcher(
        allow_hosts=["127.0.0.1"], host_spacing_s=0, total_timeout_s=TEST_TOTAL_TIMEOUT_S
    )


@pytest.mark.parametrize(
    "case",
    ["cp1256", "cp1256-latin-header", "cp1256-unlabelled", "utf8-latin-header", "brotli"],
)
def test_arabic_pages_decode_whatever_their_labels_say(
    site: FixtureServer, fetcher: PageFetcher, case: str
) -> None:
    page = fetcher.fetch(f"{site.base_url}/hostile/{case}")
    assert ARABIC_SNIPPET in page.text
    assert "\ufffd" not in page.text


@pytest.mark.parametrize(
    ("case", "error", "kind"),
    [
        ("huge", PermanentFetchError, "too-large"),
        ("huge-declared", PermanentFetchError, "too-large"),
        ("gzip-bomb", PermanentFetchError, "too-large"),
        ("redirect-loop", PermanentFetchError, "redirects"),
        ("slow", TransientFetchError, "timeout"),
        ("404", PermanentFetchError, "http-404"),
        ("410", PermanentFetchError, "http-410"),
        ("429", TransientFetchError, "http-429"),
        ("500", TransientFetchError, "http-500"),
        ("pdf", PermanentFetchError, "content-type"),
        ("private-redirect", PermanentFetchError, "private-address"),
    ],
)
def test_hostile_pages_fail_with_a_named_reason(
    site: FixtureServer, fetcher: PageFetcher, case: str, error: type[Exception], kind: str
) -> None:
    with pytest.raises(error) as raised:
        fetcher.fetch(f"{site.base_url}/hostile/{case}")
    assert raised.value.kind == kind  # type: ignore[attr-defined]


def test_429_carries_the_servers_retry_after(site: FixtureServer, fetcher: PageFetcher) -> None:
    with pytest.raises(TransientFetchError) as raised:
        fetcher.fetch(f"{site.base_url}/hostile/429")
    assert raised.value.retry_after_s == 120


def test_the_fetcher_still_works_after_every_hostile_case(
    site: FixtureServer, fetcher: PageFetcher
) -> None:
    for case in ("huge", "gzip-bomb", "redirect-loop", "pdf"):
        with pytest.raises(PermanentFetchError):
            fetcher.fetch(f"{site.base_url}/hostile/{case}")
    assert "<article>" in fetcher.fetch(f"{site.base_url}/news/0").text


@pytest.mark.parametrize(
    "url",
    [
        PRIVATE_URL,
        "http://127.0.0.1/",
        "http://localhost:8080/admin",
        "http://10.1.2.3/",
        "http://192.168.0.1/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://0.0.0.0/",
        "ftp://example.org/file",
    ],
)
def test_the_guard_refuses_non_public_addresses(url: str) -> None:
    with pytest.raises(PermanentFetchError):
        AddressGuard().check(url)


def test_an_allow_listed_host_is_let_through() -> None:
    AddressGuard(["127.0.0.1"]).check("http://127.0.0.1:9/x")


def test_the_site_is_refused_without_the_allow_list(site: FixtureServer) -> None:
    with pytest.raises(PermanentFetchError, match="private-address"):
        PageFetcher(host_spacing_s=0).fetch(f"{site.base_url}/news/0")
    assert site.requests == 0


def test_header_and_meta_disagreeing_the_meta_wins_for_arabic() -> None:
    body = ("<meta charset='windows-1256'><p>" + CP1256_TEXT + "</p>").encode("windows-1256")
    text, encoding = decode_html(body, "iso-8859-1")
    assert encoding == "windows-1256"
    assert ARABIC_SNIPPET in text


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("120", 120.0), ("999999999", 86400.0), ("soon", None), (None, None)],
)
def test_retry_after_is_read_and_capped(header: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(header) == seconds


def test_retry_after_as_an_http_date() -> None:
    assert retry_after_seconds("Thu, 01 Jan 2026 00:02:00 GMT", now=1767225600.0) == 120.0


def test_robots_txt_is_obeyed_when_configured(site: FixtureServer) -> None:
    polite = PageFetcher(allow_hosts=["127.0.0.1"], host_spacing_s=0, obey_robots=True)
    with pytest.raises(PermanentFetchError, match="robots"):
        polite.fetch(f"{site.base_url}/private/page")
    assert "<article>" in polite.fetch(f"{site.base_url}/news/0").text


class Rebinding:
    """A resolver whose first answer for one name differs from every later one: the DNS
    rebinding fault, which a real resolver cannot be made to produce on demand."""

    def __init__(self, name: str, first: str, later: str) -> None:
        self.name, self.first, self.later = name, first, later
        self.calls = 0
        self._real = socket.getaddrinfo

    def __call__(self, host: str, port: object, *args: object, **kwargs: object) -> list:  # type: ignore[type-arg]
        if host != self.name:
            return self._real(host, port, *args, **kwargs)  # type: ignore[arg-type]
        self.calls += 1
        address = self.first if self.calls == 1 else self.later
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))]


# Resolves first to the site's address (allow-listed), then to one that is not.
REBINDING_NAME = "news.rebinding.invalid"
INTERNAL = "10.255.255.1"


@pytest.fixture
def rebinding(monkeypatch: pytest.MonkeyPatch) -> Rebinding:
    resolver = Rebinding(REBINDING_NAME, "127.0.0.1", INTERNAL)
    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    return resolver


def rebinding_url(site: FixtureServer, path: str) -> str:
    return site.base_url.replace("127.0.0.1", REBINDING_NAME) + path


def test_the_connection_goes_to_the_address_that_was_checked(
    site: FixtureServer, rebinding: Rebinding
) -> None:
    # Given a name whose second answer would be an internal address
    fetcher = PageFetcher(allow_hosts=["127.0.0.1"], host_spacing_s=0, total_timeout_s=5)
    # When its page is fetched
    page = fetcher.fetch(rebinding_url(site, "/news/0"))
    # Then it was resolved once, checked, and fetched from that address, with its own Host
    assert "<article>" in page.text
    assert rebinding.calls == 1
    assert site.requests == 1
    assert page.url.startswith(f"http://{REBINDING_NAME}:")


def test_a_redirect_to_a_rebinding_name_is_fetched_from_its_checked_address(
    site: FixtureServer, rebinding: Rebinding
) -> None:
    fetcher = PageFetcher(allow_hosts=["127.0.0.1"], host_spacing_s=0, total_timeout_s=5)
    target = rebinding_url(site, "/news/1")
    page = fetcher.fetch(f"{site.base_url}/redirect?to={target}")
    assert "<article>" in page.text
    assert rebinding.calls == 1
    assert site.requests == 2


def test_a_name_that_first_resolves_to_an_internal_address_is_never_connected(
    site: FixtureServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    resolver = Rebinding(REBINDING_NAME, INTERNAL, "127.0.0.1")
    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    fetcher = PageFetcher(allow_hosts=["127.0.0.1"], host_spacing_s=0, total_timeout_s=5)
    with pytest.raises(PermanentFetchError, match="private-address"):
        fetcher.fetch(rebinding_url(site, "/news/0"))
    assert resolver.calls == 1
    assert site.requests == 0


def test_localhost_is_refused_when_not_allow_listed(site: FixtureServer) -> None:
    port = site.base_url.rsplit(":", 1)[1]
    with pytest.raises(PermanentFetchError, match="private-address"):
        PageFetcher(host_spacing_s=0).fetch(f"http://localhost:{port}/news/0")
    assert site.requests == 0


def test_the_poller_connects_to_the_address_it_checked(
    site: FixtureServer, rebinding: Rebinding
) -> None:
    poller = FeedPoller(
        [Feed(url=rebinding_url(site, "/feeds/news.xml"))], allow_hosts=("127.0.0.1",), once=True
    )
    found = poller.read(100)
    poller.close()
    assert len(found) > 0
    assert rebinding.calls == 1


def test_the_poller_resolves_a_host_once_per_connection_not_per_poll(
    site: FixtureServer, rebinding: Rebinding
) -> None:
    # Given five feeds on one name, polled one at a time on one kept-alive connection
    feeds = [Feed(url=rebinding_url(site, f"/bench/{n}.xml")) for n in range(5)]
    poller = FeedPoller(feeds, allow_hosts=("127.0.0.1",), once=True, max_per_host=1)
    # When they are polled in two rounds
    first = poller.read(100)
    poller.once, poller._polled_once = True, set()
    poller.read(100)
    poller.close()
    # Then the name was resolved once (a second answer would have been refused as internal)
    assert len(first) == 5
    assert {state.last_status for state in poller.states.values()} == {304}
    assert rebinding.calls == 1
