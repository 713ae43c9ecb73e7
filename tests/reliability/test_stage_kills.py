"""SIGKILL stage processes at random moments mid-run and start them again."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

from tests.reliability.pipeline import (
    ARCHIVE_STAGES,
    StageProcesses,
    assert_each_article_once,
    drain,
    pipeline_env,
    stored_ids_so_far,
    wait_for_both_sinks,
    write_archive,
)
from tests.reliability.services import PrivateServices

ARTICLES = 2_500
# Every stage is killed once, then this many more victims are drawn at random.
EXTRA_KILLS = 3
NO_DEAD_LETTERS = {"articles.cleaned": 0, "articles.normalized": 0, "articles.enriched": 0}


def test_stages_killed_at_random_moments_lose_and_repeat_nothing(
    tmp_path: Path, services: PrivateServices, rng: random.Random
) -> None:
    # Given the pipeline as one process per stage, importing an archive
    archive = tmp_path / "archive.jsonl"
    expected = write_archive(archive, ARTICLES)
    env = pipeline_env(tmp_path, services.kafka, services.opensearch)
    env["AKHBAR_ARCHIVE__PATHS"] = json.dumps([str(archive)])
    # Small batches and frequent commits: every kill lands with work in hand.
    env |= {"AKHBAR_RUNNER__MAX_BATCH": "50", "AKHBAR_RUNNER__COMMIT_INTERVAL_S": "0.2"}
    stages = StageProcesses(env, tmp_path / "logs")
    downstream = [name for name in ARCHIVE_STAGES if name != "archive"]
    victims = rng.sample(downstream, len(downstream))
    victims += [rng.choice(downstream) for _ in range(EXTRA_KILLS)]
    # The moments: how many articles the files hold when each victim is killed.
    moments = sorted(int(rng.uniform(0.05, 0.85) * ARTICLES) for _ in victims)
    killed_at = []
    try:
        stages.start(*ARCHIVE_STAGES)

        # When the import is killed part-way through, and every other stage at random
        # moments of the run (some more than once), each started again at once
        killed_at.append(("archive", kill_archive_mid_import(stages, tmp_path, rng)))
        for victim, moment in zip(victims, moments, strict=True):
            while len(set(stored_ids_so_far(tmp_path / "articles"))) < moment:
                stages.assert_all_running()
                time.sleep(0.2)
            stages.kill(victim)
            killed_at.append((victim, len(set(stored_ids_so_far(tmp_path / "articles")))))
            stages.start(victim)
        print("kills (stage, progress then):", killed_at)
        wait_for_both_sinks(env, len(expected), stages, timeout_s=300)
        for name in ARCHIVE_STAGES:  # a stage restarted last may still be starting up
            stages.wait_started(name)
        codes = stages.stop()
    finally:
        stages.kill_all()
    drained = drain(env)

    # Then every stage recovered and stopped cleanly at the end,
    assert codes == dict.fromkeys(ARCHIVE_STAGES, 0), codes
    assert drained.returncode == 0, drained.stderr[-3000:]
    # and both sinks hold each article exactly once, with no dead letter
    assert_each_article_once(env, expected, NO_DEAD_LETTERS)


def kill_archive_mid_import(stages: StageProcesses, tmp_path: Path, rng: random.Random) -> int:
    """SIGKILL the import soon after its first flush, start it again; lines imported then."""
    state = tmp_path / "archive-state.json"
    deadline = time.monotonic() + 120
    while not state.exists():
        stages.assert_all_running()
        assert time.monotonic() < deadline, "the import never flushed"
        time.sleep(0.02)
    time.sleep(rng.uniform(0.0, 0.5))
    stages.kill("archive")
    done = sum(json.loads(state.read_text()).values())
    stages.start("archive")
    stages.wait_started("archive")
    return int(done)
