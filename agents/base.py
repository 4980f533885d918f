"""One managed element: the NETCONF core serving one stratum's device model.

An agent is the NETCONF server core (which knows nothing of quantum) plus a datastore
over its stratum's module, seeded from the network file, plus the stratum's live state
provider. Many agents can share one process and event loop (one port each), which is
how a network of 100+ elements fits a small machine; the parsed schema is shared by
all agents of a stratum.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree

from qnms.netconf.datastore.manager import DatastoreManager
from qnms.netconf.protocol.monitoring import IETF_DIR as SERVED_IETF_DIR
from qnms.netconf.server import NetconfServer, ServerOptions
from qnms.network.inventory import Network
from qnms.yang.binding_classes import LazyBindingClasses
from qnms.yang.catalog import IETF_DIR, STRATUM_MODULES, YANG_DIR, module_file
from qnms.yang.codec import json_to_xml
from qnms.yang.schema import Schema
from qnms.yang.schema_cache import cached_schema

from .cs import CsState
from .live import LiveState
from .qfs import QfsState
from .ss import SsState

STATE_CLASSES: dict[str, Callable[[Callable[[], etree._Element]], LiveState]] = {
    "qfs": QfsState,
    "cs": CsState,
    "ss": SsState,
}
# State that moves with the clock on every read: on-change subscriptions ignore it
# (periodic subscriptions report it), or every poll would be a change.
CONTINUOUS = {
    "qfs": ("/qnms-quantum-fabric:quantum-fabric/qui-table/qui/lifecycle/age",),
    "ss": ("/qnms-service-stratum:service-stratum/sessions/session/token-bucket/level",),
    "cs": (),
}


NACM_MODULE = SERVED_IETF_DIR / "ietf-netconf-acm@2018-02-14.yang"


@functools.cache
def stratum_schema(stratum: str) -> Schema:
    """The parsed device module of a stratum, shared by every agent of that stratum,
    with ietf-netconf-acm: every agent keeps its RFC 8341 rules in running.

    qnms-types is implemented too, not import-only: the device modules use its
    identities as values and defaults, and RFC 7950 (5.6.5) lets a client resolve
    them only in implemented modules (yanglint refuses the set otherwise).
    """
    files = [NACM_MODULE, module_file("qnms-types"), module_file(STRATUM_MODULES[stratum])]
    # From the schema cache when warm: an agent starts without running pyang (issue 13).
    return cached_schema(files, search_dirs=[YANG_DIR, IETF_DIR])


@functools.cache
def stratum_bindings(stratum: str) -> LazyBindingClasses:
    """Imported when a datastore first builds its objects: not at start (issue 13)."""
    return LazyBindingClasses("qnms_bindings", [STRATUM_MODULES[stratum]])


def initial_config(network: Network, stratum: str, name: str) -> dict[str, Any] | None:
    """The element's instance data from the network file (RFC 7951), if it has any."""
    if stratum == "qfs":
        return network.qfs_data(name)
    if stratum == "ss":
        return network.ss_data(name)
    return network.cs_data(name)


def elements(network: Network) -> list[tuple[str, str]]:
    """Every managed element of a network as (stratum, name): a QFS agent per node, an
    SS agent per node hosting a KME-like element, a CS agent per domain."""
    out = [("qfs", n["name"]) for n in network.nodes]
    out += [("ss", n["name"]) for n in network.nodes if "service-stratum" in n]
    out += [("cs", d["name"]) for d in network.domains]
    return out


@dataclass
class AgentConfig:
    stratum: str
    name: str
    state_dir: Path
    host: str = "127.0.0.1"
    port: int = 0
    users: dict[str, str] = field(default_factory=dict)
    authorized_keys: Path | None = None  # per user: see qnms.netconf.protocol.auth
    recovery_user: str | None = None  # bypasses NACM (RFC 8341 3.1.3)
    nacm_groups: dict[str, list[str]] | None = None  # bootstrap /nacm groups
    max_sessions: int = 64
    max_sessions_per_user: int | None = None
    hello_timeout: float = 60.0
    idle_timeout: float = 3600.0
    offload: bool = False  # reads and edits in worker threads (ServerOptions.offload)


class Agent:
    """A NETCONF agent for one element of one stratum."""

    def __init__(self, config: AgentConfig, network: Network | None = None) -> None:
        if config.stratum not in STRATUM_MODULES:
            raise ValueError(f"unknown stratum {config.stratum!r} (use ss, qfs or cs)")
        self.config = config
        schema = stratum_schema(config.stratum)
        initial = None
        if network is not None:
            data = initial_config(network, config.stratum, config.name)
            if data is None:
                raise ValueError(
                    f"{config.name!r} has no {config.stratum} element in {network.source}"
                )
            initial = json_to_xml(data, schema)
        self.datastores = DatastoreManager(
            schema,
            state_dir=config.state_dir / "datastores",
            initial=initial,
            bindings=stratum_bindings(config.stratum),
            lazy_bindings=True,
        )
        # the installed running tree itself, not a copy: live state only reads it, and a
        # copy per read cost a whole-tree deep copy per <get> and per commit (issue 13)
        self.live = STATE_CLASSES[config.stratum](lambda: self.datastores.snapshot("running"))
        if isinstance(self.live, SsState):
            self.live.node_name = config.name
        self.datastores.state_provider = self.live
        self.live.config_changed()
        self.datastores.add_listener(lambda _changes, _session: self.live.config_changed())
        self.server = NetconfServer(
            self.datastores,
            options=ServerOptions(
                host=config.host,
                port=config.port,
                state_dir=config.state_dir,
                users=dict(config.users),
                authorized_keys=config.authorized_keys,
                recovery_user=config.recovery_user,
                nacm_groups=config.nacm_groups,
                max_sessions=config.max_sessions,
                max_sessions_per_user=config.max_sessions_per_user,
                hello_timeout=config.hello_timeout,
                idle_timeout=config.idle_timeout,
                offload=config.offload,
                on_change_unsupported=CONTINUOUS[config.stratum],
            ),
        )

    def state_changed(self) -> None:
        """Live state changed (emulation results): on-change subscriptions look again."""
        self.server.state_changed()

    @property
    def port(self) -> int:
        return self.server.port

    async def start(self) -> None:
        await self.server.start()

    async def stop(self) -> None:
        await self.server.stop()
