"""Consumer lag and the runner's stage metrics, over both bus backends."""

from __future__ import annotations

import time
from collections import Counter

from akhbar.bus import Bus
from akhbar.config import BusSettings
from akhbar.metrics import Metrics
from akhbar.runner import Stage, StageRunner, step_identity
from tests.akhbar.test_bus_contract import read_all
from tests.akhbar.test_runner import FAST, CollectingSink, produce
from tests.helpers.articles import make_article


def test_lag_counts_what_the_group_has_not_committed(bus: Bus, settings_for: BusSettings) -> None:
    # Given 3 messages for each of 8 keys, spread over the partitions
    topic = f"{settings_for.topic_prefix}lagged"
    bus.ensure_topics([topic])
    producer = bus.producer()
    for i in range(24):
        producer.send(topic, str(i).encode(), key=f"key-{i % 8}".encode())
    producer.flush()
    producer.close()
    consumer = bus.consumer(f"{settings_for.topic_prefix}g", [topic])
    messages = read_all(consumer, 24)
    by_partition = Counter(m.partition for m in messages)
    (busy, busy_count), (other, other_count) = by_partition.most_common(2)

    # Then before any commit, every message counts, on every assigned partition
    before = consumer.lag()
    assert len(before) == settings_for.partitions
    assert before[(topic, busy)] == busy_count and before[(topic, other)] == other_count
    assert sum(before.values()) == 24

    # When the group commits 2 messages of one partition and all of another
    consumer.commit({(topic, busy): 2, (topic, other): other_count})

    # Then the lag is what a restarted consumer would still read
    after = consumer.lag()
    consumer.close()
    assert after[(topic, busy)] == busy_count - 2
    assert after[(topic, other)] == 0
    assert sum(after.values()) == 24 - 2 - other_count


def test_a_sink_stage_reports_latency_sources_lag_and_latest_articles(
    bus: Bus, settings_for: BusSettings
) -> None:
    # Given 6 articles, from two sources, fetched at a known time, for a sink stage
    # whose backend refuses one of them for good
    topic = f"{settings_for.topic_prefix}articles.enriched"
    articles = [make_article(i) for i in range(6)]
    for article in articles[:2]:
        article.source = "alriyadh"
    produce(bus, topic, [a.to_bytes() for a in articles], [a.id.encode() for a in articles])
    metrics = Metrics()
    refused = articles[0].id
    sink = CollectingSink(refuse=lambda a: "mapping error" if a.id == refused else None)
    stage = Stage("jsonl", "1", topic, step_identity, sink=lambda: sink)
    runner = StageRunner(bus, stage, FAST, metrics, group_prefix=settings_for.topic_prefix)

    # When the stage reads them all
    runner.run(max_messages=6, timeout=60)

    # Then the latency runs from fetched_at to the commit, once per stored article
    sample = metrics.registry.get_sample_value
    labels = {"stage": "jsonl"}
    assert sample("akhbar_end_to_end_latency_seconds_count", labels) == 5
    fetched = articles[0].fetched_at.timestamp()
    mean = sample("akhbar_end_to_end_latency_seconds_sum", labels) / 5
    assert abs(mean - (time.time() - fetched)) < 120
    # and articles are counted by their source
    assert sample("akhbar_articles_stored_total", {"stage": "jsonl", "source": "alriyadh"}) == 1
    assert sample("akhbar_articles_stored_total", {"stage": "jsonl", "source": "example"}) == 4
    # and flushes are timed, the stage no longer runs, and it was alive while it did
    assert sample("akhbar_flush_seconds_count", labels) >= 1
    assert sample("akhbar_stage_running", labels) == 0
    life = metrics.liveness.snapshot()["jsonl"]
    assert life.finished and life.error is None
    # and the latest articles are there for the status page, newest first, once each
    latest = metrics.recent.latest()
    assert [a["id"] for a in latest] == [a.id for a in reversed(sink.stored)]
    assert refused not in {a["id"] for a in latest}
    assert latest[0]["title"].startswith("خبر رقم")
    # and processors have no latency series: it is measured where articles are stored
    assert sample("akhbar_end_to_end_latency_seconds_count", {"stage": "normalize"}) is None


def test_the_runner_publishes_lag_per_partition(bus: Bus, settings_for: BusSettings) -> None:
    # Given 4 articles waiting, and a stage that reads only 1 before it stops
    topic = f"{settings_for.topic_prefix}articles.normalized"
    articles = [make_article(i) for i in range(4)]
    produce(bus, topic, [a.to_bytes() for a in articles], [a.id.encode() for a in articles])
    metrics = Metrics()
    settings = FAST.model_copy(update={"max_batch": 1})
    stage = Stage("enrich", "1", topic, step_identity, output_topic=f"{topic}.out")
    runner = StageRunner(bus, stage, settings, metrics, group_prefix=settings_for.topic_prefix)

    # When it has committed one article
    runner.run(max_messages=1, timeout=60)

    # Then the lag gauges hold, per partition, what is left: 3 in all
    lag = {
        s.labels["partition"]: s.value
        for family in metrics.registry.collect()
        if family.name == "akhbar_consumer_lag"
        for s in family.samples
    }
    assert len(lag) == settings_for.partitions
    assert sum(lag.values()) == 3
