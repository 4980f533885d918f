"""One small edit-config at a time, before and after: the agent's CPU per request.

``netconf_agent.py --fast`` measures one checkout's agent and netconfd; two runs a
minute apart on a shared machine see different loads, and the fsync of each edit
makes the CPU per edit swing with other processes' disk traffic. Here both agents
(this tree's and ``--base``'s) are up at once and take turns, ``--blocks`` times (the
order swapped every block): ``--per`` depth-1 edit-configs toggling one leaf (as in
``netconf_agent.py``), then the same for get-configs of running. Each block's CPU per
request is the agent's threads' run time (/proc/PID/task/*/schedstat, nanoseconds: no
clock-tick rounding); printed are the medians and the median of the per-block ratios
with its quartiles. ``--state-root /dev/shm`` (tmpfs: an fsync costs nothing) leaves
the code's own cost without the disk's.

    .venv/bin/python bench/small_edit_pairs.py --base /tmp/x-base [--blocks 30 --per 200]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from netconf_agent import toggle_edits
from netconf_bulk import start_agent
from netconf_fast import FastSession
from support.processes import PASSWORD, USER, AgentProcess

GET = "<get-config><source><running/></source></get-config>"


def run_ns(pid: int) -> int:
    """Nanoseconds the threads of ``pid`` have run so far."""
    tasks = Path(f"/proc/{pid}/task")
    return sum(int((t / "schedstat").read_text().split()[0]) for t in tasks.iterdir())


async def blocks(agents: dict[str, AgentProcess], n: int, per: int) -> dict[str, dict]:
    """{phase: {agent: [CPU us per request of each block]}}."""
    auth = {"username": USER, "password": PASSWORD, "client_keys": None}
    sessions = {k: await FastSession(a.port, auth).open() for k, a in agents.items()}
    edits = toggle_edits()
    out: dict[str, dict[str, list[float]]] = {}
    try:
        for s in sessions.values():  # first-call costs are not what is measured
            await s.pipeline([edits[i % 2] for i in range(100)], "ok", 1)
            await s.pipeline([GET] * 100, "data", 1)
        for phase in ("edit", "get"):
            out[phase] = {k: [] for k in agents}
            bodies = [edits[i % 2] for i in range(per)] if phase == "edit" else [GET] * per
            for i in range(n):
                for k in ("base", "ours") if i % 2 == 0 else ("ours", "base"):
                    pid = agents[k].proc.pid
                    before = run_ns(pid)
                    await sessions[k].pipeline(bodies, "ok" if phase == "edit" else "data", 1)
                    out[phase][k].append((run_ns(pid) - before) / per / 1e3)
    finally:
        for s in sessions.values():
            await s.close()
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--base", type=Path, required=True, help="the checkout to compare with")
    p.add_argument("--blocks", type=int, default=30)
    p.add_argument("--per", type=int, default=200, help="requests per block (even)")
    p.add_argument("--state-root", default=None, help="where the agents keep their state")
    args = p.parse_args()
    root = args.state_root
    with tempfile.TemporaryDirectory(dir=root) as t1, tempfile.TemporaryDirectory(dir=root) as t2:
        agents = {"base": start_agent(t1, args.base.resolve()), "ours": start_agent(t2, None)}
        try:
            out = asyncio.run(blocks(agents, args.blocks, args.per))
        finally:
            for a in agents.values():
                a.stop()
    print(f"\nagent CPU per request, us: {args.blocks} alternating blocks of {args.per}, "
          f"state in {root or tempfile.gettempdir()}; load {os.getloadavg()[0]:.1f}")  # fmt: skip
    print(f"{'request':<14}{'base':>8}{'ours':>8}{'ours/base':>11}{'quartiles':>16}")
    for phase, cpu in out.items():
        ratios = [o / b for o, b in zip(cpu["ours"], cpu["base"], strict=True)]
        q = statistics.quantiles(ratios, n=4)
        print(
            f"{phase + '-config':<14}{statistics.median(cpu['base']):>8.0f}"
            f"{statistics.median(cpu['ours']):>8.0f}{statistics.median(ratios):>11.3f}"
            f"{q[0]:>8.3f}-{q[2]:.3f}"
        )


if __name__ == "__main__":
    main()
