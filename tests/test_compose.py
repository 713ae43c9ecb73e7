"""docker-compose.yml and the Dockerfile agree with the application (no Docker engine needed)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from akhbar.config import load_settings
from akhbar.pipeline import STAGE_NAMES

ROOT = Path(__file__).parent.parent


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def akhbar_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: svc
        for name, svc in compose["services"].items()
        if svc.get("image", "").startswith("akhbar")
    }


def test_every_stage_runs_as_its_own_service(compose: dict[str, Any]) -> None:
    services = akhbar_services(compose)
    commands = {svc["command"][1] for svc in services.values() if svc["command"][0] == "stage"}
    assert commands <= set(STAGE_NAMES)
    assert {"normalize", "enrich", "jsonl"} <= commands


def test_service_environments_are_valid_settings(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, svc in akhbar_services(compose).items():
        with monkeypatch.context() as env:
            for key, value in svc["environment"].items():
                env.setenv(key, str(value))
            settings = load_settings()
        assert settings.bus.resolved_backend == "kafka", name
        assert settings.bus.kafka is not None
        for server in settings.bus.kafka.bootstrap_servers:
            host, port = server.split(":")
            assert host in compose["services"], f"{name}: no service named {host}"
            listeners = compose["services"][host]["environment"]["KAFKA_LISTENERS"]
            assert f":{port}" in listeners, f"{name}: {host} does not listen on {port}"


def test_services_that_need_kafka_wait_for_it(compose: dict[str, Any]) -> None:
    assert "healthcheck" in compose["services"]["kafka"]
    for name, svc in akhbar_services(compose).items():
        assert svc["depends_on"]["kafka"]["condition"] == "service_healthy", name
        assert svc["restart"] == "unless-stopped", name


def test_dockerfile_copies_what_exists_and_runs_the_console_script() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    for line in dockerfile.splitlines():
        if line.startswith("COPY") and "--from" not in line:
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), f"COPY of a missing path: {source}"
    assert 'ENTRYPOINT ["akhbar"]' in dockerfile
    assert 'akhbar = "akhbar.cli:main"' in (ROOT / "pyproject.toml").read_text()
    assert re.search(r"^USER (?!root)", dockerfile, re.MULTILINE), "runs as non-root"


def test_kafka_is_reachable_from_the_host_for_the_test_suite(compose: dict[str, Any]) -> None:
    kafka = compose["services"]["kafka"]
    advertised = kafka["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    host_listener = next(
        a for a in advertised.split(",") if a.split("://")[1].startswith("127.0.0.1:")
    )
    port = host_listener.rsplit(":", 1)[1]
    assert f"127.0.0.1:{port}:{port}" in kafka["ports"]
