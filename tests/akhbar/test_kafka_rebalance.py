"""A member that loses its partitions keeps running; what it did not commit is read again.

Found by the reliability suite (tests/reliability/test_broker_restart.py): after a
broker restart the group had evicted a stage's consumer; kafka-python then called
the revoke path for the lost partitions, its commit failed because the member was
no longer in the group, and the error came out of poll() and stopped the stage.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kafka.structs import TopicPartition as KafkaTopicPartition

from akhbar.article import Article
from akhbar.bus import TopicPartition, open_bus
from akhbar.bus.kafka import KafkaBus, KafkaBusConsumer
from akhbar.config import BusSettings, RunnerSettings
from akhbar.metrics import Metrics
from akhbar.runner import Stage, StageRunner
from tests.akhbar.test_runner import CollectingSink, articles, produce
from tests.conftest import bus_settings


@pytest.fixture
def settings(kafka_bootstrap: str, tmp_path: Path) -> BusSettings:
    return bus_settings("kafka", tmp_path, kafka_bootstrap)


@pytest.fixture
def kafka_bus(settings: BusSettings) -> Iterator[KafkaBus]:
    bus = open_bus(settings)
    assert isinstance(bus, KafkaBus)
    yield bus
    bus.close()


class RevokeLog:
    """The runner's part of a revoke: what it flushed, and the offsets it asks to commit."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.flushed: list[list[TopicPartition]] = []

    def __call__(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        self.flushed.append(partitions)
        return {(self.topic, 0): 5}


@dataclass
class OutsideMember:
    """A real consumer that is not (or no longer) a member of its group, with the
    runner's revoke callback recorded."""

    consumer: KafkaBusConsumer
    revokes: RevokeLog
    topic: str

    def report(self, method: str) -> None:
        """Call the listener on the consumer's IO loop, as kafka-python does in a rebalance."""
        client = self.consumer._consumer
        listener = client._subscription.rebalance_listener
        client._net.run(getattr(listener, method), {KafkaTopicPartition(self.topic, 0)})

    def committed(self) -> int | None:
        tp = KafkaTopicPartition(self.topic, 0)
        return self.consumer._consumer.committed(tp)  # type: ignore[no-any-return]


@pytest.fixture
def outside_member(kafka_bus: KafkaBus, settings: BusSettings) -> Iterator[OutsideMember]:
    topic = f"{settings.topic_prefix}in"
    kafka_bus.ensure_topics([topic])
    revokes = RevokeLog(topic)
    consumer = kafka_bus.consumer(f"{topic}.group", [topic], on_revoke=revokes)
    assert isinstance(consumer, KafkaBusConsumer)
    member = OutsideMember(consumer, revokes, topic)
    # Asking for the committed offset makes the consumer find its group's coordinator.
    assert member.committed() is None
    yield member
    consumer.close()


def test_lost_partitions_are_flushed_and_not_committed(outside_member: OutsideMember) -> None:
    # Given a consumer that is not, or no longer, a member of its group
    member = outside_member
    # When kafka-python reports its partitions lost (a commit would now fail)
    member.report("on_partitions_lost")
    # Then the runner flushed its outputs, nothing was committed, and no error escaped
    assert member.revokes.flushed == [[(member.topic, 0)]]
    assert member.committed() is None


def test_a_failed_commit_on_revoke_does_not_fail_the_consumer(
    outside_member: OutsideMember,
) -> None:
    # Given a consumer whose group will refuse its commit: evicted first, as a member
    # that missed its session is
    member = outside_member
    member.report("on_partitions_lost")
    # When a revoke then asks to commit
    member.report("on_partitions_revoked")
    # Then the revoke flushed, and the refused commit left the offset uncommitted
    assert len(member.revokes.flushed) == 2
    assert member.committed() is None
    # And the consumer still polls
    assert member.consumer.poll(0.5, 10) == []


def test_lost_partitions_go_to_on_lost_when_given(
    kafka_bus: KafkaBus, settings: BusSettings
) -> None:
    # Given a consumer with both callbacks
    topic = f"{settings.topic_prefix}in"
    kafka_bus.ensure_topics([topic])
    revokes = RevokeLog(topic)
    lost: list[list[TopicPartition]] = []
    consumer = kafka_bus.consumer(f"{topic}.group", [topic], on_revoke=revokes, on_lost=lost.append)
    assert isinstance(consumer, KafkaBusConsumer)
    member = OutsideMember(consumer, revokes, topic)
    try:
        assert member.committed() is None
        # When its partitions are lost
        member.report("on_partitions_lost")
        # Then on_lost heard of them, and on_revoke (which asks for a commit) did not
        assert lost == [[(topic, 0)]]
        assert revokes.flushed == []
    finally:
        consumer.close()


def test_a_runner_evicted_mid_batch_counts_neither_a_commit_nor_its_articles_twice(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    # Given a sink stage on Kafka that commits rarely, whose 5th step outlasts the
    # group's poll interval, so that the group evicts it with the articles it read in hand
    settings = bus_settings("kafka", tmp_path, kafka_bootstrap, partitions=1)
    settings.kafka.max_poll_interval_ms = 1_500
    prefix = settings.topic_prefix
    batch = articles(12)
    bus = open_bus(settings)
    try:
        produce(bus, f"{prefix}in", [a.to_bytes() for a in batch])
        stalled: list[str] = []
        seen: set[str] = set()
        commits_when_read_again: list[int] = []

        def step(article: Article) -> Article:
            if article.id in seen and not commits_when_read_again:
                commits_when_read_again.append(runner.stats.commits)
            seen.add(article.id)
            if article.id == batch[4].id and not stalled:
                stalled.append(article.id)
                # Well past the 1.5 s poll interval: the heartbeat thread has left the group.
                time.sleep(8)
            return article

        sink = CollectingSink()
        stage = Stage("evicted-sink", "1", f"{prefix}in", step, sink=lambda: sink)
        runner_settings = RunnerSettings(
            commit_interval_s=3600, poll_timeout_s=0.2, step_timeout_s=30
        )
        runner = StageRunner(bus, stage, runner_settings, Metrics(), group_prefix=prefix)
        done = threading.Event()
        done.set()
        # When it runs the topic to its end
        runner.run(drain_after=done, timeout=90)
    finally:
        bus.close()

    # Then it was evicted: the articles handed over before the eviction were flushed
    # and, never committed, read again after it rejoined
    assert stalled
    ids = [a.id for a in sink.stored]
    assert set(ids) == {a.id for a in batch}
    assert len(ids) > len(batch)
    # And the flush for the lost partition counted no commit
    assert commits_when_read_again == [0]
    # And each article counts once as stored, although the sink was handed some twice
    registry = runner.metrics.registry
    stored = registry.get_sample_value(
        "akhbar_articles_stored_total", {"stage": "evicted-sink", "source": "example"}
    )
    assert stored == len(batch)
