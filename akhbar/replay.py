"""Replay: stored messages of a topic sent again, so that a stage processes them anew.

After a processor upgrade, the messages its old version handled are read back
from its input topic and re-published to that topic (or to another one). The
running stage reads them as new messages in its own consumer group, its new
version stamps them, and the sinks update the articles: the JSON Lines sink
writes the article again because its key holds the processor stamps, and the
search sink overwrites the document whose `_id` is the article id. So the sinks
end with the same articles, each in its newest version.

Reading goes through `Bus.read_range`, outside any consumer group, so no stage's
committed position moves. The range's end is fixed before the first message is
sent: replaying a topic into itself never reads its own copies.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from akhbar.bus import Bus, Headers, Message, OffsetRange, Producer, position
from akhbar.errors import AkhbarError
from akhbar.logs import get_logger
from akhbar.runner import (
    HEADER_ERROR,
    HEADER_ERROR_TYPE,
    HEADER_RETRIES,
    HEADER_SOURCE,
    HEADER_STAGE,
)

# Where a replayed message was read from, `topic[partition]@offset`: a message
# that fails again is dead-lettered with this header, so its history shows.
HEADER_REPLAYED_FROM = "akhbar.replayed_from"
# Headers that describe why a message was dead-lettered: a replayed copy is a new
# attempt and does not carry the old failure with it.
FAILURE_HEADERS = frozenset(
    {HEADER_ERROR, HEADER_ERROR_TYPE, HEADER_STAGE, HEADER_SOURCE, HEADER_RETRIES}
)
# Sends are flushed this often, so a replay of millions of messages holds a
# bounded amount in the producer and a failure loses little progress.
FLUSH_EVERY = 5_000


class ReplayError(AkhbarError):
    """A replay was asked for something that does not exist (a partition, a topic)."""


@dataclass(frozen=True)
class Selection:
    """Which stored messages to replay; every bound is optional.

    Times are message timestamps in milliseconds, `since` included and `until`
    excluded. Offsets are per partition (the key None means every partition),
    `from_offsets` and `to_offsets` both included.
    """

    since_ms: int | None = None
    until_ms: int | None = None
    from_offsets: Mapping[int | None, int] = field(default_factory=dict)
    to_offsets: Mapping[int | None, int] = field(default_factory=dict)
    partitions: frozenset[int] | None = None

    def admits(self, message: Message) -> bool:
        """Whether the message's timestamp is inside the time bounds.

        The offsets from Kafka's time index are where a range starts and stops;
        timestamps set by producers on other machines need not rise with the
        offsets, so each message is checked as well.
        """
        if self.since_ms is not None and message.timestamp < self.since_ms:
            return False
        return self.until_ms is None or message.timestamp < self.until_ms


@dataclass
class PartitionReport:
    """What was replayed from one partition."""

    first: int | None = None
    last: int | None = None
    count: int = 0

    def add(self, offset: int) -> None:
        if self.first is None:
            self.first = offset
        self.last = offset
        self.count += 1


@dataclass
class ReplayReport:
    """What a replay read and sent (nothing sent when it was a dry run)."""

    source: str
    destination: str
    dry_run: bool
    ranges: dict[int, OffsetRange]
    partitions: dict[int, PartitionReport] = field(default_factory=dict)
    replayed: int = 0
    skipped: int = 0

    def as_json(self) -> dict[str, object]:
        return {
            "from": self.source,
            "to": self.destination,
            "dry_run": self.dry_run,
            "replayed": self.replayed,
            "outside_time_range": self.skipped,
            "partitions": {str(p): vars(report) for p, report in sorted(self.partitions.items())},
        }


def plan(bus: Bus, topic: str, selection: Selection) -> dict[int, OffsetRange]:
    """The offset range [start, stop) to read from each selected partition of `topic`.

    Raises ReplayError for a partition the topic does not have, BusError when the
    bus cannot say.
    """
    bounds = bus.offset_ranges(topic)
    partitions = _selected_partitions(bounds, selection)
    since = {} if selection.since_ms is None else bus.offsets_for_time(topic, selection.since_ms)
    until = {} if selection.until_ms is None else bus.offsets_for_time(topic, selection.until_ms)
    ranges = {}
    for partition in partitions:
        start, stop = bounds[partition]
        start = max(start, since.get(partition, start))
        stop = min(stop, until.get(partition, stop))
        first = _for_partition(selection.from_offsets, partition)
        last = _for_partition(selection.to_offsets, partition)
        if first is not None:
            start = max(start, first)
        if last is not None:
            stop = min(stop, last + 1)
        ranges[partition] = (start, max(start, stop))
    return ranges


def _selected_partitions(bounds: Mapping[int, OffsetRange], selection: Selection) -> list[int]:
    named = set(selection.partitions or ())
    named |= {p for p in (*selection.from_offsets, *selection.to_offsets) if p is not None}
    unknown = named - set(bounds)
    if unknown:
        raise ReplayError(f"no partition {sorted(unknown)} in this topic; it has {sorted(bounds)}")
    if selection.partitions is not None:
        return sorted(selection.partitions)
    return sorted(bounds)


def _for_partition(offsets: Mapping[int | None, int], partition: int) -> int | None:
    return offsets.get(partition, offsets.get(None))


def replay(
    bus: Bus, source: str, destination: str, selection: Selection, dry_run: bool = False
) -> ReplayReport:
    """Re-publish the selected messages of `source` to `destination`, keys and headers kept.

    Raises ReplayError or BusError before anything is sent when the selection or
    the bus is wrong; a BusError while sending leaves what was flushed so far sent
    (replaying a message twice is harmless: the sinks keep one copy per version).
    """
    ranges = plan(bus, source, selection)
    report = ReplayReport(source, destination, dry_run, ranges)
    selected = _selected(bus.read_range(source, ranges), selection, report)
    if dry_run:
        for _ in selected:
            pass  # counted in the report, sent nowhere
    else:
        _publish(bus, selected, destination)
    summary = {k: v for k, v in report.as_json().items() if k != "partitions"}
    get_logger(stage="replay").info("replayed", **summary)
    return report


def _selected(
    messages: Iterable[Message], selection: Selection, report: ReplayReport
) -> Iterator[Message]:
    """The messages inside the time bounds, each counted in the report as it passes."""
    for message in messages:
        if not selection.admits(message):
            report.skipped += 1
            continue
        report.partitions.setdefault(message.partition, PartitionReport()).add(message.offset)
        report.replayed += 1
        yield message


def _publish(bus: Bus, messages: Iterable[Message], destination: str) -> None:
    bus.ensure_topics([destination])
    producer = bus.producer()
    try:
        for sent, message in enumerate(messages, start=1):
            send_again(producer, message, destination)
            if sent % FLUSH_EVERY == 0:
                producer.flush()
        producer.flush()
    finally:
        producer.close()


def send_again(producer: Producer, message: Message, destination: str) -> None:
    """Send a stored message to `destination`: same key and value, failure headers dropped."""
    producer.send(destination, message.value, key=message.key, headers=replayed_headers(message))


def replayed_headers(message: Message) -> Headers:
    kept = tuple(
        (name, value)
        for name, value in message.headers or ()
        if name not in FAILURE_HEADERS and name != HEADER_REPLAYED_FROM
    )
    return (*kept, (HEADER_REPLAYED_FROM, position(message).encode()))


def parse_time(text: str) -> int:
    """Milliseconds since the epoch of an ISO 8601 time; one without a zone is UTC."""
    when = datetime.fromisoformat(text)
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)


def parse_offsets(values: Iterable[str]) -> dict[int | None, int]:
    """`PARTITION:OFFSET`, or `OFFSET` for every partition, as a mapping; ValueError if neither."""
    offsets: dict[int | None, int] = {}
    for value in values:
        partition, sep, offset = value.rpartition(":")
        offsets[int(partition) if sep else None] = int(offset)
    return offsets
