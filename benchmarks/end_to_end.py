"""End to end over Kafka and OpenSearch: feed entries to searchable articles, beside trafilatura.

    AKHBAR_TEST_KAFKA=127.0.0.1:19092 AKHBAR_TEST_OPENSEARCH=http://127.0.0.1:19200 \
        python benchmarks/end_to_end.py ../shared/data/saudinewsnet [--articles 5000]

Real SaudiNewsNet articles are published on FEEDS local news sites (the fixture
server, one per feed: RSS feed plus article pages in news-site chrome, so
trafilatura has the real work of cutting the article out). Every stage runs as
its own process, `akhbar stage NAME`, over the Kafka broker, into the JSON Lines
files and an OpenSearch index of its own (unique topic prefix and index name).

* Warm-up: a few articles go through first, so that consumer groups have joined
  and models are loaded before anything is timed.
* Throughput: N articles are published at once; articles/s = N / (time from the
  publication to the moment the last of them is searchable).
* Latency: then articles are published at a steady rate (half the throughput just
  measured, unless --rate says otherwise) for --steady-s seconds. An article's
  latency runs from the moment its feed starts listing it to the first index
  search that finds it (the index is searched every INDEX_POLL_S seconds), so it
  holds the poll interval, the pipeline and the index refresh. The part from its
  fetch (`fetched_at` in `_source`) to searchable is printed beside it.
* Memory: the peak RSS (VmHWM) of each stage's process at the end.
* Anchor, same run, same machine: raw `trafilatura.bare_extraction` of the same
  pages in as many processes as there are cores, the least any pipeline that
  cleans pages does, so its rate is the pipeline's ceiling. It is measured just
  before the pipeline starts and just after it stops; the figure is compared with
  the mean of the two, and both are printed (on a shared machine they differ).
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

import click
import trafilatura
import yaml
from opensearchpy import OpenSearch, TransportError

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from akhbar.article import article_id  # noqa: E402
from ingest.fixture_server import FixtureServer, SiteArticle, article_page  # noqa: E402
from sinks.index import alias_name  # noqa: E402

STAGES = ("poller", "fetch", "normalize", "enrich", "jsonl", "search")
# Each feed is its own local site (its own host:port), as outlets are. With this
# many, a feed lists about 50 entries at the end of a 5,000-article run, as real
# outlets' feeds do (a changed feed is parsed whole at each poll).
FEEDS = 100
# Pinned per feed (production adapts it between 2 min and 24 h): short, so that
# the pipeline more than the schedule shows in the latency; not shorter, because
# at 100 polls/s (200 feeds every 2 s) the poller alone took a core of the two.
FEED_POLL_INTERVAL_S = 3.0
# How often the index is searched for new articles: the resolution of a latency.
INDEX_POLL_S = 0.25
WARMUP_ARTICLES = 10
# First start: Kafka groups join and the entity model loads within this.
WARMUP_TIMEOUT_S = 300.0
# A run gives up on the articles still missing after this long without progress.
STALL_TIMEOUT_S = 120.0
# A stage asked to stop finishes, flushes and commits within this, or is killed.
STOP_TIMEOUT_S = 30.0
# An ids query may return at most this many hits (the engine's max_result_window).
IDS_PER_SEARCH = 10_000
# What a search answers while a just-created index's shards start.
SHARDS_STARTING = 503
# SaudiNewsNet's times are Riyadh local time.
RIYADH = timezone(timedelta(hours=3))


def load_site_articles(folder: Path, count: int) -> list[SiteArticle]:
    """`count` SaudiNewsNet articles with text, in file order, as the fixture site serves them."""
    articles: list[SiteArticle] = []
    for archive in sorted(folder.glob("*.zip")):
        with zipfile.ZipFile(archive) as zipped:
            for name in zipped.namelist():
                for item in json.loads(zipped.read(name)):
                    if item.get("content") and item.get("title"):
                        articles.append(_site_article(item))
                    if len(articles) >= count:
                        return articles
    if len(articles) < count:
        raise click.UsageError(f"{folder} holds only {len(articles)} articles with text")
    return articles


def _site_article(item: dict[str, str]) -> SiteArticle:
    published = datetime.fromisoformat(item["date_extracted"]).replace(tzinfo=RIYADH)
    return SiteArticle(
        title=item["title"],
        text=item["content"],
        published=published,
        author=item.get("author") or "",
        summary=item["content"][:160],
    )


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set (VmHWM), in MB; 0 once it has exited."""
    return _status_kb(pid, "VmHWM") / 1024


