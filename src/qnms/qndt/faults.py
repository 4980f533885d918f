"""Faults injected into the emulated network at a given simulated time.

Node down: the SeQUeNCe router drops all messages, the pairs stored along every
allocation crossing it are lost (reported), and those allocations wait, interrupted,
until the node is up again, when they resume with new rules for the rest of their
window. Channel cut: both half-channels to the BSM lose every photon, so generation on
the link keeps failing (the allocation stays active). Memory degradation: a bank's
memories get new raw fidelity / efficiency / coherence time / frequency.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from . import reach
from .allocation import Allocation, AllocationError, install_rules, remove_rules
from .build import set_memory_params
from .linktier import replan_link

if TYPE_CHECKING:
    from qnms.network.model import NetworkModel

    from .view import EngineView


def check_fault(model: NetworkModel, req: dict[str, Any]) -> None:
    """Refuse a fault on something the network does not have (before scheduling it)."""
    fault = req["fault"]
    if fault in ("node-down", "node-up") and req.get("node") not in model.nodes:
        raise AllocationError("unknown-node", f"unknown node {req.get('node')}")
    if fault in ("channel-cut", "channel-restored") and req.get("channel") not in model.channels:
        raise AllocationError("unknown-channel", f"unknown channel {req.get('channel')}")
    if fault == "memory-degraded":
        node = model.nodes.get(req.get("node", ""))
        if node is None or req.get("memory") not in node.memories:
            raise AllocationError("unknown-memory", "unknown node or memory bank")


def apply_fault(self: EngineView, req: dict[str, Any]) -> None:
    """Apply one validated fault now (called from the engine's agenda at its time)."""
    fault = req["fault"]
    if fault in ("node-down", "node-up"):
        node = req["node"]
        down = fault == "node-down"
        self.built.routers[node].set_down(down)
        (self.down_nodes.add if down else self.down_nodes.discard)(node)
        for alloc in self.allocations.values():
            if node not in alloc.path:
                continue
            if down and alloc.state == "active":
                interrupt(self, alloc, node)
            elif (
                not down
                and alloc.state == "interrupted"
                and not any(n in self.down_nodes for n in alloc.path)
            ):
                alloc.state = "active"
                install_rules(self.built, alloc, self.tl.now())
                self.rec.emit(f"alloc.{alloc.id}", "allocation-state", **alloc.summary())
    elif fault in ("channel-cut", "channel-restored"):
        name = req["channel"]
        cut = fault == "channel-cut"
        (self.cut_channels.add if cut else self.cut_channels.discard)(name)
        for key, ch in self.built.hop_channels.items():
            if ch.name == name:
                for qc in self.built.qchannels.get(key, []):
                    qc.loss = 1.0 if cut else 1 - 10 ** (qc.distance * qc.attenuation / -10)
                replan_link(self.built.routers, *key)
    elif fault == "memory-degraded":
        bank = self.model.nodes[req["node"]].memories[req["memory"]]
        array = self.built.routers[req["node"]].get_components_by_type("MemoryArray")[0]
        bank = dataclasses.replace(
            bank,
            raw_fidelity=req.get("raw-fidelity", bank.raw_fidelity),
            efficiency=req.get("efficiency", bank.efficiency),
            coherence_time_s=req.get("coherence-time", bank.coherence_time_s),
            frequency_hz=req.get("frequency", bank.frequency_hz),
        )
        for k in self.built.banks[req["node"]].indices(req["memory"]):
            set_memory_params(
                array[k], bank.raw_fidelity, bank.efficiency, bank.coherence_time_s,
                bank.frequency_hz,
            )  # fmt: skip
            self.rec.coherence[array[k].name] = bank.coherence_time_s
        node = req["node"]
        reach.memory_degraded(self, node, bank)  # re-plans the allocations through it
        for a, b in self.built.hop_channels:
            if node in (a, b):
                replan_link(self.built.routers, a, b)
    self.rec.emit("engine", "fault", **{k: v for k, v in req.items() if k not in ("v", "type")})


def interrupt(self: EngineView, alloc: Allocation, node: str) -> None:
    """A path node went down: its stored pairs are lost, the allocation waits for it."""
    lost = 0
    for name in alloc.path:
        mm = self.built.routers[name].resource_manager.memory_manager
        for k in alloc.indices[name]:
            if mm[k].state in ("ENTANGLED", "PURIFIED"):
                lost += 1
    for pair in list(alloc.held):
        self.use_pair(alloc, pair, "pair-lost")
    alloc.lost += lost
    alloc.halves.clear()
    remove_rules(self.built, alloc)
    alloc.state = "interrupted"
    self.rec.emit(f"alloc.{alloc.id}", "pairs-lost", allocation=alloc.id, node=node, count=lost)
    self.rec.emit(f"alloc.{alloc.id}", "allocation-state", **alloc.summary())
