"""Agents of the default network in the test process, and ncclient sessions to them.

Fixtures ``network``, ``bg`` and ``start_agent`` are registered by tests/agents/conftest.py:
agents run on a background event loop (``bg``) while the test thread drives them with
blocking ncclient sessions. Agents in a thread or a child process for third-party clients
are in support.processes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from ncclient import manager

from qnms.app.background import BackgroundLoop
from qnms.network.inventory import Network, load_network
from qnms_agents.base import Agent, AgentConfig

USER, PASSWORD = "admin", "agent-test-pw"
QFS = "urn:qnms:yang:qnms-quantum-fabric"
CS = "urn:qnms:yang:qnms-connectivity"
SS = "urn:qnms:yang:qnms-service-stratum"


def connect(agent: Agent) -> manager.Manager:
    return connect_port(agent.port, USER, PASSWORD)


def connect_port(port: int, user: str, password: str) -> manager.Manager:
    return manager.connect(
        host="127.0.0.1",
        port=port,
        username=user,
        password=password,
        hostkey_verify=False,
        allow_agent=False,
        look_for_keys=False,
        timeout=10,
    )


# -- fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def network() -> Network:
    return load_network()


@pytest.fixture
def bg() -> Iterator[BackgroundLoop]:
    with BackgroundLoop() as loop:
        yield loop


@pytest.fixture
def start_agent(
    bg: BackgroundLoop, tmp_path: Path, network: Network
) -> Iterator[Callable[..., Agent]]:
    started: list[Agent] = []

    def start(stratum: str, name: str, state_dir: Path | None = None) -> Agent:
        config = AgentConfig(
            stratum=stratum,
            name=name,
            state_dir=state_dir or tmp_path / f"{stratum}-{name}",
            users={USER: PASSWORD},
        )
        agent = bg.run(_build(config, network))
        bg.run(agent.start())
        started.append(agent)
        return agent

    yield start
    for agent in started:
        bg.run(agent.stop())


async def _build(config: AgentConfig, network: Network) -> Agent:
    return Agent(config, network)
