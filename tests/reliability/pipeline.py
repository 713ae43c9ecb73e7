"""The pipeline as `akhbar stage NAME` processes, and the checks every fault test ends with.

Each stage runs as its own process over the suite's private Kafka broker, with its
log in a file of its own, so a test can kill one, start it again, and read what
it said about the fault.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from opensearchpy import OpenSearch

from akhbar.bus import Message, open_bus
from akhbar.config import BusSettings, KafkaSettings
from akhbar.topics import Topics, dead_letter_topic
from sinks.index import alias_name
from sinks.jsonl import closed_files, read_lines
from tests.conftest import KAFKA_TEST_SESSION_MS, unique_prefix
from tests.helpers.articles import make_article

ARCHIVE_STAGES = ("archive", "normalize", "enrich", "jsonl", "search")
# A stage asked to stop finishes the messages in hand, flushes and commits.
STOP_TIMEOUT_S = 90
# `akhbar run --once` drains what the stopped stages left: a few seconds of work.
DRAIN_TIMEOUT_S = 300


def write_archive(path: Path, count: int, text_bytes: int = 1500) -> set[str]:
    """An archive of `count` distinct valid articles; their ids."""
    ids = set()
    with path.open("wb") as out:
        for n in range(count):
            article = make_article(n, text_bytes=text_bytes)
            ids.add(article.id)
            out.write(article.to_bytes() + b"\n")
    return ids


def pipeline_env(tmp_path: Path, kafka: str, opensearch: str) -> dict[str, str]:
    """Settings for every stage of one test's pipeline, through the environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AKHBAR_")}
    env |= {
        "AKHBAR_BUS__KAFKA__BOOTSTRAP_SERVERS": kafka,
        "AKHBAR_BUS__KAFKA__SESSION_TIMEOUT_MS": str(KAFKA_TEST_SESSION_MS),
        "AKHBAR_BUS__TOPIC_PREFIX": unique_prefix(),
        "AKHBAR_ARCHIVE__STATE_PATH": str(tmp_path / "archive-state.json"),
        "AKHBAR_SINKS__JSONL__DIR": str(tmp_path / "articles"),
        # Files become visible when closed; close them quickly so progress shows.
        "AKHBAR_SINKS__JSONL__ROTATE_AGE_S": "0.5",
        "AKHBAR_SINKS__SEARCH__ENABLED": "true",
        "AKHBAR_SINKS__SEARCH__HOSTS": opensearch,
        "AKHBAR_SINKS__SEARCH__INDEX_PREFIX": f"reliab-{uuid.uuid4().hex[:8]}",
        "AKHBAR_ENRICH__STORIES_PATH": str(tmp_path / "stories.sqlite"),
        "AKHBAR_RUNNER__COMMIT_INTERVAL_S": "0.5",
        # Outages last tens of seconds here; wake up often enough to notice the end.
        "AKHBAR_RUNNER__RETRY_BACKOFF_MAX_S": "5",
        "PYTHONUNBUFFERED": "1",
    }
    return env


def akhbar(*args: str) -> list[str]:
    return [sys.executable, "-m", "akhbar", *args]


@dataclass
class StageProcesses:
    """One `akhbar stage NAME` process per stage; logs under `logs/NAME.N.log`."""

    env: dict[str, str]
    logs: Path
    # What runs `akhbar`: the interpreter, or a wrapper that injects a fault.
    launcher: tuple[str, ...] = (sys.executable, "-m", "akhbar")
    running: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    starts: Counter[str] = field(default_factory=Counter)

    def start(self, *names: str) -> None:
        for name in names:
            self.start_command(name, "stage", name)

    def start_command(self, name: str, *args: str) -> None:
        """`akhbar ARGS` as the process called `name` (`akhbar run` runs every stage)."""
        self.logs.mkdir(parents=True, exist_ok=True)
        self.starts[name] += 1
        log = self.logs / f"{name}.{self.starts[name]}.log"
        with log.open("wb") as out:
            self.running[name] = subprocess.Popen(
                [*self.launcher, *args], env=self.env, stdout=out, stderr=subprocess.STDOUT
            )

    def wait_started(self, name: str, timeout_s: float = 120) -> None:
        """Wait until the stage's newest process has started up and handles SIGTERM: a
        process still importing dies of it (-15) instead of stopping cleanly."""
        log = self.logs / f"{name}.{self.starts[name]}.log"
        deadline = time.monotonic() + timeout_s
        while '"event": "starting"' not in log.read_text(errors="replace"):
            self.assert_all_running()
            assert time.monotonic() < deadline, f"stage {name} did not start:\n{self.tail(name)}"
            time.sleep(0.1)
        # The handlers are installed right after that line; leave them a moment.
        time.sleep(0.5)

    def kill(self, name: str) -> None:
        process = self.running.pop(name)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)

    def assert_all_running(self) -> None:
        """Every stage is still up: none gave up on a fault by exiting."""
        for name, process in self.running.items():
            code = process.poll()
            assert code is None, f"stage {name} exited with {code}:\n{self.tail(name)}"

    def stop(self) -> dict[str, int]:
        """SIGTERM every stage and wait; each one's exit code."""
        for process in self.running.values():
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        codes = {}
        for name, process in self.running.items():
            try:
                codes[name] = process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                codes[name] = process.wait()
        self.running = {}
        return codes

    def kill_all(self) -> None:
        """Teardown: nothing of a test may outlive it."""
        for name in list(self.running):
            self.kill(name)

    def log_text(self, name: str) -> str:
        return "".join(
            path.read_text(errors="replace") for path in sorted(self.logs.glob(f"{name}.*.log"))
        )

    def events(self, name: str) -> list[dict[str, object]]:
        """The JSON log lines every process of the stage wrote."""
        found = []
        for line in self.log_text(name).splitlines():
            with contextlib.suppress(ValueError):
                event = json.loads(line)
                if isinstance(event, dict):
                    found.append(event)
        return found

    def tail(self, name: str, lines: int = 40) -> str:
        return "\n".join(self.log_text(name).splitlines()[-lines:])


