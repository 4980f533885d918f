"""The big edit-config of ``netconf_bulk.py``, before and after, in alternating pairs.

``netconf_bulk.py --base`` measures each checkout's agent in turn, one after the other,
with everything else it measures in between; on a loaded machine two runs a minute
apart see different loads. Here both agents (this tree's and ``--base``'s) are up at
once and take turns, ``--pairs`` times (the order swapped every pair): one edit-config
creating ``--entries`` quantum links, then one deleting them. Each edit's wall time and
the agent's CPU seconds for it are printed with the medians and their ratio.

    .venv/bin/python bench/bulk_edit_pairs.py --base /tmp/x-base [--pairs 6]
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
from netconf_agent import QFS, bulk_config
from netconf_bulk import NC, cpu_s, delete_config, edit, start_agent, timed
from netconf_fast import FastSession
from support.processes import PASSWORD, USER, AgentProcess

FIGURES = ("create wall", "create CPU", "delete wall", "delete CPU")


async def pairs(agents: dict[str, AgentProcess], entries: int, n: int) -> dict[str, dict]:
    auth = {"username": USER, "password": PASSWORD, "client_keys": None}
    sessions = {k: await FastSession(a.port, auth).open() for k, a in agents.items()}
    out: dict[str, dict[str, list[float]]] = {k: {f: [] for f in FIGURES} for k in agents}
    try:
        link = "<quantum-link><name>f-r1-r2</name><enabled>false</enabled></quantum-link>"
        warm = f'<config xmlns="{NC}"><quantum-fabric xmlns="{QFS}"><quantum-links>{link}'
        for s in sessions.values():  # first-call costs are not what is measured
            await timed(s, edit(warm + "</quantum-links></quantum-fabric></config>"), b"<ok")
        bodies = (("create", edit(bulk_config(entries))), ("delete", edit(delete_config(entries))))
        for i in range(n):
            for k in ("base", "ours") if i % 2 == 0 else ("ours", "base"):
                pid = agents[k].proc.pid
                for what, body in bodies:
                    await asyncio.sleep(0.3)
                    c0 = cpu_s(pid)
                    wall, _ = await timed(sessions[k], body, b"<ok")
                    out[k][f"{what} wall"].append(wall)
                    out[k][f"{what} CPU"].append(cpu_s(pid) - c0)
    finally:
        for s in sessions.values():
            await s.close()
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--base", type=Path, required=True, help="the checkout to compare with")
    p.add_argument("--entries", type=int, default=20000)
    p.add_argument("--pairs", type=int, default=6)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as t1, tempfile.TemporaryDirectory() as t2:
        agents = {"base": start_agent(t1, args.base.resolve()), "ours": start_agent(t2, None)}
        try:
            out = asyncio.run(pairs(agents, args.entries, args.pairs))
        finally:
            for a in agents.values():
                a.stop()
    print(f"\n{args.entries:,} quantum links, {args.pairs} alternating pairs; "
          f"load {os.getloadavg()[0]:.1f}")  # fmt: skip
    print(f"{'figure, s (median)':<22}{'base':>8}{'ours':>8}{'base/ours':>11}   each: base | ours")
    for f in FIGURES:
        b, o = statistics.median(out["base"][f]), statistics.median(out["ours"][f])
        each = (
            " ".join(f"{x:.2f}" for x in out["base"][f]),
            " ".join(f"{x:.2f}" for x in out["ours"][f]),
        )
        print(f"{f:<22}{b:>8.3f}{o:>8.3f}{b / o:>11.2f}   {each[0]} | {each[1]}")


if __name__ == "__main__":
    main()
