"""The Kafka bus, through kafka-python: the only module that imports the Kafka client.

Producers send with acks=all and idempotence, so a retried send is stored once
and `flush()` means every in-sync replica has it. Consumers join a consumer
group with auto-commit off; the runner commits offset+1 only after the outputs
of those messages are flushed, which gives at-least-once delivery.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.consumer.subscription_state import AsyncConsumerRebalanceListener
from kafka.errors import KafkaError, TopicAlreadyExistsError
from kafka.structs import OffsetAndMetadata
from kafka.structs import TopicPartition as KafkaTopicPartition

from akhbar.bus import (
    AssignCallback,
    Headers,
    LostCallback,
    Message,
    OffsetRange,
    RevokeCallback,
    TopicConfigs,
    TopicPartition,
)
from akhbar.errors import BusError
from akhbar.logs import get_logger

if TYPE_CHECKING:
    from akhbar.config import BusSettings, KafkaSettings

# kafka-python's default flush waits forever; a broker that is down must surface
# as an error the runner can act on instead.
DEFAULT_FLUSH_TIMEOUT_S = 60.0
# How long a commit or a metadata lookup may block before it counts as failed.
REQUEST_TIMEOUT_MS = 30_000
# `read_range` gives up when the broker sends nothing for this long although the
# range's end, which was stored already, is not reached.
READ_RANGE_STALL_S = 30.0
READ_RANGE_POLL_MS = 500
# Lag is only reported: a broker slow to answer must not hold the stage for long.
LAG_TIMEOUT_MS = 5_000

_log = get_logger(bus="kafka")


def _client_options(settings: KafkaSettings) -> dict[str, Any]:
    options: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "client_id": settings.client_id,
        "security_protocol": settings.security_protocol,
    }
    if settings.sasl_mechanism:
        options["sasl_mechanism"] = settings.sasl_mechanism
        options["sasl_plain_username"] = settings.sasl_username
        if settings.sasl_password is not None:
            options["sasl_plain_password"] = settings.sasl_password.get_secret_value()
    if settings.ssl_cafile:
        options["ssl_cafile"] = str(settings.ssl_cafile)
    return options


class KafkaBus:
    """A Bus over an Apache Kafka cluster."""

    def __init__(self, settings: BusSettings) -> None:
        assert settings.kafka is not None
        self._settings = settings
        self._kafka = settings.kafka
        self._options = _client_options(settings.kafka)

    def ensure_topics(self, topics: Iterable[str], configs: TopicConfigs | None = None) -> None:
        admin = KafkaAdminClient(**self._options, request_timeout_ms=REQUEST_TIMEOUT_MS)
        try:
            missing = set(topics) - set(admin.list_topics())
            if not missing:
                return
            spec = {
                "num_partitions": self._settings.partitions,
                "replication_factor": self._settings.replication_factor,
            }
            configs = configs or {}
            new_topics = {
                topic: {**spec, "configs": dict(configs.get(topic, {}))}
                for topic in sorted(missing)
            }
            try:
                admin.create_topics(new_topics, wait_for_metadata=True)
            except TopicAlreadyExistsError:
                # Another process created one between the listing and now, and its
                # topics may not be in this broker's metadata yet: two stages starting
                # together on a fresh cluster must both find them ready.
                admin.wait_for_topics(sorted(missing), timeout_ms=REQUEST_TIMEOUT_MS)
        except KafkaError as exc:
            raise BusError(f"could not create topics {sorted(topics)}: {exc}") from exc
        finally:
            admin.close()

    def reader(self, topic: str, partitions: Iterable[int]) -> KafkaPartitionReader:
        return KafkaPartitionReader(self._options, self._kafka, topic, partitions)

    def partition_count(self, topic: str) -> int:
        consumer = KafkaConsumer(**self._options, request_timeout_ms=REQUEST_TIMEOUT_MS + 5_000)
        try:
            found = consumer.partitions_for_topic(topic)
        except KafkaError as exc:
            raise BusError(f"could not read the partitions of {topic}: {exc}") from exc
        finally:
            consumer.close()
        if not found:
            raise BusError(f"topic {topic} does not exist")
        return len(found)

    def producer(self) -> KafkaBusProducer:
        return KafkaBusProducer(self._options, self._kafka)

    def consumer(
        self,
        group: str,
        topics: Sequence[str],
        on_revoke: RevokeCallback | None = None,
        on_assign: AssignCallback | None = None,
        on_lost: LostCallback | None = None,
    ) -> KafkaBusConsumer:
        return KafkaBusConsumer(
            self._options, self._kafka, group, topics, on_revoke, on_assign, on_lost
        )

    def list_topics(self) -> list[str]:
        with self._standalone_consumer() as consumer:
            try:
                return sorted(consumer.topics())
            except KafkaError as exc:
                raise BusError(f"could not list topics: {exc}") from exc

    def offset_ranges(self, topic: str) -> dict[int, OffsetRange]:
        with self._standalone_consumer() as consumer:
            partitions = _partitions_of(consumer, topic)
            try:
                starts = consumer.beginning_offsets(partitions, timeout_ms=REQUEST_TIMEOUT_MS)
                ends = consumer.end_offsets(partitions, timeout_ms=REQUEST_TIMEOUT_MS)
            except KafkaError as exc:
                raise BusError(f"could not read the offsets of {topic}: {exc}") from exc
            return {tp.partition: (starts[tp], ends[tp]) for tp in partitions}

    def offsets_for_time(self, topic: str, timestamp_ms: int) -> dict[int, int]:
        with self._standalone_consumer() as consumer:
            partitions = _partitions_of(consumer, topic)
            try:
                found = consumer.offsets_for_times(
                    dict.fromkeys(partitions, timestamp_ms), timeout_ms=REQUEST_TIMEOUT_MS
                )
                ends = consumer.end_offsets(partitions, timeout_ms=REQUEST_TIMEOUT_MS)
            except KafkaError as exc:
                raise BusError(f"could not look up offsets by time in {topic}: {exc}") from exc
            return {
                tp.partition: found[tp].offset if found.get(tp) is not None else ends[tp]
                for tp in partitions
            }

    def read_range(self, topic: str, ranges: Mapping[int, OffsetRange]) -> Iterator[Message]:
        with self._standalone_consumer() as consumer:
            _partitions_of(consumer, topic)
            wanted = {
                KafkaTopicPartition(topic, partition): (start, stop)
                for partition, (start, stop) in ranges.items()
                if stop > start
            }
            if wanted:
                yield from _read_assigned(consumer, wanted)

    @contextlib.contextmanager
    def _standalone_consumer(self) -> Iterator[KafkaConsumer]:
        """A consumer in no group: it reads by assignment and never commits."""
        consumer = KafkaConsumer(
            **self._options,
            group_id=None,
            enable_auto_commit=False,
            # A range that starts before what retention kept begins at the oldest message.
            auto_offset_reset="earliest",
            fetch_max_bytes=self._kafka.fetch_max_bytes,
            max_partition_fetch_bytes=self._kafka.max_message_bytes,
            request_timeout_ms=REQUEST_TIMEOUT_MS + 5_000,
        )
        try:
            yield consumer
        finally:
            consumer.close(autocommit=False)

    def close(self) -> None:
        """Nothing to release: each producer and consumer owns its connections."""


def _partitions_of(consumer: KafkaConsumer, topic: str) -> list[KafkaTopicPartition]:
    try:
        partitions = consumer.partitions_for_topic(topic)
    except KafkaError as exc:
        raise BusError(f"could not read the partitions of {topic}: {exc}") from exc
    if not partitions:
        raise BusError(f"no topic named {topic!r} on the Kafka cluster")
    return [KafkaTopicPartition(topic, partition) for partition in sorted(partitions)]


def _read_assigned(
    consumer: KafkaConsumer, wanted: Mapping[KafkaTopicPartition, OffsetRange]
) -> Iterator[Message]:
    """Read each partition of `wanted` from its start to its stop (or its end, if sooner)."""
    try:
        consumer.assign(list(wanted))
        ends = consumer.end_offsets(list(wanted), timeout_ms=REQUEST_TIMEOUT_MS)
        stops = {tp: min(stop, ends[tp]) for tp, (_, stop) in wanted.items()}
        for tp, (start, _) in wanted.items():
            consumer.seek(tp, start)
        remaining = {tp for tp, (start, _) in wanted.items() if start < stops[tp]}
        last_progress = time.monotonic()
        while remaining:
            batches = consumer.poll(timeout_ms=READ_RANGE_POLL_MS)
            for tp, records in batches.items():
                yield from (record for record in records if record.offset < stops[tp])
            if batches:
                last_progress = time.monotonic()
            elif time.monotonic() - last_progress > READ_RANGE_STALL_S:
                raise BusError(f"no messages from {sorted(map(str, remaining))} for too long")
            done = {tp for tp in remaining if consumer.position(tp) >= stops[tp]}
            if done:
                consumer.pause(*done)
                remaining -= done
    except KafkaError as exc:
        raise BusError(f"could not read {sorted(map(str, wanted))}: {exc}") from exc


class KafkaBusProducer:
    """A KafkaProducer that remembers every send until `flush` has checked it."""

    def __init__(self, options: dict[str, Any], settings: KafkaSettings) -> None:
        # The client bootstraps in its constructor: a broker that is down is a
        # BusError here too, which the runner waits out, not a crash.
        try:
            self._producer = KafkaProducer(
                **options,
                acks="all",
                enable_idempotence=True,
                linger_ms=settings.linger_ms,
                batch_size=settings.batch_size,
                max_request_size=settings.max_message_bytes,
                compression_type=settings.compression,
            )
        except KafkaError as exc:
            raise BusError(f"could not start a producer: {exc}") from exc
        # The first send that failed since the last flush, recorded by errback;
        # cheaper than keeping every future until flush.
        self._failures: list[Exception] = []
        self._sent = 0

    def send(
        self, topic: str, value: bytes | None, key: bytes | None = None, headers: Headers = ()
    ) -> None:
        try:
            future = self._producer.send(
                topic, value=value, key=key, headers=list(headers) if headers else None
            )
        except KafkaError as exc:
            raise BusError(f"could not send to {topic}: {exc}") from exc
        future.add_errback(self._failures.append)
        self._sent += 1

    def flush(self, timeout: float | None = None) -> None:
        try:
            self._producer.flush(timeout=timeout or DEFAULT_FLUSH_TIMEOUT_S)
        except KafkaError as exc:
            raise BusError(f"flush did not complete: {exc}") from exc
        finally:
            failures, self._failures = self._failures, []
            sent, self._sent = self._sent, 0
        if failures:
            raise BusError(f"{len(failures)} of {sent} messages were not stored: {failures[0]}")

    def close(self) -> None:
        self._producer.close(timeout=10)


class _RevokeListener(AsyncConsumerRebalanceListener):  # type: ignore[misc]
    """Commits what the runner has flushed before partitions move away.

    kafka-python 3 calls rebalance listeners on the consumer's IO thread, where a
    blocking commit would wait on itself; the async listener awaits the commit.
    """

    def __init__(
        self,
        consumer: KafkaConsumer,
        on_revoke: RevokeCallback | None,
        on_assign: Callable[[Any], None] | None = None,
        on_lost: LostCallback | None = None,
    ) -> None:
        self._consumer = consumer
        self._on_revoke = on_revoke
        self._on_assign = on_assign
        self._on_lost = on_lost

    async def on_partitions_revoked(self, revoked: Any) -> None:
        if self._on_revoke is None or not revoked:
            return
        offsets = self._on_revoke([(tp.topic, tp.partition) for tp in revoked])
        if not offsets:
            return
        try:
            await self._consumer.commit_async(_as_commit_request(offsets))
        except KafkaError as exc:
            # An error raised here would fail the consumer's poll and stop the stage.
            # Uncommitted messages are only read again by the next owner, and the
            # outputs are idempotent by article id.
            _log.warning("commit on revoke failed; the next owner reads again", error=repr(exc))

    async def on_partitions_lost(self, lost: Any) -> None:
        """Evicted from the group (a missed session, or a poll interval overrun): the
        outputs are flushed, nothing is committed, because a member outside the group
        cannot commit and the partitions may already be read by their new owner."""
        if not lost:
            return
        partitions = [(tp.topic, tp.partition) for tp in lost]
        if self._on_lost is not None:
            self._on_lost(partitions)
        elif self._on_revoke is not None:
            self._on_revoke(partitions)
        _log.warning(
            "partitions lost; uncommitted messages will be read again", partitions=partitions
        )

    async def on_partitions_assigned(self, assigned: Any) -> None:
        """Positions come from the group's committed offsets; only cached offsets go."""
        if self._on_assign is not None:
            self._on_assign(assigned)


