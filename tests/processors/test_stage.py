"""The normalize stage inside the running pipeline, on both bus backends."""

from __future__ import annotations

import json
from pathlib import Path

from akhbar.article import Article
from sinks.jsonl import closed_files, read_lines
from tests.test_end_to_end import environment, kafka_or_none, run_once  # noqa: F401

FIXTURES = Path(__file__).parent.parent / "fixtures"


def test_pipeline_writes_normalized_articles(
    tmp_path: Path,
    backend: str,
    kafka_or_none: str | None,  # noqa: F811
) -> None:
    # Given the real article, the same one garbled as UTF-8 read as windows-1256,
    # and an English one, in an archive
    aleppo = (FIXTURES / "aleppo-article.txt").read_text(encoding="utf-8")
    articles = [
        Article.create("https://news.example/aleppo", title="حلب", text=aleppo),
        Article.create("https://news.example/garbled", text=aleppo.encode().decode("cp1256")),
        Article.create("https://news.example/english", text="The time is short, Lavrov said."),
    ]
    archive = tmp_path / "archive.jsonl"
    archive.write_bytes(b"".join(a.to_bytes() + b"\n" for a in articles))

    # When the whole pipeline runs once over it
    proc = run_once(archive, environment(tmp_path, backend, kafka_or_none))

    # Then the sink holds each article with its original text and its normalized forms
    assert proc.returncode == 0, proc.stderr[-3000:]
    stored = {
        record["url"]: record
        for path in closed_files(tmp_path / "articles")
        for record in map(json.loads, read_lines(path))
    }
    clean, garbled = stored["https://news.example/aleppo"], stored["https://news.example/garbled"]
    assert clean["text"] == aleppo
    assert "الولايات المتحدة إلي إقناع" in clean["display_text"]
    assert "«داعش»" in clean["display_text"]
    assert "بين قتلي وجرحي" in clean["search_text"]
    assert garbled["display_text"] == clean["display_text"]
    assert "mojibake_utf8_as_cp1256" in garbled["repairs"]
    assert stored["https://news.example/english"]["is_arabic"] is False
    assert {"name": "normalize", "version": "1"} in clean["processors"]
