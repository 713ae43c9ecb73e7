"""The runners wait out a bus that cannot store anything, then go on by themselves.

Found by the reliability suite (tests/reliability/test_broker_restart.py): with
the broker killed, a stage whose commit failed could not start a new producer and
exited, and the import exited on its first failed flush.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from akhbar.article import Article
from akhbar.bus import Bus, Producer
from akhbar.config import BusSettings
from akhbar.errors import BusError
from akhbar.metrics import Metrics
from akhbar.runner import SourceRunner, Stage, StageRunner
from ingest.archive import ArchiveSource
from tests.akhbar.test_bus_contract import read_all
from tests.akhbar.test_runner import FAST, ProducerThatLosesItsFirstBatch, articles, produce


class BusWhileTheBrokerIsDown:
    """The real bus, except that its first producer loses its first batch and the next
    `refusals` producers cannot start, as while a broker is down (a real broker
    cannot be made to fail exactly there on demand)."""

    def __init__(self, real: Bus, refusals: int) -> None:
        self._real = real
        self.refusals = refusals
        self.producers = 0

    def producer(self) -> Producer:
        self.producers += 1
        if self.producers == 1:
            return ProducerThatLosesItsFirstBatch(self._real.producer())
        if self.refusals:
            self.refusals -= 1
            raise BusError("could not start a producer: Unable to bootstrap")
        return self._real.producer()

    def __getattr__(self, name: str) -> object:
        return getattr(self._real, name)


def read_ids(bus: Bus, topic: str, expected: int) -> list[str]:
    consumer = bus.consumer(f"{topic}.reader", [topic])
    messages = read_all(consumer, expected, timeout=15)
    consumer.close()
    return [Article.model_validate_json(m.value).id for m in messages]


def test_a_stage_waits_for_a_producer_while_the_broker_is_down(
    bus: Bus, settings_for: BusSettings
) -> None:
    # Given 40 articles, a producer that loses its first batch, and a broker that
    # refuses the next two producers
    prefix = settings_for.topic_prefix
    batch = articles(40)
    produce(bus, f"{prefix}in", [a.to_bytes() for a in batch])
    down = BusWhileTheBrokerIsDown(bus, refusals=2)
    stage = Stage("copy", "1", f"{prefix}in", lambda a: a, output_topic=f"{prefix}out")

    # When the stage drains
    runner = StageRunner(down, stage, FAST, Metrics(), group_prefix=prefix)  # type: ignore[arg-type]
    done = threading.Event()
    done.set()
    runner.run(drain_after=done, timeout=60)

    # Then it kept trying until a producer started, and every article reached the output
    assert down.producers == 4
    assert set(read_ids(bus, f"{prefix}out", 40)) == {a.id for a in batch}


def test_the_import_sends_again_what_a_failed_flush_lost(
    bus: Bus, settings_for: BusSettings, tmp_path: Path
) -> None:
    # Given an archive of 30 articles, a producer that loses its first batch and a
    # broker that refuses the next producer
    prefix = settings_for.topic_prefix
    batch = articles(30)
    archive = tmp_path / "archive.jsonl"
    archive.write_bytes(b"".join(a.to_bytes() + b"\n" for a in batch))
    state = tmp_path / "archive-state.json"
    down = BusWhileTheBrokerIsDown(bus, refusals=1)
    source = ArchiveSource([archive], state)

    # When the import runs to the end
    runner = SourceRunner(down, source, f"{prefix}cleaned", FAST, Metrics())  # type: ignore[arg-type]
    stats = runner.run(until_exhausted=True, idle_wait_s=0.05)

    # Then every article reached the topic, counted once, and the import is committed
    assert down.producers == 3
    assert set(read_ids(bus, f"{prefix}cleaned", 30)) == {a.id for a in batch}
    assert stats.produced == 30
    assert json.loads(state.read_text()) == {str(archive): -1}