def _as_commit_request(
    offsets: Mapping[TopicPartition, int],
) -> dict[KafkaTopicPartition, OffsetAndMetadata]:
    return {
        KafkaTopicPartition(topic, partition): OffsetAndMetadata(offset, "", -1)
        for (topic, partition), offset in offsets.items()
    }


class KafkaBusConsumer:
    """A KafkaConsumer in a group, auto-commit off, read from the earliest offset."""

    def __init__(
        self,
        options: dict[str, Any],
        settings: KafkaSettings,
        group: str,
        topics: Sequence[str],
        on_revoke: RevokeCallback | None,
        on_assign: AssignCallback | None = None,
        on_lost: LostCallback | None = None,
    ) -> None:
        self._on_assign = on_assign
        self._consumer = KafkaConsumer(
            **options,
            group_id=group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_interval_ms=settings.max_poll_interval_ms,
            session_timeout_ms=settings.session_timeout_ms,
            # Three heartbeats per session timeout, as the Kafka documentation advises.
            heartbeat_interval_ms=settings.session_timeout_ms // 3,
            fetch_max_bytes=settings.fetch_max_bytes,
            max_partition_fetch_bytes=settings.max_message_bytes,
            request_timeout_ms=REQUEST_TIMEOUT_MS + 5_000,
        )
        # Committed offsets as far as this member knows them, for `lag`.
        self._committed_offsets: dict[KafkaTopicPartition, int | None] = {}
        self._consumer.subscribe(
            topics=list(topics),
            listener=_RevokeListener(self._consumer, on_revoke, self._assigned, on_lost),
        )
        # Fetch metadata now that the subscription is set, so the first JoinGroup
        # already knows the topics' partitions. Otherwise the leader assigns from
        # an empty snapshot and rejoins when the metadata arrives, and kafka-python
        # 3.0.12 can lose that second join when poll()'s timeout ends mid-join:
        # the member then stays in the group with no partitions.
        self._consumer.topics()

    def poll(self, timeout: float, max_records: int) -> list[Message]:
        try:
            batches = self._consumer.poll(timeout_ms=int(timeout * 1000), max_records=max_records)
        except KafkaError as exc:
            raise BusError(f"poll failed: {exc}") from exc
        if len(batches) == 1:
            return next(iter(batches.values()))  # type: ignore[no-any-return]
        return [record for records in batches.values() for record in records]

    def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        if not offsets:
            return
        try:
            self._consumer.commit(_as_commit_request(offsets), timeout_ms=REQUEST_TIMEOUT_MS)
        except KafkaError as exc:
            raise BusError(f"commit failed: {exc}") from exc
        for (topic, partition), offset in offsets.items():
            self._committed_offsets[KafkaTopicPartition(topic, partition)] = offset

    def rewind(self) -> None:
        try:
            for tp in self._consumer.assignment():
                committed = self._consumer.committed(tp, timeout_ms=REQUEST_TIMEOUT_MS)
                if committed is None:
                    self._consumer.seek_to_beginning(tp)
                else:
                    self._consumer.seek(tp, committed)
        except KafkaError as exc:
            raise BusError(f"could not read committed offsets to rewind: {exc}") from exc

    def pause(self) -> None:
        self._consumer.pause(*self._consumer.assignment())

    def resume(self) -> None:
        self._consumer.resume(*self._consumer.paused())

    def at_end(self) -> bool:
        assignment = self._consumer.assignment()
        if not assignment:
            return False  # not yet part of the group: nothing proves we are caught up
        try:
            ends = self._consumer.end_offsets(list(assignment), timeout_ms=REQUEST_TIMEOUT_MS)
            return all(
                self._consumer.position(tp, timeout_ms=REQUEST_TIMEOUT_MS) >= ends[tp]
                for tp in assignment
            )
        except KafkaError as exc:
            raise BusError(f"could not read end offsets: {exc}") from exc

    def lag(self) -> dict[TopicPartition, int]:
        assignment = list(self._consumer.assignment())
        if not assignment:
            return {}
        try:
            ends = self._consumer.end_offsets(assignment, timeout_ms=LAG_TIMEOUT_MS)
            starts = {tp: self._committed(tp) for tp in assignment}
            uncommitted = [tp for tp, offset in starts.items() if offset is None]
            if uncommitted:
                starts.update(
                    self._consumer.beginning_offsets(uncommitted, timeout_ms=LAG_TIMEOUT_MS)
                )
        except KafkaError as exc:
            raise BusError(f"could not read offsets for lag: {exc}") from exc
        return {
            (tp.topic, tp.partition): max(0, ends[tp] - int(starts[tp] or 0)) for tp in assignment
        }

    def _committed(self, tp: KafkaTopicPartition) -> int | None:
        """The group's committed offset: what this member committed, else asked once."""
        # The rebalance listener may forget entries from kafka-python's IO thread.
        if tp in self._committed_offsets:
            known = self._committed_offsets.get(tp)
            if known is not None:
                return known
        offset = self._consumer.committed(tp, timeout_ms=LAG_TIMEOUT_MS)
        self._committed_offsets[tp] = None if offset is None else int(offset)
        return None if offset is None else int(offset)

    def _assigned(self, partitions: Any) -> None:
        """Runs on kafka-python's IO thread once the group has given these partitions."""
        self._forget_committed(partitions)
        if self._on_assign is not None:
            self._on_assign(sorted((tp.topic, tp.partition) for tp in partitions))

    def _forget_committed(self, partitions: Any) -> None:
        """Partitions that come back may have been committed by another member meanwhile."""
        for tp in partitions:
            self._committed_offsets.pop(tp, None)

    def assignment(self) -> set[TopicPartition]:
        return {(tp.topic, tp.partition) for tp in self._consumer.assignment()}

    def close(self) -> None:
        self._consumer.close(autocommit=False, timeout_ms=10_000)


