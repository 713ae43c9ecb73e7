"""Kill the Kafka broker mid-run and start it again: the stages wait, then go on by themselves."""

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
NO_DEAD_LETTERS = {"articles.cleaned": 0, "articles.normalized": 0, "articles.enriched": 0}
# Long enough for every stage to notice: sends, commits and heartbeats all fail.
OUTAGE_S = (10.0, 20.0)


def test_a_broker_killed_mid_run_loses_nothing_and_the_stages_recover(
    tmp_path: Path, services: PrivateServices, rng: random.Random
) -> None:
    # Given the pipeline as one process per stage, importing an archive slowly enough
    # that the import is still running when the broker dies
    archive = tmp_path / "archive.jsonl"
    expected = write_archive(archive, ARTICLES)
    env = pipeline_env(tmp_path, services.kafka, services.opensearch)
    env["AKHBAR_ARCHIVE__PATHS"] = json.dumps([str(archive)])
    env |= {"AKHBAR_RUNNER__MAX_BATCH": "20", "AKHBAR_RUNNER__COMMIT_INTERVAL_S": "0.2"}
    stages = StageProcesses(env, tmp_path / "logs")
    moment = int(rng.uniform(0.1, 0.5) * ARTICLES)
    outage = rng.uniform(*OUTAGE_S)
    try:
        stages.start(*ARCHIVE_STAGES)
        while len(set(stored_ids_so_far(tmp_path / "articles"))) < moment:
            stages.assert_all_running()
            time.sleep(0.2)

        # When the broker is SIGKILLed and comes back only after a while
        services.kill_kafka()
        at_kill = len(set(stored_ids_so_far(tmp_path / "articles")))
        time.sleep(outage)
        stages.assert_all_running()
        services.up("kafka")
        print(f"broker killed at {at_kill} articles stored, down {outage:.1f} s")

        # Then every stage goes on by itself, without a restart
        wait_for_both_sinks(env, len(expected), stages, timeout_s=300)
        codes = stages.stop()
    finally:
        stages.kill_all()
        services.up("kafka")  # for the next test, whatever happened here
    drained = drain(env)

    assert at_kill < ARTICLES, "the broker was killed after the end; nothing was tested"
    assert codes == dict.fromkeys(ARCHIVE_STAGES, 0), codes
    assert drained.returncode == 0, drained.stderr[-3000:]
    # and each said what went wrong, as a structured event
    for name in ARCHIVE_STAGES:
        errors = [e for e in stages.events(name) if e.get("level") in ("warning", "error")]
        assert any("ECONNREFUSED" in str(e) for e in errors), (
            f"stage {name} logged nothing about the outage:\n{stages.tail(name)}"
        )
    # and both sinks hold each article exactly once, with no dead letter
    assert_each_article_once(env, expected, NO_DEAD_LETTERS)
