"""The inspector in a real browser: Debian's headless Chromium, driven by Selenium through
Debian's ChromeDriver, against ``konstruct-memory serve`` running as its own process.

The browser is required, not optional: without it these tests fail and say how to install it
(``tests/browser/install-chromium``, which ``.ci/run`` runs), so a run can never pass by
silently skipping them.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

from tests.browser.memory import Remembered, new_tenant, remember_conversation
from tests.browser.page import Inspector
from tests.conftest import DatabaseUnderTest

CHROMIUM = os.environ.get("KONSTRUCT_MEMORY_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("KONSTRUCT_MEMORY_CHROMEDRIVER", "/usr/bin/chromedriver")
ADMIN_TOKEN = "inspector-admin-token-" + "x" * 24
# Where each view's screenshot goes: docs/inspector/ when regenerating the committed ones.
SCREENSHOTS = os.environ.get("KONSTRUCT_MEMORY_SCREENSHOTS")
LAPTOP, PHONE = (1280, 900), (390, 844)


@pytest.fixture(scope="session")
def served(new_database: Callable[[], DatabaseUnderTest]) -> Iterator[str]:
    """``konstruct-memory serve`` on a free port over a database of its own (real model)."""
    database = new_database()
    data_dir = tempfile.mkdtemp(prefix="km-inspector-")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("KONSTRUCT_MEMORY_")}
    env.update(
        KONSTRUCT_MEMORY_DATABASE_URL=database.runtime_url,
        KONSTRUCT_MEMORY_ADMIN_DATABASE_URL=database.admin_url,
        KONSTRUCT_MEMORY_ADMIN_TOKEN=ADMIN_TOKEN,
        KONSTRUCT_MEMORY_DATA_DIR=data_dir,
        KONSTRUCT_MEMORY_ERASURE_KEY="inspector-erasure-key-0123456789abcdef",
        # Sign-in tests present wrong credentials on purpose, all from one address.
        KONSTRUCT_MEMORY_FAILED_AUTH_BURST="1000",
    )
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "konstruct_memory", "serve", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_until_up(base, process, log)
            yield base
        finally:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
            shutil.rmtree(data_dir, ignore_errors=True)


def _wait_until_up(base: str, process: subprocess.Popen[bytes], log: IO[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            output = log.read().decode(errors="replace")
            pytest.fail(f"serve exited with {process.returncode}:\n{output}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail("serve did not answer /healthz within 120 s")


@pytest.fixture(scope="session")
def admin(served: str) -> httpx.Client:
    """The API with the admin token, to set tenants up beside the browser."""
    return httpx.Client(
        base_url=served, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30
    )


@pytest.fixture(scope="session")
def driver() -> Iterator[webdriver.Chrome]:
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not Path(path).exists()]
    if missing:
        pytest.fail(
            f"the browser tests need Chromium and ChromeDriver ({', '.join(missing)} not found):"
            " run tests/browser/install-chromium (Debian packages chromium, chromium-driver)",
            pytrace=False,
        )
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="km-chromium-")
    for flag in (
        "--headless=new",
        "--no-sandbox",  # the tests may run as root
        "--disable-gpu",
        "--disable-dev-shm-usage",
        # The machine's network is closed: no background fetches, no update checks.
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic",
        "--no-first-run",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        f"--window-size={LAPTOP[0]},{LAPTOP[1]}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    try:
        yield browser
    finally:
        browser.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def inspector(driver: webdriver.Chrome, served: str) -> Iterator[Inspector]:
    """The inspector in a fresh tab state: signed out, laptop-sized."""
    driver.set_window_size(*LAPTOP)
    driver.get(f"{served}/healthz")  # the same origin, with no script to race the clearing
    driver.execute_script("window.sessionStorage.clear()")
    driver.get(f"{served}/inspector/")
    page = Inspector(driver, served, Path(SCREENSHOTS) if SCREENSHOTS else None)
    yield page
    page.assert_no_script_ran()


@pytest.fixture
def acme(admin: httpx.Client, served: str) -> Remembered:
    """A new tenant, with a key of every scope, holding Maria's and Omar's turns."""
    tenant = new_tenant(admin)
    with tenant.client(served) as api:
        return Remembered(tenant, remember_conversation(api))
