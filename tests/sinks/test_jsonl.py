"""The JSON Lines sink: every record exactly once in the files, through crashes and rewinds."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from akhbar.article import Article
from akhbar.bus import Bus, StoredMessage
from akhbar.config import BusSettings, JsonlSinkSettings
from akhbar.errors import SinkUnavailable
from akhbar.topics import Topics
from sinks.jsonl import OPEN_DIR, STATE_DIR, JsonlSink, closed_files, read_lines
from sinks.stored_keys import StoredArticles
from tests.akhbar.test_runner import produce
from tests.conftest import KAFKA_TEST_SESSION_MS
from tests.helpers.articles import make_article

TOPIC = "articles.enriched"


def sink_settings(tmp_path: Path, **overrides: Any) -> JsonlSinkSettings:
    return JsonlSinkSettings(dir=tmp_path / "articles", **overrides)


def record(article: Article, offset: int, partition: int = 0) -> StoredMessage:
    return StoredMessage(TOPIC, partition, offset, article.id.encode(), article.to_bytes())


def add_all(sink: JsonlSink, articles: list[Article], start: int = 0) -> None:
    for offset, article in enumerate(articles[start:], start):
        sink.add(article, record(article, offset))


def stored_ids(directory: Path) -> list[str]:
    return [json.loads(line)["id"] for f in closed_files(directory) for line in read_lines(f)]


def test_closed_files_are_named_by_partition_and_offsets_and_filed_by_date(
    tmp_path: Path,
) -> None:
    # Given articles published on two days, from two partitions
    day = datetime(2026, 11, 26, 23, 30, tzinfo=UTC)
    articles = [
        make_article(n).model_copy(update={"published_at": day + timedelta(hours=n % 2)})
        for n in range(6)
    ]
    sink = JsonlSink(sink_settings(tmp_path))

    for offset, article in enumerate(articles):
        sink.add(article, record(article, offset // 2, partition=offset % 2))
    sink.flush()
    # Nothing is visible until a file is closed
    assert stored_ids(tmp_path / "articles") == []
    sink.close()

    names = sorted(f"{p.parent.name}/{p.name}" for p in closed_files(tmp_path / "articles"))
    pad = "0" * 19
    assert names == [
        f"2026-11-26/{TOPIC}+0+{pad}0+{pad}2.jsonl",
        f"2026-11-27/{TOPIC}+1+{pad}0+{pad}2.jsonl",
    ]
    assert sorted(stored_ids(tmp_path / "articles")) == sorted(a.id for a in articles)


def test_records_redelivered_after_a_crash_before_the_commit_are_skipped(tmp_path: Path) -> None:
    articles = [make_article(n) for n in range(150)]
    # Given a sink that flushed offsets 0..99, then crashed before the commit
    first = JsonlSink(sink_settings(tmp_path))
    add_all(first, articles[:100])
    first.flush()

    # When the restarted sink is given 0..149 again
    restarted = JsonlSink(sink_settings(tmp_path))
    add_all(restarted, articles)
    restarted.flush()
    restarted.close()

    # Then each article is in the files once
    assert restarted.skipped == 100
    assert stored_ids(tmp_path / "articles") == [a.id for a in articles]


def test_a_tail_written_after_the_last_checkpoint_is_discarded(tmp_path: Path) -> None:
    articles = [make_article(n) for n in range(100)]
    first = JsonlSink(sink_settings(tmp_path))
    add_all(first, articles[:50])
    first.flush()
    # Given a crash in the middle of the next flush: half a line appended, and a new
    # open file created, neither checkpointed
    open_dir = tmp_path / "articles" / OPEN_DIR / f"{TOPIC}+0"
    [open_file] = open_dir.iterdir()
    with open_file.open("ab") as torn:
        torn.write(articles[50].to_bytes()[:40])
    (open_dir / "2026-11-28+00000000000000000077.jsonl").write_bytes(b'{"id": "half')

    # When the sink restarts and the uncommitted records come again
    restarted = JsonlSink(sink_settings(tmp_path))
    add_all(restarted, articles, start=50)
    restarted.flush()
    restarted.close()

    # Then the files hold every article once, and nothing half-written
    assert stored_ids(tmp_path / "articles") == [a.id for a in articles]
    assert list(open_dir.iterdir()) == []


def test_a_failed_write_cuts_the_file_back_and_the_articles_come_again(tmp_path: Path) -> None:
    articles = [make_article(n) for n in range(20)]
    sink = JsonlSink(sink_settings(tmp_path))
    add_all(sink, articles[:10])
    sink.flush()
    add_all(sink, articles, start=10)
    # A full disk cannot be produced on demand: fsync fails as it would then.
    with (
        mock.patch("sinks.jsonl.os.fsync", side_effect=OSError(28, "No space left on device")),
        pytest.raises(SinkUnavailable, match="No space left"),
    ):
        sink.flush()

    # The runner goes back to the last commit and adds the same records again
    add_all(sink, articles, start=10)
    sink.flush()
    sink.close()
    assert stored_ids(tmp_path / "articles") == [a.id for a in articles]


def test_a_partition_written_meanwhile_by_another_process_is_read_again(
    tmp_path: Path,
) -> None:
    articles = [make_article(n) for n in range(25)]
    old_owner = JsonlSink(sink_settings(tmp_path))
    add_all(old_owner, articles[:10])
    old_owner.flush()
    # Given the old owner holds 10..14 unflushed when the partition moves, and the
    # new owner (another process) stores 10..19
    add_all(old_owner, articles[:15], start=10)
    new_owner = JsonlSink(sink_settings(tmp_path))
    add_all(new_owner, articles[:20], start=10)
    new_owner.flush()

    # Then the old owner's flush fails rather than write 10..14 a second time
    with pytest.raises(SinkUnavailable, match="another process"):
        old_owner.flush()
    # and, read again from its last commit, it adds only what is new
    add_all(old_owner, articles, start=10)
    old_owner.flush()
    new_owner.close()
    old_owner.close()
    assert stored_ids(tmp_path / "articles") == [a.id for a in articles]


def test_files_rotate_by_size_and_can_be_gzipped(tmp_path: Path) -> None:
    articles = [make_article(n, text_bytes=2000) for n in range(30)]
    sink = JsonlSink(sink_settings(tmp_path, rotate_bytes=500, gzip=True))
    for n in range(0, 30, 5):  # one flush per commit of five
        add_all(sink, articles[: n + 5], start=n)
        sink.flush()
    sink.close()

    files = list(closed_files(tmp_path / "articles"))
    assert len(files) > 1
    assert all(f.name.endswith(".jsonl.gz") for f in files)
    assert stored_ids(tmp_path / "articles") == [a.id for a in articles]


def test_files_rotate_by_age_even_while_the_input_is_idle(tmp_path: Path) -> None:
    articles = [make_article(n) for n in range(4)]
    sink = JsonlSink(sink_settings(tmp_path, rotate_age_s=0.2))
    add_all(sink, articles[:2])
    sink.flush()
    time.sleep(0.5)
    add_all(sink, articles, start=2)
    sink.flush()

    # The first file closed by age, the second is still open
    assert stored_ids(tmp_path / "articles") == [a.id for a in articles[:2]]
    # and closes by age too with no further record or flush
    time.sleep(0.5)
    assert stored_ids(tmp_path / "articles") == [a.id for a in articles]
    sink.close()


def test_an_article_produced_again_upstream_is_stored_once(tmp_path: Path) -> None:
    articles = [make_article(n).stamped("jsonl", "2") for n in range(60)]
    sink = JsonlSink(sink_settings(tmp_path))
    add_all(sink, articles[:50])
    sink.flush()
    # Given an upstream stage that crashed and produced 20..49 again, as new records,
    # one of them twice within a batch, followed by new articles
    again = articles[20:50] + [articles[55]] + articles[50:60]
    for offset, article in enumerate(again, 50):
        sink.add(article, record(article, offset))
    sink.flush()
    sink.close()

    assert sink.duplicates == 31
    assert sorted(stored_ids(tmp_path / "articles")) == sorted(a.id for a in articles)


def test_an_article_produced_again_after_a_restart_is_stored_once(tmp_path: Path) -> None:
    articles = [make_article(n).stamped("jsonl", "2") for n in range(40)]
    # Given a sink that stored 0..29, then crashed without closing its files
    first = JsonlSink(sink_settings(tmp_path))
    add_all(first, articles[:30])
    first.flush()

    # When the restarted sink gets 10..39 as new records (offsets 30..59)
    restarted = JsonlSink(sink_settings(tmp_path))
    for offset, article in enumerate(articles[10:], 30):
        restarted.add(article, record(article, offset))
    restarted.flush()
    restarted.close()

    assert restarted.duplicates == 20
    assert stored_ids(tmp_path / "articles") == [a.id for a in articles]


def test_a_reprocessing_by_a_newer_processor_version_is_written_again(tmp_path: Path) -> None:
    article = make_article(1).stamped("normalize", "1")
    newer = make_article(1).stamped("normalize", "2")
    sink = JsonlSink(sink_settings(tmp_path))
    sink.add(article, record(article, 0))
    sink.flush()
    sink.add(newer, record(newer, 1))
    sink.add(article, record(article, 2))
    sink.flush()
    sink.close()

    lines = [
        json.loads(line) for f in closed_files(tmp_path / "articles") for line in read_lines(f)
    ]
    assert [line["processors"] for line in lines] == [
        [{"name": "normalize", "version": "1"}],
        [{"name": "normalize", "version": "2"}],
    ]
    assert sink.duplicates == 1


# Run in a child process: stores 0..49, then is SIGKILLed in the next flush after
# the keys of 50..99 are in the table and before the checkpoint records them.
KILLED_BEFORE_CHECKPOINT = """
import os, signal, sys
from pathlib import Path
import sinks.jsonl
from akhbar.config import JsonlSinkSettings
from tests.sinks.test_jsonl import add_all
from tests.helpers.articles import make_article

