"""The bus: topics of keyed messages, consumer groups and committed offsets.

Two backends keep one contract (the same test suite runs against both):

* `kafka`: Apache Kafka through kafka-python, for deployments that scale out by
  running more processes in a consumer group.
* `embedded`: a durable log in one SQLite file, the default when no Kafka is
  configured, so a single machine needs no infrastructure.

The contract, which the runner relies on:

* Messages with the same key land in the same partition and are read in the order
  they were sent.
* `Producer.flush()` returns only when everything sent before it is stored, and
  raises BusError otherwise; nothing sent since the last successful flush may be
  assumed stored.
* `Consumer.commit()` stores the next offset to read per partition. After a crash,
  a consumer of the same group starts from the last commit, so what was read but
  not committed is delivered again (at least once).
* A compacted topic (`ensure_topics(..., configs={topic: COMPACTED})`) is a table:
  the latest message per key is kept for good, older ones may go; a message with
  an empty value (None on Kafka, b"" on the embedded bus) is a tombstone that
  deletes its key. `Bus.reader` reads chosen partitions of such a table to their
  end, outside any group, and `Consumer.assignment()` says which partitions a
  group member holds now.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from akhbar.config import BusSettings

Headers = tuple[tuple[str, bytes], ...]
TopicPartition = tuple[str, int]
# Offsets [start, stop) of one partition: the first offset included and the first
# one after the range.
OffsetRange = tuple[int, int]
# Per-topic settings in Kafka's names (`cleanup.policy`, `retention.ms`), by topic.
TopicConfigs = Mapping[str, Mapping[str, str]]
# A table: the latest value per key is kept however old it is.
COMPACTED: Mapping[str, str] = {"cleanup.policy": "compact"}
# Called before partitions move to another member: flush what was produced for
# them and return the offsets to commit; the bus commits them while this member
# still owns the partitions.
RevokeCallback = Callable[[list[TopicPartition]], Mapping[TopicPartition, int]]
# Called when the partitions have already moved: the group evicted this member (a
# missed session, or a poll interval overrun). Flush what was produced for them;
# nothing can be committed any more, so their new owner reads the uncommitted
# messages again.
LostCallback = Callable[[list[TopicPartition]], None]
# Called when the group gives this member partitions, after the on_revoke of the
# same rebalance: the member owns them from now until their next on_revoke.
AssignCallback = Callable[[list[TopicPartition]], None]


class Message(Protocol):
    """One stored message, as a consumer reads it.

    kafka-python's ConsumerRecord has exactly these attributes, so the Kafka
    backend hands its records over as they are, without a copy per message.
    """

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes: ...
    @property
    def headers(self) -> Sequence[tuple[str, bytes]]: ...
    @property
    def timestamp(self) -> int:
        """Milliseconds since the epoch when the message was stored."""


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A Message of the embedded bus."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: Headers = field(default=())
    timestamp: int = 0


def position(message: Message) -> str:
    """`topic[partition]@offset`, for logs and dead-letter headers."""
    return f"{message.topic}[{message.partition}]@{message.offset}"


class Producer(Protocol):
    """Sends messages; `flush` is the point after which they are known to be stored."""

    def send(
        self, topic: str, value: bytes | None, key: bytes | None = None, headers: Headers = ()
    ) -> None:
        """Queue a message; `value=None` is a tombstone for `key` on a compacted topic."""

    def flush(self, timeout: float | None = None) -> None:
        """Block until all sent messages are stored; raise BusError if any was not."""

    def close(self) -> None: ...


class Consumer(Protocol):
    """Reads a group's share of its topics; positions survive only through `commit`."""

    def poll(self, timeout: float, max_records: int) -> list[Message]:
        """Up to `max_records` messages, waiting at most `timeout` seconds for the first."""

    def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Store the next offset to read for each partition; raise BusError on failure."""

    def rewind(self) -> None:
        """Go back to the last committed offset of every assigned partition."""

    def pause(self) -> None:
        """Stop returning messages from `poll` (while a sink cannot take them)."""

    def resume(self) -> None: ...

    def at_end(self) -> bool:
        """True when every assigned partition has been read to its end."""

    def lag(self) -> dict[TopicPartition, int]:
        """Per assigned partition, messages after the group's committed offset.

        Log end offset minus committed offset (the log start when nothing is
        committed), what a restarted consumer would still have to read; raises
        BusError when the bus cannot tell.
        """

    def assignment(self) -> set[TopicPartition]:
        """The partitions this member holds now (empty until it has joined its group)."""

    def close(self) -> None: ...


class PartitionReader(Protocol):
    """Reads chosen partitions of one topic from their start, outside any consumer group.

    Used to load a table (a compacted topic) for the partitions a member was just
    assigned. Raises BusError when the bus cannot answer.
    """

    def read_to_end(self, timeout: float = 60.0) -> list[Message]:
        """Every message after the last one returned, up to the partitions' ends now."""

    def close(self) -> None: ...


class Bus(Protocol):
    """Makes producers and consumers over one backend."""

    def ensure_topics(self, topics: Iterable[str], configs: TopicConfigs | None = None) -> None:
        """Create the topics that do not exist yet, with `configs[topic]` where given.

        An existing topic keeps the settings it was created with.
        """

    def reader(self, topic: str, partitions: Iterable[int]) -> PartitionReader:
        """A reader of `partitions` of `topic`, positioned at their start."""

    def partition_count(self, topic: str) -> int:
        """How many partitions `topic` has (it must exist)."""

    def producer(self) -> Producer: ...

    def consumer(
        self,
        group: str,
        topics: Sequence[str],
        on_revoke: RevokeCallback | None = None,
        on_assign: AssignCallback | None = None,
        on_lost: LostCallback | None = None,
    ) -> Consumer:
        """A consumer in `group`; `on_revoke` runs before partitions move elsewhere,
        `on_lost` when they have moved already (without it, `on_revoke` runs and its
        offsets are not committed), `on_assign` when the group gives this member partitions."""

    def list_topics(self) -> list[str]:
        """Every topic on the bus, sorted."""

    def offset_ranges(self, topic: str) -> dict[int, OffsetRange]:
        """Per partition, the first offset still stored and the offset the next message gets.

        Raises BusError for a topic that does not exist.
        """

    def offsets_for_time(self, topic: str, timestamp_ms: int) -> dict[int, int]:
        """Per partition, the first offset stored at or after `timestamp_ms`; the end
        offset when no message is that recent."""

    def read_range(self, topic: str, ranges: Mapping[int, OffsetRange]) -> Iterator[Message]:
        """The stored messages of `ranges` (partition -> [start, stop)), in offset order
        per partition, read outside any consumer group: nothing is committed and no
        group's position moves. Offsets past the end are not waited for."""

    def close(self) -> None: ...


def open_bus(settings: BusSettings) -> Bus:
    """The bus the settings name: Kafka when configured, the embedded log otherwise."""
    if settings.resolved_backend == "kafka":
        from akhbar.bus.kafka import KafkaBus

        return KafkaBus(settings)
    from akhbar.bus.embedded import EmbeddedBus

    return EmbeddedBus(settings)
