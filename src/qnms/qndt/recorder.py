"""The engine's observer: decoherence bookkeeping, counters and result emission.

The instrumented protocols (protocols.py) call into one Recorder per engine through
``node.qnms`` (see protocols.attach_observer). It keeps, per SeQUeNCe memory, the
simulated time at which the stored pair's fidelity was last set (so ages are exact, not
sampled), and per link / node the counters that become link-level results and periodic
telemetry. Results go to a sink
``(topic, message)``; the bus module publishes them, the batch runner collects them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from qnms.network.physics import pair_coherence, werner_decay

from .protocols import PS, attach_observer, pair_of

if TYPE_CHECKING:
    from sequence.components.memory import Memory

    from qnms.network.model import NetworkModel

    from .build import Built

Sink = Callable[[str, dict[str, Any]], None]


@dataclass
class LinkCounters:
    """Generation statistics of one quantum link (YANG link-telemetry)."""

    name: str
    uses: int = 0  # channel uses (Barrett-Kok rounds)
    successes: int = 0
    fidelity_sum: float = 0.0
    last_fidelity: float = 0.0
    win_uses: int = 0
    win_successes: int = 0


@dataclass
class NodeCounters:
    """Swap / purification statistics of one node (YANG node statistics)."""

    swaps_attempted: int = 0
    swaps_succeeded: int = 0
    purifications_attempted: int = 0
    purifications_succeeded: int = 0


class Recorder:
    """Implements protocols.Observer for one engine."""

    def __init__(
        self, model: NetworkModel, built: Built, sink: Sink, version: int = 1, tier: str = "link"
    ) -> None:
        self.model = model
        self.tier = tier  # generation model, stamped on every result
        self.built = built
        self.sink = sink
        self.version = version
        self.tl = built.tl
        self.ref: dict[str, int] = {}
        self.starts: dict[str, list[int]] = {}
        self.coherence = {name: m.coherence_time for name, m in built.memories.items()}
        self.links: dict[tuple[str, str], LinkCounters] = {}
        for a, b in built.hop_channels:
            link = model.nodes[a].link_to(b)
            self.links[(a, b)] = LinkCounters(link.name if link else f"{a}~{b}")
        self.nodes = {name: NodeCounters() for name in model.nodes}
        self.alloc_of: Callable[[Any], Any] = lambda proto: None
        # whether the sink takes results of a topic (bus.Service: a subscriber wants it);
        # the frequent results' bodies are built only then, their counters always
        self.wants: Callable[[str], bool] = lambda topic: True
        self.handles: dict[str, dict[str, Any]] = {}
        self.index_of: dict[str, int] = {}
        for node, router in built.routers.items():
            array = router.get_components_by_type("MemoryArray")[0]
            for k, mem in enumerate(array):
                bank, index = built.banks[node].handle(k)
                self.handles[mem.name] = {"node": node, "memory": bank, "index": index}
                self.index_of[mem.name] = k
        for router in built.routers.values():
            attach_observer(router, self)

    # -- emission ---------------------------------------------------------------
    def emit(self, topic: str, kind: str, **body: Any) -> None:
        """Send one versioned result, stamped with the simulated time."""
        body["v"] = self.version
        body["type"] = kind
        body["sim-time"] = self.tl.now() * PS
        body["model"] = self.tier
        self.sink(topic, body)

    # -- decoherence -------------------------------------------------------------
    def pair_fidelity(self, memory: Memory, remote_memo: str) -> float:
        """Fidelity of a fresh link-level pair: the lower raw fidelity of its two ends."""
        remote = self.built.memories.get(remote_memo)
        return min(memory.raw_fidelity, remote.raw_fidelity) if remote else memory.raw_fidelity

    def pair_T(self, memory: Memory) -> float:
        """Depolarising time constant of the pair held by ``memory``."""
        remote = pair_of(memory).get("memo_id")
        t_remote = self.coherence.get(remote, -1.0) if remote is not None else -1.0
        return pair_coherence(self.coherence[memory.name], t_remote)

    def set_ref(self, memory_name: str, t_ps: int) -> None:
        self.ref[memory_name] = t_ps

    def ref_time(self, memory_name: str) -> int:
        return self.ref.get(memory_name, self.tl.now())

    def peek(self, memory: Memory, at_ps: int | None = None) -> tuple[float, float]:
        """(aged fidelity, age in s) of the pair in ``memory`` at ``at_ps``; no change."""
        at = self.tl.now() if at_ps is None else at_ps
        ref = self.ref.get(memory.name, at)
        remote = pair_of(memory).get("memo_id")
        if remote in self.ref:  # both ends set it; the later one is the pair's instant
            ref = max(ref, self.ref[remote])
        age = max(0, at - ref) * PS
        return werner_decay(memory.fidelity, age, self.pair_T(memory)), age

    def age(self, memory: Memory, at_ps: int | None = None) -> float:
        """Apply the decay model up to ``at_ps`` (default now) and re-anchor the pair."""
        at = self.tl.now() if at_ps is None else at_ps
        fidelity, _ = self.peek(memory, at)
        memory.fidelity = fidelity  # type: ignore[assignment]  # SeQUeNCe: int, from its reset 0
        self.ref[memory.name] = at
        return fidelity

    def mark_start(self, name: str, t_ps: int) -> None:
        self.starts[name] = [t_ps, 0]

    def pop_start(self, name: str) -> int | None:
        """Start time of a purification protocol; each entry is read by both ends once."""
        entry = self.starts.get(name)
        if entry is None:
            return None
        entry[1] += 1
        if entry[1] >= 2:
            del self.starts[name]
        return entry[0]

    # -- protocol events ---------------------------------------------------------------
    def _link(self, a: str, b: str) -> LinkCounters | None:
        return self.links.get((a, b) if a < b else (b, a))

    def on_emit(self, proto: Any) -> None:
        link = self._link(proto.owner.name, proto.remote_node_name)
        if link is not None:
            link.uses += 1
            link.win_uses += 1

    def count_uses(self, a: str, b: str, uses: int) -> None:
        """Channel uses of the link tier, counted when its planned run is heralded."""
        link = self._link(a, b)
        if link is not None:
            link.uses += uses
            link.win_uses += uses

    def on_link_pair(self, proto: Any) -> None:
        a, b = proto.owner.name, proto.remote_node_name
        link = self._link(a, b)
        fidelity = proto.memory.fidelity
        if link is not None:
            link.successes += 1
            link.win_successes += 1
            link.fidelity_sum += fidelity
            link.last_fidelity = fidelity
        topic = f"link.{link.name if link else a}"
        if not self.wants(topic):
            return
        alloc = self.alloc_of(proto)
        self.emit(
            topic,
            "link-pair",
            link=link.name if link else None,
            nodes=[a, b],
            fidelity=fidelity,
            allocation=alloc.id if alloc else None,
            memories=[self.handle(a, proto.memory.name), self.handle(b, proto.remote_memo_id)],
        )

    def on_swap(self, proto: Any, ok: bool, fidelity: float) -> None:
        node = proto.owner.name
        stats = self.nodes[node]
        stats.swaps_attempted += 1
        stats.swaps_succeeded += int(ok)
        alloc = self.alloc_of(proto)
        if alloc is not None:
            alloc.count_swap(node, ok)
        if not self.wants(f"node.{node}"):
            return
        self.emit(
            f"node.{node}",
            "swap",
            node=node,
            success=ok,
            fidelity=fidelity,
            left=proto.left_node,
            right=proto.right_node,
            allocation=alloc.id if alloc else None,
        )

    def on_purify(self, proto: Any, ok: bool, fidelity: float) -> None:
        node, remote = proto.owner.name, proto.remote_node_name
        for n in (node, remote):
            self.nodes[n].purifications_attempted += 1
            self.nodes[n].purifications_succeeded += int(ok)
        alloc = self.alloc_of(proto)
        if alloc is not None:
            alloc.count_purification(node, remote, ok)
        if not self.wants(f"node.{node}"):
            return
        self.emit(
            f"node.{node}",
            "purification",
            nodes=[node, remote],
            success=ok,
            fidelity=fidelity,
            allocation=alloc.id if alloc else None,
        )

    # -- handles ------------------------------------------------------------------------
    def handle(self, node: str, memory_name: str | None) -> dict[str, Any] | None:
        """Device-local handle (node, bank, index) of a SeQUeNCe memory name."""
        found = self.handles.get(memory_name or "")
        return dict(found) if found else None
