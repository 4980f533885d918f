"""Run the orchestrator in the foreground until SIGINT/SIGTERM (``qnms orchestrator``).

The agents must already be running (``qnms agents --network F --base-port P``): the
orchestrator discovers them over NETCONF at start and keeps one session to each.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time

from qnms.orchestrator.northbound import Orchestrator, OrchestratorConfig
from qnms.orchestrator.reconcile import check_sync
from qnms.orchestrator.southbound import Southbound
from qnms.orchestrator.store import Store


async def serve(config: OrchestratorConfig) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    t0 = time.monotonic()
    orch = Orchestrator(config)
    await orch.start()
    try:
        found = orch.controller.discovery
        topo = found.topology
        print(f"orchestrator  {config.host}:{orch.port}  (qnms-service over NETCONF/SSH)")
        print(
            f"discovered {len(found.agents)} agent(s): {len(topo.nodes)} nodes, "
            f"{len(topo.edges)} quantum links, {len(topo.endpoints)} endpoints "
            f"in {time.monotonic() - t0:.1f} s",
            flush=True,
        )
        for key, why in sorted(found.unreachable.items()):
            print(f"  unreachable: {key}: {why}", file=sys.stderr, flush=True)
        print("Ctrl-C to stop", file=sys.stderr, flush=True)
        await stop.wait()
    finally:
        await orch.stop()


async def check_sync_report(config: OrchestratorConfig) -> int:
    """Print every difference between the store and the agents; change nothing.
    Exit status 0 when in sync, 1 otherwise."""
    store = Store(config.state_dir / "orchestrator.db")
    southbound = Southbound(config.agents)
    try:
        records = [rec for rec, _fp in store.load().values()]
        diffs = await check_sync(southbound, records)
    finally:
        await southbound.close()
        store.close()
    edits = sum(len(r.edits) for r in records)
    print(f"{len(records)} unit(s), {edits} agent allocation(s) recorded")
    for d in diffs:
        owner = f" (unit {d.unit})" if d.unit else ""
        print(f"  {d.problem:11} {d.agent:22} {d.kind:7} {d.id}{owner}")
    print("in sync" if not diffs else f"{len(diffs)} difference(s)")
    return 1 if diffs else 0
