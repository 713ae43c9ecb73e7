"""The search engine unreachable for 60 s mid-run: frozen (SIGSTOP) or stopped for real."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import pytest

from tests.reliability.pipeline import (
    StageProcesses,
    assert_each_article_once,
    drain,
    indexed_count,
    pipeline_env,
    wait_for_both_sinks,
    write_archive,
)
from tests.reliability.services import PrivateServices

ARTICLES = 2_000
OUTAGE_S = 60
NO_DEAD_LETTERS = {"articles.cleaned": 0, "articles.normalized": 0, "articles.enriched": 0}


@pytest.mark.parametrize("outage", ["frozen", "stopped"])
def test_a_search_outage_pauses_the_search_stage_and_it_catches_up_by_itself(
    tmp_path: Path, services: PrivateServices, rng: random.Random, outage: str
) -> None:
    # Given the whole pipeline in one process, importing an archive, with small batches
    # so the search stage is still indexing when the engine goes away
    archive = tmp_path / "archive.jsonl"
    expected = write_archive(archive, ARTICLES)
    env = pipeline_env(tmp_path, services.kafka, services.opensearch)
    env["AKHBAR_ARCHIVE__PATHS"] = json.dumps([str(archive)])
    env |= {"AKHBAR_RUNNER__MAX_BATCH": "50", "AKHBAR_SINKS__SEARCH__BULK_MAX_DOCS": "50"}
    stages = StageProcesses(env, tmp_path / "logs")
    moment = int(rng.uniform(0.05, 0.4) * ARTICLES)
    try:
        stages.start_command("run", "run")
        while indexed_count(env) < moment:
            stages.assert_all_running()
            time.sleep(0.2)

        # When the search engine stops answering for 60 s, then comes back
        at_outage = indexed_count(env)
        if outage == "frozen":
            services.freeze_opensearch()
            time.sleep(OUTAGE_S)
            services.thaw_opensearch()
        else:
            services.down("opensearch")
            time.sleep(OUTAGE_S)
            services.up("opensearch")
        print(f"search engine {outage} for {OUTAGE_S} s at {at_outage} articles indexed")
        stages.assert_all_running()

        # Then the pipeline catches up by itself
        wait_for_both_sinks(env, len(expected), stages, timeout_s=240)
        codes = stages.stop()
    finally:
        stages.kill_all()
        # For the next test, whatever happened here.
        if outage == "frozen":
            services.thaw_opensearch()
        services.up("opensearch")
    drained = drain(env)

    assert at_outage < ARTICLES, "the outage came after the end; nothing was tested"
    assert codes == {"run": 0}, codes
    assert drained.returncode == 0, drained.stderr[-3000:]
    # having said clearly that the search engine was unavailable and nothing committed
    failures = [
        e
        for e in stages.events("run")
        if e.get("stage") == "search"
        and e.get("level") == "error"
        and "search cluster unavailable" in str(e.get("error"))
    ]
    assert failures, stages.tail("run")
    # and both sinks hold each article exactly once, with no dead letter
    assert_each_article_once(env, expected, NO_DEAD_LETTERS)
