"""The orchestrator's own NETCONF server, and the composition of the whole orchestrator.

Northbound is the same core as the agents (``NetconfServer`` over a
``DatastoreManager``), serving qnms-service: applications create, read and delete
service units with standard edit-config / get, and follow them with YANG-Push and the
service-unit-state-change notifications (ARCHITECTURE "The service model"). The
controller plugs into three seams of the core: a pre-apply check (admission refuses
the edit itself), a change listener (provision or release after the change) and the
state provider (config-false leaves of each unit, so ``<get>`` and on-change
subscriptions see them; ``state_changed`` is called on every change). The closed loop
(``restoration``) follows the agents' YANG-Push telemetry beside it, and the network's
live map (``topology_state``: RFC 8345 ``/nw-s:networks`` with qnms-topology) is a
second state provider fed by the same telemetry; the controller knows nothing of it.
Per-application
access (``tenancy``) sits in front of the server's NACM: each application's user sees
and touches only its own units, operators (``admins``) everything.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree

from qnms.netconf.datastore.manager import DatastoreManager
from qnms.netconf.interfaces import StateProvider
from qnms.netconf.server import NetconfServer, ServerOptions
from qnms.orchestrator.abstract import MODULE as ABSTRACT
from qnms.orchestrator.controller import AccessCheck, Controller, Loop
from qnms.orchestrator.damping import DampingParams
from qnms.orchestrator.domain import attach_segments
from qnms.orchestrator.monitor import monitor_loop
from qnms.orchestrator.restoration import Restoration
from qnms.orchestrator.southbound import AgentAddress, Southbound
from qnms.orchestrator.store import Store
from qnms.orchestrator.tenancy import Tenancy
from qnms.orchestrator.tenancy import install as install_tenancy
from qnms.orchestrator.topology_state import MODULES as TOPOLOGY_MODULES
from qnms.orchestrator.topology_state import TopologyState
from qnms.orchestrator.upkeep import expire_loop, upkeep_loop
from qnms.yang.binding_classes import binding_classes
from qnms.yang.catalog import IETF_DIR, YANG_DIR, module_file
from qnms.yang.codec import json_to_xml
from qnms.yang.schema_cache import cached_schema

log = logging.getLogger(__name__)
MODULE = "qnms-service"


@dataclass
class OrchestratorConfig:
    """Where the orchestrator listens, keeps its state, and which agents it manages."""

    agents: list[AgentAddress]
    state_dir: Path
    host: str = "127.0.0.1"
    port: int = 0  # 0: any free port (read Orchestrator.port after start)
    # NETCONF users and passwords; an application's user is its name or its owner
    # (qnms.orchestrator.tenancy); operators (NACM group admin) are the users in
    # ``admins``, or if None every user acting for no application
    users: dict[str, str] = field(default_factory=lambda: {"admin": "admin"})
    admins: list[str] | None = None
    applications: list[dict[str, Any]] = field(default_factory=list)  # RFC 7951, seeds running
    confirm_timeout: int = 30
    discovery_wait: float = 0.0  # seconds to wait for agents that do not answer yet
    access_check: AccessCheck | None = None
    damping: DampingParams = field(default_factory=DampingParams)  # the closed loop's
    # set: a domain orchestrator under a parent (ACTN PNC): its northbound also serves
    # qnms-domain-abstract (the abstract view and the segments the parent asks for)
    domain: str | None = None
    network: str = "default"  # the network file's name: network-id of the topology map


class StateProviders:
    """Several state providers behind the datastores' one seam, in order."""

    def __init__(self, *providers: StateProvider | None) -> None:
        self.providers = [p for p in providers if p is not None]

    def state(self) -> list[etree._Element]:
        return [el for p in self.providers for el in p.state()]


