"""The status page's HTML: hostile titles and errors escaped, Arabic right-to-left."""

from __future__ import annotations

from html.parser import HTMLParser

from akhbar.metrics import Metrics
from akhbar.observe.feeds import FeedHealth
from akhbar.observe.page import render_page

HOSTILE = '<script>alert(1)</script><img src=x onerror="alert(2)"> خبر "عاجل" & مهم'


class Elements(HTMLParser):
    """The tags of a page with their attributes, and its text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(page: str) -> Elements:
    parser = Elements()
    parser.feed(page)
    return parser


def test_hostile_input_is_shown_as_text_and_arabic_is_right_to_left() -> None:
    # Given a stored Arabic article with a hostile title and a javascript: URL,
    # an English one, and a failing feed whose error is hostile too
    metrics = Metrics()
    metrics.recent.add(
        [
            {
                "id": "a" * 64,
                "url": "javascript:alert(3)",
                "title": HOSTILE,
                "source": "<b>src</b>",
                "published_at": "2026-11-27T08:00:00+00:00",
                "language": "ar",
                "is_arabic": True,
                "entities": [["سيرغي لافروف", "PERS"], ["<i>حلب</i>", "LOC"]],
            },
            {
                "id": "b" * 64,
                "url": "https://news.example/en",
                "title": "An English story",
                "source": "wire",
                "published_at": None,
                "language": "en",
                "is_arabic": False,
                "entities": [],
            },
        ]
    )
    feed = FeedHealth(
        url="https://feeds.example/x",
        name="<svg onload=alert(4)>",
        state="failing",
        error_streak=2,
        last_error="malformed-feed: <rss> broken",
        last_error_kind="malformed-feed",
        last_success=None,
        last_poll=None,
        last_item=None,
        items_per_day=0,
    )

    # When the page is rendered
    page = render_page(metrics, ["jsonl"], [feed], None)
    found = parse(page)

    # Then no tag came from the input: only the page's own tags are there
    tags = {tag for tag, _ in found.tags}
    assert not tags & {"script", "img", "svg", "b", "i"}
    # and the input is there as text, whole
    text = "".join(found.text)
    assert HOSTILE in text
    assert "<svg onload=alert(4)>" in text and "malformed-feed: <rss> broken" in text
    assert "<i>حلب</i>" in text and "سيرغي لافروف" in text
    # and (newest first) the English one follows its text, the Arabic one is right-to-left
    english, arabic = [attrs for tag, attrs in found.tags if tag == "article"]
    assert english.get("dir") == "auto"
    assert arabic.get("dir") == "rtl" and arabic.get("lang") == "ar"
    # and only the http(s) URL became a link
    links = [attrs.get("href") for tag, attrs in found.tags if tag == "a"]
    assert links == ["https://news.example/en"]
