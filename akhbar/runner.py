"""The stage runner: poll, step, produce or hand to a sink, flush and commit.

A stage is a plain function `Article -> Article | None` between an input topic
and either an output topic or a sink. The runner owns everything around it:

* `None` from the step drops the message (counted); `InvalidArticle` sends the
  original message to the input topic's dead-letter twin with the reason and
  moves on; any other exception is retried with capped exponential backoff and
  jitter, and if it persists the stage stops without committing what is in hand,
  so a restart sees those messages again.
* On a timer (and at shutdown) the outputs are flushed, the step's own state is
  made durable when the stage says how (`make_durable`: the story index), then
  offset+1 of every processed message is committed. A flush that fails commits
  nothing: the outputs since the last commit are forgotten, the consumer goes back
  to the last commit, waits with backoff (paused, still in its group) and reads
  them again.
* A stop request (SIGTERM/SIGINT) finishes the message in hand, flushes, commits
  and closes.
* Before the group moves partitions to another member, the outputs are flushed
  and committed. A member the group has evicted (a step that outlasted the poll
  interval) flushes and commits nothing: its partitions are already elsewhere, and
  their new owner reads the uncommitted messages again, and counts them.
* A bounded stage with `concurrency` > 1 (fetching pages) runs that many steps at
  once in a thread pool, but hands their results on in the order the messages
  were read, so an offset is committed only once every earlier message of its
  partition is done; the timeout, retries and dead letters are the same. A
  bounded stage that offers `start_batch` is handed a chunk of messages at a
  time instead (the fetch stage downloads a chunk's pages, then cleans them back
  to back), the next chunk once the one before is finished; each of its steps has
  the step timeout from when the one before it was done.
"""

from __future__ import annotations

import concurrent.futures
import gc
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from threading import Event
from typing import Any, Protocol

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_not_exception_type,
    stop_after_attempt,
    stop_when_event_set,
    wait_exponential_jitter,
)

from akhbar.article import Article, ProcessorStamp, decode_article
from akhbar.bus import Bus, Message, Producer, TopicPartition, position
from akhbar.config import RunnerSettings
from akhbar.errors import AkhbarError, BusError, InvalidArticle, StageFailed
from akhbar.logs import get_logger
from akhbar.metrics import DROP_FILTERED, Metrics, article_summary
from akhbar.topics import dead_letter_topic

# A stage allocates a few objects per message and frees nearly all of them by
# reference counting; at the default threshold (700) the cyclic collector runs
# every few messages and, measured on a 2 KB pass-through, takes about a quarter
# of a consumer's time while finding almost nothing.
GC_GEN0_THRESHOLD = 50_000
# Consumer lag is read from the bus this often: a Kafka lag read is a request to
# the broker, and dashboards scrape every 15 s or so.
LAG_REFRESH_S = 5.0

Step = Callable[[Article], Article | None]
StartBatch = Callable[[list[Article]], list[concurrent.futures.Future[Article | None]]]
Decode = Callable[[bytes], Article]

# Dead-letter headers: why, where and by whom a message was given up on.
HEADER_ERROR = "akhbar.error"
HEADER_ERROR_TYPE = "akhbar.error_type"
HEADER_STAGE = "akhbar.stage"
HEADER_SOURCE = "akhbar.source"
HEADER_RETRIES = "akhbar.retries"


# A record a sink's backend refused for good (a mapping error), with the reason.
Rejection = tuple[Message, str]


class Sink(Protocol):
    """Where a sink stage puts articles.

    `add` is called for every article in order, with the record it came from
    (topic, partition, offset: what an exactly-once sink keys its files on);
    `flush` when the runner is about to commit. `flush` either stores everything
    added since the last flush, except what the backend refused for good, which it
    returns for the dead-letter topic; or it raises, and then forgets what it held,
    because the runner goes back to the last commit and adds those articles again.
    """

    def add(self, article: Article, record: Message) -> None: ...

    def flush(self) -> Sequence[Rejection]: ...

    def close(self) -> None: ...


