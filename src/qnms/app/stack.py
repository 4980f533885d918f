"""The whole system on one network: twin, agents and orchestrator (``qnms up``, the demo).

The three parts are started exactly as they would run on separate machines and meet
only where they would: the twin in a process of its own (SeQUeNCe keeps process-wide
state, and a real network's physics is not a library of its controller), reached by
the agents over its ZeroMQ bus; one NETCONF agent per managed element, head-end QFS
agents driving the twin; the orchestrator discovering those agents over NETCONF and
serving the northbound service model. Everything listens on loopback, on free ports
unless told otherwise, and stops cleanly in the reverse order.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qnms.mdsc.northbound import ParentConfig, ParentOrchestrator, domain_address
from qnms.network.inventory import Network
from qnms.orchestrator.inventory import in_domain
from qnms.orchestrator.northbound import Orchestrator, OrchestratorConfig
from qnms.orchestrator.southbound import AgentAddress
from qnms.qndt.client import BusClient
from qnms_agents.base import Agent
from qnms_agents.kme.attach import KmeGroup
from qnms_agents.kme.kme import KmeLimits
from qnms_agents.qndt_feed import follow_twin
from qnms_agents.runner import network_agents

if TYPE_CHECKING:
    from qnms.app.console.server import Console

Progress = Callable[[str], None]
AGENT_USER = "orchestrator"  # the orchestrator's login on every agent
PARENT_USER = "mdsc"  # the parent's login on every domain orchestrator (multi-domain)


def new_password() -> str:
    """A generated password (96 random bits) that a command line takes as it is: hex, so
    it never starts with "-" (``token_urlsafe`` did one time in 64, and ``--password
    -x...`` is then read as an option) and needs no quoting."""
    return secrets.token_hex(12)


@dataclass
class StackOptions:
    """What to run and where; the defaults are the demo's."""

    network: Network
    state_dir: Path
    host: str = "127.0.0.1"
    port: int = 0  # the orchestrator's northbound; 0 picks a free port
    user: str = "admin"  # the operator's northbound login
    password: str = field(default_factory=new_password)
    speed: float = 0.1  # simulated seconds per wall second for the twin
    seed: int = 0
    twin_log: Path | None = None  # the twin's stderr (default: state_dir/qndt.log)
    multi_domain: bool = False  # one orchestrator per domain under a parent (MDSC)
    kme_pki: Path | None = None  # KMEs on the SS agents, with this PKI (qnms pki)
    kme_limits: KmeLimits | None = None
    # more northbound users, e.g. applications' (tenancy: a user named as an application
    # or its owner acts for it); ``user`` stays the one operator (NACM group admin)
    users: dict[str, str] = field(default_factory=dict)
    console: bool = False  # serve the web console (qnms.app.console) on the northbound
    console_port: int = 0  # 0: any free port


