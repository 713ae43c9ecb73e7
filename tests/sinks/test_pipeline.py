"""Both sinks wired into `akhbar run`, and their settings."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest
from opensearchpy import OpenSearch

from akhbar.config import ConfigError, load_settings
from sinks.index import alias_name
from sinks.search import open_client
from tests.test_end_to_end import akhbar, environment, stored_ids, write_archive

ARTICLES = 1_000


def test_run_once_fills_both_sinks_with_one_copy_of_each_article(
    tmp_path: Path, opensearch_url: str
) -> None:
    # Given an archive holding every article twice
    archive = tmp_path / "archive.jsonl"
    expected = write_archive(archive, ARTICLES)
    archive.write_bytes(archive.read_bytes() * 2)
    prefix = f"akhbar-test-{uuid.uuid4().hex[:8]}"
    env = environment(tmp_path, "embedded", None) | {
        "AKHBAR_SINKS__SEARCH__ENABLED": "true",
        "AKHBAR_SINKS__SEARCH__HOSTS": opensearch_url,
        "AKHBAR_SINKS__SEARCH__INDEX_PREFIX": prefix,
    }
    client = OpenSearch(hosts=[opensearch_url])
    try:
        # When the pipeline runs to the end
        proc = subprocess.run(
            akhbar("run", "--once", "--archive", str(archive)),
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

        # Then the files and the index each hold every article once
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert sorted(stored_ids(tmp_path / "articles")) == sorted(expected)
        client.indices.refresh(index=alias_name(prefix))
        assert client.count(index=alias_name(prefix))["count"] == ARTICLES
    finally:
        client.indices.delete(index=f"{alias_name(prefix)}-*", ignore_unavailable=True)
        client.indices.delete_index_template(name=alias_name(prefix), ignore=[404])


def test_search_credentials_come_from_the_environment_and_are_masked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "AKHBAR_SINKS__SEARCH__HOSTS", "https://a.example:9200,https://b.example:9200"
    )
    monkeypatch.setenv("AKHBAR_SINKS__SEARCH__API_KEY", "c2VjcmV0LWtleQ==")
    monkeypatch.setenv("AKHBAR_SINKS__SEARCH__PASSWORD", "hunter2")

    settings = load_settings()

    search = settings.sinks.search
    assert search.hosts == ["https://a.example:9200", "https://b.example:9200"]
    masked = str(settings.masked())
    assert "c2VjcmV0LWtleQ==" not in masked and "hunter2" not in masked
    headers = open_client(search).transport.kwargs["headers"]
    assert headers["Authorization"] == "ApiKey c2VjcmV0LWtleQ=="


def test_an_unknown_search_setting_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AKHBAR_SINKS__SEARCH__HOST", "https://a.example:9200")
    with pytest.raises(ConfigError, match="AKHBAR_SINKS__SEARCH__HOST"):
        load_settings()
