"""Compacted topics as tables, partition readers and assignments, on both backends."""

from __future__ import annotations

import time
from pathlib import Path

from akhbar.bus import COMPACTED, Bus, Message, TopicPartition
from akhbar.bus.embedded import EmbeddedBus
from akhbar.config import BusSettings
from tests.conftest import bus_settings


def latest_by_key(messages: list[Message]) -> dict[bytes, bytes]:
    """The table a compacted topic stands for: latest value per key, tombstones deleting."""
    table: dict[bytes, bytes] = {}
    for message in messages:
        assert message.key is not None
        if message.value:
            table[message.key] = message.value
        else:
            table.pop(message.key, None)
    return table


def fill_table(bus: Bus, topic: str) -> None:
    bus.ensure_topics([topic], configs={topic: COMPACTED})
    producer = bus.producer()
    for version in range(3):
        for key in ("a", "b", "c"):
            producer.send(topic, f"{key}{version}".encode(), key=key.encode())
    producer.send(topic, None, key=b"b")  # a tombstone
    producer.flush()
    producer.close()


def test_a_reader_reads_a_table_to_its_end_and_then_only_what_is_new(
    bus: Bus, settings_for: BusSettings
) -> None:
    # Given a compacted topic with three versions of three keys and one key deleted
    topic = f"{settings_for.topic_prefix}table"
    fill_table(bus, topic)
    partitions = range(bus.partition_count(topic))
    # When a reader reads every partition to its end
    reader = bus.reader(topic, partitions)
    first = reader.read_to_end(timeout=30)
    # Then the table holds the latest value of each live key
    assert latest_by_key(first) == {b"a": b"a2", b"c": b"c2"}
    # And a second read returns only what was sent since
    producer = bus.producer()
    producer.send(topic, b"a3", key=b"a")
    producer.flush()
    producer.close()
    second = reader.read_to_end(timeout=30)
    reader.close()
    assert [(m.key, m.value) for m in second] == [(b"a", b"a3")]


def test_a_reader_of_some_partitions_sees_only_their_keys(
    bus: Bus, settings_for: BusSettings
) -> None:
    topic = f"{settings_for.topic_prefix}table"
    fill_table(bus, topic)
    everything = bus.reader(topic, range(bus.partition_count(topic)))
    by_partition: dict[int, set[bytes | None]] = {}
    for message in everything.read_to_end(timeout=30):
        by_partition.setdefault(message.partition, set()).add(message.key)
    everything.close()
    partition, keys = next(iter(by_partition.items()))
    one = bus.reader(topic, [partition])
    assert {message.key for message in one.read_to_end(timeout=30)} == keys
    one.close()


def test_a_member_knows_its_assignment(bus: Bus, settings_for: BusSettings) -> None:
    topic = f"{settings_for.topic_prefix}assigned"
    bus.ensure_topics([topic])
    consumer = bus.consumer(f"{settings_for.topic_prefix}g", [topic])
    deadline = time.monotonic() + 30
    while not consumer.assignment() and time.monotonic() < deadline:
        consumer.poll(0.2, 10)
    assignment = consumer.assignment()
    consumer.close()
    assert assignment == {(topic, p) for p in range(settings_for.partitions)}


def test_a_member_is_told_when_the_group_gives_it_partitions(
    bus: Bus, settings_for: BusSettings
) -> None:
    # Given a topic and a member of a new group that asks to be told of its partitions
    topic = f"{settings_for.topic_prefix}given"
    bus.ensure_topics([topic])
    given: list[list[TopicPartition]] = []
    consumer = bus.consumer(f"{settings_for.topic_prefix}g", [topic], on_assign=given.append)
    # When it has joined its group
    deadline = time.monotonic() + 30
    while not consumer.assignment() and time.monotonic() < deadline:
        consumer.poll(0.2, 10)
    assignment = consumer.assignment()
    consumer.close()
    # Then it was told of every partition it holds, the whole topic's as it is alone
    assert given, "on_assign never ran"
    assert set(given[-1]) == assignment == {(topic, p) for p in range(settings_for.partitions)}


def test_the_embedded_bus_keeps_the_latest_per_key_of_a_compacted_topic(tmp_path: Path) -> None:
    # Given a compacted and a plain topic, on a bus whose retention time is over at once
    # (Kafka's log cleaner compacts on its own schedule, so this is the embedded bus only)
    settings_for = bus_settings("embedded", tmp_path, None).model_copy(
        update={"retention_hours": 1e-9}
    )
    bus = EmbeddedBus(settings_for)
    topic = f"{settings_for.topic_prefix}table"
    fill_table(bus, topic)
    plain = f"{settings_for.topic_prefix}plain"
    bus.ensure_topics([plain])
    producer = bus.producer()
    producer.send(plain, b"old", key=b"x")
    producer.flush()
    producer.close()
    time.sleep(0.01)
    # When retention and compaction run, with every message past the retention time
    bus.compact()
    # Then the compacted topic keeps the latest live value per key (a tombstone stays
    # only as the last message of its partition), and the plain topic nothing
    remaining = bus.reader(topic, range(bus.partition_count(topic))).read_to_end()
    live = [m for m in remaining if m.value]
    assert sorted((m.key, m.value) for m in live) == [(b"a", b"a2"), (b"c", b"c2")]
    assert all(m.key == b"b" for m in remaining if not m.value)
    assert bus.reader(plain, range(bus.partition_count(plain))).read_to_end() == []
