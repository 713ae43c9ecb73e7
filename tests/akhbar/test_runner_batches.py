"""A bounded stage that starts its steps a chunk at a time (Stage.start_batch), over both
bus backends: results in read order, failures retried through the step or dead-lettered,
and nothing committed past a message that keeps failing."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future

import pytest

from akhbar.article import Article
from akhbar.bus import Bus
from akhbar.config import BusSettings
from akhbar.errors import InvalidArticle, StageFailed
from akhbar.runner import HEADER_ERROR_TYPE
from tests.akhbar.test_runner import (
    FAST,
    CollectingSink,
    articles,
    dead_letters,
    drain,
    produce,
    sink_stage,
)
from tests.akhbar.test_runner_concurrent import assert_all_committed, assert_in_read_order_per_key

BATCH = 8

Outcome = Callable[[Article], Article | None]


class ChunkStarter:
    """Starts a chunk's steps in a thread of its own, which settles them last to first
    (so the runner must put them back in order); records the chunks it was given."""

    def __init__(self, outcome: Outcome) -> None:
        self.outcome = outcome
        self.chunks: list[list[str]] = []

    def __call__(self, chunk: list[Article]) -> list[Future[Article | None]]:
        self.chunks.append([article.id for article in chunk])
        futures: list[Future[Article | None]] = [Future() for _ in chunk]
        threading.Thread(target=self._settle, args=(chunk, futures), daemon=True).start()
        return futures

    def _settle(self, chunk: list[Article], futures: list[Future[Article | None]]) -> None:
        for article, future in reversed(list(zip(chunk, futures, strict=True))):
            try:
                future.set_result(self.outcome(article))
            except Exception as exc:  # handed to the runner, as a stage's batch does
                future.set_exception(exc)


def test_chunks_are_started_whole_and_their_results_come_out_in_the_order_read(
    bus: Bus, settings_for: BusSettings
) -> None:
    # Given 30 articles on three keys
    prefix = settings_for.topic_prefix
    batch = articles(30)
    keys = [f"k{i % 3}".encode() for i in range(30)]
    produce(bus, f"{prefix}in", [a.to_bytes() for a in batch], keys)
    starter = ChunkStarter(lambda article: article)
    single_steps: list[str] = []

    def step(article: Article) -> Article:
        single_steps.append(article.id)
        return article

    # When a stage that starts chunks of 8 drains them
    sink = CollectingSink()
    stage = sink_stage(prefix, step, sink, bounded=True, start_batch=starter, batch_size=BATCH)
    runner = drain(bus, stage, prefix=prefix)

    # Then every step was started through the chunks, none of more than 8, each once
    assert single_steps == []
    assert all(len(chunk) <= BATCH for chunk in starter.chunks)
    assert sorted(i for chunk in starter.chunks for i in chunk) == sorted(a.id for a in batch)
    # And each key's articles reached the sink in the order they were read
    assert runner.stats.consumed == runner.stats.produced == 30
    assert_in_read_order_per_key(sink, batch, keys)
    # And everything was committed: a second run reads nothing
    assert_all_committed(bus, prefix)


def test_a_chunk_s_failures_are_retried_dead_lettered_or_timed_out_one_by_one(
    bus: Bus, settings_for: BusSettings
) -> None:
    # Given 12 articles on one key: the 3rd fails once in its chunk, the 6th is not an
    # article, the 9th never finishes in its chunk and the 10th is dropped
    prefix = settings_for.topic_prefix
    batch = articles(12)
    produce(bus, f"{prefix}in", [a.to_bytes() for a in batch], [b"k"] * 12)
    flaky, invalid, hung, dropped = batch[2].id, batch[5].id, batch[8].id, batch[9].id
    release = threading.Event()

    def in_chunk(article: Article) -> Article | None:
        if article.id == flaky:
            raise ConnectionError("reset")
        if article.id == invalid:
            raise InvalidArticle("not a page")
        if article.id == hung:
            release.wait(30)
        return None if article.id == dropped else article

    retried: list[str] = []

    def step(article: Article) -> Article:
        retried.append(article.id)
        return article

    # When the stage drains them in chunks of 8
    sink = CollectingSink()
    starter = ChunkStarter(in_chunk)
    stage = sink_stage(prefix, step, sink, bounded=True, start_batch=starter, batch_size=BATCH)
    runner = drain(bus, stage, prefix=prefix)
    release.set()

    # Then the failed one was retried through the step and delivered in its place
    assert retried == [flaky]
    expected = [a.id for a in batch if a.id not in (invalid, hung, dropped)]
    assert [a.id for a in sink.stored] == expected
    # And the invalid and the hung ones were dead-lettered, each with its reason
    letters = dead_letters(bus, prefix, 2)
    assert sorted(dict(m.headers)[HEADER_ERROR_TYPE] for m in letters) == [
        b"InvalidArticle",
        b"StepTimeout",
    ]
    assert runner.stats.dead_lettered == 2 and runner.stats.dropped == 1


class InTurnStarter(ChunkStarter):
    """Settles a chunk's steps first to first, one after another, as the fetch stage
    cleans a chunk's pages."""

    def _settle(self, chunk: list[Article], futures: list[Future[Article | None]]) -> None:
        for article, future in zip(chunk, futures, strict=True):
            future.set_result(self.outcome(article))


def test_each_step_of_a_chunk_has_the_step_timeout_from_when_the_one_before_it_was_done(
    bus: Bus, settings_for: BusSettings
) -> None:
    # Given a chunk of 3 articles whose steps are done one after another, each in 0.6 of
    # the step timeout (1.8 of it for the last from the chunk's start)
    prefix = settings_for.topic_prefix
    batch = articles(3)
    produce(bus, f"{prefix}in", [a.to_bytes() for a in batch], [b"k"] * 3)
    assert FAST.step_timeout_s is not None
    step_s = 0.6 * FAST.step_timeout_s

    def slow(article: Article) -> Article:
        time.sleep(step_s)
        return article

    # When the stage drains it
    sink = CollectingSink()
    stage = sink_stage(
        prefix, slow, sink, bounded=True, start_batch=InTurnStarter(slow), batch_size=BATCH
    )
    runner = drain(bus, stage, prefix=prefix)
    # Then none timed out: all three were delivered, in order, and nothing dead-lettered
    assert [a.id for a in sink.stored] == [a.id for a in batch]
    assert runner.stats.dead_lettered == 0


def test_a_message_that_keeps_failing_commits_nothing_from_itself_on(
    bus: Bus, settings_for: BusSettings
) -> None:
    # Given 20 articles on one key, of which the 11th always fails, in its chunk and alone
    prefix = settings_for.topic_prefix
    batch = articles(20)
    produce(bus, f"{prefix}in", [a.to_bytes() for a in batch], [b"k"] * 20)

    def broken(article: Article) -> Article:
        if article.id == batch[10].id:
            raise RuntimeError("bug")
        return article

    # When the stage gives up on it, with later steps of its chunk already done
    starter = ChunkStarter(broken)
    stage = sink_stage(
        prefix, broken, CollectingSink(), bounded=True, start_batch=starter, batch_size=BATCH
    )
    with pytest.raises(StageFailed):
        drain(bus, stage, prefix=prefix)
    # Then a fixed stage starts again at the 11th at the latest, and misses nothing after it
    sink = CollectingSink()
    drain(bus, sink_stage(prefix, lambda a: a, sink), prefix=prefix)
    ids = [a.id for a in sink.stored]
    assert batch[10].id in ids
    assert ids == [a.id for a in batch[len(batch) - len(ids) :]]
