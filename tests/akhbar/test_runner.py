"""The stage runner over both bus backends: outputs, drops, dead letters, retries, shutdown."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

import pytest

from akhbar.article import Article
from akhbar.bus import Bus, Headers, Message, Producer
from akhbar.config import BusSettings, RunnerSettings
from akhbar.errors import BusError, InvalidArticle, SinkUnavailable, StageFailed
from akhbar.metrics import Metrics
from akhbar.runner import (
    HEADER_ERROR,
    HEADER_ERROR_TYPE,
    HEADER_STAGE,
    Rejection,
    Stage,
    StageRunner,
)
from akhbar.topics import dead_letter_topic
from tests.akhbar.test_bus_contract import read_all
from tests.helpers.articles import make_article

FAST = RunnerSettings(
    commit_interval_s=0.2,
    poll_timeout_s=0.1,
    step_retries=3,
    retry_backoff_initial_s=0.01,
    retry_backoff_max_s=0.05,
    step_timeout_s=1.0,
)


class CollectingSink:
    """Keeps what was flushed; can be told to fail its next flushes (a disk or cluster
    outage), or to refuse some articles for good (a mapping error)."""

    def __init__(self, failures: int = 0, refuse: Callable[[Article], str | None] = lambda a: None):
        self.stored: list[Article] = []
        self._buffer: list[tuple[Article, Message]] = []
        self.failures = failures
        self._refuse = refuse

    def add(self, article: Article, record: Message) -> None:
        self._buffer.append((article, record))

    def flush(self) -> Sequence[Rejection]:
        buffer, self._buffer = self._buffer, []
        if self.failures:
            self.failures -= 1
            raise SinkUnavailable("backend down")
        rejected = [(record, reason) for a, record in buffer if (reason := self._refuse(a))]
        self.stored += [a for a, _ in buffer if not self._refuse(a)]
        return rejected

    def close(self) -> None:
        pass


def produce(bus: Bus, topic: str, values: list[bytes], keys: list[bytes] | None = None) -> None:
    bus.ensure_topics([topic])
    producer = bus.producer()
    for i, value in enumerate(values):
        producer.send(topic, value, key=keys[i] if keys else f"k{i}".encode())
    producer.flush()
    producer.close()


def articles(n: int) -> list[Article]:
    return [make_article(i) for i in range(n)]


def drain(
    bus: Bus, stage: Stage, settings: RunnerSettings = FAST, prefix: str = "", **kwargs: object
) -> StageRunner:
    runner = StageRunner(bus, stage, settings, Metrics(), group_prefix=prefix)
    done = threading.Event()
    done.set()
    runner.run(drain_after=done, timeout=60, **kwargs)  # type: ignore[arg-type]
    return runner


def sink_stage(
    prefix: str, step: Callable[[Article], Article | None], sink: CollectingSink, **kwargs: object
) -> Stage:
    return Stage("test-sink", "1", f"{prefix}in", step, sink=lambda: sink, **kwargs)  # type: ignore[arg-type]


def dead_letters(bus: Bus, prefix: str, expected: int) -> list[Message]:
    consumer = bus.consumer(f"{prefix}dlq-reader", [dead_letter_topic(f"{prefix}in")])
    messages = read_all(consumer, expected, timeout=10)
    consumer.close()
    return messages


def test_processor_stage_moves_articles_in_order_and_stamps_them(
    bus: Bus, settings_for: BusSettings
) -> None:
    prefix = settings_for.topic_prefix
    batch = articles(200)
    produce(bus, f"{prefix}in", [a.to_bytes() for a in batch], [a.id.encode() for a in batch])
    stage = Stage("copy", "7", f"{prefix}in", lambda a: a, output_topic=f"{prefix}out")

    runner = drain(bus, stage, prefix=prefix)

    assert runner.stats.consumed == runner.stats.produced == 200
    consumer = bus.consumer(f"{prefix}reader", [f"{prefix}out"])
    out = read_all(consumer, 200)
    consumer.close()
    decoded = [Article.model_validate_json(m.value) for m in out]
    assert sorted(a.id for a in decoded) == sorted(a.id for a in batch)
    assert all(m.key == a.id.encode() for m, a in zip(out, decoded, strict=True))
    assert all(a.processors[-1].name == "copy" and a.processors[-1].version == "7" for a in decoded)


def test_invalid_messages_go_to_the_dead_letter_topic_and_are_committed(
    bus: Bus, settings_for: BusSettings
) -> None:
    # Given one good article, one that is not JSON, one from a newer schema, and one
    # the step rejects
    prefix = settings_for.topic_prefix
    good, rejected = make_article(1), make_article(2)
    newer = make_article(3).model_copy(update={"schema_version": 99}).to_bytes()
    produce(bus, f"{prefix}in", [good.to_bytes(), b"{not json", newer, rejected.to_bytes()])

    def step(article: Article) -> Article:
        if article.id == rejected.id:
            raise InvalidArticle("no text to work with")
        return article

    sink = CollectingSink()
    runner = drain(bus, sink_stage(prefix, step, sink), prefix=prefix)

    # Then the good one is stored and three are dead-lettered with their reasons
    assert [a.id for a in sink.stored] == [good.id]
    assert runner.stats.dead_lettered == 3
    letters = dead_letters(bus, prefix, 3)
    reasons = sorted(dict(m.headers)[HEADER_ERROR].decode() for m in letters)
    assert any(r.startswith("not JSON") for r in reasons)
    assert any("schema_version 99 is newer" in r for r in reasons)
    assert "no text to work with" in reasons
    assert all(dict(m.headers)[HEADER_STAGE] == b"test-sink" for m in letters)
    assert all(dict(m.headers)[HEADER_ERROR_TYPE] == b"InvalidArticle" for m in letters)
    assert rejected.to_bytes() in {m.value for m in letters}, "the original message is kept"
    # and all four are committed: a second run reads nothing
    again = drain(bus, sink_stage(prefix, step, CollectingSink()), prefix=prefix)
    assert again.stats.consumed == 0


def test_dropped_articles_are_counted_and_committed(bus: Bus, settings_for: BusSettings) -> None:
    prefix = settings_for.topic_prefix
    batch = articles(10)
    produce(bus, f"{prefix}in", [a.to_bytes() for a in batch])
    sink = CollectingSink()
    keep = {a.id for a in batch[:4]}

    runner = drain(
        bus, sink_stage(prefix, lambda a: a if a.id in keep else None, sink), prefix=prefix
    )

    assert runner.stats.dropped == 6
    assert {a.id for a in sink.stored} == keep
    assert (
        drain(bus, sink_stage(prefix, lambda a: a, CollectingSink()), prefix=prefix).stats.consumed
        == 0
    )


def test_transient_errors_are_retried_until_the_step_succeeds(
    bus: Bus, settings_for: BusSettings
) -> None:
    prefix = settings_for.topic_prefix
    produce(bus, f"{prefix}in", [make_article(1).to_bytes()])
    attempts = []

    def flaky(article: Article) -> Article:
        attempts.append(time.monotonic())
        if len(attempts) < 3:
            raise ConnectionError("upstream reset")
        return article

    sink = CollectingSink()
    drain(bus, sink_stage(prefix, flaky, sink), prefix=prefix)

    assert len(attempts) == 3
    assert len(sink.stored) == 1


def test_a_persistent_error_stops_the_stage_without_committing(
    bus: Bus, settings_for: BusSettings
) -> None:
    # Given three articles of which the second always fails
    prefix = settings_for.topic_prefix
    batch = articles(3)
    produce(bus, f"{prefix}in", [a.to_bytes() for a in batch], [b"k"] * 3)

    def broken(article: Article) -> Article:
        if article.id == batch[1].id:
            raise RuntimeError("bug")
        return article

    # When the stage runs, it gives up after its retries
    with pytest.raises(StageFailed, match="failed 4 times"):
        drain(bus, sink_stage(prefix, broken, CollectingSink()), prefix=prefix)

    # Then nothing was committed: a fixed stage reads all three again
    sink = CollectingSink()
    drain(bus, sink_stage(prefix, lambda a: a, sink), prefix=prefix)
    assert [a.id for a in sink.stored] == [a.id for a in batch]


def test_stop_finishes_the_message_in_hand_and_commits_it(
    bus: Bus, settings_for: BusSettings
) -> None:
    # Given 50 articles on one key, and a stop request while the 10th is processed
    prefix = settings_for.topic_prefix
    batch = articles(50)
    produce(bus, f"{prefix}in", [a.to_bytes() for a in batch], [b"k"] * 50)
    sink = CollectingSink()
    slow_commits = RunnerSettings(**{**FAST.model_dump(), "commit_interval_s": 3600})
    runner = StageRunner(
        bus, sink_stage(prefix, lambda a: a, sink), slow_commits, Metrics(), group_prefix=prefix
    )
    seen = []

    def step(article: Article) -> Article:
        seen.append(article.id)
        if len(seen) == 10:
            runner.stop.set()
        return article

    runner.stage = sink_stage(prefix, step, sink)
    runner.run(timeout=60)

    # Then the 10 are flushed and committed, and the next run starts at the 11th
    assert [a.id for a in sink.stored] == [a.id for a in batch[:10]]
    rest = CollectingSink()
    drain(bus, sink_stage(prefix, lambda a: a, rest), prefix=prefix)
    assert [a.id for a in rest.stored] == [a.id for a in batch[10:]]


def test_a_failed_flush_commits_nothing_and_the_articles_come_again(
    bus: Bus, settings_for: BusSettings
) -> None:
    prefix = settings_for.topic_prefix
    batch = articles(30)
    produce(bus, f"{prefix}in", [a.to_bytes() for a in batch])
    sink = CollectingSink(failures=2)

    runner = drain(bus, sink_stage(prefix, lambda a: a, sink), prefix=prefix)

    assert sink.failures == 0
    assert {a.id for a in sink.stored} == {a.id for a in batch}
    assert runner.metrics.flush_failures.labels("test-sink")._value.get() == 2


def test_a_bounded_step_that_hangs_is_dead_lettered(bus: Bus, settings_for: BusSettings) -> None:
    prefix = settings_for.topic_prefix
    slow, fast = make_article(1), make_article(2)
    produce(bus, f"{prefix}in", [slow.to_bytes(), fast.to_bytes()], [b"k", b"k"])
    release = threading.Event()

    def step(article: Article) -> Article:
        if article.id == slow.id:
            release.wait(30)
        return article

    sink = CollectingSink()
    runner = drain(bus, sink_stage(prefix, step, sink, bounded=True), prefix=prefix)
    release.set()

    assert [a.id for a in sink.stored] == [fast.id]
    [letter] = dead_letters(bus, prefix, 1)
    assert dict(letter.headers)[HEADER_ERROR_TYPE] == b"StepTimeout"
    assert runner.stats.dead_lettered == 1


def test_articles_a_sink_refuses_go_to_the_dead_letter_topic(
    bus: Bus, settings_for: BusSettings
) -> None:
    # Given three articles of which the sink's backend refuses one for good
    prefix = settings_for.topic_prefix
    batch = articles(3)
    produce(bus, f"{prefix}in", [a.to_bytes() for a in batch])
    sink = CollectingSink(
        refuse=lambda a: "mapper_parsing_exception" if a.id == batch[1].id else None
    )

    # When the stage drains
    runner = drain(bus, sink_stage(prefix, lambda a: a, sink), prefix=prefix)

    # Then the other two are stored, the refused one is dead-lettered with the
    # reason, and all three are committed
    assert {a.id for a in sink.stored} == {batch[0].id, batch[2].id}
    [letter] = dead_letters(bus, prefix, 1)
    assert dict(letter.headers)[HEADER_ERROR] == b"mapper_parsing_exception"
    assert letter.value == batch[1].to_bytes()
    assert runner.stats.dead_lettered == 1
    assert (
        drain(bus, sink_stage(prefix, lambda a: a, CollectingSink()), prefix=prefix).stats.consumed
        == 0
    )


class ProducerThatLosesItsFirstBatch:
    """Fault injection: a real producer whose first flush loses what was sent, as a
    producer does when the broker goes away mid-batch (not something a test can make
    a real broker do on demand)."""

    def __init__(self, real: Producer) -> None:
        self._real = real
        self._lost = False
        self._pending: list[tuple[str, bytes, bytes | None, Headers]] = []

    def send(
        self, topic: str, value: bytes, key: bytes | None = None, headers: Headers = ()
    ) -> None:
        self._pending.append((topic, value, key, headers))

    def flush(self, timeout: float | None = None) -> None:
        pending, self._pending = self._pending, []
        if not self._lost:
            self._lost = True
            raise BusError(f"{len(pending)} messages were not stored: broker went away")
        for topic, value, key, headers in pending:
            self._real.send(topic, value, key=key, headers=headers)
        self._real.flush(timeout)

    def close(self) -> None:
        self._real.close()


class BusWithOneFaultyProducer:
    """The real bus, except that its first producer loses its first batch."""

    def __init__(self, real: Bus) -> None:
        self._real = real
        self.producers = 0

    def producer(self) -> Producer:
        self.producers += 1
        real = self._real.producer()
        return ProducerThatLosesItsFirstBatch(real) if self.producers == 1 else real

    def __getattr__(self, name: str) -> object:
        return getattr(self._real, name)


def test_outputs_lost_by_the_producer_are_produced_again(
    bus: Bus, settings_for: BusSettings
) -> None:
    # Given 40 articles and a producer that loses its first batch
    prefix = settings_for.topic_prefix
    batch = articles(40)
    produce(bus, f"{prefix}in", [a.to_bytes() for a in batch])
    faulty = BusWithOneFaultyProducer(bus)
    stage = Stage("copy", "1", f"{prefix}in", lambda a: a, output_topic=f"{prefix}out")

    # When the stage drains
    runner = StageRunner(faulty, stage, FAST, Metrics(), group_prefix=prefix)  # type: ignore[arg-type]
    done = threading.Event()
    done.set()
    runner.run(drain_after=done, timeout=60)

    # Then it went back to the last commit with a fresh producer, and every article
    # reached the output topic
    assert faulty.producers == 2
    consumer = bus.consumer(f"{prefix}reader", [f"{prefix}out"])
    out = read_all(consumer, 40, timeout=15)
    consumer.close()
    assert {Article.model_validate_json(m.value).id for m in out} == {a.id for a in batch}


def test_step_state_that_cannot_be_made_durable_commits_nothing(
    bus: Bus, settings_for: BusSettings
) -> None:
    # Given a step whose own state cannot be put on disk the first two times
    prefix = settings_for.topic_prefix
    batch = articles(20)
    produce(bus, f"{prefix}in", [a.to_bytes() for a in batch])
    calls: list[bool] = []

    def make_durable() -> None:
        calls.append(len(calls) >= 2)
        if not calls[-1]:
            raise OSError("disk full")

    sink = CollectingSink()
    stage = sink_stage(prefix, lambda a: a, sink, make_durable=make_durable)

    runner = drain(bus, stage, prefix=prefix)

    # Then each failure committed nothing, so the articles came again, and every
    # commit followed a successful call
    assert runner.stats.consumed > len(batch)
    assert runner.stats.commits == calls.count(True) >= 1
    assert {a.id for a in sink.stored} == {a.id for a in batch}
