"""Where the agent's time goes, for ``bench/netconf_agent.py --profile``.

The agent runs in this process on its own event loop (``start_agent``) and cProfile is
enabled on that loop's thread only, so what it sees is the server: SSH channel read,
framing, parse, dispatch, NACM, edit and checks, commit, journal, listeners, reply and
channel write. Two workloads:

- ``small`` (default): the pipelined client of ``netconf_fast`` runs in a child process
  (it must not share the agent's GIL) and sends ``--n`` small edit-configs, then ``--n``
  get-configs; each phase gets its own profile, the per-request wall time and a table
  of where it went, grouped by stage (``STAGES``: first matching file wins).
- ``bulk``: one edit-config of ``--entries`` list entries, then ``--repeat``
  get-configs of them, through ncclient in this process (its rows are the client's).
"""

from __future__ import annotations

import cProfile
import io
import pstats
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent

# (stage, substrings of a function's file) in pipeline order; a function counts for the
# first stage whose substring is in its file name (its own time only, "tottime").
STAGES: list[tuple[str, tuple[str, ...]]] = [
    ("ssh transport (asyncssh, crypto)", ("asyncssh", "cryptography")),
    ("framing", ("protocol/framing.py",)),
    ("rpc parse (lxml, secure_xml)", ("secure_xml.py", "fairness.py")),
    ("session + dispatch", ("protocol/session.py", "protocol/dispatch.py", "operations.py")),
    ("NACM / access", ("access.py", "nacm.py")),
    ("edit (edit.py, fresh.py)", ("datastore/edit.py", "datastore/fresh.py")),
    (
        "checks / validation",
        ("checking.py", "validation.py", "values.py", "bindings.py", "restrictions.py"),
    ),
    ("diff / changes", ("yang/diff.py", "yang/changes.py")),
    ("journal + storage (incl. fsync)", ("journal.py", "storage.py")),
    ("datastore manager (copies, install)", ("datastore/manager.py", "copy.py", "memory.py")),
    ("push / listeners / audit", ("/push/", "audit.py", "notifications.py", "qnms_agents")),
    ("reply serialisation", ("messages.py", "errors.py")),
    ("monitoring", ("monitoring.py",)),
    ("asyncio event loop", ("asyncio",)),
    ("yang tree / filters / schema", ("/yang/",)),
]

# The client process: opens a session, warms up, then runs one phase per line read from
# stdin ("edit" or "get"), printing each phase's rate; the parent profiles in between.
IDLE = "idle (epoll: waiting for the client)"
CLIENT = """
import asyncio, sys
sys.path.insert(0, {bench!r})
from netconf_agent import toggle_edits
from netconf_fast import FastSession

async def main():
    session = await FastSession({port}, {auth!r}).open()
    edits = toggle_edits()
    get = "<get-config><source><running/></source></get-config>"
    await session.pipeline([edits[i % 2] for i in range(20)], "ok", {depth})
    loop = asyncio.get_running_loop()
    print("ready", flush=True)
    while phase := (await loop.run_in_executor(None, sys.stdin.readline)).strip():
        bodies = [edits[i % 2] for i in range({n})] if phase == "edit" else [get] * {n}
        rate = await session.pipeline(bodies, "ok" if phase == "edit" else "data", {depth})
        print(rate.rps, flush=True)
    await session.close()

asyncio.run(main())
"""


def stage_of(filename: str) -> str:
    for stage, needles in STAGES:
        if any(needle in filename for needle in needles):
            return stage
    if filename.startswith("~") or "<" in filename:
        return "builtins (C: lxml, os, zlib...)"
    return "other"


def by_stage(prof: cProfile.Profile) -> dict[str, float]:
    """Own time (s) per stage; C functions count for the stage of their caller."""
    stats = pstats.Stats(prof)
    totals: dict[str, float] = {}
    raw: Any = stats.stats  # type: ignore[attr-defined]
    for (filename, _line, name), (_cc, _nc, tt, _ct, callers) in raw.items():
        if "select.epoll" in name:  # the loop waiting for bytes: not a cost
            totals[IDLE] = totals.get(IDLE, 0.0) + tt
            continue
        if filename == "~" and callers:
            # a builtin: split its time over its callers' stages, by calls
            calls = sum(c[1] for c in callers.values()) or 1
            for (cfile, _cl, _cn), cstat in callers.items():
                stage = stage_of(cfile)
                totals[stage] = totals.get(stage, 0.0) + tt * cstat[1] / calls
            continue
        stage = stage_of(filename)
        totals[stage] = totals.get(stage, 0.0) + tt
    return totals


def print_stages(prof: cProfile.Profile, requests: int) -> None:
    totals = by_stage(prof)
    idle = totals.pop(IDLE, 0.0)
    whole = sum(totals.values()) or 1.0
    print(f"{'stage':<40}{'us/request':>12}{'share':>8}")
    for stage, t in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"{stage:<40}{t / requests * 1e6:>12.0f}{t / whole:>8.0%}")
    print(f"{'all busy (under cProfile)':<40}{whole / requests * 1e6:>12.0f}")
    print(f"{IDLE:<40}{idle / requests * 1e6:>12.0f}")


def print_top(prof: cProfile.Profile, top: int) -> None:
    for key in ("tottime", "cumulative"):
        out = io.StringIO()
        stats = pstats.Stats(prof, stream=out).strip_dirs().sort_stats(key)
        stats.print_stats(top)
        body = out.getvalue()
        print(body[body.find("   ncalls") :].rstrip())


def profile_small(agent: Any, user: str, password: str, n: int, depth: int, top: int) -> None:
    """Profile ``n`` pipelined edits, then ``n`` gets; the client is a child process."""
    auth = {"username": user, "password": password, "client_keys": None}
    script = CLIENT.format(bench=str(BENCH), port=agent.port, auth=auth, n=n, depth=depth)
    client = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert client.stdin is not None and client.stdout is not None
    try:
        if client.stdout.readline().strip() != "ready":
            raise RuntimeError("the client did not start")
        for phase in ("edit", "get"):
            prof = cProfile.Profile()
            agent.call(prof.enable)
            start = time.perf_counter()
            client.stdin.write(phase + "\n")
            client.stdin.flush()
            rps = float(client.stdout.readline())
            wall = time.perf_counter() - start
            agent.call(prof.disable)
            print(
                f"\n=== {n} pipelined {phase}-configs, depth {depth}: {wall:.2f} s wall, "
                f"{rps:.0f}/s under cProfile ==="
            )
            print_stages(prof, n)
            print_top(prof, top)
        client.stdin.close()
        client.wait(30)
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()


def profile_phases(agent: Any, phases: list[tuple[str, Callable[[], Any]]], top: int) -> None:
    """Profile each (label, action) on the agent's loop thread, one after the other."""
    for phase, action in phases:
        prof = cProfile.Profile()
        agent.call(prof.enable)  # on the agent's loop: between two RPCs
        start = time.perf_counter()
        action()
        wall = time.perf_counter() - start
        agent.call(prof.disable)
        print(f"\n=== {phase}: {wall:.3f} s wall (under cProfile) ===")
        print_top(prof, top)
