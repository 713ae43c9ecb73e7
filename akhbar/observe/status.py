"""`akhbar status`: a terminal view of a running process and of feed health.

Two sources, each named above its table:

* the stages (in, out, dead-lettered, lag, throughput) come from the running
  process's /metrics (`--url`, default: `metrics.address` from the settings);
  throughput is the rate of `out` between two scrapes;
* the feeds that fail or have gone quiet, each with its last error, come from
  the pollers' `feeds.state` table on the configured bus (and the fetch stage's
  page-error file, `ingest.state_path`).

Either source may be unavailable; the view says so and shows the other. With
`--once` it prints one snapshot (two scrapes SAMPLE_S apart, for the rates) and
exits 1 only when neither source could be read; without it, it refreshes until
Ctrl-C.
"""

from __future__ import annotations

import sqlite3
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field

import click
import httpx
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from akhbar.config import Settings, load_settings
from akhbar.errors import AkhbarError
from akhbar.observe.feeds import (
    FeedHealth,
    count_by_state,
    feed_state_source,
    read_feed_health,
)
from akhbar.observe.page import ago
from akhbar.observe.server import parse_address
from akhbar.pipeline import STAGE_NAMES

# Seconds between the two scrapes of `--once`: long enough for a rate, short for a command.
SAMPLE_S = 1.0
SCRAPE_TIMEOUT_S = 3.0
EXIT_UNAVAILABLE = 1
# Where to look when the settings name no address: the README's example.
DEFAULT_ADDRESS = "127.0.0.1:9464"


@dataclass
class StageFigures:
    messages_in: float = 0.0
    messages_out: float = 0.0
    dead_lettered: float = 0.0
    dropped: float = 0.0
    lag: float = 0.0
    out_per_s: float | None = None


@dataclass
class Snapshot:
    """One scrape of /metrics, reduced to what the view shows."""

    taken_at: float
    stages: dict[str, StageFigures] = field(default_factory=dict)


def scrape(url: str) -> Snapshot:
    """The process's figures by stage; raises httpx.HTTPError when it does not answer."""
    response = httpx.get(url, timeout=SCRAPE_TIMEOUT_S, trust_env=False)
    response.raise_for_status()
    stages: defaultdict[str, StageFigures] = defaultdict(StageFigures)
    fields = {
        "akhbar_messages_in_total": "messages_in",
        "akhbar_messages_out_total": "messages_out",
        "akhbar_messages_dead_lettered_total": "dead_lettered",
        "akhbar_messages_dropped_total": "dropped",
        "akhbar_consumer_lag": "lag",
    }
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            name = fields.get(sample.name)
            stage = sample.labels.get("stage")
            if name is not None and stage is not None:
                figures = stages[stage]
                setattr(figures, name, getattr(figures, name) + sample.value)
    return Snapshot(time.time(), dict(stages))


def with_rates(current: Snapshot, previous: Snapshot | None) -> Snapshot:
    if previous is None or current.taken_at <= previous.taken_at:
        return current
    seconds = current.taken_at - previous.taken_at
    for stage, figures in current.stages.items():
        before = previous.stages.get(stage)
        if before is not None:
            figures.out_per_s = max(0.0, figures.messages_out - before.messages_out) / seconds
    return current


def stages_table(url: str, snapshot: Snapshot | None, error: str | None) -> Table | Text:
    if snapshot is None:
        return Text(f"Stages: {url} unavailable: {error}", style="bold red")
    table = Table(title=f"Stages (from {url})", title_justify="left")
    for column in ("stage", "in", "out", "dead-lettered", "dropped", "lag", "out/s"):
        table.add_column(column, justify="left" if column == "stage" else "right")
    order = {name: i for i, name in enumerate(STAGE_NAMES)}
    for stage in sorted(snapshot.stages, key=lambda s: (order.get(s, len(order)), s)):
        f = snapshot.stages[stage]
        rate = "-" if f.out_per_s is None else f"{f.out_per_s:.1f}"
        dead = Text(str(int(f.dead_lettered)), style="red" if f.dead_lettered else "")
        table.add_row(
            stage,
            str(int(f.messages_in)),
            str(int(f.messages_out)),
            dead,
            str(int(f.dropped)),
            str(int(f.lag)),
            rate,
        )
    return table


