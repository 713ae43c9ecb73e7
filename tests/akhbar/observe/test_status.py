"""`akhbar status` when its sources are missing, and where it looks by default."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from akhbar.cli import cli
from akhbar.observe.server import parse_address
from akhbar.observe.status import metrics_url
from tests.akhbar.observe.test_checks import closed_port


def test_addresses() -> None:
    assert parse_address("10.0.0.5:9464") == ("10.0.0.5", 9464)
    assert parse_address(":9464") == ("127.0.0.1", 9464)
    assert parse_address("[::1]:9464") == ("::1", 9464)
    assert metrics_url(None) == "http://127.0.0.1:9464/metrics"
    assert metrics_url("0.0.0.0:9000") == "http://127.0.0.1:9000/metrics"
    assert metrics_url("[::1]:9000") == "http://[::1]:9000/metrics"


def test_once_names_each_source_it_could_not_read(tmp_path: Path) -> None:
    # Given no running process and a bus that does not answer
    url = f"http://127.0.0.1:{closed_port()}/metrics"
    env = {
        "COLUMNS": "200",
        "AKHBAR_BUS__BACKEND": "kafka",
        "AKHBAR_BUS__KAFKA__BOOTSTRAP_SERVERS": f"127.0.0.1:{closed_port()}",
        "AKHBAR_INGEST__STATE_PATH": str(tmp_path / "page-errors.sqlite3"),
    }

    # When a snapshot is asked for
    result = CliRunner().invoke(cli, ["status", "--once", "--url", url], env=env)

    # Then it says which source failed and why, and exits 1
    assert result.exit_code == 1
    assert f"Stages: {url} unavailable" in result.output
    assert "Feeds: feeds.state on the kafka bus unavailable" in result.output
