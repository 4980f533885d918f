"""The whole system with its web console, once for the console's tests, and a browser.

One stack (twin, agents, orchestrator, console) serves every test of this directory:
starting it costs seconds, and the tests share it the way users share a running system
(each creates its own units). The browser is Debian's chromium driven by Playwright;
no browser is ever downloaded. Tests that need it skip, saying why, when it is missing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from qnms.app.background import BackgroundLoop
from qnms.app.stack import Stack, StackOptions
from qnms.network.inventory import load_network

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TENANT = "clock-sync"  # an application's user (tenancy: the user is named as the app)


@dataclass
class ConsoleSystem:
    stack: Stack
    bg: BackgroundLoop
    url: str
    admin: tuple[str, str]
    tenant: tuple[str, str]


@pytest.fixture(scope="package")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleSystem]:
    options = StackOptions(
        network=load_network(),
        state_dir=tmp_path_factory.mktemp("console"),
        console=True,
        users={TENANT: "tenant-pw"},
    )
    with BackgroundLoop() as bg:
        stack = Stack(options)
        bg.run(stack.start(), timeout=180)
        try:
            assert stack.console is not None
            yield ConsoleSystem(
                stack,
                bg,
                stack.console.url,
                (options.user, options.password),
                (TENANT, "tenant-pw"),
            )
        finally:
            bg.run(stack.stop(), timeout=60)


# module scope: Playwright's sync API keeps an event loop running in this thread while
# it lives, and any later test's asyncio.run() would fail under it
@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} missing: scripts/bootstrap.sh installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()
