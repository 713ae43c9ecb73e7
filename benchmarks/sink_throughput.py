"""Sink throughput: the JSON Lines sink and the search sink, each beside a raw anchor.

    AKHBAR_TEST_OPENSEARCH=http://127.0.0.1:19200 python benchmarks/sink_throughput.py

* JSON Lines sink: N articles through `JsonlSink.add`, a flush (append, fsync,
  checkpoint) every COMMIT_EVERY articles as the runner's commits would, and
  `close` (rename into place). Anchor: the same articles serialized and written
  to one temporary file (gzip-compressed at the sink's level with --gzip), fsynced
  and renamed, the least any durable file sink does.
  Target: >= 20,000 articles/s. With --stored-keys N the sink starts from a
  table of N keys of articles stored earlier (a month of a large feed set is a
  few million), as it does once it has run for a while.
* Search sink: N articles through `SearchSink.add`/`flush` into a fresh index on
  the node. Anchor: opensearch-py's `helpers.bulk` of the same documents (same
  ids, same template) into another fresh index. Target: >= 2,000 articles/s.

Figures are articles per second of wall time, the median of REPEATS runs with
the sink and its anchor interleaved, so load from the rest of the machine falls
on both alike. The article size printed is its JSON size.
"""

from __future__ import annotations

import argparse
import gzip as zlib_gzip
import hashlib
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from opensearchpy import OpenSearch, helpers

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from akhbar.article import Article  # noqa: E402
from akhbar.bus import StoredMessage  # noqa: E402
from akhbar.config import JsonlSinkSettings, LogSettings, SearchSinkSettings  # noqa: E402
from akhbar.logs import configure_logging  # noqa: E402
from ingest.archive import parse_line  # noqa: E402
from sinks.index import alias_name, document, index_name, index_template  # noqa: E402
from sinks.jsonl import GZIP_LEVEL, STATE_DIR, JsonlSink  # noqa: E402
from sinks.search import SearchSink  # noqa: E402
from sinks.stored_keys import KEY_BYTES, StoredArticles  # noqa: E402
from tests.helpers.articles import make_article  # noqa: E402

# The runner flushes once a second; at 20,000 articles/s that is this many per flush.
COMMIT_EVERY = 20_000
REPEATS = 3
TOPIC = "articles.enriched"


def load_articles(count: int, archive: Path | None, text_bytes: int) -> list[Article]:
    """`count` articles: from an archive (as `akhbar run --archive` reads it), else synthetic.

    An archive's articles are used in turn until there are `count`, each copy with
    its own id, so the search index gets `count` documents.
    """
    if archive is None:
        return [make_article(n, text_bytes=text_bytes) for n in range(count)]
    real = [
        parsed
        for n, line in enumerate(archive.read_bytes().splitlines())
        if isinstance(parsed := parse_line(line, f"{archive}:{n + 1}"), Article)
    ]
    return [
        real[n % len(real)].model_copy(
            update={"id": hashlib.sha256(f"{real[n % len(real)].id}:{n}".encode()).hexdigest()}
        )
        for n in range(count)
    ]


