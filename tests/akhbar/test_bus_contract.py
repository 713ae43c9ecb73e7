"""The bus contract, run unchanged against the embedded bus and the real Kafka broker."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import pytest

from akhbar.bus import Bus, Consumer, Message, open_bus
from akhbar.config import BusSettings

HELPER = Path(__file__).parent.parent / "helpers" / "crashing_consumer.py"


def read_all(consumer: Consumer, expected: int, timeout: float = 30.0) -> list[Message]:
    """Poll until `expected` messages arrived (or the timeout passed)."""
    messages: list[Message] = []
    deadline = time.monotonic() + timeout
    while len(messages) < expected and time.monotonic() < deadline:
        messages += consumer.poll(0.5, 500)
    return messages


def commit_all(consumer: Consumer, messages: list[Message]) -> None:
    consumer.commit({(m.topic, m.partition): m.offset + 1 for m in messages})


def test_messages_with_one_key_keep_their_order(bus: Bus, settings_for: BusSettings) -> None:
    # Given messages for 10 keys, interleaved, over a 3-partition topic
    topic = f"{settings_for.topic_prefix}ordered"
    bus.ensure_topics([topic])
    producer = bus.producer()
    for i in range(300):
        producer.send(topic, str(i).encode(), key=f"key-{i % 10}".encode())
    producer.flush()
    producer.close()

    # When one consumer reads them all
    consumer = bus.consumer(f"{settings_for.topic_prefix}g", [topic])
    messages = read_all(consumer, 300)
    consumer.close()

    # Then every key's messages come in the order they were sent, each from one partition
    assert len(messages) == 300
    by_key: dict[bytes, list[int]] = defaultdict(list)
    partitions: dict[bytes, set[int]] = defaultdict(set)
    for m in messages:
        assert m.key is not None
        by_key[m.key].append(int(m.value))
        partitions[m.key].add(m.partition)
    assert all(values == sorted(values) for values in by_key.values())
    assert all(len(p) == 1 for p in partitions.values())
    assert len({m.partition for m in messages}) > 1, "keys should spread over partitions"


def test_headers_and_bytes_round_trip(bus: Bus, settings_for: BusSettings) -> None:
    topic = f"{settings_for.topic_prefix}headers"
    bus.ensure_topics([topic])
    producer = bus.producer()
    value = "حلب ¢".encode() + bytes(range(256))
    producer.send(topic, value, key=b"k", headers=(("akhbar.error", b"\xff\x00why"),))
    producer.flush()
    consumer = bus.consumer(f"{settings_for.topic_prefix}g", [topic])
    [message] = read_all(consumer, 1)
    consumer.close()
    assert message.value == value
    assert message.key == b"k"
    assert dict(message.headers)["akhbar.error"] == b"\xff\x00why"


def test_a_new_consumer_starts_after_the_last_commit(bus: Bus, settings_for: BusSettings) -> None:
    # Given 20 messages of which a group committed the first 8 of its partition
    topic = f"{settings_for.topic_prefix}resume"
    group = f"{settings_for.topic_prefix}g"
    bus.ensure_topics([topic])
    producer = bus.producer()
    for i in range(20):
        producer.send(topic, str(i).encode(), key=b"same-key")
    producer.flush()
    first = bus.consumer(group, [topic])
    messages = read_all(first, 20)
    commit_all(first, messages[:8])
    first.close()

    # When the group's next consumer reads
    second = bus.consumer(group, [topic])
    rest = read_all(second, 12)
    second.close()

    # Then it gets exactly the 12 uncommitted messages
    assert [int(m.value) for m in rest] == list(range(8, 20))


def test_uncommitted_messages_are_redelivered_after_sigkill(
    bus: Bus, settings_for: BusSettings, tmp_path: Path
) -> None:
    # Given 50 messages, and a consumer process that commits 20, reads the rest,
    # produces an output for each, flushes, and is killed before it commits them
    topic = f"{settings_for.topic_prefix}crash"
    group = f"{settings_for.topic_prefix}g"
    bus.ensure_topics([topic, f"{topic}.out"])
    producer = bus.producer()
    for i in range(50):
        producer.send(topic, str(i).encode(), key=b"one-key")
    producer.flush()
    settings_file = tmp_path / "bus.json"
    settings_file.write_text(settings_for.model_dump_json())
    proc = subprocess.Popen(
        [sys.executable, str(HELPER), str(settings_file), topic, group, "20"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "READY 50"

    # When it dies by SIGKILL
    proc.kill()
    proc.wait(timeout=10)

    # Then the group's next consumer gets the 30 uncommitted messages again
    consumer = bus.consumer(group, [topic])
    redelivered = read_all(consumer, 30)
    consumer.close()
    assert [int(m.value) for m in redelivered] == list(range(20, 50))
    # and what it produced before dying was stored by its flush
    reader = bus.consumer(f"{group}.out", [f"{topic}.out"])
    outputs = read_all(reader, 30)
    reader.close()
    assert sorted(int(m.value) for m in outputs) == list(range(20, 50))


def test_rewind_goes_back_to_the_last_commit(bus: Bus, settings_for: BusSettings) -> None:
    topic = f"{settings_for.topic_prefix}rewind"
    bus.ensure_topics([topic])
    producer = bus.producer()
    for i in range(10):
        producer.send(topic, str(i).encode(), key=b"k")
    producer.flush()
    consumer = bus.consumer(f"{settings_for.topic_prefix}g", [topic])
    messages = read_all(consumer, 10)
    commit_all(consumer, messages[:4])
    consumer.rewind()
    again = read_all(consumer, 6)
    consumer.close()
    assert [int(m.value) for m in again] == list(range(4, 10))


def test_at_end_once_every_partition_is_read(bus: Bus, settings_for: BusSettings) -> None:
    topic = f"{settings_for.topic_prefix}end"
    bus.ensure_topics([topic])
    producer = bus.producer()
    for i in range(30):
        producer.send(topic, str(i).encode(), key=str(i).encode())
    producer.flush()
    consumer = bus.consumer(f"{settings_for.topic_prefix}g", [topic])
    messages = read_all(consumer, 30)
    assert len(messages) == 30
    assert consumer.at_end()
    producer.send(topic, b"late", key=b"late")
    producer.flush()
    assert not consumer.at_end()
    consumer.close()


def test_paused_consumer_returns_nothing_until_resumed(bus: Bus, settings_for: BusSettings) -> None:
    topic = f"{settings_for.topic_prefix}pause"
    bus.ensure_topics([topic])
    consumer = bus.consumer(f"{settings_for.topic_prefix}g", [topic])
    read_all(consumer, 1, timeout=2)  # join the group before pausing
    producer = bus.producer()
    producer.send(topic, b"x", key=b"k")
    producer.flush()
    consumer.pause()
    assert read_all(consumer, 1, timeout=2) == []
    consumer.resume()
    assert [m.value for m in read_all(consumer, 1)] == [b"x"]
    consumer.close()


def produce_numbers(bus: Bus, topic: str, numbers: range) -> None:
    producer = bus.producer()
    for i in numbers:
        producer.send(topic, str(i).encode(), key=f"key-{i}".encode())
    producer.flush()
    producer.close()


def test_offset_ranges_count_what_each_partition_holds(bus: Bus, settings_for: BusSettings) -> None:
    topic = f"{settings_for.topic_prefix}ranges"
    bus.ensure_topics([topic])
    produce_numbers(bus, topic, range(30))

    ranges = bus.offset_ranges(topic)

    assert sorted(ranges) == [0, 1, 2]
    assert all(start == 0 for start, _ in ranges.values())
    assert sum(stop for _, stop in ranges.values()) == 30
    assert topic in bus.list_topics()


def test_read_range_reads_a_slice_without_moving_any_group(
    bus: Bus, settings_for: BusSettings
) -> None:
    # Given 60 messages over 3 partitions
    topic = f"{settings_for.topic_prefix}slice"
    group = f"{settings_for.topic_prefix}g"
    bus.ensure_topics([topic])
    produce_numbers(bus, topic, range(60))
    ends = {p: stop for p, (_, stop) in bus.offset_ranges(topic).items()}

    # When offsets 2..5 of every partition are read, and past the end of partition 0
    sliced = list(bus.read_range(topic, {p: (2, 6) for p in ends}))
    tail = list(bus.read_range(topic, {0: (ends[0] - 1, ends[0] + 100)}))

    # Then exactly those offsets come, in order per partition; the tail stops at the end
    by_partition: dict[int, list[int]] = defaultdict(list)
    for m in sliced:
        by_partition[m.partition].append(m.offset)
        assert m.topic == topic and m.timestamp > 0
    assert dict(by_partition) == {p: [2, 3, 4, 5] for p in ends}
    assert [m.offset for m in tail] == [ends[0] - 1]
    # And a consumer group still starts from the beginning: nothing was committed
    consumer = bus.consumer(group, [topic])
    assert len(read_all(consumer, 60)) == 60
    consumer.close()


def test_offsets_for_time_find_the_first_message_stored_since(
    bus: Bus, settings_for: BusSettings
) -> None:
    # Given 30 messages, a moment, then 30 more
    topic = f"{settings_for.topic_prefix}times"
    bus.ensure_topics([topic])
    produce_numbers(bus, topic, range(30))
    time.sleep(0.05)
    between = int(time.time() * 1000)
    time.sleep(0.05)
    produce_numbers(bus, topic, range(30, 60))

    # When the offsets for that moment and for a moment to come are looked up
    since = bus.offsets_for_time(topic, between)
    future = bus.offsets_for_time(topic, between + 3_600_000)

    # Then reading from them gives exactly the later messages, and nothing after the end
    later = list(bus.read_range(topic, {p: (o, o + 1000) for p, o in since.items()}))
    assert sorted(int(m.value) for m in later) == list(range(30, 60))
    assert future == {p: stop for p, (_, stop) in bus.offset_ranges(topic).items()}


def test_members_starting_together_all_find_the_topics_they_ensure(
    settings_for: BusSettings,
) -> None:
    # Given three members, each with a bus of its own (a poller group on a fresh
    # cluster), that make sure of the same new topics at the same moment, five rounds
    failures: list[str] = []

    def start_member(topics: list[str]) -> None:
        # Any error, the opening included: a thread's exception would not fail the test.
        try:
            member = open_bus(settings_for)
            try:
                member.ensure_topics(topics)
                # When each reads them at once
                for topic in topics:
                    member.partition_count(topic)
            finally:
                member.close()
        except Exception as exc:
            failures.append(repr(exc))

    for round_number in range(5):
        topics = [f"{settings_for.topic_prefix}{name}{round_number}" for name in ("feeds", "state")]
        members = [threading.Thread(target=start_member, args=(topics,)) for _ in range(3)]
        for member in members:
            member.start()
        for member in members:
            member.join()

    # Then every one of them finds every topic, whoever created it
    assert failures == []


def test_offsets_of_a_topic_that_does_not_exist_are_an_error(
    bus: Bus, settings_for: BusSettings
) -> None:
    from akhbar.errors import BusError

    with pytest.raises(BusError, match="no topic named"):
        bus.offset_ranges(f"{settings_for.topic_prefix}missing")


def test_embedded_bus_allows_one_consumer_per_group(tmp_path: Path) -> None:
    from akhbar.bus.embedded import EmbeddedBus
    from akhbar.errors import BusError

    bus = EmbeddedBus(BusSettings(embedded_path=tmp_path / "bus.sqlite3"))
    first = bus.consumer("g", ["t"])
    with pytest.raises(BusError, match="one consumer per group"):
        bus.consumer("g", ["t"])
    first.close()
    bus.consumer("g", ["t"]).close()  # released on close
