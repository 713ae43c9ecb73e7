"""Every benchmark in one run, one table: each figure beside its anchor from the same run.

    eval "$(scripts/services env)"
    python -m benchmarks ../shared/data/saudinewsnet [--articles 5000] [--quick] [--only e2e]

Sections (each reuses the benchmark script of its stage):

* e2e: feeds to searchable articles over Kafka and OpenSearch, every stage its own
  process (benchmarks/end_to_end.py): articles/s beside raw trafilatura on every
  core, latency p50/p95, and each stage process's peak RSS;
* ingest: feed polls/s beside raw httpx, pages cleaned/s beside raw trafilatura
  (benchmarks/ingest_throughput.py);
* normalize, enrich: articles/s on one core beside camel-tools anchors;
* sinks: JSON Lines and search sink articles/s beside a raw write and a raw bulk;
* bus: produce -> consume -> commit over Kafka beside kafka-python by hand.

Targets are those of the issues; "none" where no issue states one. A figure is
compared with its anchor only: the machine is shared, so absolute rates move from
run to run while the ratios hold better.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from akhbar.config import LogSettings  # noqa: E402
from akhbar.logs import configure_logging  # noqa: E402
from benchmarks import bus_throughput, end_to_end, ingest_throughput, sink_throughput  # noqa: E402
from benchmarks import enrich as enrich_benchmark  # noqa: E402
from benchmarks import normalize as normalize_benchmark  # noqa: E402
from benchmarks.feed_sites import FeedSites  # noqa: E402
from benchmarks.page_site import PageSite  # noqa: E402

SECTIONS = ("e2e", "ingest", "normalize", "enrich", "sinks", "bus")


@dataclass(frozen=True)
class Sizes:
    """How much work each section does: the full run, or a smoke test."""

    articles: int
    steady_s: float
    feeds: int
    normalize: int
    enrich: int
    jsonl: int
    search: int
    bus_scale: float


FULL = Sizes(5_000, 60.0, 10_000, 2_000, 1_000, 50_000, 20_000, 0.25)
QUICK = Sizes(100, 10.0, 500, 200, 100, 2_000, 1_000, 0.02)


@dataclass(frozen=True)
class Row:
    section: str
    figure: str
    value: str
    anchor: str = "-"
    ratio: str = "-"
    target: str = "none"


def ratio_row(
    section: str,
    figure: str,
    ours: float,
    anchor_name: str,
    anchor: float,
    target: str,
    unit: str = "/s",
) -> Row:
    return Row(
        section,
        figure,
        f"{ours:,.1f}{unit}",
        f"{anchor:,.1f}{unit} {anchor_name}",
        f"{ours / anchor:.2f}",
        target,
    )


def e2e_rows(
    data: Path,
    sizes: Sizes,
    kafka: str,
    opensearch: str,
    profile: Path | None,
    rate: float | None = None,
) -> list[Row]:
    result = end_to_end.run(
        data, sizes.articles, kafka, opensearch, sizes.steady_s, rate, 1, profile
    )
    for line in end_to_end.describe(result):
        print(line)
    before, after = result.raw_before_after
    anchor = (
        f"raw bare_extraction x{result.cores} processes (mean of {before:.1f} before, "
        f"{after:.1f} after)"
    )
    rows = [
        ratio_row(
            "e2e",
            f"feeds -> searchable, {result.searchable}/{result.articles} articles",
            result.articles_per_s,
            anchor,
            result.raw_pages_per_s,
            "none stated; anchor = ceiling",
        )
    ]
    found = f"{result.steady_searchable}/{result.steady_articles}"
    at = f"at {result.steady_rate:.1f} articles/s, {found}"
    for share, listed, fetched in (
        ("p50", result.latency_p50_s, result.fetched_p50_s),
        ("p95", result.latency_p95_s, result.fetched_p95_s),
    ):
        rows.append(
            Row(
                "e2e",
                f"latency {share} feed-listed -> searchable, {at}",
                f"{listed:.2f} s",
                f"{fetched:.2f} s of it fetched -> searchable; poll every "
                f"{end_to_end.FEED_POLL_INTERVAL_S:g} s",
            )
        )
    rows.extend(
        Row("e2e", f"peak RSS, {label} process", f"{mb:,.0f} MB")
        for label, mb in result.peak_rss_mb.items()
    )
    return rows


# Local sites the feeds of the polls benchmark are spread over, as ingest_throughput does.
INGEST_SITES = 8
# Processes serving those sites: one per core, so the sites are not the limit.
INGEST_SERVER_PROCESSES = 2


def ingest_rows(sizes: Sizes) -> list[Row]:
    site = PageSite(ingest_throughput.ARTICLES)
    site.start()
    feed_sites = FeedSites(INGEST_SITES, INGEST_SERVER_PROCESSES)
    try:
        polls, raw_polls, capacity = ingest_throughput.poll_rates(
            feed_sites.start(), sizes.feeds, ingest_throughput.MAX_PER_HOST
        )
        with tempfile.TemporaryDirectory() as scratch:
            rates = ingest_throughput.clean_rates(site, Path(scratch))
        cleaned, serial, step_only, raw = rates.stage, rates.serial, rates.step_only, rates.raw
        with tempfile.TemporaryDirectory() as scratch:
            two, raw_two, _site_share = ingest_throughput.two_process_rates(site, Path(scratch))
    finally:
        site.stop()
        feed_sites.stop()
    return [
        ratio_row(
            "ingest",
            f"feed polls (304), {sizes.feeds:,} feeds on {INGEST_SITES} local sites",
            polls,
            "raw httpx, client per host",
            raw_polls,
            ">= 1,000/s",
        ),
        ratio_row(
            "ingest",
            "  same, beside the sites' own capacity",
            polls,
            "minimal client",
            capacity,
            "ratio < 1",
        ),
        ratio_row(
            "ingest",
            "pages cleaned, fetch stage, 1 process",
            cleaned,
            "bare_extraction",
            raw,
            "ratio >= 0.9",
        ),
        ratio_row(
            "ingest",
            "  same, one page at a time",
            serial,
            "bare_extraction",
            raw,
            "-",
        ),
        ratio_row(
            "ingest",
            "clean_page alone (no HTTP, no bus)",
            step_only,
            "bare_extraction",
            raw,
            "-",
        ),
        ratio_row(
            "ingest",
            "pages cleaned, fetch stage, 2 processes",
            two,
            "bare_extraction x2",
            raw_two,
            "near-linear",
        ),
    ]


def normalize_rows(data: Path, sizes: Sizes) -> list[Row]:
    day = sorted(data.glob("*.zip"))[0]
    rate, anchor, count = normalize_benchmark.measure(day, sizes.normalize)
    return [
        ratio_row(
            "normalize",
            f"normalized articles, 1 core, {count:,} articles",
            rate,
            "camel-tools normalize_unicode+dediac_ar",
            anchor,
            ">= 2,000/s",
        )
    ]


def enrich_rows(data: Path, sizes: Sizes) -> list[Row]:
    articles, tokens, seconds = enrich_benchmark.measure(data, sizes.enrich)
    anchor = articles / seconds["tokenize (anchor)"]
    enriched = articles / seconds["enrich"]
    return [
        ratio_row(
            "enrich",
            f"enriched articles, 1 core, {articles:,} articles",
            enriched,
            "camel-tools simple_word_tokenize",
            anchor,
            ">= 200/s",
        ),
        Row(
            "enrich",
            "enriched tokens, 1 core",
            f"{tokens / seconds['enrich']:,.0f}/s",
            f"{tokens / seconds['tokenize (anchor)']:,.0f}/s tokenize",
            f"{seconds['tokenize (anchor)'] / seconds['enrich']:.2f}",
            ">= 50,000/s",
        ),
    ]


def sink_rows(sizes: Sizes, opensearch: str) -> list[Row]:
    figures = sink_throughput.measure(sizes.jsonl, sizes.search, opensearch)
    jsonl, raw_file = figures["jsonl"]
    search, raw_bulk = figures["search"]
    return [
        ratio_row(
            "sinks",
            f"JSON Lines sink, {sizes.jsonl:,} articles",
            jsonl,
            "raw write+fsync+rename",
            raw_file,
            ">= 20,000/s",
        ),
        ratio_row(
            "sinks",
            f"search sink, {sizes.search:,} articles",
            search,
            "raw helpers.bulk",
            raw_bulk,
            ">= 2,000/s",
        ),
    ]


def bus_rows(sizes: Sizes, kafka: str) -> list[Row]:
    ours, raw = bus_throughput.kafka_rates(kafka, "2 KB", sizes.bus_scale)
    count = max(100, int(bus_throughput.SIZES["2 KB"][1] * sizes.bus_scale))
    return [
        ratio_row(
            "bus",
            f"Kafka produce->consume->commit, {count:,} x 2 KB",
            ours,
            "kafka-python raw+json",
            raw,
            "ratio >= 0.90",
        )
    ]


def render(rows: list[Row], seconds: dict[str, float]) -> Table:
    took = ", ".join(f"{name} {s / 60:.1f} min" for name, s in seconds.items())
    table = Table(title=f"Akhbar benchmarks, one run ({took})", show_lines=False)
    for column in ("section", "figure", "akhbar", "anchor (same run)", "ratio", "target"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(row.section, row.figure, row.value, row.anchor, row.ratio, row.target)
    return table


@click.command()
@click.argument("data", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--articles", type=int, help="end-to-end articles (default 5,000; --quick 100)")
@click.option("--rate", type=float, help="e2e latency phase articles/s (default: half the burst's)")
@click.option("--quick", is_flag=True, help="small sizes: a smoke test of every section")
@click.option("--only", multiple=True, type=click.Choice(SECTIONS), help="run these sections")
@click.option(
    "--profile",
    type=click.Path(file_okay=False, path_type=Path),
    help="py-spy profiles of the end-to-end stage processes go here",
)
@end_to_end.services_options
def main(
    data: Path,
    articles: int | None,
    rate: float | None,
    quick: bool,
    only: tuple[str, ...],
    profile: Path | None,
    kafka: str,
    opensearch: str,
) -> None:
    """DATA: the SaudiNewsNet folder (daily zips). Prints one table of every figure."""
    configure_logging(LogSettings(level="ERROR", format="console"))
    end_to_end.exit_on_sigterm()
    # kafka-python warns of every slow event-loop task on a loaded machine; the
    # table is what this prints.
    logging.getLogger("kafka").setLevel(logging.ERROR)
    # The index watcher's searches of a monthly index whose shards are starting
    # answer 503 for a moment; the watcher expects it.
    logging.getLogger("opensearch").setLevel(logging.ERROR)
    sizes = QUICK if quick else FULL
    if articles is not None:
        sizes = replace(sizes, articles=articles)
    sections: dict[str, Callable[[], list[Row]]] = {
        "e2e": lambda: e2e_rows(data, sizes, kafka, opensearch, profile, rate),
        "ingest": lambda: ingest_rows(sizes),
        "normalize": lambda: normalize_rows(data, sizes),
        "enrich": lambda: enrich_rows(data, sizes),
        "sinks": lambda: sink_rows(sizes, opensearch),
        "bus": lambda: bus_rows(sizes, kafka),
    }
    rows: list[Row] = []
    seconds: dict[str, float] = {}
    for name in only or SECTIONS:
        started = time.monotonic()
        rows.extend(sections[name]())
        seconds[name] = time.monotonic() - started
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    Console(width=160).print(render(rows, seconds))
    print(f"{os.cpu_count()} cores; load average at the end {load}")
    print(f"run total {math.fsum(seconds.values()) / 60:.1f} min")


if __name__ == "__main__":
    main()
