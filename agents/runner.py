"""Run one agent, or every agent of a network, in this process until told to stop.

All agents share one event loop; SIGINT/SIGTERM stop them cleanly (sessions closed,
datastores already persisted on each commit), so nothing is lost on a normal stop and
a SIGKILL loses nothing committed either.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from qnms.netconf.datastore import memory
from qnms.netconf.protocol.auth import check_passwords
from qnms.netconf.protocol.server import is_loopback
from qnms.network.inventory import Network

from .base import Agent, AgentConfig, elements

DEFAULT_USER = ("admin", "admin")


def default_state_root() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(base) / "qnms" / "agents"


def credentials(
    host: str, user: str | None, password: str | None, authorized_keys: Path | None
) -> dict[str, str]:
    """The users dict for the server; a loopback-only default when none is given."""
    if (user is None) != (password is None):
        raise ValueError("--user and --password go together")
    if user is not None and password is not None:
        check_passwords({user: password})
        return {user: password}
    if authorized_keys is not None:
        return {}
    if not is_loopback(host):
        raise ValueError(
            f"refusing to listen on {host} without credentials: "
            "give --user/--password or --authorized-keys"
        )
    return dict([DEFAULT_USER])


def read_users(path: Path) -> dict[str, str]:
    """``name:password`` lines (``#`` comments); empty passwords are refused."""
    users = {}
    for n, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, password = line.partition(":")
        if not sep or not name:
            raise ValueError(f"{path}:{n}: expected 'name:password'")
        users[name] = password
    check_passwords(users)
    return users


class Service(Protocol):
    """Something started after the agents and stopped before them (e.g. the KMEs)."""

    async def start(self) -> None: ...
    async def stop(self) -> None: ...


async def serve(
    agents: Sequence[Agent],
    *,
    qndt: str | None = None,
    quiet: bool = False,
    services: Sequence[Service] = (),
) -> None:
    """Start the agents, print where each listens, wait for SIGINT/SIGTERM, stop.

    With ``qndt`` (the engine's bus address) the agents' live state follows the
    emulation results published there, and head-end QFS agents drive the twin.
    """
    started: list[Agent] = []
    running: list[Service] = []
    following: list[asyncio.Task[None]] = []
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    t0 = time.monotonic()
    try:
        for i, agent in enumerate(agents, 1):
            await agent.start()
            started.append(agent)
            if not quiet and len(agents) > 20 and i % 20 == 0:
                print(f"  started {i}/{len(agents)} agents", file=sys.stderr, flush=True)
        print(f"{'stratum':8} {'element':18} address")
        for agent in started:
            c = agent.config
            print(f"{c.stratum:8} {c.name:18} {c.host}:{agent.port}", flush=True)
        for service in services:
            await service.start()
            running.append(service)
        if qndt:
            # Imported only here: an agent that does not follow a twin loads neither
            # ZeroMQ nor the head-end (issue 13: an agent starts in well under 1 s).
            from .qndt_feed import follow_twin

            following = follow_twin(started, qndt)
            print(f"following QNDT results on {qndt}", file=sys.stderr, flush=True)
        memory.freeze_startup()  # what serving adds is all later collections walk
        print(
            f"{len(started)} agent(s) up in {time.monotonic() - t0:.1f} s; Ctrl-C to stop",
            file=sys.stderr,
            flush=True,
        )
        await stop.wait()
    finally:
        for task in following:
            task.cancel()
        if following:
            await asyncio.gather(*following, return_exceptions=True)
        for service in reversed(running):
            await service.stop()
        for agent in reversed(started):
            await agent.stop()


def network_agents(
    network: Network,
    *,
    base_port: int,
    host: str,
    users: dict[str, str],
    authorized_keys: Path | None,
    state_root: Path,
    **security: Any,
) -> list[Agent]:
    """One agent per element of the network, on consecutive ports from ``base_port``."""
    out = []
    for i, (stratum, name) in enumerate(elements(network)):
        config = AgentConfig(
            stratum=stratum,
            name=name,
            state_dir=state_root / network.name / f"{stratum}-{name}",
            host=host,
            port=base_port + i if base_port else 0,
            users=users,
            authorized_keys=authorized_keys,
            **security,
        )
        out.append(Agent(config, network))
    return out
