"""The workloads of the twin's benches (``qndt_realtime.py``): networks, requests, the
engine they build, and a run in a fresh process (SeQUeNCe keeps process-global state).

Apart from the bench that prints the figures so that its runs (unpaced, paced, profiled)
and the code that sets them up read separately. qnms is imported inside the functions,
in the process that runs them: a run of ``--before`` puts the older source tree on
``sys.path`` first.
"""

from __future__ import annotations

import multiprocessing as mp
import random
from typing import Any

DEMO = [("madqci-alice", "madqci-bob", 0.8)]
DEFAULT4 = [
    ("madqci-alice", "madqci-bob", 0.8),
    ("madqci-alice", "quditto-dave", 0.7),
    ("madqci-r1", "madqci-r2", 0.8),
    ("quditto-charlie", "quditto-dave", 0.8),
]


def mesh_requests(n: int, count: int, seed: int = 7) -> list[tuple[str, str, float]]:
    rng = random.Random(seed)
    names = [f"n{i:02d}" for i in range(n)]
    out: list[tuple[str, str, float]] = []
    while len(out) < count:
        a, b = rng.sample(names, 2)
        out.append((a, b, 0.7))
    return out


def workloads(quick: bool) -> list[dict[str, Any]]:
    from qnms.qndt.topologies import mesh

    scale = 0.5 if quick else 1.0
    return [
        {"name": "demo", "network": None, "requests": DEMO, "warmup": 0.1, "duration": 2.0 * scale},
        {
            "name": "default x4",
            "network": None,
            "requests": DEFAULT4,
            "warmup": 0.1,
            "duration": 1.0 * scale,
        },
        {
            "name": "mesh100 x20",
            "network": mesh(100, degree=3, seed=1, size=24),
            "requests": mesh_requests(100, 20),
            "warmup": 0.02,
            "duration": 0.1 * scale,
        },
    ]


def engine_for(work: dict[str, Any], tier: str, seed: int) -> tuple[Any, int]:
    from qnms.qndt.batch import shortest_path
    from qnms.qndt.engine import Engine

    engine = Engine(work["network"], seed=seed, telemetry_period=0.1, tier=tier)
    engine.sink = lambda topic, msg: None  # the bench measures the engine, not a list
    accepted = 0
    for i, (src, dst, fid) in enumerate(work["requests"]):
        reply = engine.handle(
            {
                "type": "allocate",
                "allocation": f"w{i}",
                "path": shortest_path(engine.model, src, dst),
                "memories": 2,
                "target-fidelity": fid,
                "duration": 3600.0,
            }
        )
        accepted += bool(reply["ok"])
    return engine, accepted


def in_process(target: Any, *args: Any) -> dict[str, Any]:
    """``target(*args, pipe)`` in a fresh spawned process; what it sent on the pipe."""
    ctx = mp.get_context("spawn")
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=target, args=(*args, send))
    proc.start()
    result = recv.recv()
    proc.join()
    return result
