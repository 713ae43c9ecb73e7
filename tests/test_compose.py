"""docker-compose.yml, the Dockerfile and deploy/ agree with the application (no Docker needed).

Settings are checked by loading each service's environment as the application
would; metric names in the dashboard and the alert rules against the names the
code registers.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from akhbar.config import BusSettings, Settings, load_settings
from akhbar.metrics import Metrics
from akhbar.observe.feeds import FeedHealthCollector
from akhbar.pipeline import STAGE_NAMES, processing_stages
from ingest.metrics import IngestMetrics
from sinks.metrics import SearchMetrics

ROOT = Path(__file__).parent.parent
DEPLOY = ROOT / "deploy"
# `${NAME}`, `${NAME:-default}`, `${NAME:?message}`: compose fills these from .env.
COMPOSE_VARIABLE = re.compile(r"\$\{(?P<name>[A-Z0-9_]+)(?::?[-?][^}]*)?\}")
PROMQL_METRIC = re.compile(r"\b((?:akhbar|process)_[a-z0-9_]+)\b")
# How prometheus-client names the series of each metric type on the wire.
SERIES_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
    "info": ("_info",),
    "stateset": ("",),
    "unknown": ("",),
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def prometheus() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())


@pytest.fixture(scope="module")
def alerts() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return json.loads((DEPLOY / "grafana" / "dashboards" / "akhbar.json").read_text())


def akhbar_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: svc
        for name, svc in compose["services"].items()
        if svc.get("image", "").startswith("akhbar")
    }


def interpolated(value: Any) -> str:
    """A compose value with its `${VARIABLE}`s filled as from a complete .env."""
    return COMPOSE_VARIABLE.sub(lambda m: f"value-of-{m['name'].lower()}", str(value))


def service_settings(svc: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Settings:
    with monkeypatch.context() as env:
        for key in [k for k in os.environ if k.startswith("AKHBAR_")]:
            env.delenv(key)
        for key, value in svc.get("environment", {}).items():
            env.setenv(key, interpolated(value))
        return load_settings()


def host_and_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url if "://" in url else f"tcp://{url}")
    assert parts.hostname is not None and parts.port is not None, url
    return parts.hostname, parts.port


def container_ports(svc: dict[str, Any]) -> set[int]:
    """The ports a service publishes, on its container's side."""
    return {int(str(mapping).rsplit(":", 1)[1]) for mapping in svc.get("ports", [])}


# The compose file.


def test_every_service_has_an_image_or_a_build(compose: dict[str, Any]) -> None:
    for name, svc in compose["services"].items():
        assert "image" in svc or "build" in svc, name
        if "build" in svc:
            assert (ROOT / svc["build"] / "Dockerfile").exists(), name


def test_every_stage_runs_as_its_own_service(compose: dict[str, Any]) -> None:
    services = akhbar_services(compose)
    commands = {svc["command"][1] for svc in services.values() if svc["command"][0] == "stage"}
    assert commands <= set(STAGE_NAMES)
    assert {"poller", "fetch", "normalize", "enrich", "jsonl", "search"} <= commands


