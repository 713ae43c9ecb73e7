"""Ingest speed: feed polls per second, and pages cleaned per second, each beside an anchor.

1. Polls: N feeds spread over H local sites (one host:port each, so the
   per-host limit `--per-host` applies per site as it would per outlet), served
   by `--server-processes` processes of benchmarks/feed_sites.py, polled once to
   store their validators, then polled again by FeedPoller.read(), when they
   all answer 304 (their new states encoded, as a poller round does). Anchors,
   same run: raw httpx.AsyncClient (one per host) sending the same N
   conditional GETs with the same limits (per host and in total), doing
   nothing else; and the sites' own capacity: a minimal client sending those
   GETs on the poller's number of kept-alive connections, as fast as they are
   answered.
2. Cleaning: the SaudiNewsNet sample pages (in news-site chrome, each
   PAGE_COPIES times under its own URL) go through the fetch stage (StageRunner
   on the embedded bus: fetch from the local site, decode, trafilatura, date,
   dedup) into articles.cleaned, with the stage's settings (chunks of pages
   downloaded concurrently, then cleaned back to back) and, as a second row,
   with one download at a time. Anchor, same run: `trafilatura.bare_extraction`
   on the same HTML already in memory. A third row times `clean_page` alone on
   that HTML: the stage runs trafilatura's own extractor first and compares it with
   the fallback extractors only on pages where it finds little (ingest.clean), so
   cleaning alone costs less than the anchor's full cascade (same text on all the
   sample pages); a fourth row gives the stage beside clean_page alone, the cost of
   fetching, the bus and the runner. On a shared machine, where other work takes the cores away at
   moments, the stage's run is also given in pages per CPU-second of the
   benchmark's process beside raw bare_extraction's (a check, not the target).
   Then two processes, each with its own embedded bus and half the pages, beside
   two processes of raw bare_extraction on the same halves. The pages come from
   benchmarks/page_site.py, a process serving pre-encoded responses: on a 2-core
   machine it still competes with the stage, so the share of a core it used
   during each stage row is printed with the row.

    python benchmarks/ingest_throughput.py [--feeds 10000] [--hosts 8] [--repeat 3]
        [--server-processes 2]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import trafilatura
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from akhbar.article import Article  # noqa: E402
from akhbar.bus import open_bus  # noqa: E402
from akhbar.config import (  # noqa: E402
    BusSettings,
    IngestSettings,
    LogSettings,  # noqa: E402
    RunnerSettings,
    Settings,
)
from akhbar.logs import configure_logging  # noqa: E402
from akhbar.metrics import Metrics  # noqa: E402
from akhbar.runner import StageRunner  # noqa: E402
from akhbar.topics import Topics  # noqa: E402
from benchmarks.feed_sites import FeedSites, server_capacity  # noqa: E402
from benchmarks.page_site import PageSite  # noqa: E402
from ingest.clean import clean_page  # noqa: E402
from ingest.feeds import Feed  # noqa: E402
from ingest.fixture_server import article_page, load_saudinewsnet  # noqa: E402
from ingest.poller import MAX_CONCURRENT, MAX_PER_HOST, FeedPoller  # noqa: E402
from ingest.stage import fetch_stage  # noqa: E402
from ingest.state import encode_state  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ARTICLES = ROOT / "examples" / "saudinewsnet-sample.jsonl"
SAMPLE_ARTICLES = len(ARTICLES.read_text(encoding="utf-8").splitlines())


def poll_rates(bases: list[str], count: int, per_host: int) -> tuple[float, float, float]:
    """(poller, raw httpx, the sites' capacity) in polls/s over `count` feeds that answer 304."""
    feeds = [Feed(url=f"{bases[n % len(bases)]}/bench/{n}.xml") for n in range(count)]
    poller = FeedPoller(feeds, allow_hosts=("127.0.0.1",), once=True, max_per_host=per_host)
    while not poller.exhausted:  # the first round stores ETags
        poller.read(count)
    poller.take_states()
    poller.once, poller._polled_once = True, set()
    etags = {url: state.etag or "" for url, state in poller.states.items()}
    started = time.perf_counter()
    while not poller.exhausted:
        poller.read(count)
        # A poller round publishes each polled feed's state: its encoding is part of a poll.
        for state in poller.take_states():
            encode_state(state)
    ours = count / (time.perf_counter() - started)
    statuses = {state.last_status for state in poller.states.values()}
    poller.close()
    assert statuses == {304}, statuses
    raw = count / asyncio.run(_raw_polls(etags, per_host))
    return ours, raw, server_capacity(etags, per_host)


async def _raw_polls(etags: dict[str, str], per_host: int) -> float:
    """Seconds for plain httpx to send the GETs with the poller's limits, per host
    (host:port) and in total. One client per host, its pool sized to the per-host
    limit: one client for all hosts is slower still (httpcore's pool rescans every
    connection it holds for each request)."""
    limits = httpx.Limits(max_connections=per_host, max_keepalive_connections=per_host)
    hosts = {url.split("/")[2] for url in etags}
    clients = {
        host: httpx.AsyncClient(limits=limits, timeout=30, trust_env=False) for host in hosts
    }
    overall = asyncio.Semaphore(MAX_CONCURRENT)
    gates = {host: asyncio.Semaphore(per_host) for host in hosts}

    async def one(url: str, etag: str) -> int:
        host = url.split("/")[2]
        async with overall, gates[host]:
            response = await clients[host].get(url, headers={"If-None-Match": etag})
            return response.status_code

    started = time.perf_counter()
    codes = await asyncio.gather(*(one(url, etag) for url, etag in etags.items()))
    elapsed = time.perf_counter() - started
    for client in clients.values():
        await client.aclose()
    assert set(codes) == {304}, set(codes)
    return elapsed


@dataclass(frozen=True)
class CleanRates:
    """Pages/s of the fetch stage (as configured, then one page at a time in its own
    thread), of clean_page alone and of raw bare_extraction; and the share of one
    core the page site used while the stage (as configured) ran."""

    stage: float
    serial: float
    step_only: float
    raw: float
    site_core_share: float
    # Pages per CPU-second of this process: the stage's run, and raw bare_extraction.
    stage_per_cpu_s: float
    raw_per_cpu_s: float


def clean_rates(site: PageSite, scratch: Path) -> CleanRates:
    """The cleaning rates of one process, each figure from this one run."""
    pages = _pages()
    started, cpu = time.perf_counter(), time.process_time()
    _raw_extract(pages)
    raw = len(pages) / (time.perf_counter() - started)
    raw_cpu = time.process_time() - cpu
    discovered = Article.create(f"{site.base_url}/news/0")
    started = time.perf_counter()
    for page in pages:
        clean_page(page, discovered.url, discovered)
    step_only = len(pages) / (time.perf_counter() - started)
    (scratch / "stage").mkdir()
    site_cpu = site.cpu_seconds()
    stage_cpu: list[float] = []
    first, last = _run_stage(
        site.base_url, scratch / "stage", range(len(pages)), cpu_used=stage_cpu
    )
    site_share = (site.cpu_seconds() - site_cpu) / (last - first)
    (scratch / "serial").mkdir()
    serial = _run_stage(site.base_url, scratch / "serial", range(len(pages)), SERIAL)
    return CleanRates(
        len(pages) / (last - first),
        len(pages) / (serial[1] - serial[0]),
        step_only,
        raw,
        site_share,
        len(pages) / stage_cpu[0],
        len(pages) / raw_cpu,
    )


# One download at a time: what the stage's concurrent downloads are worth.
SERIAL = {"fetch_concurrency": 1, "clean_processes": 0}


# Each sample page is cleaned this many times (under distinct URLs): a run of a few
# seconds, so the stage's start and its drain weigh little beside the work (at 4
# copies, the 0.2 s of the last idle poll alone was a fifth of a run).
PAGE_COPIES = 10
# How long the stage's last poll waits before it finds the input drained. A stage
# that runs on never pays this; the runner's default (0.2 s) would be measured as
# if it were cleaning.
DRAIN_POLL_S = 0.02


def _pages() -> list[str]:
    pages = [article_page(a, str(n)) for n, a in enumerate(load_saudinewsnet(ARTICLES))]
    return pages * PAGE_COPIES


def _page_url(base_url: str, n: int, articles: int) -> str:
    """Page n of the copies: the site's article n % articles, under a URL of its own."""
    return f"{base_url}/news/{n % articles}?copy={n // articles}"


def _raw_extract(pages: list[str]) -> None:
    for page in pages:
        trafilatura.bare_extraction(page, with_metadata=True)


def _run_stage(
    base_url: str,
    scratch: Path,
    numbers: range,
    options: dict[str, int] | None = None,
    ready: Any = None,
    cpu_used: list[float] | None = None,
) -> tuple[float, float]:
    """Run the fetch stage over the site's articles `numbers`; (start, end) wall-clock times.
    The CPU time this process spent in the run is appended to `cpu_used` if given."""
    settings = Settings(
        bus=BusSettings(backend="embedded", embedded_path=scratch / "bus.sqlite3"),
        runner=RunnerSettings(commit_interval_s=1.0, poll_timeout_s=DRAIN_POLL_S),
        ingest=IngestSettings.model_validate(
            {
                "allow_hosts": ["127.0.0.1"],
                "host_spacing_s": 0,
                "state_path": scratch / "feeds.sqlite3",
                # Every page is on the one local site.
                "fetch_max_per_host": IngestSettings().fetch_concurrency,
                **(options or {}),
            }
        ),
    )
    bus = open_bus(settings.bus)
    topics = Topics()
    bus.ensure_topics(topics.all())
    producer = bus.producer()
    for n in numbers:
        discovered = Article.create(_page_url(base_url, n, SAMPLE_ARTICLES))
        producer.send(topics.discovered, discovered.to_bytes(), key=discovered.id.encode())
    producer.flush()
    producer.close()
    drained = threading.Event()
    drained.set()
    stage = StageRunner(bus, fetch_stage(settings), settings.runner, Metrics())
    if ready is not None:
        ready.wait()  # the other process is set up too: start together
    started, cpu = time.time(), time.process_time()
    stats = stage.run(drain_after=drained)
    ended = time.time()
    if cpu_used is not None:
        cpu_used.append(time.process_time() - cpu)
    bus.close()
    assert stats.produced == len(numbers), stats
    return started, ended


def _stage_worker(base_url: str, numbers: range, scratch: str, ready: Any, spans: Any) -> None:
    configure_logging(LogSettings(level="ERROR", format="console"))  # a spawned process
    spans.put(_run_stage(base_url, Path(scratch), numbers, ready=ready))


def _raw_worker(pages: list[str], ready: Any, spans: Any) -> None:
    ready.wait()
    started = time.time()
    _raw_extract(pages)
    spans.put((started, time.time()))


def _in_two_processes(target: Any, args: list[tuple[Any, ...]]) -> list[tuple[float, float]]:
    """Run target(*args[i], queue) in two processes (not daemonic: the stage starts
    its own cleaning workers; spawned, not forked from a process whose fork server
    is running); their (start, end) times, taken inside the processes."""
    context = multiprocessing.get_context("spawn")
    spans = context.Queue()
    # Spawned processes take seconds to import; they start timing together.
    ready = context.Barrier(len(args))
    workers = [context.Process(target=target, args=(*a, ready, spans)) for a in args]
    for worker in workers:
        worker.start()
    found = [spans.get(timeout=600) for _ in workers]
    for worker in workers:
        worker.join()
    return found


def two_process_rates(site: PageSite, scratch: Path) -> tuple[float, float, float]:
    """Pages/s with two processes, each on half the pages: the stage (each on its own
    embedded bus) and raw bare_extraction; from the first start to the last end. The
    third figure is the share of one core the page site used over the stage's span
    (its CPU counted from before the processes start, when it is idle)."""
    pages = _pages()
    half = len(pages) // 2
    halves = [range(0, half), range(half, len(pages))]
    dirs = [scratch / "a", scratch / "b"]
    for directory in dirs:
        directory.mkdir()
    site_cpu = site.cpu_seconds()
    spans = _in_two_processes(
        _stage_worker, [(site.base_url, h, str(d)) for h, d in zip(halves, dirs, strict=True)]
    )
    site_cpu = site.cpu_seconds() - site_cpu
    span = max(e for _, e in spans) - min(s for s, _ in spans)
    stage = len(pages) / span
    spans = _in_two_processes(_raw_worker, [(pages[:half],), (pages[half:],)])
    raw = len(pages) / (max(e for _, e in spans) - min(s for s, _ in spans))
    return stage, raw, site_cpu / span


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=10_000)
    parser.add_argument("--hosts", type=int, default=8, help="local sites the feeds are on")
    parser.add_argument("--per-host", type=int, default=MAX_PER_HOST, help="polls per host")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--server-processes", type=int, default=2, help="processes serving the polled feeds"
    )
    parser.add_argument("--skip", choices=["polls", "cleaning"], action="append", default=[])
    args = parser.parse_args()
    configure_logging(LogSettings(level="ERROR", format="console"))
    table = Table("run", "what", "akhbar /s", "anchor /s", "ratio")
    site = PageSite(ARTICLES)
    site.start()
    feed_sites = FeedSites(args.hosts, args.server_processes)
    feed_bases = feed_sites.start() if "polls" not in args.skip else []
    try:
        for run in range(1, args.repeat + 1):
            if "polls" not in args.skip:
                ours, anchor, capacity = poll_rates(feed_bases, args.feeds, args.per_host)
                what = (
                    f"feed polls (304), {args.feeds} feeds on {args.hosts} hosts, "
                    f"{args.per_host} per host"
                )
                table.add_row(
                    str(run),
                    what,
                    f"{ours:,.0f}",
                    f"{anchor:,.0f} raw httpx, client per host",
                    f"{ours / anchor:.2f}",
                )
                table.add_row(
                    str(run),
                    f"  the sites' capacity ({args.server_processes} processes)",
                    f"{ours:,.0f}",
                    f"{capacity:,.0f} minimal client",
                    f"{ours / capacity:.2f}",
                )
            if "cleaning" in args.skip:
                continue
            with tempfile.TemporaryDirectory() as scratch:
                rates = clean_rates(site, Path(scratch))
                anchor = rates.raw
                table.add_row(
                    str(run),
                    f"pages cleaned, 1 process (site: {rates.site_core_share:.0%} of a core)",
                    f"{rates.stage:,.1f}",
                    f"{anchor:,.1f} bare_extraction",
                    f"{rates.stage / anchor:.2f}",
                )
                table.add_row(
                    str(run),
                    "  same, pages per CPU-second of the process (shared-machine check)",
                    f"{rates.stage_per_cpu_s:,.1f}",
                    f"{rates.raw_per_cpu_s:,.1f} bare_extraction",
                    f"{rates.stage_per_cpu_s / rates.raw_per_cpu_s:.2f}",
                )
                table.add_row(
                    str(run),
                    "  same, one download at a time",
                    f"{rates.serial:,.1f}",
                    f"{anchor:,.1f} bare_extraction",
                    f"{rates.serial / anchor:.2f}",
                )
                table.add_row(
                    str(run),
                    "clean_page alone (no HTTP, no bus)",
                    f"{rates.step_only:,.1f}",
                    f"{anchor:,.1f} bare_extraction",
                    f"{rates.step_only / anchor:.2f}",
                )
                table.add_row(
                    str(run),
                    "  the stage's own cost: 1 process beside clean_page alone",
                    f"{rates.stage:,.1f}",
                    f"{rates.step_only:,.1f} clean_page",
                    f"{rates.stage / rates.step_only:.2f}",
                )
            with tempfile.TemporaryDirectory() as scratch:
                ours, anchor, site_share = two_process_rates(site, Path(scratch))
                table.add_row(
                    str(run),
                    f"pages cleaned, 2 processes (site: {site_share:.0%} of a core)",
                    f"{ours:,.1f}",
                    f"{anchor:,.1f} bare_extraction x2",
                    f"{ours / anchor:.2f}",
                )
                table.add_row(
                    str(run),
                    "  2 processes beside 1 (linear: 2)",
                    f"{ours:,.1f}",
                    f"{rates.stage:,.1f} 1 process",
                    f"{ours / rates.stage:.2f}",
                )
    finally:
        site.stop()
        feed_sites.stop()
        Console().print(table)  # what was measured, even when a later step failed


if __name__ == "__main__":
    main()
