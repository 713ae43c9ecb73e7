"""The reliability suite: the pipeline over its own broker and search node, with faults.

The servers are started once per session and belong to this suite alone (see
services.py); the tests kill, stop and restart them. In CI (CI=true) servers
that cannot be started fail the suite; elsewhere it is skipped with the reason.
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator

import pytest

from tests.reliability.services import PrivateServices, ServicesUnavailable


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "reliability: a fault-injection test (minutes; `make test` runs it)"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/reliability/" in str(item.path).replace(os.sep, "/"):
            item.add_marker(pytest.mark.reliability)


@pytest.fixture(scope="session")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateServices]:
    private = PrivateServices.on_free_ports(tmp_path_factory.mktemp("services"))
    try:
        private.up()
    except ServicesUnavailable as exc:
        with_reason = f"the reliability suite's own Kafka and OpenSearch did not start: {exc}"
        with contextlib.suppress(ServicesUnavailable):
            private.run("down")
        if os.environ.get("CI"):
            pytest.fail(with_reason)
        pytest.skip(with_reason)
    yield private
    private.run("down", "--wipe")


@pytest.fixture
def rng(request: pytest.FixtureRequest) -> random.Random:
    """Seeded from AKHBAR_TEST_SEED or at random; the seed is printed to replay a failure."""
    seed = int(os.environ.get("AKHBAR_TEST_SEED") or random.SystemRandom().randrange(2**32))
    print(f"{request.node.name}: random seed {seed} (AKHBAR_TEST_SEED={seed} replays it)")
    return random.Random(seed)
