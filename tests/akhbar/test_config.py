"""Settings: YAML, environment overrides, and one clear error for a wrong key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from akhbar.config import load_settings
from akhbar.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "akhbar.yaml"
    path.write_text(text)
    return path


def test_defaults_use_the_embedded_bus() -> None:
    assert load_settings().bus.resolved_backend == "embedded"


def test_yaml_then_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(
        tmp_path,
        "bus:\n  partitions: 6\n  kafka:\n    bootstrap_servers: [a:9092]\n"
        "runner:\n  max_batch: 50\n",
    )
    monkeypatch.setenv("AKHBAR_RUNNER__MAX_BATCH", "70")
    monkeypatch.setenv("AKHBAR_BUS__KAFKA__BOOTSTRAP_SERVERS", "b:9092,c:9092")

    settings = load_settings(path)

    assert settings.bus.partitions == 6
    assert settings.runner.max_batch == 70
    assert settings.bus.kafka is not None
    assert settings.bus.kafka.bootstrap_servers == ["b:9092", "c:9092"]
    assert settings.bus.resolved_backend == "kafka"


@pytest.mark.parametrize(
    ("yaml_text", "named"),
    [
        ("runner:\n  max_btch: 3\n", "runner.max_btch"),
        ("buss: {}\n", "'buss'"),
        ("bus:\n  backend: kafak\n", "bus.backend"),
        ("runner:\n  commit_interval_s: -1\n", "runner.commit_interval_s"),
        ("- a list\n", "must hold a mapping"),
        ("bus: [unclosed\n", "not valid YAML"),
    ],
)
def test_a_wrong_key_or_value_is_named(tmp_path: Path, yaml_text: str, named: str) -> None:
    with pytest.raises(ConfigError, match=named.replace(".", r"\.").replace("'", "'")):
        load_settings(write(tmp_path, yaml_text))


@pytest.mark.parametrize("name", ["AKHBAR_BUS__BAKEND", "AKHBAR_BUS_BACKEND", "AKHBAR_NOPE__X"])
def test_an_unknown_environment_variable_is_named(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setenv(name, "kafka")
    with pytest.raises(ConfigError, match=name):
        load_settings()


def test_secrets_are_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AKHBAR_BUS__KAFKA__BOOTSTRAP_SERVERS", "a:1")
    monkeypatch.setenv("AKHBAR_BUS__KAFKA__SASL_PASSWORD", "hunter2")
    assert "hunter2" not in str(load_settings().masked())


def test_the_cli_exits_2_with_one_line_naming_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, "runner:\n  max_btch: 3\n")
    proc = subprocess.run(
        [sys.executable, "-m", "akhbar", "--config", str(path), "config"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"akhbar: invalid settings (from {path} and the environment): unknown key 'runner.max_btch'"
    ]
