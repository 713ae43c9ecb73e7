"""`akhbar run` end to end, as an operator runs it: 10,000 articles, a SIGKILL, a restart."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import KAFKA_TEST_SESSION_MS, unique_prefix
from tests.helpers.articles import make_article

ARTICLES = 10_000
# The SIGKILL test waits for this many articles in the sink: mid-stream, when every
# stage has work in hand, so the stages upstream of the sink produce some articles
# again after the restart (killed at the first file, they seldom did).
KILL_AT_STORED = 4_000


def write_archive(path: Path, count: int) -> set[str]:
    ids = set()
    with path.open("wb") as out:
        for n in range(count):
            article = make_article(n, text_bytes=2000)
            ids.add(article.id)
            out.write(article.to_bytes() + b"\n")
    return ids


def environment(tmp_path: Path, backend: str, kafka: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AKHBAR_")}
    env |= {
        "AKHBAR_BUS__EMBEDDED_PATH": str(tmp_path / "bus.sqlite3"),
        "AKHBAR_BUS__TOPIC_PREFIX": unique_prefix(),
        "AKHBAR_ARCHIVE__STATE_PATH": str(tmp_path / "archive-state.json"),
        "AKHBAR_SINKS__JSONL__DIR": str(tmp_path / "articles"),
        # Files become visible when closed; close them quickly for the tests that watch.
        "AKHBAR_SINKS__JSONL__ROTATE_AGE_S": "0.2",
        "AKHBAR_ENRICH__STORIES_PATH": str(tmp_path / "stories.sqlite"),
        "AKHBAR_RUNNER__COMMIT_INTERVAL_S": "0.5",
    }
    if backend == "kafka":
        env["AKHBAR_BUS__KAFKA__BOOTSTRAP_SERVERS"] = str(kafka)
        env["AKHBAR_BUS__KAFKA__SESSION_TIMEOUT_MS"] = str(KAFKA_TEST_SESSION_MS)
    return env


def stored_ids(directory: Path) -> list[str]:
    return [
        json.loads(line)["id"]
        for f in sorted(directory.glob("*/*.jsonl"))
        for line in f.read_text().splitlines()
    ]


def akhbar(*args: str) -> list[str]:
    return [sys.executable, "-m", "akhbar", *args]


def run_once(archive: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`akhbar run --once` over the archive, to the end."""
    return subprocess.run(
        akhbar("run", "--once", "--archive", str(archive)),
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture
def kafka_or_none(backend: str, request: pytest.FixtureRequest) -> str | None:
    return request.getfixturevalue("kafka_bootstrap") if backend == "kafka" else None


def test_run_once_moves_every_article_to_the_sink(
    tmp_path: Path, backend: str, kafka_or_none: str | None
) -> None:
    archive = tmp_path / "archive.jsonl"
    expected = write_archive(archive, ARTICLES)
    env = environment(tmp_path, backend, kafka_or_none)

    proc = run_once(archive, env)

    assert proc.returncode == 0, proc.stderr[-3000:]
    ids = stored_ids(tmp_path / "articles")
    assert len(ids) == ARTICLES
    assert set(ids) == expected
    first = json.loads(
        (tmp_path / "articles").glob("*/*.jsonl").__next__().read_text().splitlines()[0]
    )
    assert [p["name"] for p in first["processors"]] == ["archive", "normalize", "enrich", "jsonl"]


def test_sigkill_mid_run_then_restart_stores_each_article_exactly_once(
    tmp_path: Path, backend: str, kafka_or_none: str | None
) -> None:
    # Given a running pipeline importing 10,000 articles
    archive = tmp_path / "archive.jsonl"
    expected = write_archive(archive, ARTICLES)
    env = environment(tmp_path, backend, kafka_or_none)
    # Small batches and frequent commits, so the kill lands mid-stream.
    env |= {"AKHBAR_RUNNER__MAX_BATCH": "50", "AKHBAR_RUNNER__COMMIT_INTERVAL_S": "0.05"}
    running = subprocess.Popen(
        akhbar("run", "--archive", str(archive)),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    # When it is killed with SIGKILL once the sink has part of them
    deadline = time.monotonic() + 300
    while len(stored_ids_safe(tmp_path / "articles")) < KILL_AT_STORED:
        assert running.poll() is None, "the pipeline exited by itself"
        assert time.monotonic() < deadline, "the pipeline made no progress"
        time.sleep(0.05)
    running.send_signal(signal.SIGKILL)
    running.wait(timeout=30)
    at_kill = len(stored_ids_safe(tmp_path / "articles"))
    env.pop("AKHBAR_RUNNER__MAX_BATCH")

    # and started again until drained
    proc = run_once(archive, env)

    # Then every article is in the files exactly once, though the stages upstream
    # of the sink produced some of them again after the kill
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert at_kill < ARTICLES, "the kill came after the end; nothing was tested"
    counts = Counter(stored_ids(tmp_path / "articles"))
    repeated = {article_id: n for article_id, n in counts.items() if n > 1}
    assert not repeated, f"{len(repeated)} articles stored more than once"
    assert set(counts) == expected


def stored_ids_safe(directory: Path) -> list[str]:
    """Ids stored so far, ignoring a line still being appended."""
    ids = []
    for f in sorted(directory.glob("*/*.jsonl")) if directory.exists() else []:
        for line in f.read_bytes().splitlines():
            with contextlib.suppress(ValueError):
                ids.append(json.loads(line)["id"])
    return ids


def test_sigterm_finishes_cleanly(tmp_path: Path) -> None:
    archive = tmp_path / "archive.jsonl"
    write_archive(archive, 2000)
    env = environment(tmp_path, "embedded", None)
    running = subprocess.Popen(
        akhbar("run", "--archive", str(archive)),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not stored_ids_safe(tmp_path / "articles") and time.monotonic() < deadline:
        time.sleep(0.05)
    running.send_signal(signal.SIGTERM)
    _, stderr = running.communicate(timeout=60)
    assert running.returncode == 0, stderr[-2000:]
    assert '"event": "stopping: finishing the messages in hand"' in stderr
    assert '"event": "stage stopped"' in stderr
