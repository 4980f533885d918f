"""Synthetic qnms-network instance data: chains and meshes for tests and benchmarks.

They are written in the same RFC 7951 layout as the default network, so everything
that consumes them goes through the same parser the real inventory does.
"""

from __future__ import annotations

import itertools
import random
from typing import Any


def _node(
    name: str,
    role: str,
    links: list[dict[str, str]],
    size: int,
    coherence: float,
    raw: float,
    swap_p: float,
    efficiency: float,
    frequency: int,
) -> dict[str, Any]:
    return {
        "name": name,
        "quantum-fabric": {
            "node": {
                "id": name,
                "role": f"qnms-types:{role}",
                "domain": "test",
                "capabilities": {
                    "swapping-success-probability": str(swap_p),
                    "swapping-degradation": "1",
                    "purification": ["qnms-types:bbpssw"],
                },
            },
            "memories": {
                "memory": [
                    {
                        "name": "mem0",
                        "size": size,
                        "coherence-time": str(coherence),
                        "efficiency": str(efficiency),
                        "raw-fidelity": str(raw),
                        "frequency": str(frequency),
                    }
                ]
            },
            "quantum-links": {"quantum-link": links},
        },
    }


def network(
    name: str,
    names: list[str],
    edges: list[tuple[str, str, float]],
    *,
    size: int = 10,
    coherence: float = 1.0,
    raw: float = 0.95,
    swap_p: float = 1.0,
    efficiency: float = 1.0,
    frequency: int = 2000,
    latency_ms_per_km: float = 0.005,
    end_nodes: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Network JSON for nodes ``names`` joined by fibres ``edges`` (a, b, km)."""
    channels, classical = [], []
    links: dict[str, list[dict[str, str]]] = {n: [] for n in names}
    for a, b, km in edges:
        ch = f"f-{a}-{b}"
        channels.append(
            {
                "name": ch,
                "node-a": a,
                "node-b": b,
                "length-km": str(km),
                "attenuation-db-per-km": "0.2",
            }
        )
        classical.append(
            {
                "name": f"c-{a}-{b}",
                "node-a": a,
                "node-b": b,
                "latency": f"{km * latency_ms_per_km:.3f}",
            }
        )
        links[a].append({"name": ch, "remote-node": b, "local-memory": "mem0", "channel": ch})
        links[b].append({"name": ch, "remote-node": a, "local-memory": "mem0", "channel": ch})
    nodes = [
        _node(
            n,
            "end-node" if n in end_nodes else "repeater",
            links[n],
            size,
            coherence,
            raw,
            1.0 if n in end_nodes else swap_p,
            efficiency,
            frequency,
        )
        for n in names
    ]
    return {
        "qnms-network:network": {
            "name": name,
            "domain": [
                {
                    "name": "test",
                    "connectivity": {
                        "channels": {"channel": channels},
                        "classical-channels": {"classical-channel": classical},
                    },
                }
            ],
            "node": nodes,
        }
    }


def chain(n: int = 3, km: float = 10.0, **kw: Any) -> dict[str, Any]:
    """alice - r1 - ... - bob with ``n`` nodes and equal fibres."""
    names = ["alice", *[f"r{i}" for i in range(1, n - 1)], "bob"]
    edges = [(a, b, km) for a, b in itertools.pairwise(names)]
    return network(f"chain{n}", names, edges, end_nodes=("alice", "bob"), **kw)


def triangle(km_direct: float = 10.0, km_detour: float = 10.0, **kw: Any) -> dict[str, Any]:
    """alice - bob directly and via r1: the direct route is the shortest one."""
    edges = [("alice", "bob", km_direct), ("alice", "r1", km_detour), ("r1", "bob", km_detour)]
    return network("triangle", ["alice", "r1", "bob"], edges, end_nodes=("alice", "bob"), **kw)


def mesh(
    n: int = 20, degree: int = 3, seed: int = 1, km: tuple[float, float] = (5.0, 30.0), **kw: Any
) -> dict[str, Any]:
    """A connected random mesh: a ring plus random chords up to ~``degree`` per node."""
    rng = random.Random(seed)
    names = [f"n{i:02d}" for i in range(n)]
    edges: dict[tuple[str, str], float] = {}
    for i in range(n):
        a, b = names[i], names[(i + 1) % n]
        edges[(a, b) if a < b else (b, a)] = round(rng.uniform(*km), 1)
    extra = max(0, n * degree // 2 - n)
    while extra > 0:
        a, b = rng.sample(names, 2)
        key = (a, b) if a < b else (b, a)
        if key not in edges:
            edges[key] = round(rng.uniform(*km), 1)
            extra -= 1
    return network(f"mesh{n}", names, [(a, b, km_) for (a, b), km_ in edges.items()], **kw)