sink = sinks.jsonl.JsonlSink(JsonlSinkSettings(dir=Path(sys.argv[1])))
articles = [make_article(n) for n in range(100)]
add_all(sink, articles[:50])
sink.flush()
add_all(sink, articles[:100], start=50)

def killed_at_checkpoint(path, data):
    os.kill(os.getpid(), signal.SIGKILL)

sinks.jsonl._write_atomically = killed_at_checkpoint
sink.flush()
"""


def test_a_sigkill_between_storing_keys_and_the_checkpoint_loses_no_article(
    tmp_path: Path,
) -> None:
    articles = [make_article(n) for n in range(100)]
    directory = tmp_path / "articles"
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_BEFORE_CHECKPOINT, str(directory)],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    table = StoredArticles(directory / STATE_DIR)
    assert table.count() == 100, "the kill came before the keys were stored"
    table.close()

    # When the restarted sink is given the uncommitted records 50..99 again
    restarted = JsonlSink(sink_settings(tmp_path))
    add_all(restarted, articles, start=50)
    restarted.flush()
    restarted.close()

    # Then their keys, cut with their lines, did not make the sink drop them
    assert restarted.duplicates == 0
    assert stored_ids(directory) == [a.id for a in articles]


def test_keys_older_than_the_window_are_forgotten_on_a_timer(tmp_path: Path) -> None:
    article = make_article(1)
    window_s = 0.5
    sink = JsonlSink(sink_settings(tmp_path, dedupe_window_days=window_s / 86_400))
    sink.add(article, record(article, 0))
    sink.flush()
    table = StoredArticles(tmp_path / "articles" / STATE_DIR)
    assert table.count() == 1

    deadline = time.monotonic() + 15
    while table.count():
        assert time.monotonic() < deadline, "the keys were never pruned"
        time.sleep(0.1)
    table.close()
    # The same article after the window is written again
    sink.add(article, record(article, 1))
    sink.flush()
    sink.close()
    assert sink.duplicates == 0
    assert stored_ids(tmp_path / "articles") == [article.id, article.id]


def test_sigkill_of_the_sink_mid_run_then_restart_stores_each_article_exactly_once(
    tmp_path: Path, bus: Bus, settings_for: BusSettings, backend: str
) -> None:
    # Given 6,000 articles on the enriched topic
    count = 6_000
    articles = [make_article(n, text_bytes=1000) for n in range(count)]
    topic = Topics(settings_for.topic_prefix).enriched
    produce(bus, topic, [a.to_bytes() for a in articles], keys=[a.id.encode() for a in articles])
    env = _stage_environment(tmp_path, settings_for, backend)
    directory = tmp_path / "articles"

    # When the jsonl stage is SIGKILLed once some files are closed
    running = subprocess.Popen(
        [sys.executable, "-m", "akhbar", "stage", "jsonl"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 180
    while len(stored_ids(directory) if directory.exists() else []) < 500:
        assert running.poll() is None, "the stage exited by itself"
        assert time.monotonic() < deadline, "the stage made no progress"
        time.sleep(0.02)
    running.send_signal(signal.SIGKILL)
    running.wait(timeout=30)
    at_kill = len(stored_ids(directory))

    # and started again until its input is drained
    env.pop("AKHBAR_RUNNER__MAX_BATCH")
    again = subprocess.run(
        [sys.executable, "-m", "akhbar", "stage", "jsonl", "--once"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )

    # Then every article is in the files exactly once
    assert again.returncode == 0, again.stderr[-3000:]
    assert at_kill < count, "the kill came after the end; nothing was tested"
    ids = stored_ids(directory)
    assert len(ids) == count, again.stderr[-3000:]
    assert set(ids) == {a.id for a in articles}


def _stage_environment(tmp_path: Path, bus: BusSettings, backend: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AKHBAR_")}
    env |= {
        "AKHBAR_BUS__EMBEDDED_PATH": str(bus.embedded_path),
        "AKHBAR_BUS__TOPIC_PREFIX": bus.topic_prefix,
        "AKHBAR_SINKS__JSONL__DIR": str(tmp_path / "articles"),
        "AKHBAR_SINKS__JSONL__ROTATE_AGE_S": "0.1",
        # Small batches and frequent commits, so the kill lands between a
        # checkpoint and a commit as well as elsewhere.
        "AKHBAR_RUNNER__MAX_BATCH": "50",
        "AKHBAR_RUNNER__COMMIT_INTERVAL_S": "0.05",
    }
    if backend == "kafka":
        assert bus.kafka is not None
        env["AKHBAR_BUS__KAFKA__BOOTSTRAP_SERVERS"] = ",".join(bus.kafka.bootstrap_servers)
        env["AKHBAR_BUS__KAFKA__SESSION_TIMEOUT_MS"] = str(KAFKA_TEST_SESSION_MS)
    return env


def test_a_file_that_cannot_close_on_a_full_disk_keeps_the_articles_waiting_to_be_flushed(
    tmp_path: Path,
) -> None:
    articles = [make_article(n) for n in range(30)]
    sink = JsonlSink(sink_settings(tmp_path, rotate_age_s=0.2))
    add_all(sink, articles[:10])
    sink.flush()
    # Given articles added but not yet flushed when the open file comes of age and the
    # disk is full: the idle timer renames the file but cannot write its checkpoint
    add_all(sink, articles[:20], start=10)
    real_write = os.write

    def no_space_for_checkpoints(fd: int, data: Any) -> int:
        if os.readlink(f"/proc/self/fd/{fd}").endswith(".json.tmp"):
            raise OSError(28, "No space left on device")
        return real_write(fd, data)

    with mock.patch("sinks.jsonl.os.write", side_effect=no_space_for_checkpoints):
        deadline = time.monotonic() + 5
        while not list(closed_files(tmp_path / "articles")) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # a failed close and its retry
        assert stored_ids(tmp_path / "articles") == [a.id for a in articles[:10]]
        # Then a flush while the disk is still full fails (nothing may be committed)
        with pytest.raises(SinkUnavailable, match="No space left"):
            sink.flush()
    # and once space is back, the records read again are all stored
    add_all(sink, articles, start=10)
    sink.flush()
    sink.close()
    assert stored_ids(tmp_path / "articles") == [a.id for a in articles]
    assert list((tmp_path / "articles" / STATE_DIR).glob("*.tmp")) == []