def rss_mb(pid: int) -> float:
    """The process's resident set now (VmRSS), in MB; 0 once it has exited."""
    return _status_kb(pid, "VmRSS") / 1024


def _status_kb(pid: int, key: str) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return float(line.split()[1])
    except OSError:
        pass
    return 0.0


class NewsSites:
    """FEEDS fixture sites, one feed each; articles are published round robin."""

    def __init__(self, feeds: int) -> None:
        self.sites = [FixtureServer([]) for _ in range(feeds)]
        self._next = 0

    def start(self) -> list[str]:
        """The feeds' URLs."""
        urls = [f"{site.start()}/feeds/news.xml" for site in self.sites]
        for site in self.sites:
            # One request per connection: the poller's next request on a kept-alive
            # connection to the fixture site fails with ReadError in about one poll
            # in ten, and each failure backs the feed off for 2 min (docs/performance.md).
            site._server.RequestHandlerClass.protocol_version = "HTTP/1.0"  # type: ignore[union-attr]
        return urls

    def stop(self) -> None:
        for site in self.sites:
            site.stop()

    def publish(self, article: SiteArticle) -> tuple[str, float]:
        """Publish on the next site; (article id, when its feed started listing it)."""
        site = self.sites[self._next % len(self.sites)]
        self._next += 1
        number = len(site.site.articles)
        site.publish(article)
        return article_id(f"{site.base_url}/news/{number}"), time.time()


@dataclass
class Seen:
    """When an article was first found in the index, and when it was fetched."""

    searchable: float
    fetched: float


class IndexWatcher:
    """Searches the pipeline's index for articles not found yet."""

    def __init__(self, url: str, index_prefix: str) -> None:
        self.client = OpenSearch(hosts=[url], timeout=60)
        self.pattern = f"{alias_name(index_prefix)}-*"

    def find(self, pending: Sequence[str]) -> dict[str, Seen]:
        found: dict[str, Seen] = {}
        for start in range(0, len(pending), IDS_PER_SEARCH):
            batch = list(pending[start : start + IDS_PER_SEARCH])
            try:
                response = self.client.search(
                    index=self.pattern,
                    body={"query": {"ids": {"values": batch}}, "_source": ["fetched_at"]},
                    params={"size": len(batch), "allow_no_indices": "true"},
                )
            except TransportError as exc:
                if exc.status_code != SHARDS_STARTING:
                    raise
                continue  # a new monthly index whose shards are not started yet
            now = time.time()
            for hit in response["hits"]["hits"]:
                fetched = datetime.fromisoformat(hit["_source"]["fetched_at"]).timestamp()
                found[hit["_id"]] = Seen(now, fetched)
        return found

    def wait_for(
        self, ids: Sequence[str], pipeline: StageProcesses, stall_s: float = STALL_TIMEOUT_S
    ) -> dict[str, Seen]:
        """Search until every id is found or nothing new is found for `stall_s` seconds."""
        seen: dict[str, Seen] = {}
        pending = list(ids)
        last_progress = time.monotonic()
        while pending and time.monotonic() - last_progress < stall_s:
            pipeline.check_alive()
            found = self.find(pending)
            if found:
                seen.update(found)
                pending = [i for i in pending if i not in seen]
                last_progress = time.monotonic()
            time.sleep(INDEX_POLL_S)
        return seen

    def drop(self, index_prefix: str) -> None:
        self.client.indices.delete(index=self.pattern, ignore_unavailable=True)
        self.client.indices.delete_index_template(name=alias_name(index_prefix), ignore=[404])
        self.client.close()