def records(articles: list[Article]) -> list[StoredMessage]:
    return [
        StoredMessage(TOPIC, n % 3, n // 3, a.id.encode(), a.to_bytes())
        for n, a in enumerate(articles)
    ]


def stored_keys_template(workdir: Path, count: int) -> Path | None:
    """A sink directory whose key table holds `count` keys of earlier articles, or None."""
    if not count:
        return None
    template = workdir / "stored-keys"
    (template / STATE_DIR).mkdir(parents=True)
    table = StoredArticles(template / STATE_DIR)
    for start in range(0, count, 100_000):
        offsets = range(start, min(count, start + 100_000))
        table.add(("earlier", 0), [(os.urandom(KEY_BYTES), n) for n in offsets])
    table.close()
    return template


def jsonl_sink(
    articles: list[Article],
    messages: list[StoredMessage],
    workdir: Path,
    gzip: bool = False,
    template: Path | None = None,
) -> float:
    directory = workdir / uuid.uuid4().hex
    if template is not None:
        shutil.copytree(template, directory)
    sink = JsonlSink(JsonlSinkSettings(dir=directory, gzip=gzip))
    started = time.perf_counter()
    for n, (article, message) in enumerate(zip(articles, messages, strict=True), 1):
        sink.add(article, message)
        if n % COMMIT_EVERY == 0:
            sink.flush()
    sink.flush()
    sink.close()
    return len(articles) / (time.perf_counter() - started)


def raw_file(
    articles: list[Article], messages: list[StoredMessage], workdir: Path, gzip: bool = False
) -> float:
    final = workdir / f"{uuid.uuid4().hex}.jsonl"
    temporary = final.with_suffix(".tmp")
    started = time.perf_counter()
    with temporary.open("wb") as out:
        data = b"".join(article.to_bytes() + b"\n" for article in articles)
        out.write(zlib_gzip.compress(data, GZIP_LEVEL, mtime=0) if gzip else data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, final)
    return len(articles) / (time.perf_counter() - started)


def search_sink(articles: list[Article], messages: list[StoredMessage], url: str) -> float:
    prefix = f"akhbar-bench-{uuid.uuid4().hex[:8]}"
    sink = SearchSink(SearchSinkSettings(enabled=True, hosts=[url], index_prefix=prefix))
    try:
        started = time.perf_counter()
        for article, message in zip(articles, messages, strict=True):
            sink.add(article, message)
        rejections = sink.flush()
        elapsed = time.perf_counter() - started
        assert not rejections, rejections[:1]
        return len(articles) / elapsed
    finally:
        sink.close()
        _drop(url, prefix)


def raw_bulk(articles: list[Article], messages: list[StoredMessage], url: str) -> float:
    prefix = f"akhbar-bench-{uuid.uuid4().hex[:8]}"
    client = OpenSearch(hosts=[url], timeout=60)
    client.indices.put_index_template(name=alias_name(prefix), body=index_template(prefix))
    try:
        started = time.perf_counter()
        ok, errors = helpers.bulk(
            client,
            (
                {
                    "_index": index_name(prefix, a.published_at or a.fetched_at),
                    "_id": a.id,
                    "_source": document(a),
                }
                for a in articles
            ),
            chunk_size=SearchSinkSettings().bulk_max_docs,
            max_chunk_bytes=SearchSinkSettings().bulk_max_bytes,
        )
        elapsed = time.perf_counter() - started
        assert ok == len(articles) and not errors
        return len(articles) / elapsed
    finally:
        client.close()
        _drop(url, prefix)


def _drop(url: str, prefix: str) -> None:
    client = OpenSearch(hosts=[url], timeout=60)
    client.indices.delete(index=f"{alias_name(prefix)}-*", ignore_unavailable=True)
    client.indices.delete_index_template(name=alias_name(prefix), ignore=[404])
    client.close()


def compare(
    name: str, target: float, runs: list[tuple[str, Callable[[], float]]]
) -> tuple[float, float]:
    """Prints and returns the median (sink, anchor) articles/s."""
    figures: dict[str, list[float]] = {label: [] for label, _ in runs}
    for _ in range(REPEATS):
        for label, run in runs:
            figures[label].append(run())
    (sink_label, _), (anchor_label, _) = runs
    sink = statistics.median(figures[sink_label])
    anchor = statistics.median(figures[anchor_label])
    print(
        f"{name}: {sink_label} {sink:,.0f} articles/s, anchor {anchor_label} {anchor:,.0f} "
        f"articles/s, ratio {sink / anchor:.2f}; target {target:,.0f}/s "
        f"{'met' if sink >= target else 'NOT met'}"
    )
    return sink, anchor


def measure(
    count: int,
    search_count: int,
    opensearch: str,
    text_bytes: int = 2_000,
    archive: Path | None = None,
    gzip: bool = False,
    stored_keys: int = 0,
) -> dict[str, tuple[float, float]]:
    """Median (sink, anchor) articles/s of each sink: keys `jsonl` and `search`."""
    articles = load_articles(count, archive, text_bytes)
    messages = records(articles)
    size = statistics.mean(len(m.value) for m in messages)
    print(f"{len(articles):,} articles, mean JSON size {size:,.0f} bytes")
    figures = {}
    with tempfile.TemporaryDirectory(prefix="akhbar-bench-") as workdir:
        where = Path(workdir)
        template = stored_keys_template(where, stored_keys)
        figures["jsonl"] = compare(
            "JSON Lines sink",
            20_000,
            [
                (
                    "JsonlSink"
                    + (" (gzip)" if gzip else "")
                    + (f" ({stored_keys:,} keys stored)" if stored_keys else ""),
                    lambda: jsonl_sink(articles, messages, where, gzip, template),
                ),
                (
                    "raw write+fsync+rename" + (" (gzip)" if gzip else ""),
                    lambda: raw_file(articles, messages, where, gzip),
                ),
            ],
        )
    few = articles[:search_count]
    few_messages = messages[:search_count]
    print(f"search: {len(few):,} articles into {opensearch}")
    figures["search"] = compare(
        "search sink",
        2_000,
        [
            ("SearchSink", lambda: search_sink(few, few_messages, opensearch)),
            ("raw helpers.bulk", lambda: raw_bulk(few, few_messages, opensearch)),
        ],
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=50_000, help="JSON sink articles")
    parser.add_argument("--search-articles", type=int, default=20_000)
    parser.add_argument("--text-bytes", type=int, default=2_000, help="synthetic text size")
    parser.add_argument("--archive", type=Path, help="JSON Lines of articles to use instead")
    parser.add_argument("--gzip", action="store_true", help="JSON Lines sink with gzip on")
    parser.add_argument(
        "--stored-keys", type=int, default=0, help="keys already in the sink's table at start"
    )
    parser.add_argument(
        "--opensearch", default=os.environ.get("AKHBAR_TEST_OPENSEARCH", "http://127.0.0.1:19200")
    )
    args = parser.parse_args()
    configure_logging(LogSettings(level="WARNING"))
    measure(
        args.articles,
        args.search_articles,
        args.opensearch,
        args.text_bytes,
        args.archive,
        args.gzip,
        args.stored_keys,
    )


if __name__ == "__main__":
    main()
