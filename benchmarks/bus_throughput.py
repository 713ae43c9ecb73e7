"""Produce -> consume -> commit throughput: Akhbar's runtime next to raw kafka-python.

For each message size (2 KB and 20 KB of article text) and each backend, N articles
are produced through the bus and consumed by a StageRunner with a pass-through step
into a sink that only counts, committing as in production. The anchor is raw
kafka-python doing the same on the same broker in the same run: KafkaProducer
(acks=all, idempotence) and a KafkaConsumer in a group committing after every batch.

    AKHBAR_TEST_KAFKA=127.0.0.1:19092 python benchmarks/bus_throughput.py [--scale 1.0]

Throughput is N / (time to produce and flush all + time from the first message
consumed to the last), so joining the group and starting up count for neither.
Two anchors: `raw` consumes and does nothing with a message; `raw+json` parses
each message with json.loads, the least any consumer of articles does. The ratio
is the runtime against `raw+json` (target >= 0.90).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from kafka import KafkaConsumer, KafkaProducer
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from akhbar.article import Article  # noqa: E402
from akhbar.bus import Message, open_bus  # noqa: E402
from akhbar.config import BusSettings, KafkaSettings, LogSettings, RunnerSettings  # noqa: E402
from akhbar.logs import configure_logging  # noqa: E402
from akhbar.metrics import Metrics  # noqa: E402
from akhbar.runner import Rejection, Stage, StageRunner, step_identity, tune_gc  # noqa: E402
from tests.helpers.articles import make_article  # noqa: E402

SIZES = {"2 KB": (2_000, 60_000), "20 KB": (20_000, 10_000)}  # text bytes, messages
# Each figure is the median of this many runs, interleaved so that load from the
# rest of the machine falls on all of them alike.
REPEATS = 3


class CountingSink:
    """Counts articles and notes when the first and the last arrived."""

    def __init__(self) -> None:
        self.count = 0
        self.first = self.last = 0.0

    def add(self, article: Article, record: Message) -> None:
        self.last = time.perf_counter()
        if not self.count:
            self.first = self.last
        self.count += 1

    def flush(self) -> Sequence[Rejection]:
        return ()

    def close(self) -> None:
        pass


@dataclass
class Result:
    produce_s: float
    consume_s: float
    count: int

    @property
    def rate(self) -> float:
        return self.count / (self.produce_s + self.consume_s)


def payloads(text_bytes: int, count: int) -> list[tuple[bytes, bytes]]:
    template = make_article(0, text_bytes=text_bytes)
    out = []
    for n in range(count):
        article = template.model_copy(update={"id": f"{n:064d}", "url": f"https://x.example/{n}"})
        out.append((article.id.encode(), article.to_bytes()))
    return out


def run_akhbar(settings: BusSettings, messages: list[tuple[bytes, bytes]]) -> Result:
    bus = open_bus(settings)
    topic = f"{settings.topic_prefix}in"
    bus.ensure_topics([topic, f"{topic}.dlq"])
    producer = bus.producer()
    started = time.perf_counter()
    for key, value in messages:
        producer.send(topic, value, key=key)
    producer.flush()
    produce_s = time.perf_counter() - started
    producer.close()

    sink = CountingSink()
    stage = Stage("bench", "1", topic, step_identity, sink=lambda: sink)
    runner = StageRunner(
        bus, stage, RunnerSettings(), Metrics(), group_prefix=settings.topic_prefix
    )
    drained = threading.Event()
    drained.set()
    runner.run(max_messages=len(messages), drain_after=drained, timeout=600)
    assert sink.count == len(messages), (sink.count, len(messages))
    return Result(produce_s, sink.last - sink.first, sink.count)


def run_raw_kafka(bootstrap: str, messages: list[tuple[bytes, bytes]], parse: bool) -> Result:
    """kafka-python by hand; with `parse`, each message is read with json.loads, the
    least any consumer of articles does."""
    topic = f"raw{uuid.uuid4().hex[:8]}"
    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        batch_size=256 * 1024,
        max_request_size=4 * 1024 * 1024,
    )
    # Create the topic with the same partition count as the runtime's, outside the timing.
    open_bus(kafka_settings(bootstrap, topic)).ensure_topics([topic])
    started = time.perf_counter()
    for key, value in messages:
        producer.send(topic, value=value, key=key)
    producer.flush()
    produce_s = time.perf_counter() - started
    producer.close()

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"{topic}.g",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_bytes=32 * 1024 * 1024,
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    count = 0
    first = last = 0.0
    # Commit on the same timer as the runtime (RunnerSettings.commit_interval_s), so
    # the two differ only in what the runtime does per message.
    next_commit = time.perf_counter() + RunnerSettings().commit_interval_s
    while count < len(messages):
        batches = consumer.poll(timeout_ms=200, max_records=500)
        for records in batches.values():
            for record in records:
                if parse:
                    json.loads(record.value)
                last = time.perf_counter()
                first = first or last
                count += 1
        if time.perf_counter() >= next_commit:
            consumer.commit()
            next_commit = time.perf_counter() + RunnerSettings().commit_interval_s
    consumer.commit()
    consumer.close()
    return Result(produce_s, last - first, count)


def kafka_settings(bootstrap: str, prefix: str) -> BusSettings:
    return BusSettings(
        backend="kafka", topic_prefix=prefix, kafka=KafkaSettings(bootstrap_servers=[bootstrap])
    )


def median_rates(results: list[Result]) -> tuple[float, float, float]:
    """Median produce, consume and overall messages/s."""
    return (
        statistics.median(r.count / r.produce_s for r in results),
        statistics.median(r.count / r.consume_s for r in results),
        statistics.median(r.rate for r in results),
    )


def measure(
    messages: list[tuple[bytes, bytes]], bootstrap: str | None, tmp: Path
) -> dict[str, list[Result]]:
    """Each contender's results, REPEATS times, interleaved."""
    results: dict[str, list[Result]] = {}
    for _attempt in range(REPEATS):
        contenders: dict[str, Callable[[], Result]] = {
            "embedded": lambda: run_akhbar(
                BusSettings(
                    backend="embedded",
                    embedded_path=tmp / f"{uuid.uuid4().hex}.sqlite3",
                    topic_prefix="b.",
                ),
                messages,
            ),
        }
        if bootstrap:
            contenders["raw"] = lambda: run_raw_kafka(bootstrap, messages, parse=False)
            contenders["raw+json"] = lambda: run_raw_kafka(bootstrap, messages, parse=True)
            contenders["kafka"] = lambda: run_akhbar(
                kafka_settings(bootstrap, f"b{uuid.uuid4().hex[:8]}."), messages
            )
        for name, run in contenders.items():
            results.setdefault(name, []).append(run())
    return results


