"""The benchmarks' own parts: the local news sites, the profile summary, the soak's verdict."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from akhbar.article import article_id
from benchmarks.end_to_end import NewsSites, percentile
from benchmarks.feed_sites import FeedSites, server_capacity
from benchmarks.page_site import PageSite
from benchmarks.profiles import summarize
from benchmarks.soak import Samples, curve, growth
from ingest.feeds import Feed
from ingest.fetch import PageFetcher
from ingest.fixture_server import article_page, load_saudinewsnet
from ingest.poller import FeedPoller

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "saudinewsnet-sample.jsonl"


def test_a_published_article_is_listed_by_its_feed_under_the_id_the_pipeline_gives_it() -> None:
    articles = load_saudinewsnet(SAMPLE, limit=3)
    sites = NewsSites(2)
    feeds = sites.start()
    try:
        published = [sites.publish(a) for a in articles]
        with httpx.Client(trust_env=False) as client:
            # Several requests on one client: the sites close each connection, so
            # none is reused stale.
            bodies = [client.get(feed).text for feed in feeds for _ in range(3)]
            page = client.get(feeds[0].replace("/feeds/news.xml", "/news/0"))
    finally:
        sites.stop()
    links = [f.replace("/feeds/news.xml", f"/news/{n}") for n in (0, 1) for f in feeds][:3]
    listed = {article_id(link) for link in links if any(link in body for body in bodies)}
    assert {article_key for article_key, _ in published} == listed
    assert page.status_code == 200 and articles[0].title in page.text


def test_profile_summary_separates_waiting_from_work_and_credits_project_functions(
    tmp_path: Path,
) -> None:
    raw = tmp_path / "normalize.txt"
    raw.write_text(
        "run (akhbar/runner.py:10);normalize (processors/normalize.py:5);split "
        "(processors/wordsplit.py:9) 30\n"
        "run (akhbar/runner.py:10);send (akhbar/bus/kafka.py:3);"
        "wakeup (kafka/net/selector.py:7) 10\n"
        "run (akhbar/runner.py:12);poll (kafka/consumer/group.py:8);"
        "EpollSelector.select (selectors.py:468) 60\n"
    )
    profile = summarize(raw)
    assert (profile.samples, profile.waiting, profile.busy) == (100, 60, 40)
    assert profile.self_time.most_common(1) == [("split (processors/wordsplit.py)", 30)]
    assert profile.by_library == {"processors": 30, "kafka": 10}
    # Inclusive time merges the two lines of `run`, and counts no waiting.
    assert profile.inclusive["run (akhbar/runner.py)"] == 40
    assert profile.inclusive["send (akhbar/bus/kafka.py)"] == 10


def test_soak_verdict_is_growing_only_past_both_limits() -> None:
    samples = Samples()
    for second in range(0, 900, 10):
        samples.rss.append(
            (float(second), {"flat": 200.0 + second / 900, "leak": 200 + second / 9})
        )
    stages = {stage.label: stage for stage in growth(samples, duration_s=900, window_s=300)}
    assert not stages["flat"].growing
    assert stages["leak"].growing and 60 < stages["leak"].growth_mb < 70
    assert curve(samples, points=3) == ["flat 200 200 201", "leak 200 249 299"]


def test_percentile_takes_the_nearest_rank() -> None:
    values = [float(n) for n in range(1, 101)]
    assert percentile(values, 0.5) == 51.0 and percentile(values, 0.95) == 95.0
    assert percentile([3.0], 0.95) == 3.0


def test_the_bench_feed_sites_answer_a_feed_then_304_and_their_capacity_counts_304s() -> None:
    sites = FeedSites(hosts=3, processes=2)
    bases = sites.start()
    try:
        feeds = [Feed(url=f"{base}/bench/{n}.xml") for n, base in enumerate(bases * 2)]
        poller = FeedPoller(feeds, allow_hosts=("127.0.0.1",), once=True)
        first = poller.read(100)
        poller.once, poller._polled_once = True, set()
        again = poller.read(100)
        poller.close()
        etags = {url: state.etag or "" for url, state in poller.states.items()}
        capacity = server_capacity(etags, per_host=2)
        with pytest.raises(AssertionError, match="expected a 304"):
            server_capacity(dict.fromkeys(etags, '"stale"'), per_host=2)
    finally:
        sites.stop()
    assert len(bases) == 3 and len(set(bases)) == 3
    assert len(first) == len(feeds) and again == []
    assert {state.last_status for state in poller.states.values()} == {304}
    assert capacity > 0


def test_the_page_site_serves_the_fixture_pages_as_sent_and_reports_its_cpu() -> None:
    # Given the cleaning benchmark's site, serving the sample's article pages
    site = PageSite(SAMPLE)
    base = site.start()
    try:
        before = site.cpu_seconds()
        # When pages are fetched on one kept-alive connection, a query string among them
        fetcher = PageFetcher(allow_hosts=["127.0.0.1"], host_spacing_s=0)
        pages = [fetcher.fetch(f"{base}/news/{n}?copy=2") for n in range(3)]
        missing = httpx.get(f"{base}/news/100000", trust_env=False)
        used = site.cpu_seconds() - before
    finally:
        site.stop()
    # Then each is the fixture site's page for that article, byte for byte
    articles = load_saudinewsnet(SAMPLE, limit=3)
    assert [page.body for page in pages] == [
        article_page(article, str(n)).encode() for n, article in enumerate(articles)
    ]
    assert missing.status_code == 404
    # and the CPU it says it used serving them is a small positive figure
    assert 0.0 < used < 1.0
