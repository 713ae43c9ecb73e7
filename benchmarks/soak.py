"""Soak: a steady load through the whole pipeline for a long time, memory of every stage watched.

    AKHBAR_TEST_KAFKA=127.0.0.1:19092 AKHBAR_TEST_OPENSEARCH=http://127.0.0.1:19200 \
        python benchmarks/soak.py ../shared/data/saudinewsnet --minutes 30 [--rate 5]

The pipeline of benchmarks/end_to_end.py (fixture news sites, every stage its
own `akhbar stage NAME` process over Kafka, into JSON Lines files and an
OpenSearch index of its own) gets --rate new articles per second for --minutes.
SaudiNewsNet articles are used in turn; once all are used they are published
again under new addresses, which the story index sees as copies.

Every --sample-s seconds each stage process's RSS is read from /proc; the
index is searched for the articles published so far. At the end: each stage's
mean RSS over the first and the last WINDOW_S of the load (a third of the run
when it is shorter than three windows), the growth between them, latency p50/p95
in the same two windows, and a verdict: a stage whose RSS grew by more than
GROWTH_LIMIT_MB and GROWTH_LIMIT_SHARE between the windows is GROWING.
"""

from __future__ import annotations

import itertools
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import click

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.end_to_end import (  # noqa: E402
    WARMUP_ARTICLES,
    Pipeline,
    Seen,
    exit_on_sigterm,
    load_site_articles,
    percentile,
    running_pipeline,
    services_options,
    warm_up,
)
from ingest.fixture_server import SiteArticle  # noqa: E402

# Compared windows: the first and the last five minutes of the load.
WINDOW_S = 300.0
# Growth under either bound is noise: allocator arenas settling, caches filling.
GROWTH_LIMIT_MB = 20.0
GROWTH_LIMIT_SHARE = 0.05
# RSS is printed at this many moments of the run, first and last included.
CURVE_POINTS = 6
# The index is searched this often for what was published.
SEARCH_EVERY_S = 1.0
# Articles loaded from the data set; the soak cycles through them.
MAX_DISTINCT_ARTICLES = 20_000


@dataclass
class Samples:
    """What the soak saw, with times in seconds since the load started."""

    rss: list[tuple[float, dict[str, float]]] = field(default_factory=list)
    published: dict[str, float] = field(default_factory=dict)
    seen: dict[str, Seen] = field(default_factory=dict)


def soak(
    pipeline: Pipeline, articles: list[SiteArticle], minutes: float, rate: float, sample_s: float
) -> tuple[Samples, float]:
    """Publish at `rate` for `minutes`, sampling; (samples, load start as epoch seconds)."""
    samples = Samples()
    source = itertools.cycle(articles)
    started = time.monotonic()
    epoch = time.time()
    duration = minutes * 60
    next_sample = next_search = 0.0
    published = 0
    while (elapsed := time.monotonic() - started) < duration:
        pipeline.stages.check_alive()
        while published < elapsed * rate:
            article_key, when = pipeline.sites.publish(next(source))
            samples.published[article_key] = when
            published += 1
        if elapsed >= next_sample:
            samples.rss.append((elapsed, pipeline.stages.rss_mb()))
            next_sample += sample_s
        if elapsed >= next_search:
            _search(pipeline, samples)
            next_search += SEARCH_EVERY_S
        time.sleep(0.05)
    pending = [i for i in samples.published if i not in samples.seen]
    samples.seen.update(pipeline.watcher.wait_for(pending, pipeline.stages))
    samples.rss.append((time.monotonic() - started, pipeline.stages.rss_mb()))
    return samples, epoch


def _search(pipeline: Pipeline, samples: Samples) -> None:
    pending = [i for i in samples.published if i not in samples.seen]
    if pending:
        samples.seen.update(pipeline.watcher.find(pending))


@dataclass
class StageGrowth:
    label: str
    first_mb: float
    last_mb: float
    peak_mb: float

    @property
    def growth_mb(self) -> float:
        return self.last_mb - self.first_mb

    @property
    def growing(self) -> bool:
        return (
            self.growth_mb > GROWTH_LIMIT_MB and self.growth_mb > GROWTH_LIMIT_SHARE * self.first_mb
        )


