"""The container's health check: GET /healthz on the stage's metrics address.

Docker runs it inside the container (HEALTHCHECK in the Dockerfile); it exits 0
when the process answers 200, 1 otherwise, so a stage whose loop has died is
marked unhealthy even though its process still runs. Standard library only: it
runs with the image's system Python, outside the application's environment.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

# The address the stage serves /metrics and /healthz on (settings: metrics.address).
ADDRESS_ENV = "AKHBAR_METRICS__ADDRESS"
DEFAULT_PORT = "9464"
# Well under the HEALTHCHECK timeout, so a hung process fails the check itself.
TIMEOUT_S = 3.0


def health_url(address: str | None) -> str:
    """`/healthz` on loopback at the port of `host:port` (the host may be 0.0.0.0)."""
    port = (address or "").rpartition(":")[2] or DEFAULT_PORT
    return f"http://127.0.0.1:{port}/healthz"


def main() -> int:
    url = health_url(os.environ.get(ADDRESS_ENV))
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"unhealthy: {url}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
