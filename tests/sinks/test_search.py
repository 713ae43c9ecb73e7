"""The search sink against the real OpenSearch node: idempotence, Arabic search, failures."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from opensearchpy import OpenSearch

from akhbar.article import Article
from akhbar.bus import Bus, StoredMessage
from akhbar.config import BusSettings, RunnerSettings, SearchSinkSettings
from akhbar.errors import SinkUnavailable
from akhbar.metrics import Metrics
from akhbar.runner import HEADER_ERROR, Stage, StageRunner, step_identity
from sinks.index import alias_name, index_name, index_template, search_body
from sinks.search import SearchSink, is_retryable
from tests.akhbar.test_runner import dead_letters, produce
from tests.helpers.articles import make_article
from tests.helpers.tcp_proxy import TcpProxy

ALEPPO = "بدأ الجيش السوري أمس عملية السيطرة البرية الواسعة علي عدة أحياء في حلب."
CAIRO = "افتتح وزير النقل المصري خطا جديدا لمترو الأنفاق في القاهرة."
FAST = RunnerSettings(
    commit_interval_s=0.2,
    poll_timeout_s=0.1,
    retry_backoff_initial_s=0.05,
    retry_backoff_max_s=0.5,
)


@pytest.fixture
def prefix() -> str:
    return f"akhbar-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def client(opensearch_url: str, prefix: str) -> Iterator[OpenSearch]:
    opened = OpenSearch(hosts=[opensearch_url], timeout=30)
    yield opened
    opened.indices.delete(index=f"{alias_name(prefix)}-*", ignore_unavailable=True)
    opened.indices.delete_index_template(name=alias_name(prefix), ignore=[404])
    opened.close()


def settings(url: str, prefix: str, **overrides: Any) -> SearchSinkSettings:
    return SearchSinkSettings(enabled=True, hosts=[url], index_prefix=prefix, **overrides)


def record(article: Article, offset: int) -> StoredMessage:
    return StoredMessage("articles.enriched", 0, offset, article.id.encode(), article.to_bytes())


def index_all(sink: SearchSink, articles: list[Article]) -> list[tuple[Any, str]]:
    for offset, article in enumerate(articles):
        sink.add(article, record(article, offset))
    return list(sink.flush())


def count(client: OpenSearch, prefix: str) -> int:
    """Documents behind the alias; 0 while the first index does not exist yet."""
    if not client.indices.exists_alias(name=alias_name(prefix)):
        return 0
    client.indices.refresh(index=alias_name(prefix))
    return int(client.count(index=alias_name(prefix))["count"])


def search_ids(client: OpenSearch, prefix: str, query: str, **filters: Any) -> list[str]:
    client.indices.refresh(index=alias_name(prefix))
    hits = client.search(index=alias_name(prefix), body=search_body(query, **filters))
    return [hit["_id"] for hit in hits["hits"]["hits"]]


def test_every_article_delivered_twice_is_indexed_once(
    opensearch_url: str, prefix: str, client: OpenSearch
) -> None:
    # Given 300 articles, in batches of 64 so several bulk requests go out
    articles = [make_article(n) for n in range(300)]
    sink = SearchSink(settings(opensearch_url, prefix, bulk_max_docs=64))

    # When every one is delivered twice (a redelivery after a crash)
    assert index_all(sink, articles) == []
    assert index_all(sink, articles) == []

    # Then the index holds 300 documents, one per article id, behind the alias
    assert count(client, prefix) == 300
    ids = {hit["_id"] for hit in _all_hits(client, prefix)}
    assert ids == {a.id for a in articles}
    assert list(client.indices.get_alias(name=alias_name(prefix))) == [
        index_name(prefix, articles[0].fetched_at)
    ]


def _all_hits(client: OpenSearch, prefix: str) -> list[dict[str, Any]]:
    body = {"size": 1000, "query": {"match_all": {}}}
    return list(client.search(index=alias_name(prefix), body=body)["hits"]["hits"])


def test_a_newer_processor_version_replaces_the_document(
    opensearch_url: str, prefix: str, client: OpenSearch
) -> None:
    old = make_article(1).stamped("enrich", "1")
    newer = old.model_copy(update={"title": "عنوان مصحح", "processors": []}).stamped("enrich", "2")
    sink = SearchSink(settings(opensearch_url, prefix))

    index_all(sink, [old])
    index_all(sink, [newer])

    assert count(client, prefix) == 1
    stored = client.get(index=index_name(prefix, old.fetched_at), id=old.id)["_source"]
    assert stored["title"] == "عنوان مصحح"
    assert stored["processors"] == [{"name": "enrich", "version": "2"}]


def test_arabic_queries_find_the_right_articles(
    opensearch_url: str, prefix: str, client: OpenSearch
) -> None:
    # Given an article about Aleppo written with علي for على, and one about Cairo
    aleppo = make_article(1).model_copy(update={"text": ALEPPO, "title": "معارك"})
    cairo = make_article(2).model_copy(update={"text": CAIRO, "title": "مترو"})
    index_all(SearchSink(settings(opensearch_url, prefix)), [aleppo, cairo])

    # Then حلب finds Aleppo only, and على (standard spelling, a stop word for the
    # arabic analyzer) finds the text written علي through the folded field
    assert search_ids(client, prefix, "حلب") == [aleppo.id]
    assert search_ids(client, prefix, "على") == [aleppo.id]
    assert search_ids(client, prefix, "القاهرة") == [cairo.id]
    assert search_ids(client, prefix, "حلب", source="nowhere") == []


def test_search_text_and_entities_are_searchable_and_filterable(
    opensearch_url: str, prefix: str, client: OpenSearch
) -> None:
    aleppo = make_article(1).model_copy(update={"text": ALEPPO})
    aleppo.search_text = "بدا الجيش السوري امس عمليه السيطره"  # type: ignore[attr-defined]
    aleppo.entities = [{"text": "حلب", "type": "LOC"}, {"text": "لافروف", "type": "PER"}]  # type: ignore[attr-defined]
    cairo = make_article(2).model_copy(update={"text": CAIRO})
    index_all(SearchSink(settings(opensearch_url, prefix)), [aleppo, cairo])

    assert search_ids(client, prefix, "عمليه") == [aleppo.id]
    assert search_ids(client, prefix, "الجيش", entity="لافروف") == [aleppo.id]
    assert search_ids(client, prefix, "القاهرة", entity="لافروف") == []
    stored = client.get(index=index_name(prefix, aleppo.fetched_at), id=aleppo.id)["_source"]
    assert stored["entities"] == {"location": ["حلب"], "person": ["لافروف"]}


def test_a_mapping_error_rejects_that_article_only(
    opensearch_url: str, prefix: str, client: OpenSearch
) -> None:
    good = [make_article(n) for n in range(5)]
    bad = make_article(99)
    bad.story_id = {"not": "a keyword"}  # type: ignore[attr-defined]
    sink = SearchSink(settings(opensearch_url, prefix))

    rejections = index_all(sink, [*good[:2], bad, *good[2:]])

    assert [(r.offset, "mapper_parsing_exception" in reason) for r, reason in rejections] == [
        (2, True)
    ]
    assert count(client, prefix) == 5


def test_a_cluster_that_refuses_connections_is_unavailable_and_the_buffer_forgotten() -> None:
    # Nothing listens on port 1.
    sink = SearchSink(settings("http://127.0.0.1:1", "akhbar-nowhere", request_timeout_s=2))
    sink.add(make_article(1), record(make_article(1), 0))

    with pytest.raises(SinkUnavailable, match="unavailable"):
        sink.flush()
    assert sink.flush() == []  # nothing was kept for a second try: the runner resends


def test_a_write_block_is_unavailable_not_a_rejection(
    opensearch_url: str, prefix: str, client: OpenSearch
) -> None:
    # Given the month's index exists with writes blocked (as a full disk does)
    article = make_article(1)
    blocked = _create_blocked_index(client, prefix, article)
    sink = SearchSink(settings(opensearch_url, prefix))

    # Then the flush fails as unavailable, and succeeds once the block is lifted
    sink.add(article, record(article, 0))
    with pytest.raises(SinkUnavailable, match="cluster_block_exception"):
        sink.flush()
    client.indices.put_settings(index=blocked, body={"index.blocks.write": False})
    assert index_all(sink, [article]) == []
    assert count(client, prefix) == 1


def _create_blocked_index(client: OpenSearch, prefix: str, article: Article) -> str:
    client.indices.put_index_template(name=alias_name(prefix), body=index_template(prefix))
    name = index_name(prefix, article.fetched_at)
    client.indices.create(index=name, body={"settings": {"index.blocks.write": True}})
    return name


def test_the_stage_waits_while_writes_are_blocked_then_catches_up_by_itself(
    bus: Bus, settings_for: BusSettings, opensearch_url: str, prefix: str, client: OpenSearch
) -> None:
    # Given 200 articles and one the index refuses, on the stage's input topic
    topic_prefix = settings_for.topic_prefix
    articles = [make_article(n) for n in range(200)]
    # A valid article the index refuses: a keyword over Lucene's 32,766-byte term limit.
    bad = make_article(999).model_copy(update={"source": "ع" * 20_000})
    ordered = [*articles[:100], bad, *articles[100:]]
    produce(
        bus,
        f"{topic_prefix}in",
        [a.to_bytes() for a in ordered],
        keys=[a.id.encode() for a in ordered],
    )
    blocked = _create_blocked_index(client, prefix, articles[0])
    sink = SearchSink(settings(opensearch_url, prefix))
    stage = Stage("search", "1", f"{topic_prefix}in", step_identity, sink=lambda: sink)
    runner = StageRunner(bus, stage, FAST, Metrics(), group_prefix=topic_prefix)
    drained = threading.Event()
    thread = threading.Thread(target=runner.run, kwargs={"drain_after": drained, "timeout": 120})

    # When the stage runs while the index refuses writes
    thread.start()
    time.sleep(3)
    # Then it has committed nothing and indexed nothing
    assert runner.stats.commits == 0
    assert runner.stats.consumed >= 201
    assert count(client, prefix) == 0

    # When writes are allowed again, it catches up by itself
    client.indices.put_settings(index=blocked, body={"index.blocks.write": False})
    drained.set()
    thread.join(timeout=120)
    assert not thread.is_alive()
    assert count(client, prefix) == 200
    [letter] = dead_letters(bus, topic_prefix, 1)
    assert letter.value == bad.to_bytes()
    assert "immense term" in dict(letter.headers)[HEADER_ERROR].decode()


def test_an_outage_mid_run_pauses_the_stage_commits_nothing_and_it_catches_up(
    bus: Bus, settings_for: BusSettings, opensearch_url: str, prefix: str, client: OpenSearch
) -> None:
    # Given a search stage reaching the node through a link that can be cut
    host, _, port = opensearch_url.removeprefix("http://").partition(":")
    link = TcpProxy((host, int(port.rstrip("/"))))
    topic = f"{settings_for.topic_prefix}in"
    articles = [make_article(n) for n in range(400)]
    sink = SearchSink(settings(link.url, prefix, request_timeout_s=5, bulk_max_docs=50))
    stage = Stage("search", "1", topic, step_identity, sink=lambda: sink)
    runner = StageRunner(bus, stage, FAST, Metrics(), group_prefix=settings_for.topic_prefix)
    drained = threading.Event()
    thread = threading.Thread(target=runner.run, kwargs={"drain_after": drained, "timeout": 120})
    thread.start()
    try:
        # and the first half indexed and committed
        produce(
            bus,
            topic,
            [a.to_bytes() for a in articles[:200]],
            [a.id.encode() for a in articles[:200]],
        )
        _wait_for(lambda: count(client, prefix) == 200, "the first half was not indexed")
        _wait_for(lambda: runner.stats.consumed == 200 and runner.stats.commits > 0, "no commit")
        time.sleep(FAST.commit_interval_s * 2)

        # When the node goes away while the second half arrives
        link.stop()
        commits = runner.stats.commits
        produce(
            bus,
            topic,
            [a.to_bytes() for a in articles[200:]],
            [a.id.encode() for a in articles[200:]],
        )
        time.sleep(OUTAGE_S)

        # Then the stage read it, committed nothing and indexed nothing more
        assert runner.stats.consumed > 200
        assert runner.stats.commits == commits
        assert count(client, prefix) == 200

        # When the node is back, the stage catches up by itself, each article once
        link.start()
        _wait_for(lambda: count(client, prefix) == 400, "the stage did not catch up")
    finally:
        link.stop()
        drained.set()
        thread.join(timeout=60)
    assert not thread.is_alive()
    assert {hit["_id"] for hit in _all_hits(client, prefix)} == {a.id for a in articles}


# Long enough for several failed flushes and backoffs; the 60 s outage of a whole
# node belongs with the fault-injection suite.
OUTAGE_S = 5


def _wait_for(condition: Any, failure: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, failure
        time.sleep(0.2)


@pytest.mark.parametrize(
    ("item", "retryable"),
    [
        ({"status": 400, "error": {"type": "mapper_parsing_exception"}}, False),
        ({"status": 400, "error": {"type": "illegal_argument_exception"}}, False),
        ({"status": 429, "error": {"type": "es_rejected_execution_exception"}}, True),
        ({"status": 503, "error": {"type": "unavailable_shards_exception"}}, True),
        ({"status": 403, "error": {"type": "cluster_block_exception"}}, True),
        ({"status": 404, "error": {"type": "index_not_found_exception"}}, True),
        ({"status": "N/A", "error": "ConnectionError"}, True),
    ],
)
def test_failed_items_are_classified_by_status_and_error_type(
    item: dict[str, Any], retryable: bool
) -> None:
    assert is_retryable(item) is retryable
