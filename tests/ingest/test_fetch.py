"""The page fetcher against the fixture site: limits, charsets, refused addresses."""

from __future__ import annotations

import pytest

from ingest.fetch import (
    AddressGuard,
    PageFetcher,
    PermanentFetchError,
    TransientFetchError,
    decode_html,
    retry_after_seconds,
)
from ingest.fixture_server import CP1256_TEXT, PRIVATE_URL, FixtureServer

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
