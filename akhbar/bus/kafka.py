"""The Kafka bus, through kafka-python: the only module that imports the Kafka client.

Producers send with acks=all and idempotence, so a retried send is stored once
and `flush()` means every in-sync replica has it. Consumers join a consumer
group with auto-commit off; the runner commits offset+1 only after the outputs
of those messages are flushed, which gives at-least-once delivery.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.consumer.subscription_state import AsyncConsumerRebalanceListener
from kafka.errors import KafkaError, TopicAlreadyExistsError
from kafka.structs import OffsetAndMetadata
from kafka.structs import TopicPartition as KafkaTopicPartition

from akhbar.bus import Headers, Message, RevokeCallback, TopicPartition
from akhbar.errors import BusError

if TYPE_CHECKING:
    from akhbar.config import BusSettings, KafkaSettings

# kafka-python's default flush waits forever; a broker that is down must surface
# as an error the runner can act on instead.
DEFAULT_FLUSH_TIMEOUT_S = 60.0
# How long a commit or a metadata lookup may block before it counts as failed.
REQUEST_TIMEOUT_MS = 30_000


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

    def ensure_topics(self, topics: Iterable[str]) -> None:
        admin = KafkaAdminClient(**self._options, request_timeout_ms=REQUEST_TIMEOUT_MS)
        try:
            missing = set(topics) - set(admin.list_topics())
            if not missing:
                return
            spec = {
                "num_partitions": self._settings.partitions,
                "replication_factor": self._settings.replication_factor,
            }
            # Another process may create one between the listing and now.
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(
                    {topic: dict(spec) for topic in sorted(missing)}, wait_for_metadata=True
                )
        except KafkaError as exc:
            raise BusError(f"could not create topics {sorted(topics)}: {exc}") from exc
        finally:
            admin.close()

    def producer(self) -> KafkaBusProducer:
        return KafkaBusProducer(self._options, self._kafka)

    def consumer(
        self, group: str, topics: Sequence[str], on_revoke: RevokeCallback | None = None
    ) -> KafkaBusConsumer:
        return KafkaBusConsumer(self._options, self._kafka, group, topics, on_revoke)

    def close(self) -> None:
        """Nothing to release: each producer and consumer owns its connections."""


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
        self, topic: str, value: bytes, key: bytes | None = None, headers: Headers = ()
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

    def __init__(self, consumer: KafkaConsumer, on_revoke: RevokeCallback | None) -> None:
        self._consumer = consumer
        self._on_revoke = on_revoke

    async def on_partitions_revoked(self, revoked: Any) -> None:
        if self._on_revoke is None or not revoked:
            return
        offsets = self._on_revoke([(tp.topic, tp.partition) for tp in revoked])
        if offsets:
            await self._consumer.commit_async(_as_commit_request(offsets))

    async def on_partitions_assigned(self, assigned: Any) -> None:
        """Positions come from the group's committed offsets; nothing to do."""


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
    ) -> None:
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
        self._consumer.subscribe(
            topics=list(topics), listener=_RevokeListener(self._consumer, on_revoke)
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

    def close(self) -> None:
        self._consumer.close(autocommit=False, timeout_ms=10_000)
