"""Build a SeQUeNCe network from the QNDT's network model.

Every physical number the simulator uses comes from the YANG instance data:
channel length and attenuation (CS), classical latency (CS classical-assist channels,
routed all-pairs because SeQUeNCe routers signal non-adjacent path nodes), memory
raw fidelity, efficiency, coherence time and frequency per bank (QFS), swapping
success probability, swapping degradation and detector efficiency per node (QFS
capabilities; a link's heralding station gets one detector from each end). A node's
banks are laid out back to back in one SeQUeNCe MemoryArray; each memory then receives
its own bank's parameters, and :class:`BankMap` translates (bank, index) handles.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sequence.components.memory import Memory
from sequence.kernel.timeline import Timeline
from sequence.topology.node import BSMNode, QuantumRouter
from sequence.topology.router_net_topo import RouterNetTopo

from qnms.network.model import Channel, NetworkModel, classical_latencies

from . import fastpaths
from .linktier import DEFAULT_MODEL, select
from .protocols import install

MS_PS = 10**9  # picoseconds per millisecond
# BSM detectors recover in 10 ns. SeQUeNCe's default (25 MHz: 40 ns dead time) is longer
# than the 12.5 ns between the time bins its quantum channels give the photons of two
# memories of one link, so one memory's click blinded the detector for the other's photon:
# two memories per hop gave ~0.15 pairs per channel use instead of ~0.21 (measured on a
# 10 km link; with 1 ps or 10 ns dead time two memories give twice one memory's rate).
DETECTOR_COUNT_RATE = 1e8


@dataclass
class BankMap:
    """Where each bank of a node sits in the node's SeQUeNCe memory array."""

    offsets: dict[str, int] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)

    def indices(self, bank: str) -> range:
        """Array indices of the bank's qubits."""
        start = self.offsets[bank]
        return range(start, start + self.sizes[bank])

    def handle(self, index: int) -> tuple[str, int]:
        """(bank, index in bank) of an array index: the device-local handle of a QUI."""
        for bank, start in self.offsets.items():
            if start <= index < start + self.sizes[bank]:
                return bank, index - start
        raise KeyError(index)


@dataclass
class Built:
    """The SeQUeNCe objects of one emulated network."""

    topo: RouterNetTopo
    tl: Timeline
    routers: dict[str, QuantumRouter]
    bsms: dict[tuple[str, str], BSMNode]
    banks: dict[str, BankMap]
    memories: dict[str, Memory]  # SeQUeNCe memory name -> Memory
    hop_channels: dict[tuple[str, str], Channel]  # sorted node pair -> CS channel
    qchannels: dict[tuple[str, str], list]  # sorted node pair -> the two half channels


