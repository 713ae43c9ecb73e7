"""`akhbar dlq list | show | replay` over both buses, on dead letters a real stage wrote."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import structlog
from click.testing import CliRunner

from akhbar.article import Article
from akhbar.bus import Bus, StoredMessage
from akhbar.cli import cli
from akhbar.config import BusSettings
from akhbar.dead_letters import DeadLetter, ledger_topic
from akhbar.errors import InvalidArticle
from akhbar.replay import HEADER_REPLAYED_FROM
from akhbar.runner import HEADER_ERROR, HEADER_SOURCE, Stage
from tests.akhbar.test_runner import CollectingSink, drain, produce
from tests.helpers.articles import make_article

BLOCKED = "source blocked by the filter"


def cli_env(settings: BusSettings) -> dict[str, str]:
    """The environment that points the command line at the test's bus."""
    env = {
        "AKHBAR_BUS__BACKEND": settings.backend,
        "AKHBAR_BUS__TOPIC_PREFIX": settings.topic_prefix,
        "AKHBAR_BUS__EMBEDDED_PATH": str(settings.embedded_path),
        "AKHBAR_BUS__PARTITIONS": str(settings.partitions),
    }
    if settings.kafka is not None:
        env["AKHBAR_BUS__KAFKA__BOOTSTRAP_SERVERS"] = ",".join(settings.kafka.bootstrap_servers)
    return env


@pytest.fixture
def dlq(settings_for: BusSettings) -> Iterator[CliRunner]:
    yield CliRunner()
    structlog.reset_defaults()  # the commands bound the logger to the runner's stderr


def run_dlq(runner: CliRunner, settings: BusSettings, *args: str) -> str:
    result = runner.invoke(cli, ["dlq", *args], env=cli_env(settings))
    assert result.exit_code == 0, (result.output, result.stderr[-2000:])
    return result.stdout


def show(runner: CliRunner, settings: BusSettings, *args: str) -> list[str]:
    return run_dlq(runner, settings, "show", *args).splitlines()


class BlockingStep:
    """A step that dead-letters the articles of blocked sources until it is fixed."""

    def __init__(self, blocked: set[str]) -> None:
        self.blocked = blocked

    def __call__(self, article: Article) -> Article:
        if article.id in self.blocked:
            raise InvalidArticle(f"{BLOCKED}: {article.url}")
        return article


def test_list_show_and_replay_dead_letters_once(
    bus: Bus, settings_for: BusSettings, dlq: CliRunner
) -> None:
    # Given a stage that dead-lettered 4 blocked articles and one message that is not JSON
    prefix = settings_for.topic_prefix
    batch = [make_article(n) for n in range(12)]
    blocked = {a.id for a in batch[:4]}
    produce(bus, f"{prefix}in", [a.to_bytes() for a in batch] + [b"{not json"])
    step, sink = BlockingStep(blocked), CollectingSink()
    stage = Stage("check", "1", f"{prefix}in", step, sink=lambda: sink)
    drain(bus, stage, prefix=prefix)
    assert len(sink.stored) == 8

    # When the dead letters are listed
    [summary] = json.loads(run_dlq(dlq, settings_for, "list", "--json"))

    # Then the topic shows 5 in two groups: the blocked URLs are one reason
    assert summary["topic"] == f"{prefix}in.dlq"
    assert (summary["count"], summary["replayed"]) == (5, 0)
    reasons = {r["reason"]: r["count"] for r in summary["reasons"]}
    assert reasons.pop(f"{BLOCKED}: <url>") == 4
    [(not_json, count)] = reasons.items()
    assert not_json.startswith("not JSON") and count == 1
    assert {r["stage"] for r in summary["reasons"]} == {"check"}
    table = run_dlq(dlq, settings_for, "list")
    assert f"{prefix}in.dlq: 5 dead letters, 0 replayed" in table

    # When the blocked ones are shown (by the source topic's name)
    shown = [
        json.loads(line) for line in show(dlq, settings_for, f"{prefix}in", "--reason", BLOCKED)
    ]

    # Then each says why, where it came from, when, which article, and begins with it
    assert {s["article_id"] for s in shown} == blocked
    for s in shown:
        assert s["reason"] == f"{BLOCKED}: {s['url']}"
        assert s["source"].startswith(f"{prefix}in[") and s["source_topic"] == f"{prefix}in"
        assert s["time"].startswith("20") and s["replayed"] is False
        assert s["excerpt"].startswith('{"schema_version"')

    # When the filter is fixed and the blocked ones are replayed, then the stage drains
    step.blocked = set()
    result = json.loads(
        run_dlq(dlq, settings_for, "replay", f"{prefix}in.dlq", "--reason", BLOCKED)
    )
    drain(bus, stage, prefix=prefix)

    # Then the stage stored them this time, and only the message that is not JSON remains
    assert len(result["replayed"]) == 4 and result["skipped_as_replayed_before"] == []
    assert {a.id for a in sink.stored} == {a.id for a in batch}
    assert len(sink.stored) == 12
    [summary] = json.loads(run_dlq(dlq, settings_for, "list", "--json"))
    assert (summary["count"], summary["replayed"]) == (5, 4)

    # And a second replay of the same dead letters sends nothing, unless forced
    again = json.loads(run_dlq(dlq, settings_for, "replay", f"{prefix}in", "--all"))
    [not_json] = again["replayed"]
    assert not_json["reason"].startswith("not JSON"), "only the one never replayed"
    assert sorted(again["skipped_as_replayed_before"]) == sorted(s["position"] for s in shown)
    forced = json.loads(
        run_dlq(dlq, settings_for, "replay", f"{prefix}in", "--reason", BLOCKED, "--force")
    )
    assert len(forced["replayed"]) == 4


