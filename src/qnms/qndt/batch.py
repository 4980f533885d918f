"""Batch emulation: run requests through the engine with no bus and no pacing.

Used by ``qnms qndt run`` to answer "what would this network deliver?" quickly. The
batch runner stands in for the control plane, so it picks the shortest path by fibre
length itself; the service mode never does (allocations name their path).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Any, TextIO

import networkx as nx

from qnms.network.model import NetworkModel

from .engine import Engine
from .linktier import DEFAULT_MODEL


@dataclass(frozen=True)
class BatchRequest:
    """SRC,DST,PAIRS,FIDELITY from the command line."""

    src: str
    dst: str
    pairs: int
    fidelity: float

    @classmethod
    def parse(cls, text: str) -> BatchRequest:
        parts = text.split(",")
        if len(parts) != 4:
            raise ValueError(f"request {text!r} is not SRC,DST,PAIRS,FIDELITY")
        src, dst, pairs, fid = parts
        req = cls(src.strip(), dst.strip(), int(pairs), float(fid))
        if req.pairs < 0 or not 0 <= req.fidelity <= 1:
            raise ValueError(f"request {text!r}: PAIRS >= 0, 0 <= FIDELITY <= 1")
        return req


def shortest_path(model: NetworkModel, src: str, dst: str) -> list[str]:
    """Shortest path by fibre length over enabled quantum links."""
    graph: nx.Graph[str] = nx.Graph()
    for a, b, ch in model.hops():
        graph.add_edge(a, b, weight=ch.length_km)
    try:
        return nx.dijkstra_path(graph, src, dst)
    except (nx.NetworkXNoPath, nx.NodeNotFound) as err:
        raise ValueError(f"no quantum path {src} -> {dst}") from err


def _progress(out: TextIO, done: float, total: float, wall: float) -> None:
    width = 30
    frac = min(1.0, done / total) if total else 1.0
    bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
    out.write(f"\r[{bar}] {done:.3f}/{total:.3f} s simulated, {wall:.1f} s wall")
    out.flush()


def run_batch(
    network: Any,
    duration: float,
    requests: list[BatchRequest],
    seed: int = 0,
    memories: int = 2,
    purification: bool = True,
    progress: TextIO | None = sys.stderr,
    step: float = 0.01,
    model: str = DEFAULT_MODEL,
) -> dict[str, Any]:
    """Emulate ``requests`` for ``duration`` simulated seconds; return what was delivered."""
    t0 = time.monotonic()
    engine = Engine(network, seed=seed, telemetry_period=None, tier=model)
    replies = []
    for i, req in enumerate(requests):
        path = shortest_path(engine.model, req.src, req.dst)
        replies.append(
            engine.handle(
                {
                    "type": "allocate",
                    "id": i,
                    "allocation": f"r{i}",
                    "path": path,
                    "memories": memories,
                    "pairs": req.pairs,
                    "target-fidelity": req.fidelity,
                    "start": 0.0,
                    "duration": duration,
                    "purification": purification,
                }
            )
        )
    errors = [r for r in replies if not r["ok"]]
    if errors:
        raise ValueError("; ".join(r["error"]["message"] for r in errors))
    shown = False
    t = 0.0
    while t < duration:
        t = min(duration, t + step)
        engine.run_until(t)
        if all(a.state != "active" and a.state != "scheduled" for a in engine.allocations.values()):
            break
        wall = time.monotonic() - t0
        if progress is not None and wall > 2.0:
            _progress(progress, t, duration, wall)
            shown = True
    if shown and progress is not None:
        _progress(progress, t, duration, time.monotonic() - t0)
        progress.write("\n")
    out = []
    for req, alloc in zip(requests, engine.allocations.values(), strict=False):
        summary = alloc.summary()
        summary.update(
            source=req.src,
            destination=req.dst,
            fidelities=alloc.fidelities,
            latencies=alloc.latencies,
            deliveries=alloc.deliveries,
            **{"target-fidelity": req.fidelity},
        )
        out.append(summary)
    return {
        "network": engine.model.name,
        "model": model,
        "seed": seed,
        "duration": duration,
        "simulated": engine.now,
        "wall": time.monotonic() - t0,
        "events": engine.tl.run_counter,
        "requests": out,
    }


def format_report(report: dict[str, Any]) -> str:
    """Human-readable summary of :func:`run_batch`'s result."""
    lines = [
        f"network {report['network']}: {report['simulated']:.4f} s simulated in "
        f"{report['wall']:.2f} s wall, {report['events']} events, seed {report['seed']}, "
        f"model {report['model']}"
    ]
    for r in report["requests"]:
        lines.append(
            f"{r['source']} -> {r['destination']} via {'-'.join(r['path'])}: "
            f"{r['delivered']}/{r['requested'] or 'inf'} pairs ({r['state']})"
        )
        if r.get("reason"):
            lines.append(f"  {r['state']}: {r['reason']}")
        if r["delivered"]:
            lines.append(
                f"  fidelity mean {r['mean-fidelity']:.4f} min {r['min-fidelity']:.4f} "
                f"(target {r['target-fidelity']}), per-pair latency mean "
                f"{r['mean-latency']:.4f} s, first pair after {r['establishment-latency']:.4f} s"
            )
        for node, s in r["swaps"].items():
            lines.append(f"  swaps at {node}: {s['succeeded']}/{s['attempted']}")
        for node, s in r["purifications"].items():
            lines.append(f"  purifications at {node}: {s['succeeded']}/{s['attempted']}")
    return "\n".join(lines)
