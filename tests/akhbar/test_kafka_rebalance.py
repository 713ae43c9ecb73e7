"""A member that loses its partitions keeps running; what it did not commit is read again.

Found by the reliability suite (tests/reliability/test_broker_restart.py): after a
broker restart the group had evicted a stage's consumer; kafka-python then called
the revoke path for the lost partitions, its commit failed because the member was
no longer in the group, and the error came out of poll() and stopped the stage.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kafka.structs import TopicPartition as KafkaTopicPartition

from akhbar.bus import TopicPartition, open_bus
from akhbar.bus.kafka import KafkaBus, KafkaBusConsumer
from akhbar.config import BusSettings
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
