"""`akhbar export` and `akhbar search`: reading what the sinks stored."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import IO, Any

import click
from opensearchpy.exceptions import OpenSearchException, TransportError

from akhbar.config import Settings, load_settings
from akhbar.errors import ConfigError
from sinks.index import alias_name, entities_by_type, search_body
from sinks.jsonl import closed_files, read_lines
from sinks.search import open_client

EXIT_FAILED = 1
EXIT_CONFIG = 2
CSV_COLUMNS = ("id", "url", "source", "published_at", "fetched_at", "title", "author", "text")
# The engine marks matches with these; they become bold on a terminal.
HIGHLIGHT_START, HIGHLIGHT_END = "<em>", "</em>"


def _load(ctx: click.Context) -> Settings:
    try:
        return load_settings(ctx.find_root().obj)
    except ConfigError as exc:
        click.echo(f"akhbar: {exc}", err=True)
        sys.exit(EXIT_CONFIG)


@click.command()
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    help="The JSON Lines sink's directory (default: sinks.jsonl.dir).",
)
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), help="First day, YYYY-MM-DD.")
@click.option("--until", type=click.DateTime(["%Y-%m-%d"]), help="Last day, YYYY-MM-DD.")
@click.option("--source", help="Only articles from this source.")
@click.option("--entity", help="Only articles naming this entity (any type).")
@click.option("--format", "output_format", type=click.Choice(["jsonl", "csv"]), default="jsonl")
@click.option(
    "--output",
    "-o",
    type=click.File("w", encoding="utf-8"),
    default="-",
    help="Where to write (default: standard output).",
)
@click.pass_context
def export(
    ctx: click.Context,
    directory: Path | None,
    since: Any,
    until: Any,
    source: str | None,
    entity: str | None,
    output_format: str,
    output: IO[str],
) -> None:
    """Export stored articles as JSON Lines or CSV, filtered by date, source and entity.

    Dates are the days the files are filed under (publication date by default,
    see sinks.jsonl.partition_by). Only closed files are read.
    """
    root = directory or _load(ctx).sinks.jsonl.dir
    if not root.is_dir():
        click.echo(f"akhbar: no JSON Lines directory at {root}", err=True)
        sys.exit(EXIT_FAILED)
    first = since.date() if since else date.min
    last = until.date() if until else date.max
    articles = (
        a
        for a in _stored(root, first, last)
        if (source is None or a.get("source") == source) and (entity is None or _names(a, entity))
    )
    written = (
        _write_csv(articles, output) if output_format == "csv" else _write_jsonl(articles, output)
    )
    click.echo(f"{written} articles exported", err=True)


def _stored(root: Path, first: date, last: date) -> Iterator[dict[str, Any]]:
    for path in closed_files(root):
        try:
            day = date.fromisoformat(path.parent.name)
        except ValueError:
            continue  # not a date directory of the sink
        if first <= day <= last:
            for line in read_lines(path):
                yield json.loads(line)


def _names(article: dict[str, Any], entity: str) -> bool:
    by_type = entities_by_type(article.get("entities"))
    return any(entity == name for names in by_type.values() for name in names)


def _write_jsonl(articles: Iterator[dict[str, Any]], output: IO[str]) -> int:
    count = 0
    for article in articles:
        output.write(json.dumps(article, ensure_ascii=False) + "\n")
        count += 1
    return count


def _write_csv(articles: Iterator[dict[str, Any]], output: IO[str]) -> int:
    writer = csv.DictWriter(output, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    count = 0
    for article in articles:
        writer.writerow(article)
        count += 1
    return count


@click.command()
@click.argument("query")
@click.option("--entity", help="Only articles naming this entity.")
@click.option("--source", help="Only articles from this source.")
@click.option("--since", help="From this date (YYYY-MM-DD or any date the engine reads).")
@click.option("--until", help="Up to this date.")
@click.option("--size", type=click.IntRange(1, 1000), default=10, show_default=True)
@click.pass_context
def search(
    ctx: click.Context,
    query: str,
    entity: str | None,
    source: str | None,
    since: str | None,
    until: str | None,
    size: int,
) -> None:
    """Search the article index (sinks.search settings) and print matches with highlights."""
    settings = _load(ctx).sinks.search
    body = search_body(query, entity=entity, source=source, since=since, until=until, size=size)
    client = open_client(settings)
    try:
        response = client.search(index=alias_name(settings.index_prefix), body=body)
    except (TransportError, OpenSearchException) as exc:
        status = getattr(exc, "status_code", "")
        click.echo(f"akhbar: search failed: {type(exc).__name__} {status}", err=True)
        sys.exit(EXIT_FAILED)
    finally:
        client.close()
    hits = response["hits"]["hits"]
    click.echo(f"{response['hits']['total']['value']} matches")
    for hit in hits:
        _print_hit(hit)


def _print_hit(hit: dict[str, Any]) -> None:
    source = hit["_source"]
    click.echo("")
    click.echo(click.style(source.get("title") or "(no title)", bold=True))
    click.echo(f"{source.get('date', '')[:10]}  {source.get('source', '')}  {source.get('url')}")
    fragments = hit.get("highlight", {})
    seen: set[str] = set()
    for name in ("text", "text.folded", "title", "title.folded"):
        for fragment in fragments.get(name, []):
            if fragment not in seen:
                seen.add(fragment)
                click.echo("  … " + _bold_matches(fragment))


def _bold_matches(fragment: str) -> str:
    # click.echo drops the styling when the output is not a terminal.
    start, end = click.style("", bold=True, reset=False), click.style("", reset=True)
    return fragment.replace(HIGHLIGHT_START, start).replace(HIGHLIGHT_END, end)
