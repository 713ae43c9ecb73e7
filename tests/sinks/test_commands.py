"""`akhbar export` over real sink files and `akhbar search` over the real OpenSearch node."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner
from opensearchpy import OpenSearch

from akhbar.article import Article
from akhbar.cli import cli
from akhbar.config import JsonlSinkSettings
from sinks.index import alias_name
from sinks.jsonl import JsonlSink
from sinks.search import SearchSink
from tests.helpers.articles import make_article
from tests.sinks.test_search import ALEPPO, CAIRO, index_all, record, settings


def _articles() -> list[Article]:
    aleppo = make_article(1).model_copy(
        update={"text": ALEPPO, "published_at": datetime(2026, 11, 20, tzinfo=UTC)}
    )
    aleppo.entities = {"LOC": ["حلب"], "PER": ["لافروف"]}  # type: ignore[attr-defined]
    cairo = make_article(2).model_copy(
        update={
            "text": CAIRO,
            "source": "ahram",
            "published_at": datetime(2026, 11, 25, tzinfo=UTC),
        }
    )
    return [aleppo, cairo]


def _env(tmp_path: Path) -> dict[str, str]:
    return {"AKHBAR_SINKS__JSONL__DIR": str(tmp_path / "articles")}


def test_export_filters_by_date_source_and_entity(tmp_path: Path) -> None:
    # Given two articles stored by the JSON Lines sink
    aleppo, cairo = _articles()
    sink = JsonlSink(JsonlSinkSettings(dir=tmp_path / "articles", gzip=True))
    for offset, article in enumerate([aleppo, cairo]):
        sink.add(article, record(article, offset))
    sink.flush()
    sink.close()
    runner = CliRunner()

    def export(*args: str) -> list[str]:
        result = runner.invoke(cli, ["export", *args], env=_env(tmp_path))
        assert result.exit_code == 0, result.output
        return [json.loads(line)["id"] for line in result.stdout.splitlines()]

    # Then each filter selects the right article
    assert export() == [aleppo.id, cairo.id]
    assert export("--since", "2026-11-21") == [cairo.id]
    assert export("--until", "2026-11-20") == [aleppo.id]
    assert export("--source", "ahram") == [cairo.id]
    assert export("--entity", "لافروف") == [aleppo.id]
    assert export("--entity", "القاهرة") == []


def test_export_writes_csv(tmp_path: Path) -> None:
    aleppo, cairo = _articles()
    sink = JsonlSink(JsonlSinkSettings(dir=tmp_path / "articles"))
    for offset, article in enumerate([aleppo, cairo]):
        sink.add(article, record(article, offset))
    sink.flush()
    sink.close()

    result = CliRunner().invoke(cli, ["export", "--format", "csv"], env=_env(tmp_path))

    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [(r["id"], r["text"], r["source"]) for r in rows] == [
        (aleppo.id, ALEPPO, "example"),
        (cairo.id, CAIRO, "ahram"),
    ]


def test_search_prints_matches_with_highlights_and_filters(opensearch_url: str) -> None:
    prefix = f"akhbar-test-{uuid.uuid4().hex[:8]}"
    aleppo, cairo = _articles()
    client = OpenSearch(hosts=[opensearch_url])
    try:
        index_all(SearchSink(settings(opensearch_url, prefix)), [aleppo, cairo])
        client.indices.refresh(index=alias_name(prefix))
        env = {
            "AKHBAR_SINKS__SEARCH__HOSTS": opensearch_url,
            "AKHBAR_SINKS__SEARCH__INDEX_PREFIX": prefix,
        }
        runner = CliRunner()

        found = runner.invoke(cli, ["search", "على"], env=env)
        assert found.exit_code == 0, found.output
        assert found.stdout.startswith("1 matches")
        assert aleppo.url in found.stdout
        assert "علي" in found.stdout  # the highlighted fragment, spelled as written

        by_entity = runner.invoke(cli, ["search", "حلب", "--entity", "لافروف"], env=env)
        assert by_entity.stdout.startswith("1 matches"), by_entity.output
        filtered = runner.invoke(
            cli, ["search", "حلب", "--entity", "لافروف", "--since", "2026-11-21"], env=env
        )
        assert filtered.exit_code == 0, filtered.output
        assert filtered.stdout.startswith("0 matches")
    finally:
        client.indices.delete(index=f"{alias_name(prefix)}-*", ignore_unavailable=True)
        client.indices.delete_index_template(name=alias_name(prefix), ignore=[404])


def test_search_against_a_down_cluster_fails_clearly() -> None:
    env = {"AKHBAR_SINKS__SEARCH__HOSTS": "http://127.0.0.1:1"}
    result = CliRunner().invoke(cli, ["search", "حلب"], env=env)
    assert result.exit_code == 1
    assert "search failed: ConnectionError" in result.output