def free_port_pair(host: str = "127.0.0.1") -> int:
    """A port p with p and p+1 free (the twin's results and requests sockets)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        with socket.socket() as s, contextlib.suppress(OSError):
            s.bind((host, port + 1))
            return port
    raise OSError("no pair of free ports on loopback")


class Stack:
    """Twin, agents and orchestrator of one network, started and stopped together."""

    def __init__(self, options: StackOptions) -> None:
        self.options = options
        self.twin: asyncio.subprocess.Process | None = None
        self.twin_bind = ""
        self.agents: list[Agent] = []
        self.orchestrator: Orchestrator | None = None
        self.domains: dict[str, Orchestrator] = {}  # multi-domain: per-domain orchestrators
        self.parent: ParentOrchestrator | None = None  # multi-domain: the northbound
        self.kmes: KmeGroup | None = None
        self.console: Console | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._agent_password = new_password()

    @property
    def port(self) -> int:
        """The northbound port users talk to: the orchestrator's, or the parent's."""
        top = self.parent or self.orchestrator
        if top is None:
            raise RuntimeError("stack not started")
        return top.port

    @property
    def domain_login(self) -> tuple[str, str]:
        """The parent's login on the domain orchestrators (and the orchestrators' on
        the agents): user and password."""
        return PARENT_USER, self._agent_password

    def agent_login(self, stratum: str, node: str) -> tuple[str, int, str, str]:
        """(host, port, user, password) of one agent, as the orchestrator logs in: for
        an operator reading an element's telemetry (the demo reads the KMEs' links)."""
        for a in self.agents:
            if (a.config.stratum, a.config.name) == (stratum, node):
                return self.options.host, a.port, AGENT_USER, self._agent_password
        raise KeyError(f"no {stratum} agent for {node}")

    async def start(self, progress: Progress = lambda _msg: None) -> None:
        try:
            await self._start_twin(progress)
            await self._start_agents(progress)
            if self.options.multi_domain:
                await self._start_multi_domain(progress)
            else:
                await self._start_orchestrator(progress)
            if self.options.console:
                await self._start_console(progress)
        except BaseException:
            await self.stop()
            raise

    async def _start_twin(self, progress: Progress) -> None:
        o = self.options
        o.state_dir.mkdir(parents=True, exist_ok=True)
        self.twin_bind = f"tcp://{o.host}:{free_port_pair(o.host)}"
        cmd = [sys.executable, "-m", "qnms.qndt", "--network", o.network.source]
        cmd += ["--bind", self.twin_bind, "--speed", str(o.speed), "--seed", str(o.seed)]
        self.twin = await asyncio.create_subprocess_exec(
            *cmd, stdin=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
        )
        assert self.twin.stderr is not None
        line = (await asyncio.wait_for(self.twin.stderr.readline(), 60)).decode()
        if "results on" not in line:
            rest = (await self.twin.stderr.read()).decode()
            raise RuntimeError(f"the twin did not start: {line}{rest}".strip())
        log_path = o.twin_log or o.state_dir / "qndt.log"
        self._tasks.append(asyncio.create_task(_drain(self.twin.stderr, log_path)))
        progress(f"twin (SeQUeNCe) on {self.twin_bind}, speed {o.speed:g}, pid {self.twin.pid}")

    async def _start_agents(self, progress: Progress) -> None:
        o = self.options
        t0 = time.monotonic()
        self.agents = network_agents(
            o.network,
            base_port=0,
            host=o.host,
            users={AGENT_USER: self._agent_password},
            authorized_keys=None,
            state_root=o.state_dir / "agents",
            nacm_groups={"admin": [AGENT_USER]},
        )
        for agent in self.agents:
            await agent.start()
        self._tasks += follow_twin(self.agents, self.twin_bind)
        progress(f"{len(self.agents)} NETCONF agents up in {time.monotonic() - t0:.1f} s")
        if o.kme_pki is not None:
            self.kmes = KmeGroup(self.agents, o.kme_pki, network=o.network, limits=o.kme_limits)
            await self.kmes.start(say=lambda _line: None)
            progress(f"{len(self.kmes.servers)} KMEs (ETSI GS QKD 014) on the SS agents")

    def _addresses(self, domain: str | None = None) -> list[AgentAddress]:
        o = self.options
        return [
            AgentAddress(
                a.config.stratum, a.config.name, o.host, a.port, AGENT_USER, self._agent_password
            )
            for a in self.agents
            if domain is None or in_domain(o.network, domain, a.config.stratum, a.config.name)
        ]

    async def _start_multi_domain(self, progress: Progress) -> None:
        """One orchestrator per domain on its own agents, then the parent above them."""
        o = self.options
        for d in o.network.domains:
            name = d["name"]
            t0 = time.monotonic()
            orch = Orchestrator(
                OrchestratorConfig(
                    agents=self._addresses(name),
                    state_dir=o.state_dir / "domains" / name,
                    host=o.host,
                    users={PARENT_USER: self._agent_password},
                    applications=o.network.applications,
                    network=o.network.name,
                    domain=name,
                )
            )
            self.domains[name] = orch
            await orch.start()
            topo = orch.controller.topology
            progress(
                f"domain orchestrator {name} on {o.host}:{orch.port}: {len(topo.nodes)} "
                f"nodes, {len(topo.edges)} links in {time.monotonic() - t0:.1f} s"
            )
        self.parent = ParentOrchestrator(
            ParentConfig(
                domains=[
                    domain_address(n, o.host, orch.port, PARENT_USER, self._agent_password)
                    for n, orch in self.domains.items()
                ],
                state_dir=o.state_dir / "parent",
                host=o.host,
                port=o.port,
                users=self.northbound_users,
                admins=[o.user],
                applications=o.network.applications,
            )
        )
        await self.parent.start()
        progress(
            f"parent orchestrator (MDSC) on {o.host}:{self.parent.port} over "
            f"{len(self.domains)} domain(s)"
        )

    async def _start_orchestrator(self, progress: Progress) -> None:
        o = self.options
        t0 = time.monotonic()
        addresses = self._addresses()
        config = OrchestratorConfig(
            agents=addresses,
            state_dir=o.state_dir / "orchestrator",
            host=o.host,
            port=o.port,
            users=self.northbound_users,
            admins=[o.user],
            applications=o.network.applications,
            network=o.network.name,
        )
        self.orchestrator = Orchestrator(config)
        await self.orchestrator.start()
        topo = self.orchestrator.controller.topology
        progress(
            f"orchestrator on {o.host}:{self.orchestrator.port}: discovered "
            f"{len(topo.nodes)} nodes, {len(topo.edges)} quantum links over NETCONF "
            f"in {time.monotonic() - t0:.1f} s"
        )

    @property
    def northbound_users(self) -> dict[str, str]:
        """Every northbound login: the operator's and the extra (application) users."""
        return {**self.options.users, self.options.user: self.options.password}

    def send_fault(self, request: dict[str, Any]) -> dict[str, Any]:
        """Send one fault request to the twin's bus and return its reply (blocking): the
        console's fault buttons, as ``demo_fault`` injects them."""
        twin = BusClient(self.twin_bind, topics=())
        try:
            return twin.request(request)
        finally:
            twin.close()

    async def _start_console(self, progress: Progress) -> None:
        # imported here, not above: the web stack (uvicorn, starlette) costs ~0.2 s of
        # imports that the demo and the tests without a console should not pay
        from qnms.app.console.server import Console, ConsoleConfig

        o = self.options
        self.console = Console(
            ConsoleConfig(
                northbound_host=o.host,
                northbound_port=self.port,
                host=o.host,
                port=o.console_port,
                operators=frozenset({o.user}),
                fault=self.send_fault,
            )
        )
        await self.console.start()
        progress(f"console on {self.console.url} (log in as {o.user})")

    async def stop(self) -> None:
        if self.console is not None:
            await self.console.stop()
            self.console = None
        if self.parent is not None:
            await self.parent.stop()
            self.parent = None
        for orch in reversed(list(self.domains.values())):
            await orch.stop()
        self.domains = {}
        if self.orchestrator is not None:
            await self.orchestrator.stop()
            self.orchestrator = None
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self.kmes is not None:
            await self.kmes.stop()
            self.kmes = None
        for agent in reversed(self.agents):
            await agent.stop()
        self.agents = []
        if self.twin is not None and self.twin.returncode is None:
            self.twin.terminate()
            try:
                await asyncio.wait_for(self.twin.wait(), 10)
            except TimeoutError:
                self.twin.kill()
                await self.twin.wait()
        self.twin = None


async def _drain(stream: asyncio.StreamReader, path: Path) -> None:
    """Keep the twin's stderr flowing into its log file (a full pipe would stall it)."""
    with path.open("ab") as log:
        while line := await stream.readline():
            log.write(line)
            log.flush()