class TopicOutput:
    """A processor's output: articles produced to a topic, keyed by id."""

    def __init__(self, producer: Producer, topic: str) -> None:
        self._producer = producer
        self._topic = topic

    def add(self, article: Article, record: Message) -> None:
        self._producer.send(self._topic, article.to_bytes(), key=article.id.encode())

    def flush(self) -> Sequence[Rejection]:
        self._producer.flush()
        return ()

    def close(self) -> None:
        """The producer is shared with dead letters; the runner closes it."""


@dataclass(frozen=True)
class Stage:
    """One step of the pipeline, between an input topic and an output (topic or sink)."""

    name: str
    version: str
    input_topic: str
    step: Step
    output_topic: str | None = None
    sink: Callable[[], Sink] | None = None
    decode: Decode = decode_article
    # Steps that wait on the outside world (fetching pages) run under the
    # runner's step_timeout_s; pure CPU steps run inline, which is faster.
    bounded: bool = False
    # Steps of a bounded stage in flight at once (each waits on the network).
    concurrency: int = 1
    # Called before every commit of offsets, for a step that keeps state of its own
    # (the story index): it makes that state durable, so a committed offset never
    # outruns it. If it raises, nothing is committed and the messages come again.
    make_durable: Callable[[], None] | None = None
    # A bounded stage may start its steps a chunk of `batch_size` messages at a time
    # instead (the fetch stage downloads a chunk's pages, then cleans them back to
    # back): given the decoded articles, it returns a future per article, in order.
    # The runner waits for them in order, each under step_timeout_s counted from when
    # the one before it was done, and starts the next chunk once this one is
    # finished; retries still call `step`.
    start_batch: StartBatch | None = None
    batch_size: int = 32

    def __post_init__(self) -> None:
        if (self.output_topic is None) == (self.sink is None):
            raise ValueError(f"stage {self.name}: give exactly one of output_topic and sink")


@dataclass
class RunStats:
    consumed: int = 0
    produced: int = 0
    dropped: int = 0
    dead_lettered: int = 0
    commits: int = 0


class _Interrupted(Exception):
    """A stop was requested while a message was being retried; leave it uncommitted."""


class StepTimeout(InvalidArticle):
    """The step ran past step_timeout_s; the message is dead-lettered, not retried forever."""


@dataclass
class _InFlight:
    """A message whose step runs in the pool (or that failed to decode: `error`)."""

    record: Message
    article: Article | None = None
    future: concurrent.futures.Future[Article | None] | None = None
    started: float = 0.0
    error: InvalidArticle | None = None