@dataclass
class StageProcesses:
    """One `akhbar stage NAME` process per stage, all on one settings file."""

    config: Path
    logs: Path
    fetch_processes: int = 1
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        for stage in STAGES:
            copies = self.fetch_processes if stage == "fetch" else 1
            for copy in range(copies):
                label = stage if copies == 1 else f"{stage}-{copy + 1}"
                log = (self.logs / f"{label}.log").open("wb")
                self.processes[label] = subprocess.Popen(
                    [sys.executable, "-m", "akhbar", "--config", str(self.config), "stage", stage],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )

    def check_alive(self) -> None:
        for label, process in self.processes.items():
            if process.poll() is not None:
                tail = (self.logs / f"{label}.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"stage {label} exited with {process.returncode}:\n{tail}")

    def peak_rss_mb(self) -> dict[str, float]:
        return {label: peak_rss_mb(p.pid) for label, p in self.processes.items()}

    def rss_mb(self) -> dict[str, float]:
        return {label: rss_mb(p.pid) for label, p in self.processes.items()}

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for process in self.processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def write_settings(workdir: Path, feeds: list[str], kafka: str, opensearch: str) -> Path:
    """A settings file for a pipeline of its own: topic prefix, index, state files."""
    feed_list = workdir / "feeds.yaml"
    entries = [
        {"url": url, "name": f"site{n}", "interval_s": FEED_POLL_INTERVAL_S}
        for n, url in enumerate(feeds)
    ]
    feed_list.write_text(yaml.safe_dump({"feeds": entries}), encoding="utf-8")
    unique = uuid.uuid4().hex[:8]
    settings = {
        "bus": {"kafka": {"bootstrap_servers": [kafka]}, "topic_prefix": f"bench{unique}."},
        "ingest": {
            "feeds": str(feed_list),
            "state_path": str(workdir / "feeds.sqlite3"),
            "allow_hosts": ["127.0.0.1"],
            # Every site is on 127.0.0.1: the 1 s politeness spacing would make this a
            # benchmark of the spacing.
            "host_spacing_s": 0,
        },
        "sinks": {
            "jsonl": {"dir": str(workdir / "articles")},
            "search": {"enabled": True, "hosts": [opensearch], "index_prefix": f"bench-{unique}"},
        },
        "enrich": {"stories_path": str(workdir / "stories.sqlite")},
        "archive": {"state_path": str(workdir / "archive-state.json")},
        "log": {"level": "WARNING", "format": "json"},
    }
    path = workdir / "settings.yaml"
    path.write_text(yaml.safe_dump(settings), encoding="utf-8")
    return path


def index_prefix_of(config: Path) -> str:
    return str(yaml.safe_load(config.read_text())["sinks"]["search"]["index_prefix"])


@dataclass
class Pipeline:
    """The sites, the stage processes and the index watcher of one run."""

    sites: NewsSites
    stages: StageProcesses
    watcher: IndexWatcher
    workdir: Path

    def publish(self, articles: Sequence[SiteArticle]) -> dict[str, float]:
        return dict(self.sites.publish(article) for article in articles)

    def publish_steadily(
        self, articles: Sequence[SiteArticle], rate: float
    ) -> tuple[dict[str, float], dict[str, Seen]]:
        """Publish at `rate` articles/s on a schedule that does not drift, searching the
        index for what was published meanwhile; (publication times, what was found)."""
        published: dict[str, float] = {}
        seen: dict[str, Seen] = {}
        started = time.monotonic()
        next_search = started + INDEX_POLL_S
        for n, article in enumerate(articles):
            while (due := started + n / rate) > time.monotonic():
                if time.monotonic() >= next_search:
                    seen.update(self.watcher.find([i for i in published if i not in seen]))
                    next_search = time.monotonic() + INDEX_POLL_S
                time.sleep(max(0.0, min(due, next_search) - time.monotonic()))
            article_key, when = self.sites.publish(article)
            published[article_key] = when
        pending = [i for i in published if i not in seen]
        seen.update(self.watcher.wait_for(pending, self.stages))
        return published, seen


def exit_on_sigterm() -> None:
    """SIGTERM ends the run like Ctrl-C: stage processes stopped, index dropped."""
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(128 + signal.SIGTERM))


