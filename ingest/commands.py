"""`akhbar feeds ...`: edit the feed list, import OPML, check a feed, show feed health.

Every command takes the list from `--file`, else `ingest.feeds` in the
settings, else the bundled default list of Arabic outlets. A bad list or an
unreachable feed is reported on stderr with exit code 1; nothing is written then.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from akhbar.config import load_settings
from akhbar.errors import AkhbarError
from ingest.feeds import DEFAULT_FEEDS, Feed, load_feeds, save_feeds
from ingest.poller import FeedPoller
from ingest.state import FeedStateStore

EXIT_FAILED = 1


def _list_path(ctx: click.Context, given: Path | None) -> Path:
    if given is not None:
        return given
    try:
        configured = load_settings(ctx.find_root().obj).ingest.feeds
    except AkhbarError:
        configured = None
    return configured or DEFAULT_FEEDS


def _fail(message: str) -> None:
    click.echo(f"akhbar: {message}", err=True)
    sys.exit(EXIT_FAILED)


FILE_OPTION = click.option(
    "--file",
    "list_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Feed list (YAML or OPML); default: ingest.feeds, else the bundled list.",
)


@click.group()
def feeds() -> None:
    """Manage the feed list and look at feed health."""


@feeds.command("list")
@FILE_OPTION
@click.pass_context
def list_feeds(ctx: click.Context, list_file: Path | None) -> None:
    """Print the feeds of the list."""
    try:
        found = load_feeds(_list_path(ctx, list_file))
    except AkhbarError as exc:
        _fail(str(exc))
    for feed in found:
        click.echo(f"{feed.url}\t{feed.name}\t{feed.language}\t{','.join(feed.tags)}")


@feeds.command("add")
@click.argument("url")
@click.option("--name", default="")
@click.option("--language", default="ar")
@click.option("--tag", "tags", multiple=True)
@FILE_OPTION
@click.pass_context
def add_feed(
    ctx: click.Context,
    url: str,
    name: str,
    language: str,
    tags: tuple[str, ...],
    list_file: Path | None,
) -> None:
    """Add URL to the list (kept once)."""
    path = _list_path(ctx, list_file)
    try:
        current = load_feeds(path) if path.exists() else []
        feed = Feed(url=url, name=name, language=language, tags=tags)
    except (AkhbarError, ValueError) as exc:
        _fail(str(exc))
    if any(existing.url == feed.url for existing in current):
        click.echo(f"already listed: {url}")
        return
    save_feeds(path, [*current, feed])
    click.echo(f"added {url} to {path}")


@feeds.command("remove")
@click.argument("url")
@FILE_OPTION
@click.pass_context
def remove_feed(ctx: click.Context, url: str, list_file: Path | None) -> None:
    """Remove URL from the list."""
    path = _list_path(ctx, list_file)
    try:
        current = load_feeds(path)
    except AkhbarError as exc:
        _fail(str(exc))
    kept = [feed for feed in current if feed.url != url]
    if len(kept) == len(current):
        _fail(f"not in {path}: {url}")
    save_feeds(path, kept)
    click.echo(f"removed {url} from {path}")


@feeds.command("import-opml")
@click.argument("opml", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@FILE_OPTION
@click.pass_context
def import_opml(ctx: click.Context, opml: Path, list_file: Path | None) -> None:
    """Add every feed of an OPML file to the list."""
    path = _list_path(ctx, list_file)
    try:
        current = load_feeds(path) if path.exists() else []
        imported = load_feeds(opml)
    except AkhbarError as exc:
        _fail(str(exc))
    known = {feed.url for feed in current}
    new = [feed for feed in imported if feed.url not in known]
    save_feeds(path, [*current, *new])
    click.echo(f"imported {len(new)} new feeds ({len(imported) - len(new)} already listed)")


@feeds.command("check")
@click.argument("url")
@click.option("--allow-host", "allow_hosts", multiple=True, help="Allow a private host.")
def check_feed(url: str, allow_hosts: tuple[str, ...]) -> None:
    """Poll URL once (no bus, no saved state) and print its parsed entries."""
    try:
        feed = Feed(url=url)
    except ValueError as exc:
        _fail(
            f"not a feed URL: {url} ({exc.errors()[0]['msg'] if hasattr(exc, 'errors') else exc})"
        )
    with tempfile.TemporaryDirectory() as scratch:
        poller = FeedPoller(
            [feed], Path(scratch) / "state.sqlite3", allow_hosts=allow_hosts, once=True
        )
        try:
            articles = poller.read(10_000)
            state = poller.states[url]
        finally:
            poller.close()
    if state.last_error:
        _fail(f"{url}: {state.last_error}")
    for article in articles:
        when = article.published_at.isoformat() if article.published_at else "-"
        click.echo(f"{when}\t{article.title or '-'}\t{article.url}")
    click.echo(f"{len(articles)} entries", err=True)


@feeds.command("health")
@click.option(
    "--state",
    "state_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Poller state file (default: ingest.state_path).",
)
@click.pass_context
def health(ctx: click.Context, state_path: Path | None) -> None:
    """Each feed's last poll, error streak, last error and rate, worst first."""
    path = state_path or load_settings(ctx.find_root().obj).ingest.state_path
    if not path.exists():
        _fail(f"no poller state at {path}: the poller has not run with this data directory")
    store = FeedStateStore(path)
    table = Table(
        "feed", "status", "streak", "last error", "items/day", "polls", "entries", "page errors"
    )
    page_errors = store.page_errors()
    for row in store.health():
        pages = page_errors.get(row["url"], {})
        table.add_row(
            row["name"] or row["url"],
            str(row["last_status"] or "-"),
            str(row["error_streak"]),
            (row["last_error"] or "")[:60],
            f"{row['items_per_day']:.1f}",
            str(row["polls"]),
            str(row["entries"]),
            ", ".join(f"{kind}: {n}" for kind, n in sorted(pages.items())) or "-",
        )
    store.close()
    Console().print(table)
