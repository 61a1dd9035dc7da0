"""The browser tier's shared Chromium: one process for the session, reached over CDP."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.test_dashboard import CHROMIUM, CHROMIUM_ARGS, async_playwright
from tests.support.common import skip_or_fail

# What Playwright's own launch adds that these tests rely on: a page in a background tab keeps
# its timers and rendering (the second-tab test), no first-run or default-browser prompts.
LAUNCH_ARGS = [
    "--headless",
    "--remote-debugging-port=0",
    "--disable-background-timer-throttling",
    "--disable-backgrounding-occluded-windows",
    "--disable-renderer-backgrounding",
    "--disable-back-forward-cache",
    "--disable-ipc-flooding-protection",
    "--disable-hang-monitor",
    "--disable-popup-blocking",
    "--disable-extensions",
    "--no-default-browser-check",
    "--password-store=basic",
    "--use-mock-keychain",
]


@pytest.fixture(scope="session")
def chromium_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One Chromium for the session (it takes a second or more to start on a loaded machine);
    each test connects to it over CDP and gets fresh contexts, closed at its end."""
    if async_playwright is None:
        skip_or_fail("playwright is not installed (pip install -e '.[dev]')")
    if not Path(CHROMIUM).exists():
        skip_or_fail(f"{CHROMIUM} not found (apt-get install chromium, or set DOCCOUNT_CHROMIUM)")
    directory = tmp_path_factory.mktemp("chromium")
    log_path = directory / "chromium.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [CHROMIUM, *CHROMIUM_ARGS, *LAUNCH_ARGS, f"--user-data-dir={directory / 'profile'}"],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    try:
        deadline = time.monotonic() + 30
        while not (found := re.search(r"DevTools listening on (ws://\S+)", log_path.read_text())):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"Chromium did not open its DevTools port:\n{log_path.read_text()}"
                )
            time.sleep(0.05)
        yield found.group(1)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