def _pair(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a < b else (b, a)


def sequence_config(model: NetworkModel, seed: int) -> dict:
    """The RouterNetTopo configuration dict for ``model`` (no SeQUeNCe objects yet)."""
    templates: dict[str, dict] = {}
    nodes = []
    for i, (name, node) in enumerate(model.nodes.items()):
        first = next(iter(node.memories.values()))
        templates[f"tpl.{name}"] = {
            "MemoryArray": {
                "fidelity": first.raw_fidelity,
                "efficiency": first.efficiency,
                "coherence_time": first.coherence_time_s,
                "frequency": first.frequency_hz,
            },
            "EntanglementSwapping": {
                "swapping_success_prob": node.swapping_success_probability,
                "swapping_degradation": node.swapping_degradation,
            },
        }
        nodes.append(
            {
                "name": name,
                "type": RouterNetTopo.QUANTUM_ROUTER,
                "seed": seed * 7919 + i,
                "memo_size": sum(b.size for b in node.memories.values()),
                "template": f"tpl.{name}",
            }
        )
    latency = classical_latencies(model)
    names = list(model.nodes)
    cconnections = []
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            ms = latency.get((a, b))
            if ms is None:  # disconnected classical graph: keep SeQUeNCe happy, 1 s
                ms = 1000.0
            cconnections.append({"node1": a, "node2": b, "delay": max(1, int(ms * MS_PS))})
    qconnections = []
    for j, (a, b, ch) in enumerate(model.hops()):
        templates[f"tpl.bsm.{j}"] = bsm_template(model, a, b)
        qconnections.append(
            {
                "node1": a,
                "node2": b,
                "distance": ch.length_km * 1000,
                "attenuation": ch.attenuation_db_per_km / 1000,
                "type": RouterNetTopo.MEET_IN_THE_MID,
                "seed": seed * 7919 + 100000 + j,
                "template": f"tpl.bsm.{j}",
            }
        )
    return {
        "nodes": nodes,
        "qconnections": qconnections,
        "cconnections": cconnections,
        "templates": templates,
        "stop_time": 10**23,
    }


def bsm_template(model: NetworkModel, a: str, b: str) -> dict:
    """The heralding station of the link a-b: one detector from each end node.

    Each detector has its node's ``detector-efficiency``; SeQUeNCe's single-atom BSM sends
    each photon to either detector with probability 1/2, so both ends' photons are
    detected with ``physics.link_detector_efficiency`` of the two, the value the planner
    uses and the link tier reads back from these detectors (linktier.detector_efficiency).
    """
    detectors = [
        {"efficiency": model.nodes[n].detector_efficiency, "count_rate": DETECTOR_COUNT_RATE}
        for n in (a, b)
    ]
    return {"SingleAtomBSM": {"detectors": detectors}}


def build(model: NetworkModel, seed: int = 0, tier: str = DEFAULT_MODEL) -> Built:
    """Instantiate and initialise the SeQUeNCe network for ``model``.

    ``tier`` is the generation model: ``full`` (every photon) or ``link`` (linktier.py).
    """
    install()
    fastpaths.install()
    select(tier)
    config = sequence_config(model, seed)
    topo = RouterNetTopo(config)
    tl = topo.get_timeline()
    tl.seed(seed)
    # RouterNetTopo lists its nodes as Node; it made them of the type asked for
    routers: dict[str, QuantumRouter] = {}
    for router in topo.get_nodes_by_type(RouterNetTopo.QUANTUM_ROUTER):
        assert isinstance(router, QuantumRouter)
        routers[router.name] = router
    bsms: dict[tuple[str, str], BSMNode] = {}
    for bsm in topo.get_nodes_by_type(RouterNetTopo.BSM_NODE):
        assert isinstance(bsm, BSMNode)
        a, b = topo.bsm_to_router_map[bsm.name]
        bsms[_pair(a, b)] = bsm
    banks: dict[str, BankMap] = {}
    memories: dict[str, Memory] = {}
    for name, node in model.nodes.items():
        bmap = BankMap()
        array = routers[name].get_components_by_type("MemoryArray")[0]
        offset = 0
        for bank in node.memories.values():
            bmap.offsets[bank.name] = offset
            bmap.sizes[bank.name] = bank.size
            for k in range(offset, offset + bank.size):
                set_memory_params(
                    array[k],
                    bank.raw_fidelity,
                    bank.efficiency,
                    bank.coherence_time_s,
                    bank.frequency_hz,
                )
            offset += bank.size
        banks[name] = bmap
        for mem in array:
            memories[mem.name] = mem
    hop_channels = {_pair(a, b): ch for a, b, ch in model.hops()}
    qchannels: dict[tuple[str, str], list] = {}
    for qc in topo.get_qchannels():
        key = tuple(topo.bsm_to_router_map[qc.receiver])
        qchannels.setdefault(_pair(*key), []).append(qc)
    tl.init()
    return Built(topo, tl, routers, bsms, banks, memories, hop_channels, qchannels)


def set_memory_params(
    mem: Memory, raw_fidelity: float, efficiency: float, coherence_s: float, frequency_hz: float
) -> None:
    """Give one SeQUeNCe memory its bank's parameters (also used by degradation faults)."""
    mem.raw_fidelity = raw_fidelity
    mem.encoding["raw_fidelity"] = raw_fidelity
    mem.efficiency = efficiency
    mem.coherence_time = coherence_s
    mem.decoherence_rate = 1 / coherence_s if coherence_s > 0 else 0
    mem.frequency = frequency_hz
