"""Produce -> consume -> commit throughput: Akhbar's runtime next to raw kafka-python.

For each message size (2 KB and 20 KB of article text) and each backend, N articles
are produced through the bus and consumed by a StageRunner with a pass-through step
into a sink that only counts, committing as in production. The anchor is raw
kafka-python doing the same on the same broker in the same run: KafkaProducer
(acks=all, idempotence) and a KafkaConsumer in a group committing after every batch.

    AKHBAR_TEST_KAFKA=127.0.0.1:19092 python benchmarks/bus_throughput.py [--scale 1.0]

Prints one table; the ratio column is runtime / raw kafka-python (target >= 0.90).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from kafka import KafkaConsumer, KafkaProducer
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from akhbar.article import Article  # noqa: E402
from akhbar.bus import open_bus  # noqa: E402
from akhbar.config import BusSettings, KafkaSettings, LogSettings, RunnerSettings  # noqa: E402
from akhbar.logs import configure_logging  # noqa: E402
from akhbar.metrics import Metrics  # noqa: E402
from akhbar.runner import Stage, StageRunner, step_identity  # noqa: E402
from tests.helpers.articles import make_article  # noqa: E402

SIZES = {"2 KB": (2_000, 20_000), "20 KB": (20_000, 5_000)}  # text bytes, messages


class CountingSink:
    def __init__(self) -> None:
        self.count = 0

    def add(self, article: Article) -> None:
        self.count += 1

    def flush(self) -> None:
        pass

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
    started = time.perf_counter()
    runner.run(max_messages=len(messages), drain_after=drained, timeout=600)
    consume_s = time.perf_counter() - started
    assert sink.count == len(messages), (sink.count, len(messages))
    return Result(produce_s, consume_s, sink.count)


def run_raw_kafka(bootstrap: str, messages: list[tuple[bytes, bytes]]) -> Result:
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
    started = time.perf_counter()
    while count < len(messages):
        batches = consumer.poll(timeout_ms=200, max_records=500)
        count += sum(len(records) for records in batches.values())
        if batches:
            consumer.commit()
    consume_s = time.perf_counter() - started
    consumer.close()
    return Result(produce_s, consume_s, count)


def kafka_settings(bootstrap: str, prefix: str) -> BusSettings:
    return BusSettings(
        backend="kafka", topic_prefix=prefix, kafka=KafkaSettings(bootstrap_servers=[bootstrap])
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiply message counts")
    args = parser.parse_args()
    configure_logging(LogSettings(level="WARNING"))
    bootstrap = os.environ.get("AKHBAR_TEST_KAFKA")
    table = Table(title="produce -> consume -> commit, messages/s (one run, same machine)")
    for column in (
        "size",
        "messages",
        "backend",
        "akhbar msg/s",
        "raw kafka-python msg/s",
        "ratio",
    ):
        table.add_column(column, justify="right")
    with tempfile.TemporaryDirectory() as tmp:
        for size, (text_bytes, count) in SIZES.items():
            count = max(100, int(count * args.scale))
            messages = payloads(text_bytes, count)
            raw = run_raw_kafka(bootstrap, messages) if bootstrap else None
            backends = {
                "embedded": BusSettings(
                    backend="embedded",
                    embedded_path=Path(tmp) / f"{size}.sqlite3",
                    topic_prefix="b.",
                )
            }
            if bootstrap:
                backends["kafka"] = kafka_settings(bootstrap, f"b{uuid.uuid4().hex[:8]}.")
            for backend, settings in backends.items():
                ours = run_akhbar(settings, messages)
                table.add_row(
                    size,
                    str(count),
                    backend,
                    f"{ours.rate:,.0f}",
                    f"{raw.rate:,.0f}" if raw else "n/a",
                    f"{ours.rate / raw.rate:.2f}" if raw else "n/a",
                )
    Console().print(table)
    if not bootstrap:
        print("AKHBAR_TEST_KAFKA is not set: no Kafka figures (run `make bench`).")


if __name__ == "__main__":
    main()
