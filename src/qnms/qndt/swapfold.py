"""Link tier: entanglement swaps without the pairing round trip.

A swap at a middle node M costs SeQUeNCe six events: M's swapping protocol (ESA) sends a
pairing REQUEST to each end, each end answers with a RESPONSE (approved when its waiting
ESB protocol holds the memory asked for), the swap runs when the later RESPONSE reaches M,
and M sends the outcome (SWAP_RES) to each end. Under the link tier the round trip is not
simulated message by message: its outcome is determined by what waits at each end when
the REQUEST would arrive, and it takes effect at one known instant. Here

* the two REQUESTs are not sent; ``ask`` notes where they would go and when they would
  arrive (``now + delay`` on the classical channel, SeQUeNCe's rounding) and schedules
  one event, ``decide``, at the instant the later RESPONSE would reach M;
* ``decide`` approves an end when an ESB for the memory asked for was waiting there when
  the REQUEST would have arrived (pairing.py stamps every waiting protocol with
  ``waiting_since``; waiting ESBs leave the list only by being paired with this very
  ESA, which holds M's memory, or by being removed, and then M's ESA is gone too or the
  check finds nothing). Both approved: the protocols are paired exactly as the two
  REQUEST / RESPONSE exchanges would pair them, and the ESA starts (SeQUeNCe's own swap:
  circuit, fidelity, expiry, M's memories freed). An end refused: SeQUeNCe's own refusal
  branch runs at M (the memories go back to their rules). Four events become one at the
  same instant the swap would run;
* the outcome messages are SeQUeNCe's own, delivered by the ends' ``receive_message`` at
  the instant each would arrive (a router that is down then drops it, as SeQUeNCe does:
  the end keeps nothing and the pair is lost); the outcomes of one swap that arrive at the
  same instant are delivered by one event in the order their two events would run.

The swap itself, its fidelity and decoherence bookkeeping (protocols.QnmsSwapA) and the
bus results (``swap`` at the swap instant, ``pair-delivered`` when the second end learns)
are unchanged, and so are the instants. What differs from SeQUeNCe's message-level run: a
refused end is known at M when the later RESPONSE would arrive, not when its own would
(refusals need a REQUEST to outrun the end's own swap outcome; none were seen in the
benches), and an approved end's ESB stays waiting instead of being paired, started and
released again. tests/qndt/test_link_tier.py checks the distributions against ``full``.
"""

from __future__ import annotations

from math import inf
from typing import Any, NamedTuple

from sequence.entanglement_management.swapping import EntanglementSwappingMessage
from sequence.kernel.event import Event
from sequence.kernel.process import Process
from sequence.resource_management.action_condition_set import es_match_func
from sequence.resource_management.resource_manager import (
    ResourceManagerMessage,
    ResourceManagerMsgType,
)


class _Ask(NamedTuple):
    """A REQUEST that is not sent: to which end, with what, and when it would arrive."""

    dst: str
    args: Any
    arrival: int  # at the end
    back: int  # its RESPONSE at the middle node


