"""`akhbar feeds ...` and `akhbar run --once --feeds` as an operator types them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from akhbar.bus import open_bus
from akhbar.cli import cli
from akhbar.config import BusSettings
from akhbar.topics import Topics
from ingest.feeds import DEFAULT_FEEDS, load_feeds
from ingest.fixture_server import FixtureServer
from ingest.poller_group import read_table
from sinks.jsonl import closed_files, read_lines
from tests.conftest import unique_prefix
from tests.ingest.conftest import SITE_ARTICLES

OPML = """<?xml version="1.0"?>
<opml version="2.0"><head><title>أخبار</title></head><body>
  <outline text="مصر">
    <outline text="اليوم السابع" type="rss" xmlUrl="https://www.youm7.com/rss/SectionRss?SectionID=65"/>
    <outline text="مصراوي" type="rss" xmlUrl="https://www.masrawy.com/rss/rssfeeds"/>
  </outline>
  <outline text="BBC عربي" type="rss" xmlUrl="https://feeds.bbci.co.uk/arabic/rss.xml"/>
</body></opml>
"""


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_the_default_list_holds_real_arabic_outlets() -> None:
    feeds = load_feeds(DEFAULT_FEEDS)
    names = {feed.name for feed in feeds}
    assert {"BBC Arabic", "Al Jazeera", "France 24 Arabic", "Hespress", "Youm7"} <= names
    assert all(feed.url.startswith("https://") and feed.language == "ar" for feed in feeds)


def test_add_remove_and_import_opml(tmp_path: Path) -> None:
    listing = tmp_path / "feeds.yaml"
    opml = tmp_path / "feeds.opml"
    opml.write_text(OPML, encoding="utf-8")
    assert (
        invoke("feeds", "add", "https://a.example/rss", "--name", "A", "--file", str(listing))[0]
        == 0
    )
    assert invoke("feeds", "import-opml", str(opml), "--file", str(listing))[0] == 0
    assert invoke("feeds", "remove", "https://a.example/rss", "--file", str(listing))[0] == 0
    feeds = load_feeds(listing)
    assert [feed.name for feed in feeds] == ["اليوم السابع", "مصراوي", "BBC عربي"]
    assert feeds[0].tags == ("مصر",)
    code, output = invoke("feeds", "list", "--file", str(listing))
    assert code == 0 and "masrawy" in output


def test_removing_an_unknown_feed_fails_clearly(tmp_path: Path) -> None:
    listing = tmp_path / "feeds.yaml"
    invoke("feeds", "add", "https://a.example/rss", "--file", str(listing))
    code, _ = invoke("feeds", "remove", "https://b.example/rss", "--file", str(listing))
    assert code == 1


def test_check_prints_entries_without_the_bus(site: FixtureServer) -> None:
    code, output = invoke(
        "feeds", "check", f"{site.base_url}/feeds/news.xml", "--allow-host", "127.0.0.1"
    )
    assert code == 0
    assert output.count(f"{site.base_url}/news/") == SITE_ARTICLES


def test_check_refuses_a_private_feed_without_the_allow_list(site: FixtureServer) -> None:
    code, _ = invoke("feeds", "check", f"{site.base_url}/feeds/news.xml")
    assert code == 1


def test_run_once_with_feeds_writes_cleaned_articles(site: FixtureServer, tmp_path: Path) -> None:
    # Given an OPML list with the site's feed, on the embedded bus
    opml = tmp_path / "feeds.opml"
    opml.write_text(
        f'<opml version="2.0"><body><outline text="news" xmlUrl="{site.base_url}/feeds/news.xml"/>'
        "</body></opml>"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AKHBAR_")}
    env |= {
        "AKHBAR_BUS__EMBEDDED_PATH": str(tmp_path / "bus.sqlite3"),
        "AKHBAR_BUS__TOPIC_PREFIX": unique_prefix(),
        "AKHBAR_INGEST__STATE_PATH": str(tmp_path / "feeds.sqlite3"),
        "AKHBAR_INGEST__HOST_SPACING_S": "0",
        "AKHBAR_SINKS__JSONL__DIR": str(tmp_path / "articles"),
    }
    # When `akhbar run --once --feeds` runs to its end
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "akhbar",
            "run",
            "--once",
            "--feeds",
            str(opml),
            "--allow-host",
            "127.0.0.1",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    # Then every article is in the JSON Lines output, cleaned from its page
    assert done.returncode == 0, done.stderr[-2000:]
    stored = [
        json.loads(line)
        for path in closed_files(tmp_path / "articles")
        for line in read_lines(path)
    ]
    assert len(stored) == SITE_ARTICLES
    assert all(article["text_source"] == "page" and article["text"] for article in stored)
    stages = {stamp["name"] for stamp in stored[0]["processors"]}
    assert {"poller", "fetch", "normalize", "enrich"} <= stages


def test_add_and_remove_publish_to_the_feeds_topic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the embedded bus named in the environment
    prefix = unique_prefix()
    monkeypatch.setenv("AKHBAR_BUS__EMBEDDED_PATH", str(tmp_path / "bus.sqlite3"))
    monkeypatch.setenv("AKHBAR_BUS__TOPIC_PREFIX", prefix)
    listing = tmp_path / "feeds.yaml"
    opml = tmp_path / "feeds.opml"
    opml.write_text(OPML, encoding="utf-8")
    # When feeds are added, imported and one removed, with --bus
    assert invoke("feeds", "add", "https://a.example/rss", "--file", str(listing), "--bus")[0] == 0
    assert invoke("feeds", "import-opml", str(opml), "--file", str(listing), "--bus")[0] == 0
    code, output = invoke(
        "feeds", "remove", "https://a.example/rss", "--file", str(listing), "--bus"
    )
    # Then the feeds topic holds the list, the removed feed as a tombstone
    assert code == 0 and "published" in output
    bus = open_bus(BusSettings(embedded_path=tmp_path / "bus.sqlite3", topic_prefix=prefix))
    table = read_table(bus, Topics(prefix).feeds)
    bus.close()
    assert set(table) == {feed.url for feed in load_feeds(listing)}
    assert "https://a.example/rss" not in table


def test_without_the_bus_the_list_file_alone_changes(tmp_path: Path) -> None:
    listing = tmp_path / "feeds.yaml"
    code, output = invoke("feeds", "add", "https://a.example/rss", "--file", str(listing))
    assert code == 0 and "published" not in output
