"""Real agents of the default network over SSH on 127.0.0.1, and orchestrators on them.

Everything runs on one background event loop in this process, on free ports, exactly
as separate processes would: the orchestrator reaches the agents only over NETCONF.
Every agent and orchestrator started here is stopped at teardown. ``fleet`` is one set
per test (tests that change or break agents); ``shared_fleet`` one per module (tests
whose requests are refused and so change nothing). Their type, ``Fleet``, lives in
``orch_fleet``, which tests import.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from orch_fleet import Fleet

from qnms.app.background import BackgroundLoop
from qnms.network.inventory import Network, load_network


@pytest.fixture(scope="session")
def network() -> Network:
    return load_network()


def _fleet(root: Path, network: Network) -> Iterator[Fleet]:
    with BackgroundLoop() as bg:
        fleet = Fleet(bg, root, network)
        try:
            fleet.start_agents()
            yield fleet
        finally:
            fleet.close()


@pytest.fixture
def fleet(tmp_path: Path, network: Network) -> Iterator[Fleet]:
    yield from _fleet(tmp_path, network)


@pytest.fixture(scope="module")
def shared_fleet(tmp_path_factory: pytest.TempPathFactory, network: Network) -> Iterator[Fleet]:
    yield from _fleet(tmp_path_factory.mktemp("fleet"), network)
