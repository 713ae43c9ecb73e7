"""A Kafka broker and an OpenSearch node of the reliability suite's own, to kill and stop.

They are started by `scripts/services` with AKHBAR_SERVICES_RUN_HOME pointing at
a temporary folder and on free ports: the jars come from the usual cache, but the
data, the pid files and the process marker are theirs alone, so killing them can
never touch the servers the rest of the suite (or anyone else) uses.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ROOT / "scripts" / "services"
# Start-up of both JVMs on this 2-core machine takes about 20 s; CI can be slower.
SERVICES_TIMEOUT_S = 300


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ServicesUnavailable(Exception):
    """scripts/services could not start the private servers (no Java, no jars, no network)."""


@dataclass
class PrivateServices:
    """The suite's own broker and search node; every method waits until it is done."""

    run_home: Path
    kafka_port: int
    kafka_controller_port: int
    opensearch_port: int
    opensearch_transport_port: int

    @classmethod
    def on_free_ports(cls, run_home: Path) -> PrivateServices:
        return cls(run_home, free_port(), free_port(), free_port(), free_port())

    @property
    def kafka(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def opensearch(self) -> str:
        return f"http://127.0.0.1:{self.opensearch_port}"

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env |= {
            "AKHBAR_SERVICES_RUN_HOME": str(self.run_home),
            "AKHBAR_SERVICES_KAFKA_PORT": str(self.kafka_port),
            "AKHBAR_SERVICES_KAFKA_CONTROLLER_PORT": str(self.kafka_controller_port),
            "AKHBAR_SERVICES_OPENSEARCH_PORT": str(self.opensearch_port),
            "AKHBAR_SERVICES_OPENSEARCH_TRANSPORT_PORT": str(self.opensearch_transport_port),
            # A stopped node is gone at once; the outage is what the tests are about.
            "AKHBAR_SERVICES_STOP_TIMEOUT": "20",
        }
        return env

    def run(self, *args: str) -> None:
        proc = subprocess.run(
            [str(SERVICES), *args],
            env=self._env(),
            capture_output=True,
            text=True,
            timeout=SERVICES_TIMEOUT_S,
        )
        if proc.returncode != 0:
            raise ServicesUnavailable(
                f"scripts/services {' '.join(args)} failed: {proc.stderr[-2000:]}"
            )

    def up(self, *services: str) -> None:
        self.run("up", *services)

    def down(self, *services: str) -> None:
        self.run("down", *services)

    def pid(self, service: str) -> int:
        return int((self.run_home / service / f"{service}.pid").read_text())

    def kill_kafka(self) -> None:
        """SIGKILL the broker, as a crashed machine would, and wait until it is gone."""
        pid = self.pid("kafka")
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)

    def freeze_opensearch(self) -> None:
        """SIGSTOP the node: connections are accepted by the kernel but never answered."""
        os.kill(self.pid("opensearch"), signal.SIGSTOP)

    def thaw_opensearch(self) -> None:
        os.kill(self.pid("opensearch"), signal.SIGCONT)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(") ", 1)[1][:1] != "Z"
