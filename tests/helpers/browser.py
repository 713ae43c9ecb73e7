"""Debian's chromium under chromedriver, headless, for the status page test.

`scripts/test-tools` installs both (`make test` runs it first). Without them the
test skips on a developer machine, with the reason, and fails in CI.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
# Flags that work on this kind of machine: no sandbox as root, no GPU, nothing
# that reaches out to the network on its own.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1600",
)


def require_chromium() -> None:
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if not missing:
        return
    reason = f"{', '.join(missing)} missing; install them with `scripts/test-tools` (as root)"
    if os.environ.get("CI"):
        pytest.fail(f"the browser test is required in CI: {reason}")
    pytest.skip(reason)


@contextmanager
def chromium(profile: Path) -> Iterator[object]:
    """A headless chromium with a fresh profile; closed on exit."""
    require_chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    try:
        yield driver
    finally:
        driver.quit()
