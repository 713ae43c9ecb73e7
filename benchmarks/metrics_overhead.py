"""What the stage metrics cost per message, beside decoding that message (the anchor).

Times, in this one process and on the same enriched articles:

* metrics: the per-message metric work of a sink stage as the runner does it (the
  in/out counters and the step-time histogram; keeping the article for the commit;
  at the commit, the end-to-end latency histogram, the per-source counter and the
  latest-articles summaries), through the runner's own code;
* anchor: `decode_article` of the same message, which every stage does for every
  message anyway.

Target: the metrics cost at most a tenth of the anchor. Best of ROUNDS rounds.

    .venv/bin/python benchmarks/metrics_overhead.py [--articles 20000]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, datetime

from akhbar.article import Article, EntityMention, decode_article
from akhbar.bus import StoredMessage
from akhbar.config import BusSettings, RunnerSettings
from akhbar.metrics import Metrics
from akhbar.runner import Stage, StageRunner, step_identity

TARGET_RATIO = 0.10
ROUNDS = 5
# A few hundred articles per commit, as a sink stage sees at a second's commit interval.
COMMIT_EVERY = 500
TEXT = (
    "أعلنت وزارة الصحة اليوم عن افتتاح مستشفى جديد في مدينة الرياض بسعة خمسمائة سرير، "
    "وقال المتحدث باسم الوزارة إن المستشفى سيخدم أكثر من مليون نسمة. "
) * 20


def enriched(n: int) -> Article:
    entities = [
        EntityMention(text=f"اسم {k}", type="PERS", start=k, end=k + 5, canonical=f"اسم {k}")
        for k in range(8)
    ]
    return Article.create(
        f"https://news.example/story/{n}",
        source=f"outlet-{n % 40}",
        title=f"خبر رقم {n}",
        text=TEXT,
        display_text=TEXT,
        display_title=f"خبر رقم {n}",
        is_arabic=True,
        entities=entities,
        fetched_at=datetime.now(UTC),
    )


def sink_runner(metrics: Metrics) -> StageRunner:
    """A sink stage's runner, not started: only its metric paths are timed."""
    stage = Stage("jsonl", "1", "articles.enriched", step_identity, sink=lambda: None)  # type: ignore[arg-type,return-value]
    return StageRunner(None, stage, RunnerSettings(), metrics)  # type: ignore[arg-type]


def metric_work(articles: list[Article]) -> Callable[[], None]:
    metrics = Metrics()
    runner = sink_runner(metrics)
    stage = runner._metrics
    stored = runner._stored
    assert stored is not None

    def run() -> None:
        for start in range(0, len(articles), COMMIT_EVERY):
            batch = articles[start : start + COMMIT_EVERY]
            stage.messages_in.inc(len(batch))
            for article in batch:
                began = time.perf_counter()
                stage.step_seconds.observe(time.perf_counter() - began)
                stage.messages_out.inc()
                stored.append(article)
            runner._count_stored()

    return run


def decoding(messages: list[StoredMessage]) -> Callable[[], None]:
    def run() -> None:
        for message in messages:
            decode_article(message.value)

    return run


def best_seconds(work: Callable[[], None]) -> float:
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=20_000)
    count = parser.parse_args().articles
    BusSettings()  # settings import the bus; built once so neither timing pays for it
    articles = [enriched(n) for n in range(count)]
    messages = [
        StoredMessage("articles.enriched", 0, n, a.id.encode(), a.to_bytes())
        for n, a in enumerate(articles)
    ]
    metric_s = best_seconds(metric_work(articles))
    anchor_s = best_seconds(decoding(messages))
    per_message = 1e6 / count
    ratio = metric_s / anchor_s
    print(f"articles: {count}, best of {ROUNDS} rounds, commit every {COMMIT_EVERY}")
    print(f"metrics per message:        {metric_s * per_message:8.2f} us")
    print(f"anchor, decode per message: {anchor_s * per_message:8.2f} us")
    verdict = "meets" if ratio <= TARGET_RATIO else "misses"
    print(f"metrics / anchor: {ratio:.3f} ({verdict} the target of {TARGET_RATIO:.2f})")


if __name__ == "__main__":
    main()