def test_each_service_environment_configures_the_stage_it_runs(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # the fetch stage opens its state file where it runs
    for name, svc in akhbar_services(compose).items():
        settings = service_settings(svc, monkeypatch)
        stage = svc["command"][1]
        configured = {s.name for s in processing_stages(settings)}
        if settings.ingest.feeds is not None:
            configured.add("poller")
        assert stage in configured, f"{name}: `akhbar stage {stage}` would find no such stage"


def test_every_akhbar_variable_in_any_service_is_a_real_setting(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # load_settings raises ConfigError naming any AKHBAR_ variable that is no setting
    for svc in compose["services"].values():
        service_settings(svc, monkeypatch)


def test_service_environments_reach_kafka_on_a_port_it_listens_on(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, svc in akhbar_services(compose).items():
        settings = service_settings(svc, monkeypatch)
        assert settings.bus.resolved_backend == "kafka", name
        assert settings.bus.kafka is not None
        for server in settings.bus.kafka.bootstrap_servers:
            host, port = host_and_port(server)
            assert host in compose["services"], f"{name}: no service named {host}"
            listeners = compose["services"][host]["environment"]["KAFKA_LISTENERS"]
            assert f":{port}" in listeners, f"{name}: {host} does not listen on {port}"


def test_search_and_kibana_reach_elasticsearch_on_its_port(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    elasticsearch = compose["services"]["elasticsearch"]
    search = service_settings(compose["services"]["search"], monkeypatch).sinks.search
    kibana = compose["services"]["kibana"]["environment"]["ELASTICSEARCH_HOSTS"]
    for url in [*search.hosts, kibana]:
        host, port = host_and_port(url)
        assert host == "elasticsearch" and port in container_ports(elasticsearch), url
    assert search.username == "akhbar", "the search stage writes as its own user, not elastic"


def test_passwords_come_from_the_environment_and_dot_env_example_names_them(
    compose: dict[str, Any],
) -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    example = (ROOT / ".env.example").read_text()
    required = {m["name"] for m in COMPOSE_VARIABLE.finditer(text)}
    listed = {line.split("=")[0] for line in example.splitlines() if re.match(r"[A-Z_]+=", line)}
    assert required == listed
    assert all(line.endswith("=") for line in example.splitlines() if "=" in line), "no values"
    for svc in compose["services"].values():
        for key, value in svc.get("environment", {}).items():
            if "PASSWORD" in key:
                assert COMPOSE_VARIABLE.fullmatch(str(value)), f"{key} is written in the file"
    assert ".env" in (ROOT / ".gitignore").read_text().splitlines()


def test_services_wait_for_what_they_need_and_restart(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, svc in services.items():
        for needed, condition in svc.get("depends_on", {}).items():
            assert needed in services, f"{name} depends on a missing {needed}"
            if condition["condition"] == "service_healthy":
                assert "healthcheck" in services[needed], f"{needed} has no healthcheck"
    for name, svc in akhbar_services(compose).items():
        assert svc["depends_on"]["kafka"]["condition"] == "service_healthy", name
        assert svc["restart"] == "unless-stopped", name
        assert any(str(v).endswith(":/data") for v in svc["volumes"]), f"{name}: no data volume"
    setup = services["search"]["depends_on"]["es-setup"]["condition"]
    assert setup == "service_completed_successfully"


def test_mounted_files_exist(compose: dict[str, Any]) -> None:
    for name, svc in compose["services"].items():
        for volume in svc.get("volumes", []):
            source = str(volume).split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts a missing {source}"


def test_kafka_is_reachable_from_the_host_for_the_test_suite(compose: dict[str, Any]) -> None:
    kafka = compose["services"]["kafka"]
    advertised = kafka["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    host_listener = next(
        a for a in advertised.split(",") if a.split("://")[1].startswith("127.0.0.1:")
    )
    port = host_listener.rsplit(":", 1)[1]
    assert f"127.0.0.1:{port}:{port}" in kafka["ports"]


def test_ports_are_published_on_loopback_only(compose: dict[str, Any]) -> None:
    for name, svc in compose["services"].items():
        for mapping in svc.get("ports", []):
            assert str(mapping).startswith("127.0.0.1:"), f"{name} publishes {mapping} to all"


# The image.


def test_dockerfile_copies_what_exists_and_runs_the_console_script() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    for line in dockerfile.splitlines():
        if line.startswith("COPY") and "--from" not in line:
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), f"COPY of a missing path: {source}"
    assert 'ENTRYPOINT ["akhbar"]' in dockerfile
    assert 'akhbar = "akhbar.cli:main"' in (ROOT / "pyproject.toml").read_text()
    assert re.search(r"^USER (?!root)", dockerfile, re.MULTILINE), "runs as non-root"
    assert len(re.findall(r"^FROM ", dockerfile, re.MULTILINE)) >= 2, "multi-stage"


def test_dockerfile_health_check_runs_the_script_it_copies() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    copied = re.search(r"^COPY deploy/docker/healthcheck.py (\S+)$", dockerfile, re.MULTILINE)
    assert copied is not None
    check = re.search(r"^HEALTHCHECK .*\n?.*CMD \[(.*)\]", dockerfile, re.MULTILINE)
    assert check is not None and copied[1] in check[1]


def test_metrics_port_agrees_between_image_services_and_prometheus(
    compose: dict[str, Any], prometheus: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    image_address = re.search(r"AKHBAR_METRICS__ADDRESS=(\S+)", dockerfile)
    assert image_address is not None
    exposed = {int(p) for p in re.findall(r"^EXPOSE (\d+)", dockerfile, re.MULTILINE)}
    scraped = scrape_targets(prometheus)
    for name, svc in akhbar_services(compose).items():
        address = service_settings(svc, monkeypatch).metrics.address
        assert address is not None, f"{name} serves no metrics"
        _, port = host_and_port(address)
        assert address == image_address[1] and port in exposed, name
        assert scraped.get(name) == port, f"Prometheus does not scrape {name} on {port}"


# Prometheus, alerts and Grafana.


def scrape_targets(prometheus: dict[str, Any]) -> dict[str, int]:
    """Compose service name -> the port Prometheus scrapes it on."""
    targets = {}
    for job in prometheus["scrape_configs"]:
        for sd in job.get("dns_sd_configs", []):
            for name in sd["names"]:
                targets[name] = sd["port"]
    return targets


def test_prometheus_scrapes_exactly_the_stage_services(
    compose: dict[str, Any], prometheus: dict[str, Any]
) -> None:
    assert set(scrape_targets(prometheus)) == set(akhbar_services(compose))
    assert prometheus["rule_files"] == ["alerts.yml"]
    assert (DEPLOY / "prometheus" / "alerts.yml").exists()


def test_alert_rules_are_complete(alerts: dict[str, Any]) -> None:
    rules = [rule for group in alerts["groups"] for rule in group["rules"]]
    names = {rule["alert"] for rule in rules}
    assert {
        "AkhbarStageStalled",
        "AkhbarLagGrowing",
        "AkhbarDeadLettersGrowing",
        "AkhbarFeedsFailing",
    } <= names
    for rule in rules:
        assert rule["expr"].strip() and re.fullmatch(r"\d+[smh]", rule["for"]), rule["alert"]
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]


def test_grafana_provisions_the_datasource_and_dashboard_it_uses(
    compose: dict[str, Any], dashboard: dict[str, Any]
) -> None:
    provisioning = DEPLOY / "grafana" / "provisioning"
    [datasource] = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())[
        "datasources"
    ]
    host, port = host_and_port(datasource["url"])
    assert host == "prometheus" and port in container_ports(compose["services"][host])
    [provider] = yaml.safe_load((provisioning / "dashboards" / "akhbar.yml").read_text())[
        "providers"
    ]
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"./deploy/grafana/dashboards:{provider['options']['path']}:ro" in mounts
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert panels and all(p["targets"] for p in panels)
    assert {p["datasource"]["uid"] for p in panels} == {datasource["uid"]}


def test_dashboard_shows_what_operators_watch(dashboard: dict[str, Any]) -> None:
    used = metric_names_in(dashboard_queries(dashboard))
    for wanted in (
        "akhbar_messages_in_total",
        "akhbar_messages_out_total",
        "akhbar_messages_dead_lettered_total",
        "akhbar_step_seconds_bucket",
        "akhbar_end_to_end_latency_seconds_bucket",
        "akhbar_consumer_lag",
        "akhbar_step_retries_total",
        "akhbar_search_bulk_errors_total",
        "akhbar_feed_polls_total",
        "akhbar_feeds",
        "akhbar_articles_stored_total",
    ):
        assert wanted in used


def dashboard_queries(dashboard: dict[str, Any]) -> list[str]:
    queries = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    return queries + [v["definition"] for v in dashboard["templating"]["list"]]


def alert_queries(alerts: dict[str, Any]) -> list[str]:
    return [rule["expr"] for group in alerts["groups"] for rule in group["rules"]]


def metric_names_in(queries: list[str]) -> set[str]:
    return {name for query in queries for name in PROMQL_METRIC.findall(query)}


def registered_series() -> set[str]:
    """Every series name the code registers, as Prometheus sees it on the wire."""
    metrics = Metrics()
    IngestMetrics.of(metrics)
    SearchMetrics.of(metrics)
    scratch = Path(tempfile.mkdtemp()) / "bus.sqlite3"  # the collector reads a bus when collected
    metrics.registry.register(FeedHealthCollector(Settings(bus=BusSettings(embedded_path=scratch))))
    return {
        f"{family.name}{suffix}"
        for family in metrics.registry.collect()
        for suffix in SERIES_SUFFIXES[family.type]
    }


def test_dashboard_and_alerts_name_only_metrics_the_code_registers(
    dashboard: dict[str, Any], alerts: dict[str, Any]
) -> None:
    used = metric_names_in(dashboard_queries(dashboard) + alert_queries(alerts))
    registered = registered_series()
    unknown = used - registered
    assert not unknown, f"no code registers {sorted(unknown)}"


def test_promtool_accepts_the_configuration_and_rules() -> None:
    """`make test` unpacks promtool from Debian's prometheus package (scripts/test-tools)."""
    unpacked = ROOT / ".tools" / "prometheus" / "usr" / "bin" / "promtool"
    promtool = os.environ.get("PROMTOOL") or shutil.which("promtool")
    if promtool is None and unpacked.exists():
        promtool = str(unpacked)
    if promtool is None:
        if os.environ.get("CI"):
            pytest.fail("promtool is missing: scripts/test-tools installs it")
        pytest.skip("promtool is not installed (scripts/test-tools installs it)")
    for args in (
        ["check", "config", str(DEPLOY / "prometheus" / "prometheus.yml")],
        ["check", "rules", str(DEPLOY / "prometheus" / "alerts.yml")],
    ):
        result = subprocess.run([promtool, *args], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr


# The container's health check.


class HealthHandler(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        """Quiet: the test reads the exit code."""


@pytest.fixture
def health_server() -> Iterator[http.server.HTTPServer]:
    server = http.server.HTTPServer(("127.0.0.1", 0), HealthHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def run_healthcheck(port: int) -> int:
    env = {**os.environ, "AKHBAR_METRICS__ADDRESS": f"0.0.0.0:{port}"}
    script = DEPLOY / "docker" / "healthcheck.py"
    return subprocess.run([sys.executable, str(script)], env=env, timeout=30).returncode


def test_health_check_passes_on_200_and_fails_otherwise(
    health_server: http.server.HTTPServer,
) -> None:
    port = health_server.server_address[1]
    HealthHandler.status = 200
    assert run_healthcheck(port) == 0
    HealthHandler.status = 503
    assert run_healthcheck(port) == 1
    health_server.shutdown()
    health_server.server_close()
    assert run_healthcheck(port) == 1
