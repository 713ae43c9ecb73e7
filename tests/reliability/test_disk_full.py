"""The JSON sink's disk fills up mid-run, then space is freed."""

from __future__ import annotations

import contextlib
import errno
import json
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.reliability.pipeline import (
    StageProcesses,
    assert_each_article_once,
    drain,
    pipeline_env,
    stored_ids_so_far,
    wait_for_both_sinks,
    write_archive,
)
from tests.reliability.services import PrivateServices

ROOT = Path(__file__).resolve().parents[2]
ARTICLES = 2_000
# Short articles: the files of all of them fit the small file system with room to spare.
TEXT_BYTES = 300
FILESYSTEM_SIZE = "24m"
# How long the disk stays full once the sink has noticed.
FULL_FOR_S = 10
NO_DEAD_LETTERS = {"articles.cleaned": 0, "articles.normalized": 0, "articles.enriched": 0}


@dataclass
class FullDisk:
    """How the JSON sink's disk is made full: `fill` takes every free byte, `free` gives
    them back; `launcher` runs `akhbar` (a wrapper when the fault is injected)."""

    kind: str
    folder: Path
    launcher: tuple[str, ...] = (sys.executable, "-m", "akhbar")

    def fill(self) -> None:
        if self.kind == "injected":
            self._flag.touch()
            return
        chunk = b"\0" * (64 * 1024)
        with self._filler.open("wb", buffering=0) as out:
            try:
                while True:
                    out.write(chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
        # A chunk may not fit where a smaller write would: take the crumbs too.
        with self._filler.open("ab", buffering=0) as out, contextlib.suppress(OSError):
            while True:
                out.write(b"\0" * 512)

    def free(self) -> None:
        (self._flag if self.kind == "injected" else self._filler).unlink()

    @property
    def _filler(self) -> Path:
        return self.folder / "filler.bin"

    @property
    def _flag(self) -> Path:
        return self.folder.with_name("disk-full.flag")


@contextlib.contextmanager
def small_disk(folder: Path, size: str) -> Iterator[FullDisk]:
    """A tmpfs of `size` at `folder`, else a loop-mounted ext4 image, else (no root) the
    sink's writes made to fail with ENOSPC by a wrapper."""
    folder.mkdir(parents=True)
    kind = "tmpfs"
    mounted = _run("mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder))
    if not mounted:
        kind = "loop"
        image = folder.with_suffix(".img")
        mounted = (
            _run("truncate", "-s", size, str(image))
            and _run("mkfs.ext4", "-q", "-F", str(image))
            and _run("mount", "-o", "loop", str(image), str(folder))
        )
    if not mounted:
        launcher = (sys.executable, "-m", "tests.reliability.enospc", str(folder))
        yield FullDisk("injected", folder, (*launcher, str(folder.with_name("disk-full.flag"))))
        return
    try:
        yield FullDisk(kind, folder)
    finally:
        _run("umount", "--lazy", str(folder))


def _run(*command: str) -> bool:
    try:
        return subprocess.run(command, capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def checkpoints(directory: Path) -> dict[str, int]:
    """The last offset each partition's checkpoint says is stored."""
    return {
        path.name: json.loads(path.read_text())["stored_through"]
        for path in sorted((directory / ".state").glob("*.json"))
    }


def test_a_full_disk_pauses_the_json_sink_and_it_recovers_when_space_is_freed(
    tmp_path: Path, services: PrivateServices, rng: random.Random
) -> None:
    articles_dir = tmp_path / "articles"
    with small_disk(articles_dir, FILESYSTEM_SIZE) as disk:
        print(f"the JSON sink's disk: {disk.kind} ({FILESYSTEM_SIZE} unless injected)")
        # Given the whole pipeline in one process, its JSON files on a small file system
        archive = tmp_path / "archive.jsonl"
        expected = write_archive(archive, ARTICLES, text_bytes=TEXT_BYTES)
        env = pipeline_env(tmp_path, services.kafka, services.opensearch)
        env["AKHBAR_ARCHIVE__PATHS"] = json.dumps([str(archive)])
        env["AKHBAR_RUNNER__MAX_BATCH"] = "50"
        env["PYTHONPATH"] = str(ROOT)  # for the ENOSPC wrapper
        stages = StageProcesses(env, tmp_path / "logs", disk.launcher)
        moment = int(rng.uniform(0.05, 0.5) * ARTICLES)
        try:
            stages.start_command("run", "run")
            while len(stored_ids_so_far(articles_dir)) < moment:
                stages.assert_all_running()
                time.sleep(0.1)

            # When the disk fills up mid-run
            disk.fill()
            at_full = len(set(stored_ids_so_far(articles_dir)))
            failure = wait_for_sink_failure(stages)
            before = checkpoints(articles_dir)
            time.sleep(FULL_FOR_S)
            stages.assert_all_running()
            # Then the sink stores nothing while the disk is full: its checkpoints stay put
            assert checkpoints(articles_dir) == before

            # And when space is freed it goes on by itself
            disk.free()
            print(f"disk full at {at_full} articles stored; the sink said: {failure}")
            wait_for_both_sinks(env, len(expected), stages, timeout_s=240)
            codes = stages.stop()
        finally:
            stages.kill_all()
        drained = drain(env)

        assert at_full < ARTICLES, "the disk filled after the end; nothing was tested"
        assert codes == {"run": 0}, codes
        assert drained.returncode == 0, drained.stderr[-3000:]
        # and both sinks hold each article exactly once, with no dead letter
        assert_each_article_once(env, expected, NO_DEAD_LETTERS)


def wait_for_sink_failure(stages: StageProcesses, timeout_s: float = 60) -> str:
    """The JSON sink's logged error about the full disk."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        stages.assert_all_running()
        for event in stages.events("run"):
            error = str(event.get("error", ""))
            if event.get("stage") == "jsonl" and "No space left" in error:
                return error
        time.sleep(0.5)
    raise AssertionError(f"the JSON sink never said the disk is full:\n{stages.tail('run')}")
