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