def feeds_table(state: str, feeds: list[FeedHealth] | None, error: str | None) -> Table | Text:
    if feeds is None:
        return Text(f"Feeds: {state} unavailable: {error}", style="bold red")
    counts = count_by_state(feeds)
    summary = ", ".join(f"{n} {name}" for name, n in counts.items())
    table = Table(
        title=f"Feeds that fail or went quiet (from {state}): {summary}", title_justify="left"
    )
    for column in ("feed", "state", "streak", "last success", "last item", "last error"):
        table.add_column(column, overflow="fold")
    now = time.time()
    for feed in feeds:
        if feed.state == "ok":
            continue
        table.add_row(
            feed.label,
            Text(feed.state, style="bold red" if feed.state == "failing" else "yellow"),
            str(feed.error_streak),
            ago(feed.last_success, now),
            ago(feed.last_item, now),
            feed.last_error or feed.last_page_error or "",
        )
    return table


def metrics_url(address: str | None) -> str:
    """Where a process serving on `address` answers; a wildcard host is reached on loopback."""
    host, port = parse_address(address or DEFAULT_ADDRESS)
    if host in ("0.0.0.0", "::"):
        host = "127.0.0.1"
    return f"http://[{host}]:{port}/metrics" if ":" in host else f"http://{host}:{port}/metrics"


def read_feeds(settings: Settings) -> tuple[list[FeedHealth] | None, str | None]:
    try:
        return read_feed_health(settings), None
    except (AkhbarError, ValueError, sqlite3.Error) as exc:
        return None, str(exc)


def take_view(
    url: str, settings: Settings, previous: Snapshot | None
) -> tuple[Group, Snapshot | None, bool]:
    """The view, the snapshot for the next rate, and whether any source answered."""
    snapshot: Snapshot | None = None
    error = None
    try:
        snapshot = with_rates(scrape(url), previous)
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"
    feeds, feeds_error = read_feeds(settings)
    source = feed_state_source(settings)
    view = Group(stages_table(url, snapshot, error), feeds_table(source, feeds, feeds_error))
    return view, snapshot, snapshot is not None or feeds is not None


@click.command()
@click.option("--url", help="The process's /metrics (default: from metrics.address).")
@click.option("--once", is_flag=True, help="Print one snapshot and exit.")
@click.option("--interval", default=2.0, show_default=True, help="Seconds between refreshes.")
@click.pass_context
def status(ctx: click.Context, url: str | None, once: bool, interval: float) -> None:
    """Stages (from a running process's /metrics) and failing or quiet feeds (feed state)."""
    try:
        settings = load_settings(ctx.find_root().obj)
    except AkhbarError as exc:
        click.echo(f"akhbar: {exc}", err=True)
        sys.exit(2)
    url = url or metrics_url(settings.metrics.address)
    console = Console()
    if once:
        _, first, _ = take_view(url, settings, None)
        time.sleep(SAMPLE_S if first is not None else 0)
        view, _, answered = take_view(url, settings, first)
        console.print(view)
        if not answered:
            sys.exit(EXIT_UNAVAILABLE)
        return
    _watch(console, url, settings, interval)


def _watch(console: Console, url: str, settings: Settings, interval: float) -> None:
    view, previous, _ = take_view(url, settings, None)
    with Live(view, console=console, refresh_per_second=4, screen=False) as live:
        try:
            while True:
                time.sleep(interval)
                view, snapshot, _ = take_view(url, settings, previous)
                previous = snapshot or previous
                live.update(view)
        except KeyboardInterrupt:
            return
