"""`akhbar replay` and `akhbar dlq`: sending stored messages through a stage again."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any, NoReturn

import click

from akhbar.bus import Bus, open_bus
from akhbar.config import Settings, load_settings
from akhbar.dead_letters import (
    DeadLetter,
    as_dead_letter_topic,
    dead_letter_topics,
    read_dead_letters,
    replay_dead_letters,
    replayed_positions,
    summarize,
)
from akhbar.errors import AkhbarError, ConfigError
from akhbar.logs import configure_logging
from akhbar.pipeline import STAGE_NAMES, processing_stages
from akhbar.replay import ReplayError, Selection, parse_offsets, parse_time, replay

EXIT_FAILED = 1
EXIT_CONFIG = 2
# Stages that read a topic, which a replay can feed; the others are sources.
SOURCE_STAGES = ("archive", "poller")
CONSUMER_STAGES = tuple(name for name in STAGE_NAMES if name not in SOURCE_STAGES)
# `dlq show` prints this many dead letters unless told otherwise.
DEFAULT_SHOW_LIMIT = 20


def _settings(ctx: click.Context) -> Settings:
    try:
        settings = load_settings(ctx.find_root().obj)
    except (ConfigError, ValueError) as exc:
        click.echo(f"akhbar: {exc}", err=True)
        sys.exit(EXIT_CONFIG)
    configure_logging(settings.log)
    return settings


def _fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    click.echo(f"akhbar: {message}", err=True)
    sys.exit(code)


def _print_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


def stage_input_topic(settings: Settings, name: str) -> str:
    """The topic the named stage reads, as these settings wire it; ReplayError if not wired."""
    stages = {stage.name: stage for stage in processing_stages(settings)}
    if name not in stages:
        raise ReplayError(
            f"stage {name!r} is not configured in these settings (configured: "
            f"{', '.join(stages)}); give --topic and --to instead"
        )
    return stages[name].input_topic


def _selection(options: dict[str, Any]) -> Selection:
    try:
        return Selection(
            since_ms=parse_time(options["since"]) if options["since"] else None,
            until_ms=parse_time(options["until"]) if options["until"] else None,
            from_offsets=parse_offsets(options["from_offsets"]),
            to_offsets=parse_offsets(options["to_offsets"]),
            partitions=frozenset(options["partitions"]) if options["partitions"] else None,
        )
    except ValueError as exc:
        raise click.BadParameter(f"{exc} (times are ISO 8601, offsets PARTITION:OFFSET)") from exc


@click.command("replay")
@click.option(
    "--stage",
    "stage_name",
    type=click.Choice(CONSUMER_STAGES),
    help="Replay into this stage's input topic.",
)
@click.option("--topic", help="Read from this topic (default: the stage's input topic).")
@click.option("--to", "destination", help="Publish to this topic instead of the stage's input.")
@click.option("--since", help="First message time included (ISO 8601; UTC without a zone).")
@click.option("--until", help="First message time excluded (ISO 8601).")
@click.option(
    "--from-offset",
    "from_offsets",
    multiple=True,
    help="First offset included: PARTITION:OFFSET, or OFFSET for every partition (repeatable).",
)
@click.option(
    "--to-offset",
    "to_offsets",
    multiple=True,
    help="Last offset included: PARTITION:OFFSET, or OFFSET for every partition (repeatable).",
)
@click.option(
    "--partition", "partitions", type=int, multiple=True, help="Only this partition (repeatable)."
)
@click.option("--all", "everything", is_flag=True, help="Every stored message of the topic.")
@click.option("--dry-run", is_flag=True, help="Count what would be replayed; send nothing.")
@click.pass_context
def replay_command(ctx: click.Context, **options: Any) -> None:
    """Send stored messages through a stage again, after a processor upgrade.

    Reads a time or offset range of a topic outside any consumer group (no stage's
    position moves) and re-publishes it, keys and headers kept, to the stage's input
    topic or to --to. The running stage processes the copies with its current
    version; the sinks then hold each article once, in its newest version.
    Prints what was replayed as JSON.

    \b
        akhbar replay --stage enrich --since 2026-11-27T08:00Z --until 2026-11-27T09:00Z
        akhbar replay --stage normalize --from-offset 0:1200 --to-offset 0:1800
    """
    settings = _settings(ctx)
    ranged = ("since", "until", "from_offsets", "to_offsets")
    if not options["everything"] and not any(options[name] for name in ranged):
        raise click.UsageError("give a range (--since/--until, --from-offset/--to-offset) or --all")
    selection = _selection(options)
    try:
        source, destination = _endpoints(settings, options)
        report = replay(open_bus(settings.bus), source, destination, selection, options["dry_run"])
    except AkhbarError as exc:
        _fail(str(exc))
    _print_json(report.as_json())


def _endpoints(settings: Settings, options: dict[str, Any]) -> tuple[str, str]:
    """The topic to read and the topic to publish to, from --stage, --topic and --to."""
    stage_name, topic, destination = options["stage_name"], options["topic"], options["destination"]
    if stage_name is None and (topic is None or destination is None):
        raise click.UsageError("give --stage, or both --topic and --to")
    stage_topic = stage_input_topic(settings, stage_name) if stage_name else None
    source = topic or stage_topic
    target = destination or stage_topic
    assert source is not None and target is not None
    return source, target


@click.group("dlq")
def dlq() -> None:
    """Dead-letter topics: what failed and why, and sending it back once fixed.

    TOPIC is a dead-letter topic (articles.discovered.dlq) or the topic whose dead
    letters it holds (articles.discovered), with the deployment's prefix.
    """


@dlq.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def list_dead_letters(ctx: click.Context, as_json: bool) -> None:
    """Every dead-letter topic with its count, how many were replayed, and why they failed."""
    settings = _settings(ctx)
    try:
        bus = open_bus(settings.bus)
        summaries = [summarize(bus, t) for t in dead_letter_topics(bus, settings.bus.topic_prefix)]
    except AkhbarError as exc:
        _fail(str(exc))
    if as_json:
        _print_json([summary.as_json() for summary in summaries])
        return
    for summary in summaries:
        click.echo(f"{summary.topic}: {summary.count} dead letters, {summary.replayed} replayed")
        for (stage, kind, reason), count in summary.reasons.most_common():
            click.echo(f"  {count:>7}  {stage or '-'}  {kind or '-'}  {reason}")


def _chooser(offsets: tuple[str, ...], reason: str | None) -> Callable[[DeadLetter], bool]:
    """Dead letters at one of `offsets` (PARTITION:OFFSET) and whose reason matches, if given."""
    try:
        positions = {tuple(int(part) for part in value.split(":")) for value in offsets}
    except ValueError as exc:
        raise click.BadParameter(f"offsets are PARTITION:OFFSET ({exc})") from exc
    if any(len(p) != 2 for p in positions):
        raise click.BadParameter("offsets are PARTITION:OFFSET")

    def chosen(letter: DeadLetter) -> bool:
        at = (letter.message.partition, letter.message.offset)
        return (not positions or at in positions) and (
            reason is None or letter.matches_reason(reason)
        )

    return chosen


@dlq.command("show")
@click.argument("topic")
@click.option("--offset", "offsets", multiple=True, help="PARTITION:OFFSET (repeatable).")
@click.option(
    "--reason", help="Only dead letters whose error type is this or whose reason holds it."
)
@click.option("--limit", type=int, default=DEFAULT_SHOW_LIMIT, show_default=True)
@click.pass_context
def show(
    ctx: click.Context, topic: str, offsets: tuple[str, ...], reason: str | None, limit: int
) -> None:
    """Print dead letters as JSON lines: reason, source position, time, article, excerpt."""
    settings = _settings(ctx)
    chosen = _chooser(offsets, reason)
    try:
        bus = open_bus(settings.bus)
        name = as_dead_letter_topic(topic)
        done = replayed_positions(bus, name)
        shown = 0
        for letter in read_dead_letters(bus, name):
            if shown >= limit:
                break
            if chosen(letter):
                line = letter.as_json() | {"replayed": letter.position in done}
                click.echo(json.dumps(line, ensure_ascii=False))
                shown += 1
    except AkhbarError as exc:
        _fail(str(exc))


@dlq.command("replay")
@click.argument("topic")
@click.option("--offset", "offsets", multiple=True, help="PARTITION:OFFSET (repeatable).")
@click.option(
    "--reason", help="Only dead letters whose error type is this or whose reason holds it."
)
@click.option("--all", "everything", is_flag=True, help="Every dead letter of the topic.")
@click.option("--force", is_flag=True, help="Replay dead letters already replayed before, too.")
@click.option("--dry-run", is_flag=True, help="Say what would be replayed; send nothing.")
@click.pass_context
def replay_dlq(
    ctx: click.Context,
    topic: str,
    offsets: tuple[str, ...],
    reason: str | None,
    everything: bool,
    force: bool,
    dry_run: bool,
) -> None:
    """Send chosen dead letters back to their source topic, once the cause is fixed.

    Each one replayed is recorded in TOPIC.replayed and skipped by later replays
    unless --force. Prints what was replayed and what was skipped as JSON.
    """
    if not (offsets or reason or everything):
        raise click.UsageError("choose dead letters with --offset or --reason, or give --all")
    settings = _settings(ctx)
    chosen = _chooser(offsets, reason)
    try:
        bus: Bus = open_bus(settings.bus)
        result = replay_dead_letters(bus, as_dead_letter_topic(topic), chosen, force, dry_run)
    except AkhbarError as exc:
        _fail(str(exc))
    _print_json(result.as_json())