@dataclass
class StageRunner:
    """Runs one stage until stopped, drained, or out of budget.

    `run()` returns normally after a stop request or when a limit is reached, and
    raises StageFailed when a message keeps failing; in that case nothing since
    the last commit is committed.
    """

    bus: Bus
    stage: Stage
    settings: RunnerSettings
    metrics: Metrics
    stop: Event = field(default_factory=Event)
    group_prefix: str = ""
    stats: RunStats = field(default_factory=RunStats)

    def __post_init__(self) -> None:
        self.log = get_logger(stage=self.stage.name)
        self._pending: dict[TopicPartition, int] = {}
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._failed_flushes = 0
        self._metrics = self.metrics.for_stage(self.stage.name, sink=self.stage.sink is not None)
        self._stamp = ProcessorStamp(name=self.stage.name, version=self.stage.version)
        # Sink stages only: what was handed to the sink since the last commit, for
        # the latency, per-source and latest-articles figures once it is stored.
        self._stored: list[Article] | None = None if self.stage.output_topic else []
        self._refused: set[bytes] = set()
        self._next_lag = 0.0

    @property
    def group(self) -> str:
        return f"{self.group_prefix}akhbar.{self.stage.name}"

    def run(
        self,
        max_messages: int | None = None,
        timeout: float | None = None,
        drain_after: Event | None = None,
    ) -> RunStats:
        """Process messages until stop is set, `max_messages` are read, `timeout`
        seconds pass, or (`drain_after` set) the input is read to its end."""
        self._dead_letter_topic = dead_letter_topic(self.stage.input_topic)
        self.bus.ensure_topics(
            [
                self.stage.input_topic,
                self._dead_letter_topic,
                *([self.stage.output_topic] if self.stage.output_topic else []),
            ]
        )
        self._producer = self.bus.producer()
        self._output: Sink = (
            TopicOutput(self._producer, self.stage.output_topic)
            if self.stage.output_topic
            else self.stage.sink()  # type: ignore[misc]
        )
        self._consumer = self.bus.consumer(
            self.group,
            [self.stage.input_topic],
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        self.metrics.liveness.started(self.stage.name)
        self._metrics.running.set(1)
        self.log.info(
            "stage started",
            group=self.group,
            input=self.stage.input_topic,
            output=self.stage.output_topic or "sink",
        )
        try:
            self._loop(max_messages, timeout, drain_after)
            self._checkpoint()
            # The last figure stays on the dashboards: it must not be one from before a drain.
            self._refresh_lag(force=True)
        except BaseException as exc:
            # Nothing in hand may be committed now, not even by a revoke on close.
            self._pending.clear()
            self.metrics.liveness.finished(self.stage.name, exc)
            raise
        finally:
            self._metrics.running.set(0)
            self._close()
        self.metrics.liveness.finished(self.stage.name)
        self.log.info("stage stopped", **vars(self.stats))
        return self.stats

    def _loop(
        self, max_messages: int | None, timeout: float | None, drain_after: Event | None
    ) -> None:
        deadline = time.monotonic() + timeout if timeout else None
        next_commit = time.monotonic() + self.settings.commit_interval_s
        while not self.stop.is_set():
            self.metrics.liveness.beat(self.stage.name)
            budget = self.settings.max_batch
            if max_messages is not None:
                budget = min(budget, max_messages - self.stats.consumed)
                if budget <= 0:
                    return
            records = self._consumer.poll(self.settings.poll_timeout_s, budget)
            self._metrics.messages_in.inc(len(records))
            if self._concurrent:
                self._handle_concurrently(records)
            else:
                self._handle_in_turn(records)
            if time.monotonic() >= next_commit:
                self._checkpoint()
                self._refresh_lag()
                next_commit = time.monotonic() + self.settings.commit_interval_s
            if deadline and time.monotonic() >= deadline:
                return
            if (
                not records
                and drain_after is not None
                and drain_after.is_set()
                and self._checkpoint()
                and self._drained()
            ):
                return

    def _refresh_lag(self, force: bool = False) -> None:
        """Publish the consumer lag per partition, at most every LAG_REFRESH_S."""
        now = time.monotonic()
        if now < self._next_lag and not force:
            return
        self._next_lag = now + LAG_REFRESH_S
        try:
            self._metrics.set_lag(self._consumer.lag())
        except BusError as exc:
            self.log.warning("could not read the consumer lag", error=str(exc))

    @property
    def _concurrent(self) -> bool:
        return (
            self.stage.bounded
            and (self.stage.concurrency > 1 or self.stage.start_batch is not None)
            and self.settings.step_timeout_s is not None
        )

    def _handle_in_turn(self, records: list[Message]) -> None:
        for record in records:
            if self.stop.is_set():
                break
            try:
                self._handle(record)
            except _Interrupted:
                break
            self._pending[(record.topic, record.partition)] = record.offset + 1

    def _handle_concurrently(self, records: list[Message]) -> None:
        """Keep `concurrency` steps in flight; finish them in the order they were read."""
        in_flight: deque[_InFlight] = deque()
        queue = deque(records)
        while queue or in_flight:
            if not self.stop.is_set():
                self._start_more(queue, in_flight)
            if not in_flight:
                return  # stopped before submitting the rest
            item = in_flight.popleft()
            try:
                self._finish(item)
            except _Interrupted:
                return  # nothing after an unfinished message may be committed
            self._pending[(item.record.topic, item.record.partition)] = item.record.offset + 1
            if self.stage.start_batch is not None and in_flight:
                # A chunk's steps finish one after another (a page is cleaned after the
                # one before it): each has the whole step timeout from when the one
                # before it was done, so slow pages early in a chunk do not time out a
                # healthy page behind them.
                in_flight[0].started = max(in_flight[0].started, time.monotonic())

    def _start_more(self, queue: deque[Message], in_flight: deque[_InFlight]) -> None:
        """Top up the steps in flight: one by one up to `concurrency`, or the next chunk
        once the one before is finished (so a chunk's work is never overlapped by the
        next one's: the stage phases its work on that)."""
        if self.stage.start_batch is None:
            while queue and len(in_flight) < self.stage.concurrency:
                in_flight.append(self._submit(queue.popleft()))
        elif queue and not in_flight:
            chunk = [queue.popleft() for _ in range(min(max(1, self.stage.batch_size), len(queue)))]
            in_flight.extend(self._submit_batch(self.stage.start_batch, chunk))

    def _submit_batch(self, start_batch: StartBatch, records: list[Message]) -> list[_InFlight]:
        """Decode a chunk and start its steps at once; those that fail to decode wait in
        their place to be dead-lettered."""
        items: list[_InFlight] = []
        for record in records:
            try:
                items.append(_InFlight(record, self.stage.decode(record.value)))
            except InvalidArticle as exc:
                items.append(_InFlight(record, error=exc))
        started = [item for item in items if item.article is not None]
        futures = start_batch([item.article for item in started])  # type: ignore[misc]
        now = time.monotonic()
        for item, future in zip(started, futures, strict=True):
            item.future, item.started = future, now
        return items

    def _submit(self, record: Message) -> _InFlight:
        try:
            article = self.stage.decode(record.value)
        except InvalidArticle as exc:
            return _InFlight(record, error=exc)
        future = self._step_pool().submit(self.stage.step, article)
        return _InFlight(record, article, future, time.monotonic())

    def _step_pool(self) -> concurrent.futures.ThreadPoolExecutor:
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(
                self.stage.concurrency, thread_name_prefix=f"step-{self.stage.name}"
            )
        return self._executor

    def _finish(self, item: _InFlight) -> None:
        """What _handle does for one message, with the step already running."""
        self.stats.consumed += 1
        if item.error is not None or item.article is None or item.future is None:
            self._dead_letter(item.record, item.error or InvalidArticle("undecodable"))
            return
        limit = self.settings.step_timeout_s or 0.0
        try:
            try:
                result = item.future.result(timeout=limit - (time.monotonic() - item.started))
            except concurrent.futures.TimeoutError:
                self._abandon_pool()
                raise StepTimeout(f"step took longer than {limit:g} s") from None
            except InvalidArticle:
                raise
            except Exception as first:  # the runner is the one place that catches everything
                result = self._retry(item.article, item.record, first)
            self._metrics.step_seconds.observe(time.monotonic() - item.started)
        except InvalidArticle as exc:
            self._dead_letter(item.record, exc)
            return
        self._deliver(item.record, item.article, result)

    def _abandon_pool(self) -> None:
        """A stuck thread cannot be killed: later steps get a fresh pool; those in
        flight in the old one still finish there."""
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None

    def _drained(self) -> bool:
        try:
            return self._consumer.at_end()
        except BusError as exc:
            self.log.warning("could not tell whether the input is drained", error=str(exc))
            return False

    def _handle(self, record: Message) -> None:
        self.stats.consumed += 1
        try:
            article = self.stage.decode(record.value)
            started = time.perf_counter()
            result = self._run_step(article, record)
            self._metrics.step_seconds.observe(time.perf_counter() - started)
        except InvalidArticle as exc:
            self._dead_letter(record, exc)
            return
        self._deliver(record, article, result)

    def _deliver(self, record: Message, article: Article, result: Article | None) -> None:
        if result is None:
            self.stats.dropped += 1
            self._metrics.filtered.inc()
            self.log.info(
                "dropped",
                reason=DROP_FILTERED,
                **record_fields(record),
                article_id=article.id,
                url=article.url,
            )
            return
        # The runner owns the decoded article, so it is stamped in place, not copied.
        result.processors.append(self._stamp)
        self._output.add(result, record)
        self.stats.produced += 1
        self._metrics.messages_out.inc()
        if self._stored is not None:
            self._stored.append(result)

    def _run_step(self, article: Article, record: Message) -> Article | None:
        """The step's result; transient errors are retried here, not by the step."""
        try:
            return self._call_step(article)
        except InvalidArticle:
            raise
        except Exception as first:  # the runner is the one place that catches everything
            return self._retry(article, record, first)

    def _retry(self, article: Article, record: Message, first: Exception) -> Article | None:
        """Retry a step whose first attempt raised `first`, with backoff."""
        if self.settings.step_retries == 0:
            raise self._gave_up(record, first) from first
        self._log_retry(record, article, first, attempt=1)
        self.stop.wait(self.settings.retry_backoff_initial_s)
        try:
            for attempt in self._retrying(record, article):
                with attempt:
                    return self._call_step(article)
        except InvalidArticle:
            raise
        except Exception as exc:
            if self.stop.is_set():
                raise _Interrupted from exc
            raise self._gave_up(record, exc) from exc
        raise AssertionError("unreachable: the retry loop returns or raises")

    def _gave_up(self, record: Message, exc: Exception) -> StageFailed:
        return StageFailed(
            f"stage {self.stage.name}: {position(record)} failed "
            f"{self.settings.step_retries + 1} times, last with {exc!r}"
        )

    def _retrying(self, record: Message, article: Article) -> Retrying:
        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            self._log_retry(record, article, exc, attempt=state.attempt_number + 1)

        return Retrying(
            # The first attempt already failed outside this loop.
            stop=stop_after_attempt(self.settings.step_retries) | stop_when_event_set(self.stop),
            wait=wait_exponential_jitter(
                multiplier=self.settings.retry_backoff_initial_s,
                max=self.settings.retry_backoff_max_s,
                jitter=self.settings.retry_backoff_initial_s,
            ),
            retry=retry_if_not_exception_type(InvalidArticle),
            sleep=self._sleep,
            before_sleep=before_sleep,
            reraise=True,
        )

    def _sleep(self, seconds: float) -> None:
        """Back off, but wake at once when a stop is requested."""
        self.stop.wait(seconds)

    def _log_retry(
        self, record: Message, article: Article, exc: BaseException | None, attempt: int
    ) -> None:
        self._metrics.retries.inc()
        self.log.warning(
            "step failed, will retry",
            **record_fields(record),
            article_id=article.id,
            url=article.url,
            attempt=attempt,
            error=repr(exc),
        )

    def _call_step(self, article: Article) -> Article | None:
        limit = self.settings.step_timeout_s
        if not self.stage.bounded or limit is None:
            return self.stage.step(article)
        if self._executor is None:
            self._executor = concurrent.futures.ThreadPoolExecutor(
                1, thread_name_prefix=f"step-{self.stage.name}"
            )
        future = self._executor.submit(self.stage.step, article)
        try:
            return future.result(timeout=limit)
        except concurrent.futures.TimeoutError:
            # The stuck thread cannot be killed; leave it and give the next message
            # a fresh worker.
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
            raise StepTimeout(f"step took longer than {limit:g} s") from None

    def _dead_letter(self, record: Message, exc: InvalidArticle) -> None:
        headers = (
            *(record.headers or ()),
            (HEADER_ERROR, str(exc).encode()),
            (HEADER_ERROR_TYPE, type(exc).__name__.encode()),
            (HEADER_STAGE, self.stage.name.encode()),
            (HEADER_SOURCE, position(record).encode()),
            (HEADER_RETRIES, b"0"),
        )
        self._producer.send(self._dead_letter_topic, record.value, key=record.key, headers=headers)
        self.stats.dead_lettered += 1
        self._metrics.dead_lettered(type(exc).__name__).inc()
        self.log.warning(
            "dead-lettered",
            **record_fields(record),
            reason=str(exc),
            error_type=type(exc).__name__,
            dead_letter_topic=self._dead_letter_topic,
        )

    def _checkpoint(self) -> bool:
        """Flush outputs and dead letters, then commit; on failure go back to the last commit.

        True when everything processed so far is committed.
        """
        if not self._pending:
            return True
        started = time.perf_counter()
        try:
            self._flush_outputs()
            self._consumer.commit(self._pending)
        except Exception as exc:
            self._recover_from_failed_flush(exc)
            return False
        self._metrics.flush_seconds.observe(time.perf_counter() - started)
        self._pending.clear()
        self._failed_flushes = 0
        self.stats.commits += 1
        self._metrics.commits.inc()
        self._count_stored()
        return True

    def _count_stored(self) -> None:
        """End-to-end latency, articles by source and the latest articles, once stored.

        Counted after the commit, so articles read again after a failed flush are not
        counted twice; articles the sink refused (dead-lettered) are not counted.
        """
        refused, self._refused = self._refused, set()
        if not self._stored:
            return
        stored, self._stored = self._stored, []
        if refused:
            stored = [article for article in stored if article.id.encode() not in refused]
        now = datetime.now(UTC)
        latency = self._metrics.latency
        assert latency is not None  # only sink stages keep stored articles
        for article in stored:
            latency.observe((now - article.fetched_at).total_seconds())
            self._metrics.stored(article.source).inc()
        recent = self.metrics.recent
        recent.add([article_summary(article) for article in stored[-recent.size :]])

    def _flush_outputs(self) -> None:
        """Flush the output, dead-letter what it refused, flush the dead letters, then make
        the step's own state durable: everything a commit of offsets counts on."""
        for record, reason in self._output.flush():
            self._dead_letter(record, InvalidArticle(reason))
            if record.key is not None:
                self._refused.add(record.key)  # records are keyed by article id
        self._producer.flush()
        if self.stage.make_durable is not None:
            self.stage.make_durable()

    def _recover_from_failed_flush(self, exc: Exception) -> None:
        self._metrics.flush_failures.inc()
        self._pending.clear()
        self._forget_stored()
        self._failed_flushes += 1
        delay = min(
            self.settings.retry_backoff_max_s,
            self.settings.retry_backoff_initial_s * 2 ** (self._failed_flushes - 1),
        )
        self.log.error(
            "flush failed; nothing committed, going back to the last commit",
            error=repr(exc),
            retry_in_s=round(delay, 2),
        )
        self._wait_paused(delay)
        if isinstance(exc, BusError):
            self._replace_producer()
        self._rewind()

    def _replace_producer(self) -> None:
        """A producer whose sends failed may be fenced or stuck; start a fresh one.

        While the broker is down a new producer cannot start either: wait for it,
        paused, as long as it takes (or until a stop is requested).
        """
        try:
            self._producer.close()
        except Exception as close_error:  # it failed already; a new one is what matters
            self.log.warning("closing the failed producer failed", error=repr(close_error))
        attempt = 0
        while not self.stop.is_set():
            try:
                self._producer = self.bus.producer()
                break
            except AkhbarError as start_error:
                attempt += 1
                self.log.error("cannot start a producer; will retry", error=repr(start_error))
                self._wait_paused(min(self.settings.retry_backoff_max_s, 2.0**attempt))
        if self.stage.output_topic:
            self._output = TopicOutput(self._producer, self.stage.output_topic)

    def _rewind(self) -> None:
        """Go back to the last commit, however long the bus takes to answer.

        Reading on from the current position instead would later commit past the
        messages whose outputs were just lost.
        """
        attempt = 0
        while not self.stop.is_set():
            try:
                self._consumer.rewind()
                return
            except AkhbarError as rewind_error:
                attempt += 1
                self.log.error("rewind failed; will retry", error=repr(rewind_error))
                self._wait_paused(min(self.settings.retry_backoff_max_s, 2.0**attempt))

    def _wait_paused(self, delay: float) -> None:
        """Wait without reading, but keep polling so Kafka keeps us in the group."""
        self._consumer.pause()
        deadline = time.monotonic() + delay
        try:
            while not self.stop.is_set() and time.monotonic() < deadline:
                self._consumer.poll(min(0.5, deadline - time.monotonic()), 1)
        finally:
            self._consumer.resume()

    def _on_revoke(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        """Flush before Kafka hands partitions to another member; return what to commit.

        If the flush fails, nothing is committed and the new owner reads those
        messages again.
        """
        self.log.info("partitions revoked", partitions=partitions)
        pending = self._flush_for_handover()
        if pending:
            self.stats.commits += 1
            self._metrics.commits.inc()
            self._count_stored()
        return pending

    def _on_lost(self, partitions: list[TopicPartition]) -> None:
        """Flush for partitions the group has already moved (this member was evicted).

        Nothing can be committed, so nothing is counted: the new owner reads the
        uncommitted messages again and counts their articles when it commits them.
        """
        self.log.warning("partitions lost", partitions=partitions)
        if self._flush_for_handover():
            self._forget_stored()

    def _flush_for_handover(self) -> dict[TopicPartition, int]:
        """Flush what was processed since the last commit; the offsets it covers, or
        nothing if the flush failed (the next owner then reads those messages again).

        Runs while the runner's thread waits in poll() or close(), so nothing else
        touches the outputs meanwhile.
        """
        pending, self._pending = self._pending, {}
        if not pending:
            return {}
        try:
            self._flush_outputs()
        except Exception as exc:
            self._metrics.flush_failures.inc()
            self._forget_stored()
            self.log.error(
                "flush failed on handover; the new owner will read again", error=repr(exc)
            )
            return {}
        return pending

    def _forget_stored(self) -> None:
        """Drop what was handed to the sink since the last commit, uncounted: those
        messages are read again."""
        self._refused.clear()
        if self._stored is not None:
            self._stored.clear()

    def _close(self) -> None:
        for closer in (self._output.close, self._producer.close, self._consumer.close):
            try:
                closer()
            except Exception as exc:  # closing must not hide the error that got us here
                self.log.warning("close failed", error=repr(exc))
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)


def record_fields(record: Message) -> dict[str, Any]:
    """Where a message is, as log fields."""
    return {"topic": record.topic, "partition": record.partition, "offset": record.offset}


def tune_gc() -> None:
    """Call once a process has started up: freeze what start-up made, collect less often."""
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)