def kafka_rates(bootstrap: str, size: str = "2 KB", scale: float = 1.0) -> tuple[float, float]:
    """Median overall messages/s of (akhbar on Kafka, kafka-python raw+json), one size."""
    text_bytes, count = SIZES[size]
    with tempfile.TemporaryDirectory() as tmp:
        messages = payloads(text_bytes, max(100, int(count * scale)))
        results = measure(messages, bootstrap, Path(tmp))
    return median_rates(results["kafka"])[2], median_rates(results["raw+json"])[2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiply message counts")
    args = parser.parse_args()
    configure_logging(LogSettings(level="WARNING"))
    bootstrap = os.environ.get("AKHBAR_TEST_KAFKA")
    # As `akhbar run` does; it applies to the raw client's runs in this process too.
    tune_gc()
    table = Table(title="produce -> consume -> commit, messages/s (medians of one run)")
    for column in (
        "size",
        "messages",
        "client",
        "produce",
        "consume",
        "overall",
        "runtime / raw+json",
    ):
        table.add_column(column, justify="right")
    with tempfile.TemporaryDirectory() as tmp:
        for size, (text_bytes, count) in SIZES.items():
            count = max(100, int(count * args.scale))
            results = measure(
                messages=payloads(text_bytes, count), bootstrap=bootstrap, tmp=Path(tmp)
            )
            anchor = median_rates(results["raw+json"])[2] if bootstrap else None
            for name in ("raw", "raw+json", "embedded", "kafka"):
                if name not in results:
                    continue
                rates = median_rates(results[name])
                runtime = name in ("embedded", "kafka")
                ratio = f"{rates[2] / anchor:.2f}" if anchor and runtime else ""
                label = f"akhbar {name}" if runtime else f"kafka-python {name}"
                table.add_row(size, f"{count:,}", label, *(f"{r:,.0f}" for r in rates), ratio)
    Console(width=120).print(table)
    if not bootstrap:
        print("AKHBAR_TEST_KAFKA is not set: no Kafka figures (run `make bench`).")


if __name__ == "__main__":
    main()
