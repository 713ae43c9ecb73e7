"""`akhbar process` and `akhbar eval ner`, run through the real command line."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from akhbar.cli import cli

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def test_process_prints_the_enriched_article() -> None:
    result = CliRunner().invoke(
        cli,
        ["process", str(FIXTURES / "aleppo-article.txt"), "--published-at", "2016-12-07"],
    )
    assert result.exit_code == 0, result.output
    article = json.loads(result.output)
    assert [p["name"] for p in article["processors"]] == ["normalize", "enrich"]
    assert {"entities", "quantities", "quotes", "dates", "story_id"} <= article.keys()
    assert any(d["value"] == "2016-12-06" for d in article["dates"])


def test_eval_ner_prints_scores_per_type() -> None:
    result = CliRunner().invoke(cli, ["eval", "ner", str(FIXTURES / "anercorp-sample.txt")])
    assert result.exit_code == 0, result.output
    header, micro, *types = result.output.splitlines()
    assert header.split() == ["type", "P", "R", "F1", "gold"]
    assert micro.startswith("micro")
    assert {line.split()[0] for line in types} <= {"PERS", "LOC", "ORG", "MISC"}


def test_eval_ner_refuses_an_empty_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["eval", "ner", str(empty)])
    assert result.exit_code == 2
    assert "no tagged tokens" in result.output