class SwapFold:
    """The pairing of one ESA with the ESBs at its two ends, decided in one event."""

    def __init__(self, router: Any, routers: dict[str, Any], esa: Any) -> None:
        self.router = router
        self.routers = routers
        self.esa = esa
        self.asks: list[_Ask] = []

    def ask(self, dst: str, args: Any) -> None:
        """Note one REQUEST; once both are noted, schedule the decision."""
        router = self.router
        tl = router.timeline
        arrival = round(tl.now() + router.cchannels[dst].delay)
        back = round(arrival + self.routers[dst].cchannels[router.name].delay)
        self.asks.append(_Ask(dst, args, arrival, back))
        if len(self.asks) == len(self.esa.memories):
            at = max(a.back for a in self.asks)
            tl.schedule(Event(at, Process(self, "decide", []), tl.schedule_counter))

    def decide(self) -> None:
        """The later RESPONSE would arrive now: pair and swap, or refuse."""
        esa, router = self.esa, self.router
        rm = router.resource_manager
        if router.down or esa not in rm.pending_protocols:
            return  # the RESPONSEs would be dropped, or the ESA is gone (expired, released)
        partners: list[tuple[Any, Any]] = []
        for ask in sorted(self.asks, key=lambda a: a.back):
            end = self.routers[ask.dst]
            if end.down:
                return  # no RESPONSE: the ESA keeps waiting, as SeQUeNCe's would
            esb = es_match_func(end.resource_manager.waiting_protocols, ask.args)
            if esb is None or getattr(esb, "waiting_since", -1) > ask.arrival:
                self._refuse(ask.dst)
                return
            partners.append((end, esb))
        names = [memo.name for memo in esa.memories]
        for end, esb in partners:  # what each end's REQUEST handling does
            end.resource_manager.waiting_protocols.remove(esb)
            esb.set_others(esa.name, router.name, names)
            end.protocols.append(esb)
            esb.start()
            esa.set_others(esb.name, end.name, [esb.memory.name])  # each RESPONSE at M
        rm.pending_protocols.remove(esa)
        router.protocols.append(esa)
        esa.start()

    def _refuse(self, dst: str) -> None:
        """SeQUeNCe's handling at M of a refused RESPONSE from ``dst``."""
        esa = self.esa
        msg = ResourceManagerMessage(
            ResourceManagerMsgType.RESPONSE,
            protocol=esa.name,
            node=self.router.name,
            memories=[memo.name for memo in esa.memories],
            is_approved=False,
            paired_protocol=None,
            paired_node=None,
            paired_memories=None,
        )
        self.router.resource_manager.received_message(dst, msg)


def request(router: Any, routers: dict[str, Any], protocol: Any, dst: str, args: Any) -> None:
    """An ESA's pairing REQUEST to ``dst``: noted, not sent (what send_request keeps)."""
    protocol.owner = router
    rm = router.resource_manager
    if protocol not in rm.pending_protocols:
        rm.pending_protocols.append(protocol)
    if router.down:
        return  # SeQUeNCe drops a message sent by a node that is down
    fold = getattr(protocol, "fold", None)
    if fold is None:
        fold = protocol.fold = SwapFold(router, routers, protocol)
    fold.ask(dst, args)


class _Outcomes:
    """Swap outcomes that arrive at one instant, delivered by one event."""

    def __init__(self, sent: int, counter: int, arrival: int) -> None:
        self.sent = sent
        self.counter = counter  # the timeline's schedule counter right after scheduling
        self.arrival = arrival
        self.items: list[tuple[Any, str, Any]] = []

    def deliver(self) -> None:
        for dst, src, msg in self.items:
            dst.receive_message(src, msg)  # drops it if dst is down, as SeQUeNCe does


def install(router: Any, routers: dict[str, Any]) -> None:
    """Deliver ``router``'s swap outcomes without one event each when they coincide."""
    send = router.send_message
    tl = router.timeline
    last: list[_Outcomes | None] = [None]

    def send_message(dst: str, msg: Any, priority: Any = inf, sender_delay: int = 0) -> None:
        if type(msg) is not EntanglementSwappingMessage or priority != inf or sender_delay:
            send(dst, msg, priority, sender_delay)
            return
        if router.down:
            return
        now = tl.now()
        arrival = round(now + router.cchannels[dst].delay)
        batch = last[0]
        # sent now, arriving at the same instant, nothing scheduled since: its own event
        # would run right after the previous one, so one event keeps the order
        if (
            batch is None
            or batch.sent != now
            or batch.arrival != arrival
            or batch.counter != tl.schedule_counter
        ):
            batch = last[0] = _Outcomes(now, tl.schedule_counter + 1, arrival)
            tl.schedule(Event(arrival, Process(batch, "deliver", []), tl.schedule_counter))
        batch.items.append((routers[dst], router.name, msg))

    router.send_message = send_message
