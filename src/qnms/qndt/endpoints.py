"""The end nodes of allocations: pairing the two halves of each end-to-end pair.

Each router runs one ``EndpointApp`` (a SeQUeNCe application). When a memory of an
allocation's end node becomes entangled with the other end, that half waits until the
other end reports the same pair; then the pair is delivered (``pair-delivered`` with
its fidelity, age and latency), held for the client or freed, and the allocation is
completed once it has delivered all it asked for. Typed against ``EngineView``, so the
engine imports this module and not the reverse.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sequence.app.app import App

from .protocols import PS

if TYPE_CHECKING:
    from .allocation import Allocation
    from .view import EngineView


class EndpointApp(App):
    """Per-router application that pairs the two halves of end-to-end pairs."""

    def __init__(self, node: Any, engine: EngineView) -> None:
        super().__init__(node)
        self.engine = engine
        self.owner_of: dict[int, Allocation] = {}

    def get_memory(self, info: Any) -> None:
        alloc = self.owner_of.get(info.index)
        if alloc is not None and info.state in ("ENTANGLED", "PURIFIED"):
            self._pair_half(alloc, info)

    def get_reservation_result(self, reservation: Any, result: bool) -> None:  # unused
        pass

    def get_other_reservation(self, reservation: Any) -> None:  # unused
        pass

    def _pair_half(self, alloc: Allocation, info: Any) -> None:
        """One end of an end-to-end pair is ready; deliver when both ends are."""
        engine, node = self.engine, self.node.name
        other = alloc.path[-1] if node == alloc.path[0] else alloc.path[0]
        if info.remote_node != other or alloc.state != "active":
            return
        if alloc.pairs and alloc.delivered >= alloc.pairs:
            # all asked for were delivered; the allocation completes at this instant
            # (agenda, below) but another pair can finish first at the same simulated
            # time (seed 3 on a 3-node chain, 2 memories: a third of 2): not delivered,
            # its memories are freed with the allocation's
            return
        mine = info.memory.name
        partner = alloc.halves.get((other, info.remote_memo))
        if partner is None or partner[0] != mine:
            alloc.halves[(node, mine)] = (info.remote_memo, engine.tl.now())
            return
        del alloc.halves[(other, info.remote_memo)]
        mem_a, mem_b = info.memory, engine.built.memories[info.remote_memo]
        if node != alloc.path[0]:
            mem_a, mem_b = mem_b, mem_a
        fidelity, age = engine.rec.peek(mem_a)
        latency = alloc.record_delivery(engine.tl.now() * PS, fidelity)
        pair_id = alloc.next_pair
        alloc.next_pair += 1
        if engine.rec.wants(f"alloc.{alloc.id}"):
            body = dict(
                allocation=alloc.id,
                pair=pair_id,
                endpoints=[alloc.path[0], alloc.path[-1]],
                fidelity=fidelity,
                latency=latency,
                **{
                    "sequence-fidelity": mem_a.fidelity,
                    "age": age,
                    "meets-target": fidelity >= alloc.target,
                    "held": alloc.hold,
                },
                memories=[
                    engine.rec.handle(alloc.path[0], mem_a.name),
                    engine.rec.handle(alloc.path[-1], mem_b.name),
                ],
            )
            engine.rec.emit(f"alloc.{alloc.id}", "pair-delivered", **body)
        if alloc.hold:
            alloc.held[pair_id] = (mem_a, mem_b)
        else:
            engine.free(alloc.path[0], mem_a)
            engine.free(alloc.path[-1], mem_b)
        if alloc.pairs and alloc.delivered >= alloc.pairs:
            engine.at(engine.tl.now(), lambda: engine.finish(alloc, "completed"))
