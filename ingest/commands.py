"""`akhbar feeds ...`: edit the feed list, import OPML, check a feed, show feed health.

Every command takes the list from `--file`, else `ingest.feeds` in the
settings, else the bundled default list of Arabic outlets. `add`, `remove` and
`import-opml` also publish the change to the `feeds` topic (a tombstone on
remove) when the settings name a Kafka cluster, or with `--bus`; running
pollers pick it up within a second. A bad list or an unreachable feed is
reported on stderr with exit code 1; nothing is written then.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from akhbar.bus import open_bus
from akhbar.config import Settings, load_settings
from akhbar.errors import AkhbarError
from akhbar.topics import Topics
from ingest.feeds import DEFAULT_FEEDS, Feed, load_feeds, save_feeds
from ingest.poller import FeedPoller
from ingest.poller_group import ensure_feed_topics, publish_feeds, read_table, remove_feeds
from ingest.state import PageErrorStore, decode_state, health_rows

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
BUS_OPTION = click.option(
    "--bus/--no-bus",
    "on_bus",
    default=None,
    help="Publish the change to the feeds topic (default: when Kafka is configured).",
)


def _bus_settings(ctx: click.Context) -> Settings | None:
    try:
        return load_settings(ctx.find_root().obj)
    except AkhbarError as exc:
        _fail(str(exc))
    return None


def _publish(ctx: click.Context, on_bus: bool | None, add: list[Feed], remove: list[str]) -> None:
    """Send the change to the feeds topic, when asked to or when running on Kafka."""
    settings = _bus_settings(ctx)
    assert settings is not None
    if on_bus is None:
        on_bus = settings.bus.resolved_backend == "kafka"
    if not on_bus:
        return
    topics = Topics(settings.bus.topic_prefix)
    bus = open_bus(settings.bus)
    try:
        if add:
            publish_feeds(bus, topics, add)
        if remove:
            remove_feeds(bus, topics, remove)
    except AkhbarError as exc:
        _fail(f"the list file was changed, but the feeds topic was not: {exc}")
    finally:
        bus.close()
    click.echo(f"published to {topics.feeds}: {len(add)} added or updated, {len(remove)} removed")


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
@BUS_OPTION
@click.pass_context
def add_feed(
    ctx: click.Context,
    url: str,
    name: str,
    language: str,
    tags: tuple[str, ...],
    list_file: Path | None,
    on_bus: bool | None,
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
    _publish(ctx, on_bus, [feed], [])


@feeds.command("remove")
@click.argument("url")
@FILE_OPTION
@BUS_OPTION
@click.pass_context
def remove_feed(ctx: click.Context, url: str, list_file: Path | None, on_bus: bool | None) -> None:
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
    _publish(ctx, on_bus, [], [url])


@feeds.command("import-opml")
@click.argument("opml", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@FILE_OPTION
@BUS_OPTION
@click.pass_context
def import_opml(
    ctx: click.Context, opml: Path, list_file: Path | None, on_bus: bool | None
) -> None:
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
    _publish(ctx, on_bus, new, [])


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
    poller = FeedPoller([feed], allow_hosts=allow_hosts, once=True)
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
    "--page-errors",
    "errors_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The fetch stage's page-error file (default: ingest.state_path, if it exists).",
)
@click.pass_context
def health(ctx: click.Context, errors_path: Path | None) -> None:
    """Each feed's last poll, error streak, last error and rate, worst first (from feeds.state)."""
    settings = _bus_settings(ctx)
    assert settings is not None
    topics = Topics(settings.bus.topic_prefix)
    bus = open_bus(settings.bus)
    try:
        ensure_feed_topics(bus, topics)
        states = [decode_state(value) for value in read_table(bus, topics.feed_state).values()]
    except (AkhbarError, ValueError) as exc:
        _fail(f"cannot read {topics.feed_state}: {exc}")
    finally:
        bus.close()
    if not states:
        _fail(f"no feed state on {topics.feed_state}: no poller has run on this bus")
    errors_path = errors_path or settings.ingest.state_path
    page_errors = PageErrorStore(errors_path).page_errors() if errors_path.exists() else {}
    table = Table(
        "feed", "status", "streak", "last error", "items/day", "polls", "entries", "page errors"
    )
    for row in health_rows(states):
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
    Console().print(table)
