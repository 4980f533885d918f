"""The KMEs of ``kme.py``, run in its child process (their own GIL, apart from the
clients): a pair of KMEs with link material, or the demo's relay chain over two trusted
nodes. A job (JSON on stdin) says which and with what pairs; the servers' addresses go
to stdout, and after stdin closes, what the slave's KME was told.

Apart from the bench so that the servers and the load that measures them read
separately.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
from pathlib import Path

from qnms_agents.kme.kme import Kme, KmeLimits
from qnms_agents.kme.relay import RETRY_AFTER
from qnms_agents.kme.server import Credentials, KmeServer

SAES = [f"sae-{i}" for i in range(10)]
DIRECTORY = {**{s: "kme-a" for s in SAES}, "sae-b": "kme-b"}
RELAY = ["kme-a", "kme-r1", "kme-r2", "kme-d"]  # two trusted nodes, as in the demo
RELAY_DIRECTORY = {"sae-0": "kme-a", "sae-d": "kme-d"}


async def serve_relay(pki: Path, job: dict) -> None:
    """Child: the demo's shape, kme-a - kme-r1 - kme-r2 - kme-d, routes towards kme-d;
    each link gets its own pairs in 200 time steps, every link in each step, the far
    ones first (as the twin delivers them: all links at once, each at its own rate)."""
    peers: dict[str, str] = {}
    servers = []
    limits = KmeLimits(**job["limits"])
    for i, kid in enumerate(RELAY):
        route = {RELAY[-1]: RELAY[i + 1]} if i + 1 < len(RELAY) else {}
        kme = Kme(
            kid,
            limits=limits,
            directory=RELAY_DIRECTORY,
            local_saes={s for s, k in RELAY_DIRECTORY.items() if k == kid},
            routes=lambda r=route: r,
            known_kmes=set(RELAY),
        )
        for j in (i - 1, i + 1):
            if 0 <= j < len(RELAY):
                kme.add_link(RELAY[j])
        servers.append(KmeServer(kme, Credentials.from_dir(pki, kid), peers=peers))
    for s in servers:
        await s.start()
        peers[s.kme.kme_id] = s.url
    by_id = {s.kme.kme_id: s.kme for s in servers}

    async def feed(a: str, b: str, fids: list[float]) -> None:
        gen, other = sorted((a, b))
        for f in fids:
            await by_id[gen].pairs_delivered(other, f)

    hops, steps = list(itertools.pairwise(RELAY)), 200
    for i in range(steps):  # time advancing: every link delivers its share of each step
        for (a, b), fids in reversed(list(zip(hops, job["links"], strict=True))):
            n = len(fids)
            await feed(a, b, fids[i * n // steps : (i + 1) * n // steps])
        await by_id[RELAY[0]].fill_stores()
    for _ in range(3):  # a relay that failed blocks its route for RETRY_AFTER
        while await by_id[RELAY[0]].fill_stores():
            pass
        await asyncio.sleep(RETRY_AFTER)
    print(json.dumps(peers), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    for s in servers:
        await s.stop()


async def serve(pki: Path, job: dict) -> None:
    """Child: kme-a and kme-b, link material from the job's pairs, addresses on stdout."""
    if "links" in job:
        await serve_relay(pki, job)
        return
    peers: dict[str, str] = {}
    servers = []
    limits = KmeLimits(**job["limits"])
    for kid, other in (("kme-a", "kme-b"), ("kme-b", "kme-a")):
        kme = Kme(
            kid,
            limits=limits,
            directory=DIRECTORY,
            local_saes={s for s, k in DIRECTORY.items() if k == kid},
            routes=lambda o=other: {o: o},  # the control plane's route to the neighbour
        )
        kme.add_link(other)
        servers.append(KmeServer(kme, Credentials.from_dir(pki, kid), peers=peers))
    for s in servers:
        await s.start()
        peers[s.kme.kme_id] = s.url
    gen = servers[0].kme
    if "bulk" in job:
        await gen.pairs_delivered("kme-b", job["bulk"][0], job["bulk"][1])
    for f in job.get("pairs", []):
        await gen.pairs_delivered("kme-b", f)
    for s in servers:
        await s.kme.fill_stores()
    print(json.dumps(peers), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await asyncio.sleep(1.0)  # the last assignments' linger
    slave = servers[1].kme
    told = {"assigned": len(slave.assignments), "messages": slave.assign_messages}
    print(json.dumps(told), flush=True)
    for s in servers:
        await s.stop()