def service_datastores(
    state_dir: Path,
    applications: list[dict[str, Any]],
    modules: Sequence[str] = (MODULE,),
    state_modules: Sequence[str] = (),
) -> DatastoreManager:
    """The northbound datastores over qnms-service (and ``modules``; ``state_modules``
    only serve config-false data, and have no bindings), seeded with the application
    registry the first time (after that, running as persisted wins)."""
    files = [module_file(m) for m in (*modules, *state_modules)]
    schema = cached_schema(files, search_dirs=[YANG_DIR, IETF_DIR])
    initial = None
    if applications:
        initial = json_to_xml({f"{MODULE}:applications": {"application": applications}}, schema)
    return DatastoreManager(
        schema,
        state_dir=state_dir / "datastores",
        initial=initial,
        bindings=binding_classes("qnms_bindings", list(modules)),
        lazy_bindings=True,
    )


def service_server(
    datastores: DatastoreManager,
    host: str,
    port: int,
    state_dir: Path,
    users: dict[str, str],
    admins: list[str] | None,
) -> tuple[NetconfServer, Tenancy]:
    """The northbound NETCONF server over the service datastores, with per-application
    tenancy in front of its NACM (also the parent orchestrator's, ``qnms.mdsc``)."""
    server = NetconfServer(
        datastores,
        options=ServerOptions(host=host, port=port, state_dir=state_dir, users=dict(users)),
    )
    return server, install_tenancy(server, datastores, admins, list(users))


class Orchestrator:
    """Southbound sessions, controller, store and northbound server, started together."""

    def __init__(self, config: OrchestratorConfig) -> None:
        self.config = config
        self.southbound = Southbound(config.agents)
        self.store = Store(config.state_dir / "orchestrator.db")
        self.controller = Controller(
            self.southbound,
            self.store,
            confirm_timeout=config.confirm_timeout,
            access_check=config.access_check,
        )
        self.restoration = Restoration(self.controller, damping=config.damping)
        modules = (MODULE, ABSTRACT) if config.domain else (MODULE,)
        self.datastores = service_datastores(
            config.state_dir, config.applications, modules, TOPOLOGY_MODULES
        )
        self.datastores.state_provider = self.controller
        self.datastores.write_checks.append(self.controller.check)
        self.segments = (
            attach_segments(self.controller, self.datastores, config.state_dir, config.domain)
            if config.domain
            else None
        )
        self.topology = TopologyState(
            config.network, lambda: self.controller.discovery, self.restoration.facts
        )
        self.restoration.followers.append(self.topology.on_telemetry)
        self.datastores.state_provider = StateProviders(
            self.datastores.state_provider, self.topology
        )
        self.datastores.add_listener(self._running_changed)
        self.server, self.tenancy = service_server(
            self.datastores, config.host, config.port, config.state_dir, config.users, config.admins
        )
        self.controller.publish = self.server.hub.publish
        self.controller.changed = self.server.state_changed
        self.topology.changed = self.server.state_changed

    def _running_changed(self, _changes: object, _session: int) -> None:
        running = self.datastores.get_config("running")
        self.tenancy.refresh(running)  # first: the sync's notifications name new units
        self.controller.sync(running)
        if self.segments is not None:
            self.segments.sync(running)

    @property
    def port(self) -> int:
        return self.server.port

    async def start(self) -> None:
        """Discover, start serving, then reconcile intent with what the store holds."""
        loops: list[Loop] = [
            expire_loop,
            upkeep_loop,
            lambda ctl: monitor_loop(ctl, ctl.monitor_period),
            lambda _ctl: self.restoration.run(),
        ]
        if (segments := self.segments) is not None:
            loops.append(lambda ctl: segments.loop(ctl.monitor_period))
        await self.controller.start(self.config.discovery_wait, background=loops)
        if self.segments is not None:
            self.segments.restore()
        await self.server.start()
        running = self.datastores.get_config("running")
        self.controller.sync(running)
        if self.segments is not None:
            self.segments.sync(running)
        topo = self.controller.topology
        log.info(
            "orchestrator on port %d: %d nodes, %d links, %d endpoints, %d agent(s) unreachable",
            self.port,
            len(topo.nodes),
            len(topo.edges),
            len(topo.endpoints),
            len(self.controller.discovery.unreachable),
        )

    async def stop(self) -> None:
        self.topology.close()
        await self.server.stop()
        await self.controller.stop()
        if self.segments is not None:
            await self.segments.stop()
            self.segments.store.close()
        await self.southbound.close()
        self.store.close()

    async def __aenter__(self) -> Orchestrator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
