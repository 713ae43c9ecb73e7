"""`akhbar replay`: after a processor upgrade, a time or offset range goes through a stage again.

The acceptance test runs the pipeline as an operator would, through the command
line, in this process so the upgrade can be made by raising a stage's VERSION.
"""

from __future__ import annotations

import gc
import json
import signal
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import structlog
from click.testing import CliRunner
from opensearchpy import OpenSearch, helpers

from akhbar.bus import open_bus
from akhbar.cli import cli
from akhbar.config import BusSettings
from akhbar.replay import (
    HEADER_REPLAYED_FROM,
    Selection,
    parse_offsets,
    parse_time,
    plan,
    replay,
)
from processors import enrich
from sinks.index import alias_name
from sinks.jsonl import closed_files, read_lines
from tests.akhbar.test_dead_letters import cli_env
from tests.helpers.articles import make_article
from tests.test_end_to_end import environment

PER_IMPORT = 150


@pytest.fixture
def kafka_or_none(backend: str, request: pytest.FixtureRequest) -> str | None:
    return request.getfixturevalue("kafka_bootstrap") if backend == "kafka" else None


@pytest.fixture
def restore_process_state() -> Iterator[None]:
    """`akhbar run` sets signal handlers, the collector and logging for its process: undo it."""
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    threshold = gc.get_threshold()
    yield
    for sig, handler in handlers.items():
        signal.signal(sig, handler)
    gc.set_threshold(*threshold)
    gc.unfreeze()
    structlog.reset_defaults()


def invoke(env: dict[str, str], *args: str) -> str:
    """Run `akhbar ARGS` in this process; its standard output, after checking it succeeded."""
    result = CliRunner().invoke(cli, list(args), env=env)
    structlog.reset_defaults()  # the logger was bound to the runner's stderr
    assert result.exit_code == 0, (result.output, result.stderr[-3000:], result.exception)
    return result.stdout


def write_archive(path: Path, numbers: range) -> set[str]:
    articles = [make_article(n) for n in numbers]
    path.write_bytes(b"".join(a.to_bytes() + b"\n" for a in articles))
    return {a.id for a in articles}


def latest_enrich_versions(directory: Path) -> dict[str, str]:
    """Article id -> the enrich version of its latest line in the closed files.

    An article's lines share one partition and one date, and files sort by offset
    within them, so the last line read is the latest.
    """
    versions = {}
    for path in closed_files(directory):
        for line in read_lines(path):
            article = json.loads(line)
            stamps = {p["name"]: p["version"] for p in article["processors"]}
            versions[article["id"]] = stamps["enrich"]
    return versions


def indexed_enrich_versions(client: OpenSearch, prefix: str) -> dict[str, str]:
    client.indices.refresh(index=alias_name(prefix))
    return {
        hit["_id"]: {p["name"]: p["version"] for p in hit["_source"]["processors"]}["enrich"]
        for hit in helpers.scan(
            client,
            index=alias_name(prefix),
            query={"query": {"match_all": {}}},
            _source=["processors"],
        )
    }


def test_replay_after_an_upgrade_updates_both_sinks_without_adding_articles(
    tmp_path: Path,
    backend: str,
    kafka_or_none: str | None,
    opensearch_url: str,
    monkeypatch: pytest.MonkeyPatch,
    restore_process_state: None,
) -> None:
    prefix = f"akhbar-test-{uuid.uuid4().hex[:8]}"
    env = environment(tmp_path, backend, kafka_or_none) | {
        "AKHBAR_SINKS__SEARCH__ENABLED": "true",
        "AKHBAR_SINKS__SEARCH__HOSTS": opensearch_url,
        "AKHBAR_SINKS__SEARCH__INDEX_PREFIX": prefix,
    }
    client = OpenSearch(hosts=[opensearch_url])
    try:
        # Given two imports an instant apart, each run through the pipeline to the end
        earlier = write_archive(tmp_path / "earlier.jsonl", range(PER_IMPORT))
        invoke(env, "run", "--once", "--archive", str(tmp_path / "earlier.jsonl"))
        time.sleep(0.05)
        between = datetime.now(UTC).isoformat()
        time.sleep(0.05)
        later = write_archive(tmp_path / "later.jsonl", range(PER_IMPORT, 2 * PER_IMPORT))
        invoke(env, "run", "--once", "--archive", str(tmp_path / "later.jsonl"))
        old, new = enrich.VERSION, str(int(enrich.VERSION) + 1)
        assert set(latest_enrich_versions(tmp_path / "articles").values()) == {old}

        # When enrich is upgraded, the later import's time range is replayed into it,
        # and the pipeline drains again
        monkeypatch.setattr(enrich, "VERSION", new)
        until = datetime.now(UTC).isoformat()
        report = json.loads(
            invoke(env, "replay", "--stage", "enrich", "--since", between, "--until", until)
        )
        invoke(env, "run", "--once")

        # Then the replay sent exactly the later import back into enrich's input
        assert report["replayed"] == PER_IMPORT
        assert (
            report["from"]
            == report["to"]
            == f"{env['AKHBAR_BUS__TOPIC_PREFIX']}articles.normalized"
        )
        # And both sinks hold every article once, the replayed ones in the new version
        expected = dict.fromkeys(earlier, old) | dict.fromkeys(later, new)
        assert latest_enrich_versions(tmp_path / "articles") == expected
        assert indexed_enrich_versions(client, prefix) == expected
        # And the files gained one line per replayed article, its new version
        lines = sum(1 for path in closed_files(tmp_path / "articles") for _ in read_lines(path))
        assert lines == 3 * PER_IMPORT
    finally:
        client.indices.delete(index=f"{alias_name(prefix)}-*", ignore_unavailable=True)
        client.indices.delete_index_template(name=alias_name(prefix), ignore=[404])


