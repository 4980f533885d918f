"""Telemetry aggregates of the emulated network (per link, memory bank and node).

The names follow the config-false leaves of the YANG models (link-telemetry, memory
state, node statistics), so agents can copy them into their operational datastores.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .view import EngineView


def snapshot(self: EngineView, reset: bool = True) -> dict[str, Any]:
    """Aggregates per link, memory bank and node (names follow the YANG leaves)."""
    period = self.telemetry_period or 1.0
    links = {}
    for (a, b), c in self.rec.links.items():
        ch = self.built.hop_channels[(a, b)]
        links[c.name] = {
            "nodes": [a, b],
            "attempts": c.uses,
            "successes": c.successes,
            "generation-rate": c.win_successes / period,
            "success-probability": c.successes / c.uses if c.uses else 0.0,
            "mean-fidelity": c.fidelity_sum / c.successes if c.successes else None,
            "last-fidelity": c.last_fidelity or None,
            "loss": ch.attenuation_db_per_km * ch.length_km,
            "oper-state": "down" if ch.name in self.cut_channels else "up",
        }
        if reset:
            c.win_uses = c.win_successes = 0
    nodes = {}
    for name, stats in self.rec.nodes.items():
        mm = self.built.routers[name].resource_manager.memory_manager
        banks = {}
        for bank in self.model.nodes[name].memories:
            states = [mm[k].state for k in self.built.banks[name].indices(bank)]
            free = sum(s == "RAW" for s in states)
            banks[bank] = {
                "free": free,
                "reserved": len(
                    self.busy.get(name, set()) & set(self.built.banks[name].indices(bank))
                ),
                "occupied": sum(s == "OCCUPIED" for s in states),
                "entangled": sum(s in ("ENTANGLED", "PURIFIED") for s in states),
                "occupancy": 100.0 * (len(states) - free) / len(states),
            }
        nodes[name] = {
            "oper-state": "down" if name in self.down_nodes else "up",
            "swaps-attempted": stats.swaps_attempted,
            "swaps-succeeded": stats.swaps_succeeded,
            "purifications-attempted": stats.purifications_attempted,
            "purifications-succeeded": stats.purifications_succeeded,
            "memories": banks,
        }
    return {"links": links, "nodes": nodes}


def status(self: EngineView) -> dict[str, Any]:
    """Body of the reply to a status query."""
    return {
        "network": self.model.name,
        "model": self.tier,
        "now": self.now,
        "seed": self.seed,
        "nodes": {n: ("down" if n in self.down_nodes else "up") for n in self.model.nodes},
        "channels": {c: ("down" if c in self.cut_channels else "up") for c in self.model.channels},
        "allocations": {a.id: a.state for a in self.allocations.values()},
    }