def drain(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`akhbar run --once`: every stage in one process until its input is read to the end."""
    return subprocess.run(
        akhbar("run", "--once"), env=env, capture_output=True, text=True, timeout=DRAIN_TIMEOUT_S
    )


# Progress and outcome.


def stored_ids_so_far(directory: Path) -> list[str]:
    """Ids in the closed files now, ignoring a file renamed while it is read."""
    ids = []
    for path in closed_files(directory) if directory.exists() else ():
        with contextlib.suppress(FileNotFoundError):
            ids += [json.loads(line)["id"] for line in read_lines(path)]
    return ids


def stored_ids(directory: Path) -> Counter[str]:
    """Every id in the JSON Lines sink's files, with how often it is there."""
    return Counter(
        json.loads(line)["id"] for path in closed_files(directory) for line in read_lines(path)
    )


def search_client(env: dict[str, str]) -> OpenSearch:
    return OpenSearch(hosts=[env["AKHBAR_SINKS__SEARCH__HOSTS"]], timeout=30)


def indexed_count(env: dict[str, str]) -> int:
    """Documents in the pipeline's index now (0 while it does not exist or is unreachable)."""
    client = search_client(env)
    alias = alias_name(env["AKHBAR_SINKS__SEARCH__INDEX_PREFIX"])
    try:
        client.indices.refresh(index=alias)
        return int(client.count(index=alias)["count"])
    except Exception:  # not created yet, or the node is down on purpose
        return 0
    finally:
        client.close()


def indexed_ids(env: dict[str, str]) -> list[str]:
    client = search_client(env)
    alias = alias_name(env["AKHBAR_SINKS__SEARCH__INDEX_PREFIX"])
    try:
        client.indices.refresh(index=alias)
        hits = client.search(
            index=alias, body={"query": {"match_all": {}}, "_source": False}, size=10_000
        )["hits"]["hits"]
        return [hit["_id"] for hit in hits]
    finally:
        client.close()


def wait_for_both_sinks(
    env: dict[str, str],
    expected: int,
    stages: StageProcesses,
    timeout_s: float,
) -> None:
    """Wait until the files and the index hold `expected` articles; every stage stays up."""
    directory = Path(env["AKHBAR_SINKS__JSONL__DIR"])
    deadline = time.monotonic() + timeout_s
    files = index = 0
    while time.monotonic() < deadline:
        stages.assert_all_running()
        files = len(set(stored_ids_so_far(directory)))
        index = indexed_count(env)
        if files >= expected and index >= expected:
            return
        time.sleep(1)
    raise AssertionError(
        f"after {timeout_s:g} s the files hold {files} and the index {index} of {expected}"
    )


def read_topic(env: dict[str, str], topic: str) -> list[Message]:
    """Every message on the topic, read by a consumer group of its own."""
    settings = BusSettings(
        backend="kafka",
        kafka=KafkaSettings(
            bootstrap_servers=[env["AKHBAR_BUS__KAFKA__BOOTSTRAP_SERVERS"]],
            session_timeout_ms=KAFKA_TEST_SESSION_MS,
        ),
    )
    bus = open_bus(settings)
    consumer = bus.consumer(f"{unique_prefix()}reader", [topic])
    messages: list[Message] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            batch = consumer.poll(0.5, 1000)
            messages += batch
            if not batch and consumer.at_end():
                break
    finally:
        consumer.close()
        bus.close()
    return messages


def dead_letters(env: dict[str, str], topics: tuple[str, ...]) -> dict[str, int]:
    """How many dead letters each of the topics' twins holds."""
    prefix = Topics(env["AKHBAR_BUS__TOPIC_PREFIX"])
    return {topic: len(read_topic(env, dead_letter_topic(prefix.name(topic)))) for topic in topics}


def assert_each_article_once(
    env: dict[str, str], expected: set[str], expected_dead_letters: dict[str, int]
) -> None:
    """The checks every fault test ends with: both sinks hold each article exactly once,
    and the dead-letter topics hold what a run without the fault would put there."""
    counts = stored_ids(Path(env["AKHBAR_SINKS__JSONL__DIR"]))
    repeated = {article_id: n for article_id, n in counts.items() if n > 1}
    assert not repeated, f"{len(repeated)} articles are in the files more than once"
    assert len(set(counts) - expected) == 0, "the files hold articles never sent"
    assert len(expected - set(counts)) == 0, f"{len(expected - set(counts))} articles lost"
    ids = indexed_ids(env)
    assert len(ids) == len(set(ids)) == len(expected), f"the index holds {len(ids)} documents"
    assert set(ids) == expected
    assert dead_letters(env, tuple(expected_dead_letters)) == expected_dead_letters
