"""`akhbar process` on real documents, through the real command line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from akhbar.cli import cli

FIXTURES = Path(__file__).parent.parent / "fixtures"
ALEPPO = FIXTURES / "aleppo-article.txt"
CNN_PAGE = FIXTURES / "arabic-pages" / "cnn-arabic" / "page.html"


def invoke(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["process", *args], input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_one_file_prints_one_normalized_article() -> None:
    code, out, _ = invoke(str(ALEPPO))
    assert code == 0
    article = json.loads(out)
    assert "الولايات المتحدة" in article["display_text"]
    assert [p["name"] for p in article["processors"]] == ["normalize", "enrich"]
    assert article["text"] == ALEPPO.read_text(encoding="utf-8")


def test_stdin() -> None:
    code, out, _ = invoke("-", stdin="مؤكدا أن ¢الوقت محدود جدا¢")
    assert code == 0
    assert json.loads(out)["display_text"] == "مؤكدا أن «الوقت محدود جدا»"


def test_html_page_is_cleaned_then_normalized() -> None:
    code, out, _ = invoke("--html", str(CNN_PAGE))
    assert code == 0
    article = json.loads(out)
    assert article["title"] == "معارضون يسيطرون على مخازن للصواريخ بريف دمشق"
    assert article["display_text"].startswith("دمشق، سوريا (CNN)")
    assert article["is_arabic"] is True
    assert "<" not in article["display_text"]


def test_a_folder_prints_one_json_line_per_document(tmp_path: Path) -> None:
    for n in range(3):
        shutil.copy(ALEPPO, tmp_path / f"article-{n}.txt")
    (tmp_path / "english.txt").write_text("The time is short, Lavrov said.", encoding="utf-8")
    code, out, _ = invoke(str(tmp_path))
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert len(lines) == 4
    assert [line["is_arabic"] for line in lines] == [True, True, True, False]


def test_missing_input_is_a_usage_error(tmp_path: Path) -> None:
    code, _, err = invoke(str(tmp_path / "absent.txt"))
    assert code == 2
    assert "no such file or folder" in err


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
