"""Which stages a process builds, and what it imports to build them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from akhbar.config import Settings
from akhbar.pipeline import STAGE_NAMES, processing_stages

ROOT = Path(__file__).resolve().parents[2]


def test_stage_names_are_the_names_the_stage_modules_give_themselves() -> None:
    from ingest import archive, poller
    from ingest import stage as fetch
    from processors import enrich, normalize
    from sinks import jsonl, search

    modules = (archive, poller, fetch, normalize, enrich, jsonl, search)
    assert tuple(module.NAME for module in modules) == STAGE_NAMES


def test_only_the_stage_asked_for_is_built(tmp_path: Path) -> None:
    settings = Settings(
        ingest={"feeds": tmp_path / "feeds.yaml"}, sinks={"search": {"enabled": True}}
    )
    every = [stage.name for stage in processing_stages(settings)]
    assert every == ["fetch", "normalize", "enrich", "jsonl", "search"]
    for name in every:
        assert [stage.name for stage in processing_stages(settings, only=name)] == [name]
    assert processing_stages(settings, only="poller") == []


def test_a_sink_process_and_the_cli_do_not_load_the_processors() -> None:
    # The processors bring camel-tools, numpy and scipy: seconds and ~100 MB per process.
    program = (
        "import sys\n"
        "import akhbar.cli\n"
        "from akhbar.config import Settings\n"
        "from akhbar.pipeline import processing_stages\n"
        "[stage] = processing_stages(Settings(), only='jsonl')\n"
        "stage.sink()\n"
        "heavy = [m for m in ('processors.enrich', 'processors.normalize', 'datasketch', 'scipy')"
        " if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""
