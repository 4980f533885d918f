"""Run one qnms agent for third-party clients: in a background thread, or as a process.

yangcli is a separate process anyway, so for the interop tests the agent only needs an
event loop of its own that keeps serving while the test thread waits on a subprocess:
``AgentThread`` runs it on a private loop in a daemon thread. That is simpler than a
subprocess and lets the test read the agent's datastore directly (through ``call``, on
the agent's loop, so a read never races an edit); a failed start raises in the caller
instead of leaving an orphan behind.

Benchmarks need the other mode: a blocking client (ncclient) in the same process would
share the GIL with the server and slow both down, which a C server in its own process
does not suffer. ``AgentProcess`` runs ``python processes.py`` (``main`` below),
reads the port it prints, and stops it by closing its stdin (then SIGTERM, then KILL).
This file is run as a script, so it imports nothing from the support package.

``stop_process`` ends any child process of a test the same way: SIGTERM, then KILL.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from qnms.app.background import BackgroundLoop

T = TypeVar("T")

USER, PASSWORD = "admin", "admin-pw"


def _make_agent(
    state_dir: Path,
    stratum: str,
    name: str,
    network: Any,
    users: dict[str, str] | None,
    offload: bool = False,
    port: int = 0,
) -> Any:
    # Imported here so that ``AgentProcess`` users (the benchmark) do not pay for
    # loading the schema, bindings and network in the client process.
    from qnms.network.inventory import load_network
    from qnms_agents.base import Agent, AgentConfig

    config = AgentConfig(
        stratum=stratum,
        name=name,
        state_dir=state_dir,
        host="127.0.0.1",
        port=port,
        users=users if users is not None else {USER: PASSWORD},
        offload=offload,
    )
    return Agent(config, network if network is not None else load_network())


class AgentThread(BackgroundLoop):
    """An ``Agent`` started on its own event loop; ``stop()`` is safe to call twice."""

    def __init__(self, agent: Any) -> None:
        super().__init__()
        self.agent = agent
        try:
            self.run(agent.start())
        except BaseException:
            self.close()
            raise
        self.port: int = agent.port

    def running(self) -> Any:
        """A copy of the running datastore (lxml ``<data>``)."""
        return self.call(lambda: self.agent.datastores.get_config("running"))

    def candidate(self) -> Any:
        return self.call(lambda: self.agent.datastores.get_config("candidate"))

    def locks(self) -> dict[str, int]:
        """Current lock holders {datastore: session id}."""
        return self.call(self.agent.datastores.locks)

    def stop(self) -> None:
        if self.loop.is_closed():
            return
        try:
            self.run(self.agent.stop())
        finally:
            self.close()


def start_agent(
    state_dir: Path,
    stratum: str = "qfs",
    name: str = "madqci-r1",
    network: Any = None,
    users: dict[str, str] | None = None,
    port: int = 0,
) -> AgentThread:
    """An agent of the default network (unless given another) on 127.0.0.1, on ``port``
    (0: a free one)."""
    return AgentThread(_make_agent(state_dir, stratum, name, network, users, port=port))


@contextmanager
def running_agent(state_dir: Path, **kwargs: Any) -> Iterator[AgentThread]:
    """``start_agent`` as a context manager that always stops the agent."""
    agent = start_agent(state_dir, **kwargs)
    try:
        yield agent
    finally:
        agent.stop()


# ------------------------------------------------------------------ as a process


def stop_process(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """Terminate ``proc`` (then kill it) and close its pipes; safe to call twice."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()


class AgentProcess:
    """The agent in a child process (``main`` below); ``stop()`` is safe to call twice."""

    def __init__(
        self,
        state_dir: Path,
        stratum: str = "qfs",
        name: str = "madqci-r1",
        user: str = USER,
        password: str = PASSWORD,
        start_timeout: float = 60.0,
        offload: bool = False,
    ) -> None:
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--state-dir",
            str(state_dir),
            "--stratum",
            stratum,
            "--name",
            name,
            "--user",
            user,
            *(["--offload"] if offload else []),
        ]
        env = dict(os.environ, QNMS_AGENT_PASSWORD=password)  # not on the command line
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )
        self.port = self._read_port(start_timeout)

    def _read_port(self, timeout: float) -> int:
        box: list[str] = []
        reader = threading.Thread(
            target=lambda: box.append(self.proc.stdout.readline() if self.proc.stdout else ""),
            daemon=True,
        )
        reader.start()
        reader.join(timeout)
        line = box[0] if box else ""
        if not line.startswith("PORT "):
            self.stop()
            raise RuntimeError(f"agent process did not start (printed {line!r})")
        return int(line.split()[1])

    def stop(self, timeout: float = 10.0) -> None:
        proc = self.proc
        if proc.poll() is None:
            try:
                if proc.stdin is not None:
                    proc.stdin.close()  # EOF: the agent stops cleanly
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
        if proc.stdout is not None:
            proc.stdout.close()


async def _serve(args: argparse.Namespace) -> None:
    users = {args.user: os.environ.get("QNMS_AGENT_PASSWORD", PASSWORD)}
    agent = _make_agent(
        Path(args.state_dir), args.stratum, args.name, None, users, offload=args.offload
    )
    await agent.start()
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, done.set)

    def wait_for_eof() -> None:  # the parent closing our stdin means "stop"
        sys.stdin.read()
        loop.call_soon_threadsafe(done.set)

    threading.Thread(target=wait_for_eof, daemon=True).start()
    print(f"PORT {agent.port}", flush=True)
    try:
        await done.wait()
    finally:
        await agent.stop()


def main(argv: list[str] | None = None) -> None:
    """Serve one agent of the default network on 127.0.0.1 until stdin closes."""
    p = argparse.ArgumentParser(description=main.__doc__)
    p.add_argument("--state-dir", required=True)
    p.add_argument("--stratum", default="qfs")
    p.add_argument("--name", default="madqci-r1")
    p.add_argument("--user", default=USER)
    p.add_argument("--offload", action="store_true", help="ServerOptions.offload")
    asyncio.run(_serve(p.parse_args(argv)))


if __name__ == "__main__":
    main()