class KafkaPartitionReader:
    """A KafkaConsumer without a group, assigned partitions by hand, from their start."""

    def __init__(
        self,
        options: dict[str, Any],
        settings: KafkaSettings,
        topic: str,
        partitions: Iterable[int],
    ) -> None:
        self._consumer = KafkaConsumer(
            **options,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_bytes=settings.fetch_max_bytes,
            max_partition_fetch_bytes=settings.max_message_bytes,
            request_timeout_ms=REQUEST_TIMEOUT_MS + 5_000,
        )
        self._partitions = [KafkaTopicPartition(topic, p) for p in partitions]
        self._consumer.assign(self._partitions)
        if self._partitions:
            self._consumer.seek_to_beginning(*self._partitions)

    def read_to_end(self, timeout: float = 60.0) -> list[Message]:
        if not self._partitions:
            return []
        deadline = time.monotonic() + timeout
        found: list[Message] = []
        try:
            ends = self._consumer.end_offsets(self._partitions, timeout_ms=REQUEST_TIMEOUT_MS)
            while not self._reached(ends):
                if time.monotonic() > deadline:
                    raise BusError(f"could not read {self._partitions} to their end in {timeout} s")
                for records in self._consumer.poll(timeout_ms=500, max_records=10_000).values():
                    found.extend(records)
        except KafkaError as exc:
            raise BusError(f"could not read {self._partitions}: {exc}") from exc
        return found

    def _reached(self, ends: Mapping[KafkaTopicPartition, int]) -> bool:
        return all(
            self._consumer.position(tp, timeout_ms=REQUEST_TIMEOUT_MS) >= ends[tp]
            for tp in self._partitions
        )

    def close(self) -> None:
        self._consumer.close(autocommit=False, timeout_ms=10_000)
