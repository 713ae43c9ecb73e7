"""The `akhbar` command line."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import click

from akhbar import __version__
from akhbar.bus import open_bus
from akhbar.config import Settings, load_settings
from akhbar.errors import AkhbarError, ConfigError
from akhbar.logs import configure_logging, get_logger
from akhbar.metrics import Metrics
from akhbar.observe.server import serve_observability
from akhbar.observe.status import status as status_command
from akhbar.pipeline import STAGE_NAMES, run_pipeline
from akhbar.replay_commands import dlq, replay_command
from akhbar.runner import tune_gc
from akhbar.topics import Topics
from ingest.commands import feeds as feeds_command
from ingest.demo import demo as demo_command
from processors.commands import evaluate, process
from sinks.commands import export, search

EXIT_FAILED = 1
EXIT_CONFIG = 2
EXIT_INTERRUPTED = 130


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="AKHBAR_CONFIG",
    help="YAML settings file (env: AKHBAR_CONFIG).",
)
@click.version_option(__version__, prog_name="akhbar")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None) -> None:
    """Akhbar: streaming ingestion of Arabic news.

    Articles flow articles.cleaned -> normalize -> articles.normalized -> enrich ->
    articles.enriched -> sinks. Settings come from --config and AKHBAR_<SECTION>__<KEY>
    environment variables. Without Kafka settings the embedded bus (one SQLite file
    under ./data) is used, so nothing else needs to run.
    """
    ctx.obj = config_path


def _settings(ctx: click.Context, **overrides: Any) -> Settings:
    try:
        settings = load_settings(ctx.obj)
        if overrides:
            settings = Settings(**{**settings.model_dump(), **overrides})
    except (ConfigError, ValueError) as exc:
        click.echo(f"akhbar: {exc}", err=True)
        sys.exit(EXIT_CONFIG)
    configure_logging(settings.log)
    return settings


def _install_signal_handlers(stop: threading.Event) -> None:
    """First SIGINT/SIGTERM: finish the message in hand, flush, commit. Second SIGINT: exit now."""
    log = get_logger(stage="main")

    def on_signal(signum: int, _frame: Any) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            os._exit(EXIT_INTERRUPTED)
        log.info("stopping: finishing the messages in hand", signal=signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)


def _run(settings: Settings, once: bool, only: str | None) -> None:
    log = get_logger(stage="main")
    log.info(
        "starting",
        version=__version__,
        backend=settings.bus.resolved_backend,
        settings=settings.masked(),
    )
    metrics = Metrics()
    serve_observability(settings, metrics, only)
    stop = threading.Event()
    _install_signal_handlers(stop)
    try:
        bus = open_bus(settings.bus)
        bus.ensure_topics(Topics(settings.bus.topic_prefix).all())
        tune_gc()
        result = run_pipeline(settings, bus, metrics, stop, once=once, only=only)
    except AkhbarError as exc:
        log.error("cannot run", error=str(exc))
        sys.exit(EXIT_FAILED)
    for name, stats in result.stats.items():
        log.info("stage summary", summary_of=name, **vars(stats))
    if not result.ok:
        sys.exit(EXIT_FAILED)


@cli.command()
@click.option(
    "--once",
    is_flag=True,
    help="Read every source once, drain the pipeline, flush the sinks and exit 0.",
)
@click.option(
    "--archive",
    "archives",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="JSON Lines file of articles to import (repeatable).",
)
@click.option(
    "--feeds",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Feed list (YAML or OPML) to poll; enables the poller and fetch stages.",
)
@click.option(
    "--allow-host",
    "allow_hosts",
    multiple=True,
    help="Host that may be fetched although it resolves to a private address (repeatable).",
)
@click.pass_context
def run(
    ctx: click.Context,
    once: bool,
    archives: tuple[Path, ...],
    feeds: Path | None,
    allow_hosts: tuple[str, ...],
) -> None:
    """Run every stage in this process over the configured bus."""
    settings = _settings(ctx)
    if archives:
        settings.archive.paths = [*settings.archive.paths, *archives]
    if feeds:
        settings.ingest.feeds = feeds
    settings.ingest.allow_hosts = [*settings.ingest.allow_hosts, *allow_hosts]
    _run(settings, once, only=None)


@cli.command()
@click.argument("name", type=click.Choice(STAGE_NAMES))
@click.option("--once", is_flag=True, help="Exit once the stage's input is drained.")
@click.pass_context
def stage(ctx: click.Context, name: str, once: bool) -> None:
    """Run one stage as its own process (scale out with more processes over Kafka)."""
    _run(_settings(ctx), once, only=name)


@cli.command("config")
@click.pass_context
def show_config(ctx: click.Context) -> None:
    """Print the effective settings (secrets masked) and exit."""
    settings = _settings(ctx)
    click.echo(json.dumps(settings.masked(), indent=2, ensure_ascii=False))


@cli.command()
@click.pass_context
def topics(ctx: click.Context) -> None:
    """Create the pipeline's topics where missing and list them."""
    settings = _settings(ctx)
    names = Topics(settings.bus.topic_prefix).all()
    try:
        open_bus(settings.bus).ensure_topics(names)
    except AkhbarError as exc:
        click.echo(f"akhbar: {exc}", err=True)
        sys.exit(EXIT_FAILED)
    click.echo("\n".join(names))


cli.add_command(process)
cli.add_command(evaluate)
cli.add_command(export)
cli.add_command(search)
cli.add_command(feeds_command)
cli.add_command(demo_command)
cli.add_command(replay_command)
cli.add_command(dlq)
cli.add_command(status_command)


def main() -> None:
    cli()
