"""`akhbar demo`: the whole pipeline on the embedded bus against the local fixture site.

Starts the fixture site on 127.0.0.1 (real SaudiNewsNet articles in news-site
chrome, real Arabic pages when the test fixtures are present, and the hostile
set), polls its feeds once, fetches and cleans every page, runs normalize and
enrich into the JSON Lines sink, shows progress while it runs, and ends with a
summary: feeds, articles, errors by kind, where the output is. Nothing leaves
the machine. A failed stage makes the command exit 1 after the summary.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.live import Live
from rich.table import Table

from akhbar.bus import open_bus
from akhbar.config import (
    BusSettings,
    IngestSettings,
    JsonlSinkSettings,
    LogSettings,
    RunnerSettings,
    Settings,
    SinkSettings,
)
from akhbar.logs import configure_logging
from akhbar.metrics import Metrics
from akhbar.pipeline import PipelineRun, run_pipeline
from akhbar.topics import Topics
from ingest.feeds import Feed, save_feeds
from ingest.fixture_server import FixtureServer, load_saudinewsnet

ROOT = Path(__file__).resolve().parent.parent
ARTICLES = ROOT / "examples" / "saudinewsnet-sample.jsonl"
PAGES = ROOT / "tests" / "fixtures" / "arabic-pages"
DEMO_FEEDS = ("/feeds/news.xml", "/feeds/pages.xml", "/feeds/hostile.xml", "/feeds/malformed.xml")
# The slow-drip page would otherwise hold the demo for the default 45 s.
DEMO_PAGE_TIMEOUT_S = 3.0
STAGES = ("poller", "fetch", "normalize", "enrich", "jsonl")


def demo_settings(data: Path, feeds: Path) -> Settings:
    return Settings(
        bus=BusSettings(backend="embedded", embedded_path=data / "bus.sqlite3"),
        runner=RunnerSettings(step_retries=1, retry_backoff_initial_s=0.2, commit_interval_s=0.5),
        ingest=IngestSettings(
            feeds=feeds,
            state_path=data / "feeds.sqlite3",
            allow_hosts=["127.0.0.1"],
            host_spacing_s=0,
            page_timeout_s=DEMO_PAGE_TIMEOUT_S,
        ),
        sinks=SinkSettings(jsonl=JsonlSinkSettings(dir=data / "articles")),
        log=LogSettings(level="ERROR", format="console"),
    )


@click.command()
@click.option(
    "--data",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("data/demo"),
    show_default=True,
    help="Where the demo's bus, feed state and articles go (must be new or empty).",
)
def demo(data: Path) -> None:
    """Run the pipeline once on a local news site, with a progress display and a summary."""
    if data.exists() and any(data.iterdir()):
        click.echo(f"akhbar: {data} is not empty; give a new --data directory", err=True)
        sys.exit(2)
    data.mkdir(parents=True, exist_ok=True)
    site = FixtureServer(load_saudinewsnet(ARTICLES), PAGES if PAGES.is_dir() else None)
    base = site.start()
    feeds = data / "feeds.yaml"
    save_feeds(feeds, [Feed(url=base + path, name=path.rsplit("/", 1)[-1]) for path in DEMO_FEEDS])
    settings = demo_settings(data, feeds)
    configure_logging(settings.log)
    metrics = Metrics()
    result = _run_with_progress(settings, metrics)
    site.stop()
    Console().print(_summary(metrics, settings, len(DEMO_FEEDS)))
    if not result.ok:
        sys.exit(1)


def _run_with_progress(settings: Settings, metrics: Metrics) -> PipelineRun:
    bus = open_bus(settings.bus)
    bus.ensure_topics(Topics().all())
    outcome: list[PipelineRun] = []
    stop = threading.Event()
    worker = threading.Thread(
        target=lambda: outcome.append(run_pipeline(settings, bus, metrics, stop, once=True)),
        daemon=True,
    )
    worker.start()
    with Live(_progress(metrics), refresh_per_second=4) as live:
        while worker.is_alive():
            worker.join(timeout=0.25)
            live.update(_progress(metrics))
    bus.close()
    return outcome[0]


def _sample(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def _progress(metrics: Metrics) -> Table:
    table = Table("stage", "out", "dead-lettered", title="akhbar demo: running")
    for stage in STAGES:
        dead = sum(
            _by_label(metrics, "akhbar_messages_dead_lettered", "stage").get(stage, {}).values()
        )
        table.add_row(
            stage,
            str(int(_sample(metrics, "akhbar_messages_out_total", stage=stage))),
            str(int(dead)),
        )
    return table


def _by_label(metrics: Metrics, family: str, label: str) -> dict[str, dict[str, float]]:
    found: dict[str, dict[str, float]] = {}
    for metric in metrics.registry.collect():
        if metric.name != family:
            continue
        for sample in metric.samples:
            if sample.name.endswith("_total"):
                key = sample.labels.get(label, "")
                found.setdefault(key, {})[str(sample.labels)] = sample.value
    return found


def _errors_by_kind(metrics: Metrics, family: str) -> dict[str, int]:
    return {
        kind: int(sum(values.values()))
        for kind, values in _by_label(metrics, family, "kind").items()
    }


def _summary(metrics: Metrics, settings: Settings, feeds: int) -> Table:
    table = Table("", "", title="akhbar demo: summary")
    table.add_row("feeds polled", str(feeds))
    table.add_row("entries discovered", str(int(_sample(metrics, "akhbar_feed_new_entries_total"))))
    table.add_row(
        "pages cleaned", str(int(_sample(metrics, "akhbar_messages_out_total", stage="fetch")))
    )
    table.add_row(
        "articles stored", str(int(_sample(metrics, "akhbar_messages_out_total", stage="jsonl")))
    )
    for label, family in (
        ("feed errors", "akhbar_feed_poll_errors"),
        ("page errors", "akhbar_page_fetch_errors"),
    ):
        errors: Any = _errors_by_kind(metrics, family)
        table.add_row(label, ", ".join(f"{k}: {n}" for k, n in sorted(errors.items())) or "none")
    table.add_row("output", str(settings.sinks.jsonl.dir))
    table.add_row("dead letters", f"{settings.bus.embedded_path} (topic articles.discovered.dlq)")
    return table
