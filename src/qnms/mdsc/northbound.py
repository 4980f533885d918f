"""The parent orchestrator's composition: qnms-service northbound over the domains.

The same northbound as a single orchestrator (``service_datastores``, the NETCONF server,
per-application tenancy), so applications and the ``qnms`` client commands cannot tell
the two layouts apart; the controller behind it is ``ParentController``, whose
"southbound" is one NETCONF session per domain orchestrator's northbound.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qnms.mdsc.controller import ParentController
from qnms.mdsc.monitor import monitor_loop
from qnms.orchestrator.northbound import service_datastores, service_server
from qnms.orchestrator.southbound import AgentAddress, Southbound
from qnms.orchestrator.store import Store


def domain_address(domain: str, host: str, port: int, username: str, password: str) -> AgentAddress:
    """How the parent reaches one domain orchestrator's northbound."""
    return AgentAddress("domain", domain, host, port, username, password)


@dataclass
class ParentConfig:
    """Where the parent listens, keeps its state, and which domain orchestrators it uses."""

    domains: list[AgentAddress]
    state_dir: Path
    host: str = "127.0.0.1"
    port: int = 0
    users: dict[str, str] = field(default_factory=lambda: {"admin": "admin"})
    admins: list[str] | None = None
    applications: list[dict[str, Any]] = field(default_factory=list)
    monitor_period: float = 0.5
    settle_timeout: float = 60.0


class ParentOrchestrator:
    """Sessions to the domains, parent controller, store and northbound server."""

    def __init__(self, config: ParentConfig) -> None:
        self.config = config
        self.southbound = Southbound(config.domains)
        self.store = Store(config.state_dir / "mdsc.db")
        self.controller = ParentController(
            self.southbound,
            self.store,
            monitor_period=config.monitor_period,
            settle_timeout=config.settle_timeout,
        )
        self.datastores = service_datastores(config.state_dir, config.applications)
        self.datastores.state_provider = self.controller
        self.datastores.write_checks.append(self.controller.check)
        self.datastores.add_listener(self._running_changed)
        self.server, self.tenancy = service_server(
            self.datastores, config.host, config.port, config.state_dir, config.users, config.admins
        )
        self.controller.publish = self.server.hub.publish
        self.controller.changed = self.server.state_changed

    def _running_changed(self, _changes: object, _session: int) -> None:
        running = self.datastores.get_config("running")
        self.tenancy.refresh(running)
        self.controller.sync(running)

    @property
    def port(self) -> int:
        return self.server.port

    async def start(self) -> None:
        await self.controller.start(monitor_loop)
        await self.server.start()
        self.controller.sync(self.datastores.get_config("running"))

    async def stop(self) -> None:
        await self.server.stop()
        await self.controller.stop()
        await self.southbound.close()
        self.store.close()