def test_a_replayed_message_that_fails_again_is_a_new_dead_letter_naming_its_origin(
    bus: Bus, settings_for: BusSettings, dlq: CliRunner
) -> None:
    # Given one dead letter, replayed while its cause is not fixed
    prefix = settings_for.topic_prefix
    article = make_article(1)
    produce(bus, f"{prefix}in", [article.to_bytes()])
    stage = Stage("check", "1", f"{prefix}in", BlockingStep({article.id}), sink=CollectingSink)
    drain(bus, stage, prefix=prefix)
    [first] = [json.loads(line) for line in show(dlq, settings_for, f"{prefix}in")]
    at = f"{first['partition']}:{first['offset']}"
    run_dlq(dlq, settings_for, "replay", f"{prefix}in", "--offset", at)

    # When the stage reads the copy and fails again
    drain(bus, stage, prefix=prefix)

    # Then the topic holds a second dead letter, with one set of failure headers,
    # naming the first as its origin; only the first is marked replayed
    letters = [json.loads(line) for line in show(dlq, settings_for, f"{prefix}in")]
    assert len(letters) == 2
    second = next(s for s in letters if s["position"] != first["position"])
    assert second["replayed_from"] == first["position"]
    assert {s["position"]: s["replayed"] for s in letters} == {
        first["position"]: True,
        second["position"]: False,
    }
    ranges = bus.offset_ranges(f"{prefix}in.dlq")
    [message] = [
        m
        for m in bus.read_range(f"{prefix}in.dlq", ranges)
        if f"{m.topic}[{m.partition}]@{m.offset}" == second["position"]
    ]
    names = [name for name, _ in message.headers]
    assert names.count(HEADER_ERROR) == 1 and names.count(HEADER_REPLAYED_FROM) == 1
    assert ledger_topic(f"{prefix}in.dlq") in bus.list_topics()


def test_replay_needs_a_choice_and_a_dead_letter_topic(
    settings_for: BusSettings, dlq: CliRunner
) -> None:
    nothing = dlq.invoke(cli, ["dlq", "replay", "articles.cleaned"], env=cli_env(settings_for))
    ledger = dlq.invoke(
        cli, ["dlq", "show", "articles.cleaned.dlq.replayed"], env=cli_env(settings_for)
    )
    assert nothing.exit_code == 2 and "--offset or --reason" in nothing.stderr
    assert ledger.exit_code == 1 and "replay ledger" in ledger.stderr


def test_a_source_reject_goes_back_to_the_topic_its_dead_letter_topic_serves() -> None:
    # An archive line that was never valid: its source is a file and line, not a position
    message = StoredMessage(
        "p.articles.cleaned.dlq",
        0,
        3,
        None,
        b"{not json",
        ((HEADER_ERROR, b"not JSON"), (HEADER_SOURCE, b"archive.jsonl:3")),
        1_764_230_400_000,
    )

    letter = DeadLetter.of(message)

    assert letter.source_topic == "p.articles.cleaned"
    assert letter.as_json() | {"excerpt": None} == {
        "position": "p.articles.cleaned.dlq[0]@3",
        "partition": 0,
        "offset": 3,
        "time": "2025-11-27T08:00:00.000+00:00",
        "reason": "not JSON",
        "error_type": "",
        "stage": "",
        "source": "archive.jsonl:3",
        "source_topic": "p.articles.cleaned",
        "replayed_from": None,
        "article_id": None,
        "url": None,
        "excerpt": None,
    }