def step_identity(article: Article) -> Article:
    """A step that passes every article through unchanged."""
    return article


class Source(Protocol):
    """Where a source stage reads new articles (archives now, feeds later).

    `read` returns what is new now (possibly nothing); `commit` is called after
    everything read so far is flushed to the bus, and must make a restart skip it.
    """

    name: str
    version: str

    @property
    def exhausted(self) -> bool:
        """True when nothing more will ever come (a finite import)."""

    def read(self, max_items: int) -> list[Any]: ...

    def commit(self) -> None: ...

    def close(self) -> None: ...


@dataclass
class SourceRunner:
    """Moves a Source's articles onto a topic; rejected items go to its dead-letter twin."""

    bus: Bus
    source: Source
    topic: str
    settings: RunnerSettings
    metrics: Metrics
    stop: Event = field(default_factory=Event)
    stats: RunStats = field(default_factory=RunStats)

    def run(self, until_exhausted: bool = False, idle_wait_s: float = 1.0) -> RunStats:
        """Read, produce and flush until stopped (or, if asked, until the source is exhausted)."""
        log = get_logger(stage=self.source.name)
        dead_letters = dead_letter_topic(self.topic)
        self.bus.ensure_topics([self.topic, dead_letters])
        self._producer = self.bus.producer()
        # Everything read since the source's last commit: sent again if a flush fails.
        self._unflushed: list[Any] = []
        self.metrics.liveness.started(self.source.name)
        running = self.metrics.running.labels(self.source.name)
        running.set(1)
        try:
            next_flush = time.monotonic() + self.settings.commit_interval_s
            while not self.stop.is_set():
                self.metrics.liveness.beat(self.source.name)
                items = self.source.read(self.settings.max_batch)
                self._unflushed += items
                failed = self._send_all(items, dead_letters, log)
                if failed or time.monotonic() >= next_flush or not items:
                    self._flush_and_commit(dead_letters, log, failed)
                    next_flush = time.monotonic() + self.settings.commit_interval_s
                if not items:
                    if until_exhausted and self.source.exhausted:
                        break
                    self.stop.wait(idle_wait_s)
            self._flush_and_commit(dead_letters, log, None)
        except BaseException as exc:
            self.metrics.liveness.finished(self.source.name, exc)
            raise
        finally:
            running.set(0)
            self.source.close()
            self._producer.close()
        self.metrics.liveness.finished(self.source.name)
        log.info("source stopped", **vars(self.stats))
        return self.stats

    def _send_all(self, items: list[Any], dead_letters: str, log: Any) -> BusError | None:
        try:
            for item in items:
                self._send(item, dead_letters, log)
        except BusError as exc:
            return exc
        return None

    def _flush_and_commit(self, dead_letters: str, log: Any, failed: BusError | None) -> None:
        """Flush what was sent since the last commit, then commit the source.

        While the bus cannot store it (a broker down), wait with backoff and send it
        all again through a fresh producer, as long as it takes: the topic may then
        hold some items twice, which the stages downstream absorb (ids are stable),
        and the source is committed only once everything is stored. A stop request
        while waiting raises the BusError with the source uncommitted, so a restart
        reads those items again.
        """
        attempt = 0
        while True:
            try:
                if failed is not None:
                    raise failed
                self._producer.flush()
                break
            except BusError as exc:
                attempt += 1
                delay = min(
                    self.settings.retry_backoff_max_s,
                    self.settings.retry_backoff_initial_s * 2 ** (attempt - 1),
                )
                log.error(
                    "flush failed; nothing committed, will send again",
                    error=repr(exc),
                    items=len(self._unflushed),
                    retry_in_s=round(delay, 2),
                )
                if self.stop.wait(delay):
                    raise
                failed = self._send_again(dead_letters, log)
        self.source.commit()
        self._unflushed = []

    def _send_again(self, dead_letters: str, log: Any) -> BusError | None:
        """A fresh producer sends everything since the last commit; the error if it cannot."""
        try:
            self._producer.close()
        except Exception as close_error:  # it failed already; a new one is what matters
            log.warning("closing the failed producer failed", error=repr(close_error))
        try:
            self._producer = self.bus.producer()
            for item in self._unflushed:
                self._send(item, dead_letters, log, again=True)
        except BusError as exc:
            return exc
        return None

    def _send(self, item: Any, dead_letters: str, log: Any, again: bool = False) -> None:
        """Produce one item; `again` for a resend after a failed flush, not counted twice."""
        name = self.source.name
        producer = self._producer
        if isinstance(item, Article):
            stamped = item.stamped(name, self.source.version)
            producer.send(self.topic, stamped.to_bytes(), key=item.id.encode())
            if not again:
                self.stats.produced += 1
                self.metrics.messages_out.labels(name).inc()
            return
        headers = (
            (HEADER_ERROR, item.reason.encode()),
            (HEADER_ERROR_TYPE, b"InvalidArticle"),
            (HEADER_STAGE, name.encode()),
            (HEADER_SOURCE, item.where.encode()),
        )
        producer.send(dead_letters, item.raw, headers=headers)
        if not again:
            self.stats.dead_lettered += 1
            self.metrics.dead_lettered.labels(name, "InvalidArticle").inc()
            log.warning("dead-lettered", where=item.where, reason=item.reason)