@contextmanager
def running_pipeline(
    kafka: str,
    opensearch: str,
    feeds: int = FEEDS,
    fetch_processes: int = 1,
    keep: bool = False,
) -> Iterator[Pipeline]:
    """Sites up, every stage started; on exit everything is stopped and the index dropped
    (and the working directory, with the stages' logs, removed unless `keep`)."""
    workdir = Path(tempfile.mkdtemp(prefix="akhbar-e2e-"))
    sites = NewsSites(feeds)
    config = write_settings(workdir, sites.start(), kafka, opensearch)
    prefix = index_prefix_of(config)
    stages = StageProcesses(config, workdir / "logs", fetch_processes)
    watcher = IndexWatcher(opensearch, prefix)
    try:
        stages.start()
        yield Pipeline(sites, stages, watcher, workdir)
    finally:
        stages.stop()
        sites.stop()
        watcher.drop(prefix)
        if keep:
            print(f"stage logs and files kept in {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def warm_up(pipeline: Pipeline, articles: Sequence[SiteArticle]) -> None:
    published = pipeline.publish(articles)
    seen = pipeline.watcher.wait_for(list(published), pipeline.stages, WARMUP_TIMEOUT_S)
    if len(seen) < len(published):
        raise RuntimeError(
            f"warm-up: {len(seen)} of {len(published)} articles searchable after "
            f"{WARMUP_TIMEOUT_S:g} s; see the stage logs"
        )


def _extract_all(pages: list[str]) -> None:
    for page in pages:
        trafilatura.bare_extraction(page, with_metadata=True)


def raw_extraction_rate(pages: list[str], processes: int) -> float:
    """Pages/s of bare_extraction over `pages` split between `processes` processes."""
    shares = [pages[n::processes] for n in range(processes)]
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        pool.map(abs, range(processes))  # the workers are up before the clock starts
        started = time.perf_counter()
        pool.map(_extract_all, shares)
        return len(pages) / (time.perf_counter() - started)


def percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


@dataclass
class EndToEnd:
    """The figures of one end-to-end run."""

    articles: int
    searchable: int
    articles_per_s: float
    # The anchor, measured before and after the pipeline: the machine's load moves
    # between the two, and the figure is compared with their mean.
    raw_pages_per_s: float
    raw_before_after: tuple[float, float]
    cores: int
    steady_rate: float
    steady_articles: int
    steady_searchable: int
    latency_p50_s: float
    latency_p95_s: float
    fetched_p50_s: float
    fetched_p95_s: float
    peak_rss_mb: dict[str, float]

    @property
    def ratio(self) -> float:
        return self.articles_per_s / self.raw_pages_per_s


def run(
    folder: Path,
    articles: int,
    kafka: str,
    opensearch: str,
    steady_s: float = 60.0,
    rate: float | None = None,
    fetch_processes: int = 1,
    profile_dir: Path | None = None,
    keep: bool = False,
) -> EndToEnd:
    """One end-to-end run; see the module docstring."""
    cores = os.cpu_count() or 1
    steady_max = max(10, int(steady_s * (rate or 50)))
    pool = load_site_articles(folder, WARMUP_ARTICLES + articles + steady_max)
    warmup, burst, steady = (
        pool[:WARMUP_ARTICLES],
        pool[WARMUP_ARTICLES : WARMUP_ARTICLES + articles],
        pool[WARMUP_ARTICLES + articles :],
    )
    pages = [article_page(a, str(n)) for n, a in enumerate(burst)]
    raw_before = raw_extraction_rate(pages, cores)
    with running_pipeline(
        kafka, opensearch, fetch_processes=fetch_processes, keep=keep
    ) as pipeline:
        warm_up(pipeline, warmup)
        with profiling(pipeline.stages, profile_dir):
            published = pipeline.publish(burst)
            seen = pipeline.watcher.wait_for(list(published), pipeline.stages)
        last = max((s.searchable for s in seen.values()), default=time.time())
        throughput = len(seen) / (last - min(published.values()))
        steady_rate = rate or max(1.0, throughput / 2)
        count = min(len(steady), max(10, int(steady_s * steady_rate)))
        published, seen_steady = pipeline.publish_steadily(steady[:count], steady_rate)
        latencies = [s.searchable - published[i] for i, s in seen_steady.items()]
        from_fetch = [s.searchable - s.fetched for s in seen_steady.values()]
        peaks = pipeline.stages.peak_rss_mb()
    raw_after = raw_extraction_rate(pages, cores)
    return EndToEnd(
        articles=len(burst),
        searchable=len(seen),
        articles_per_s=throughput,
        raw_pages_per_s=(raw_before + raw_after) / 2,
        raw_before_after=(raw_before, raw_after),
        cores=cores,
        steady_rate=steady_rate,
        steady_articles=count,
        steady_searchable=len(seen_steady),
        latency_p50_s=statistics.median(latencies) if latencies else float("nan"),
        latency_p95_s=percentile(latencies, 0.95) if latencies else float("nan"),
        fetched_p50_s=statistics.median(from_fetch) if from_fetch else float("nan"),
        fetched_p95_s=percentile(from_fetch, 0.95) if from_fetch else float("nan"),
        peak_rss_mb=peaks,
    )


@contextmanager
def profiling(stages: StageProcesses, directory: Path | None) -> Iterator[None]:
    """With a directory: py-spy samples every stage process while the block runs."""
    if directory is None:
        yield
        return
    directory.mkdir(parents=True, exist_ok=True)
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    profilers = [
        subprocess.Popen(
            [py_spy, "record", "--pid", str(process.pid), "--format", "raw", "--rate", "50"]
            + ["--nonblocking", "--output", str(directory / f"{label}.txt")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for label, process in stages.processes.items()
    ]
    try:
        yield
    finally:
        for profiler in profilers:
            profiler.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        for profiler in profilers:
            profiler.wait(timeout=60)


def describe(result: EndToEnd) -> list[str]:
    """The run's figures as lines of text, each beside its anchor."""
    lines = [
        f"{result.searchable}/{result.articles} articles searchable, "
        f"{result.articles_per_s:.1f} articles/s; anchor raw bare_extraction on "
        f"{result.cores} processes {result.raw_pages_per_s:.1f} pages/s (before "
        f"{result.raw_before_after[0]:.1f}, after {result.raw_before_after[1]:.1f}); "
        f"ratio {result.ratio:.2f}",
        f"steady {result.steady_rate:.1f} articles/s, {result.steady_searchable}/"
        f"{result.steady_articles} searchable: feed-listed -> searchable p50 "
        f"{result.latency_p50_s:.2f} s, p95 {result.latency_p95_s:.2f} s; fetched -> "
        f"searchable p50 {result.fetched_p50_s:.2f} s, p95 {result.fetched_p95_s:.2f} s",
    ]
    peaks = ", ".join(f"{label} {mb:.0f} MB" for label, mb in result.peak_rss_mb.items())
    lines.append(f"peak RSS per stage process: {peaks}")
    return lines


F = TypeVar("F", bound=Callable[..., Any])


def services_options(command: F) -> F:
    """--kafka and --opensearch, from `scripts/services env` when set: the benchmarks' services."""
    command = click.option(
        "--opensearch",
        envvar="AKHBAR_TEST_OPENSEARCH",
        default="http://127.0.0.1:19200",
        show_default=True,
    )(command)
    return click.option(
        "--kafka", envvar="AKHBAR_TEST_KAFKA", default="127.0.0.1:19092", show_default=True
    )(command)


@click.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--articles", type=int, default=5_000, show_default=True)
@click.option("--steady-s", type=float, default=60.0, show_default=True)
@click.option("--rate", type=float, help="steady-phase articles/s (default: half the burst's)")
@click.option("--fetch-processes", type=int, default=1, show_default=True)
@click.option("--profile", "profile_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--keep", is_flag=True, help="keep the working directory and the stage logs")
@services_options
def main(
    folder: Path,
    articles: int,
    steady_s: float,
    rate: float | None,
    fetch_processes: int,
    profile_dir: Path | None,
    keep: bool,
    kafka: str,
    opensearch: str,
) -> None:
    """Feeds to searchable articles over Kafka and OpenSearch, beside raw trafilatura."""
    exit_on_sigterm()
    # A just-created monthly index answers searches with 503 for a moment; expected.
    logging.getLogger("opensearch").setLevel(logging.ERROR)
    result = run(
        folder, articles, kafka, opensearch, steady_s, rate, fetch_processes, profile_dir, keep
    )
    for line in describe(result):
        click.echo(line)


if __name__ == "__main__":
    main()