def produce(settings: BusSettings, topic: str, count: int) -> None:
    bus = open_bus(settings)
    bus.ensure_topics([topic])
    producer = bus.producer()
    for n in range(count):
        article = make_article(n)
        producer.send(topic, article.to_bytes(), key=article.id.encode(), headers=(("h", b"v"),))
    producer.flush()
    producer.close()


def test_replay_by_offsets_sends_that_slice_of_each_partition(settings_for: BusSettings) -> None:
    # Given 60 articles over 3 partitions
    topic = f"{settings_for.topic_prefix}source"
    produce(settings_for, topic, 60)
    bus = open_bus(settings_for)

    # When offsets 1..3 of partition 0 and 5.. of partition 2 are replayed to another topic
    selection = Selection(
        from_offsets={0: 1, 2: 5}, to_offsets={0: 3}, partitions=frozenset({0, 2})
    )
    ranges = plan(bus, topic, selection)
    report = replay(bus, topic, f"{settings_for.topic_prefix}copy", selection)

    # Then exactly those messages arrive, keys, values and headers kept, their origin named
    ends = {p: stop for p, (_, stop) in bus.offset_ranges(topic).items()}
    assert ranges == {0: (1, 4), 2: (5, ends[2])}
    copy_topic = f"{settings_for.topic_prefix}copy"
    copies = list(bus.read_range(copy_topic, bus.offset_ranges(copy_topic)))
    originals = list(bus.read_range(topic, ranges))
    assert report.replayed == len(copies) == 3 + ends[2] - 5
    by_origin = {dict(m.headers)[HEADER_REPLAYED_FROM].decode(): m for m in copies}
    for original in originals:
        copy = by_origin[f"{topic}[{original.partition}]@{original.offset}"]
        assert (copy.key, copy.value) == (original.key, original.value)
        assert dict(copy.headers)["h"] == b"v"


def test_replay_into_its_own_topic_stops_at_the_end_it_found(settings_for: BusSettings) -> None:
    topic = f"{settings_for.topic_prefix}loop"
    produce(settings_for, topic, 30)
    bus = open_bus(settings_for)

    report = replay(bus, topic, topic, Selection())

    assert report.replayed == 30
    assert sum(stop - start for start, stop in bus.offset_ranges(topic).values()) == 60


def test_dry_run_counts_and_sends_nothing(settings_for: BusSettings) -> None:
    topic = f"{settings_for.topic_prefix}dry"
    produce(settings_for, topic, 12)
    bus = open_bus(settings_for)

    report = replay(bus, topic, f"{settings_for.topic_prefix}nowhere", Selection(), dry_run=True)

    assert report.replayed == 12
    assert f"{settings_for.topic_prefix}nowhere" not in bus.list_topics()


def test_replay_command_refuses_what_it_cannot_do(tmp_path: Path) -> None:
    env = {"AKHBAR_BUS__EMBEDDED_PATH": str(tmp_path / "bus.sqlite3")}
    runner = CliRunner()
    assert runner.invoke(cli, ["topics"], env=env).exit_code == 0

    no_range = runner.invoke(cli, ["replay", "--stage", "enrich"], env=env)
    bad_time = runner.invoke(cli, ["replay", "--stage", "enrich", "--since", "yesterday"], env=env)
    no_search = runner.invoke(cli, ["replay", "--stage", "search", "--all"], env=env)
    no_partition = runner.invoke(
        cli, ["replay", "--stage", "enrich", "--from-offset", "7:0"], env=env
    )
    structlog.reset_defaults()

    assert no_range.exit_code == 2 and "--since" in no_range.stderr
    assert bad_time.exit_code == 2 and "ISO 8601" in bad_time.stderr
    assert no_search.exit_code == 1 and "'search' is not configured" in no_search.stderr
    assert no_partition.exit_code == 1 and "no partition [7]" in no_partition.stderr


def test_replay_command_takes_offsets_per_partition_and_a_destination(
    settings_for: BusSettings,
) -> None:
    # Given 60 articles over 3 partitions
    topic, copy = f"{settings_for.topic_prefix}source", f"{settings_for.topic_prefix}copy"
    produce(settings_for, topic, 60)
    env = cli_env(settings_for)

    # When offsets 1..2 of every partition, and only 4.. of partition 1, are replayed
    runner = CliRunner()
    result = runner.invoke(
        cli,
        ["replay", "--topic", topic, "--to", copy, "--from-offset", "1", "--to-offset", "2"]
        + ["--from-offset", "1:4", "--to-offset", "1:5"],
        env=env,
    )
    structlog.reset_defaults()

    # Then the report and the destination agree: two messages from partitions 0 and 2,
    # two from partition 1 starting at 4
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["replayed"] == 6
    assert {p: (r["first"], r["last"]) for p, r in report["partitions"].items()} == {
        "0": (1, 2),
        "1": (4, 5),
        "2": (1, 2),
    }
    bus = open_bus(settings_for)
    assert sum(stop for _, stop in bus.offset_ranges(copy).values()) == 6


def test_offsets_and_times_parse_as_documented() -> None:
    assert parse_offsets(["12", "0:5", "2:7"]) == {None: 12, 0: 5, 2: 7}
    assert parse_time("2026-11-27T08:00:00Z") == parse_time("2026-11-27T08:00:00")
    assert parse_time("2026-11-27T11:00:00+03:00") == parse_time("2026-11-27T08:00:00Z")
    with pytest.raises(ValueError):
        parse_offsets(["0:first"])
