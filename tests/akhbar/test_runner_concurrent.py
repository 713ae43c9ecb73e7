"""A bounded stage running several steps at once: results in read order, commits in order."""

from __future__ import annotations

import threading
import time

import pytest

from akhbar.article import Article
from akhbar.bus import Bus
from akhbar.config import BusSettings
from akhbar.errors import InvalidArticle, StageFailed
from akhbar.runner import HEADER_ERROR_TYPE
from tests.akhbar.test_runner import (
    CollectingSink,
    articles,
    dead_letters,
    drain,
    produce,
    sink_stage,
)

CONCURRENCY = 6


def assert_in_read_order_per_key(
    sink: CollectingSink, batch: list[Article], keys: list[bytes]
) -> None:
    """Each key's articles reached the sink in the order they were produced."""
    for key in set(keys):
        sent = [a.id for a, k in zip(batch, keys, strict=True) if k == key]
        assert [a.id for a in sink.stored if a.id in set(sent)] == sent


def assert_all_committed(bus: Bus, prefix: str) -> None:
    """A second run of the stage's group reads nothing."""
    again = CollectingSink()
    drain(bus, sink_stage(prefix, lambda a: a, again), prefix=prefix)
    assert again.stored == []


def test_results_come_out_in_the_order_read_although_steps_finish_out_of_order(
    bus: Bus, settings_for: BusSettings
) -> None:
    # Given 60 articles on four keys, where earlier articles take longer
    prefix = settings_for.topic_prefix
    batch = articles(60)
    keys = [f"k{i % 4}".encode() for i in range(60)]
    produce(bus, f"{prefix}in", [a.to_bytes() for a in batch], keys)
    order = {a.id: i for i, a in enumerate(batch)}
    running, most_at_once = [0], [0]
    lock = threading.Lock()

    def step(article: Article) -> Article:
        with lock:
            running[0] += 1
            most_at_once[0] = max(most_at_once[0], running[0])
        time.sleep(0.05 * (1 - (order[article.id] % CONCURRENCY) / CONCURRENCY))
        with lock:
            running[0] -= 1
        return article

    # When a bounded stage runs six steps at once
    sink = CollectingSink()
    stage = sink_stage(prefix, step, sink, bounded=True, concurrency=CONCURRENCY)
    runner = drain(bus, stage, prefix=prefix)
    # Then the steps overlapped, and each key's articles reached the sink in order
    assert most_at_once[0] > 1
    assert runner.stats.consumed == runner.stats.produced == 60
    assert_in_read_order_per_key(sink, batch, keys)
    # And everything was committed: a second run reads nothing
    assert_all_committed(bus, prefix)


def test_a_hung_step_and_an_invalid_article_are_dead_lettered_the_rest_delivered(
    bus: Bus, settings_for: BusSettings
) -> None:
    prefix = settings_for.topic_prefix
    batch = articles(12)
    produce(bus, f"{prefix}in", [a.to_bytes() for a in batch], [b"k"] * 12)
    release = threading.Event()

    def step(article: Article) -> Article:
        if article.id == batch[3].id:
            release.wait(30)
        if article.id == batch[7].id:
            raise InvalidArticle("not a page")
        return article

    sink = CollectingSink()
    stage = sink_stage(prefix, step, sink, bounded=True, concurrency=CONCURRENCY)
    runner = drain(bus, stage, prefix=prefix)
    release.set()

    assert [a.id for a in sink.stored] == [a.id for i, a in enumerate(batch) if i not in (3, 7)]
    letters = dead_letters(bus, prefix, 2)
    assert sorted(dict(m.headers)[HEADER_ERROR_TYPE] for m in letters) == [
        b"InvalidArticle",
        b"StepTimeout",
    ]
    assert runner.stats.dead_lettered == 2


def test_a_failing_step_commits_nothing_from_itself_on(bus: Bus, settings_for: BusSettings) -> None:
    # Given 20 articles on one key, of which the 8th always fails
    prefix = settings_for.topic_prefix
    batch = articles(20)
    produce(bus, f"{prefix}in", [a.to_bytes() for a in batch], [b"k"] * 20)

    def broken(article: Article) -> Article:
        if article.id == batch[7].id:
            raise RuntimeError("bug")
        return article

    # When the stage gives up on it, with later steps already done
    with pytest.raises(StageFailed):
        drain(
            bus,
            sink_stage(prefix, broken, CollectingSink(), bounded=True, concurrency=CONCURRENCY),
            prefix=prefix,
        )
    # Then a fixed stage starts again at the 8th at the latest, and misses nothing after it
    sink = CollectingSink()
    drain(bus, sink_stage(prefix, lambda a: a, sink), prefix=prefix)
    ids = [a.id for a in sink.stored]
    assert batch[7].id in ids
    assert ids == [a.id for a in batch[len(batch) - len(ids) :]]