def growth(samples: Samples, duration_s: float, window_s: float) -> list[StageGrowth]:
    first = [rss for t, rss in samples.rss if t <= window_s]
    last = [rss for t, rss in samples.rss if t >= duration_s - window_s]
    labels = samples.rss[0][1].keys()
    return [
        StageGrowth(
            label,
            statistics.mean(r[label] for r in first),
            statistics.mean(r[label] for r in last),
            max(r[label] for _, r in samples.rss),
        )
        for label in labels
    ]


def curve(samples: Samples, points: int = CURVE_POINTS) -> list[str]:
    """Each stage's RSS at evenly spaced moments: does growth level off or go on?"""
    end = samples.rss[-1][0]
    moments = [
        min(samples.rss, key=lambda s: abs(s[0] - end * n / (points - 1))) for n in range(points)
    ]
    return [
        f"{label} " + " ".join(f"{rss[label]:.0f}" for _, rss in moments)
        for label in samples.rss[0][1]
    ]


def latencies(samples: Samples, epoch: float, start_s: float, end_s: float) -> list[float]:
    """Latencies of the articles published between start_s and end_s into the load."""
    return [
        seen.searchable - samples.published[article]
        for article, seen in samples.seen.items()
        if start_s <= samples.published[article] - epoch < end_s
    ]


def report(samples: Samples, epoch: float, minutes: float, rate: float) -> list[str]:
    duration = minutes * 60
    window = min(WINDOW_S, duration / 3)
    lines = [
        f"soak: {minutes:g} min at {rate:g} articles/s; {len(samples.published)} published, "
        f"{len(samples.seen)} searchable; RSS sampled {len(samples.rss)} times; windows: first "
        f"and last {window / 60:.1f} min",
    ]
    for name, start, end in (("first", 0.0, window), ("last", duration - window, duration)):
        values = latencies(samples, epoch, start, end)
        if values:
            lines.append(
                f"latency feed-listed -> searchable, {name} window: p50 "
                f"{statistics.median(values):.2f} s, p95 {percentile(values, 0.95):.2f} s "
                f"({len(values)} articles)"
            )
    verdicts = []
    for stage in growth(samples, duration, window):
        verdict = "GROWING" if stage.growing else "flat"
        verdicts.append(stage.growing)
        lines.append(
            f"{stage.label:<10} RSS first {stage.first_mb:7.1f} MB, last {stage.last_mb:7.1f} MB, "
            f"growth {stage.growth_mb:+7.1f} MB ({stage.growth_mb / stage.first_mb:+.1%}), "
            f"peak {stage.peak_mb:7.1f} MB: {verdict}"
        )
    lines.append("RSS over the run (MB at each fifth of it): " + "; ".join(curve(samples)))
    missing = len(samples.published) - len(samples.seen)
    kept_up = missing == 0
    lines.append(
        "verdict: "
        + ("memory flat in every stage" if not any(verdicts) else "memory GROWS in a stage")
        + ("; every article searchable" if kept_up else f"; {missing} articles NOT searchable")
    )
    return lines


@click.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--minutes", type=float, default=30.0, show_default=True)
@click.option("--rate", type=float, default=5.0, show_default=True, help="articles/s")
@click.option("--sample-s", type=float, default=10.0, show_default=True)
@services_options
def main(
    folder: Path, minutes: float, rate: float, sample_s: float, kafka: str, opensearch: str
) -> None:
    """A steady load through every stage; prints each stage's memory growth and a verdict."""
    exit_on_sigterm()
    needed = WARMUP_ARTICLES + int(minutes * 60 * rate) + 1
    articles = load_site_articles(folder, min(needed, MAX_DISTINCT_ARTICLES))
    with running_pipeline(kafka, opensearch) as pipeline:
        warm_up(pipeline, articles[:WARMUP_ARTICLES])
        samples, epoch = soak(pipeline, articles[WARMUP_ARTICLES:], minutes, rate, sample_s)
    for line in report(samples, epoch, minutes, rate):
        click.echo(line)


if __name__ == "__main__":
    main()
