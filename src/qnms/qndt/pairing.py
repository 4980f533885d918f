"""Link tier: generation pairing without messages whose outcome is already known.

When one end of a link frees its memory while the other still holds its half of a pair
(typically after a swap), SeQUeNCe's resource manager on the free end keeps re-sending
its generation pairing REQUEST: the other end rejects it, the rejection frees the memory,
the rule fires again, a new REQUEST leaves at once. It is busy polling with period ``2c``
(``c`` the classical delay of the link) and was the largest share of the link tier's
remaining events (3,413 requests and 2,576 rejections out of 7,703 events on the default
network with 4 allocations).

Under the link tier a REQUEST that finds no waiting protocol is parked instead of
rejected. When the responder next offers a waiting generation protocol, the parked
REQUEST is delivered again at the instant its poll would have arrived,
``t_rejected + 2c k`` for the smallest ``k >= 1`` not in the past: one event instead of
two per poll, and the same pairing instant as the polling would give. (The initiator's
memory stays OCCUPIED meanwhile instead of flickering to RAW, which no rule of the twin
observes.)

A REQUEST that would be approved (the responder has a matching protocol waiting when it
is sent; waiting protocols are only appended, and only this link's requests match them)
is not sent at all: both protocols are paired at once and the primary plans its run from
the instant SeQUeNCe would have started it, the REQUEST's arrival (responder) or the
RESPONSE's (initiator) (``_pair_now``). Two events fewer per link pair; the heralding
instants are the same in distribution (the run is drawn earlier, so the node's random
stream interleaves differently: not bit-identical, validated by the KS tests of
tests/qndt/test_link_tier.py). A fault before that start re-draws from the start
(``QnmsLinkA.not_before``), not before it.
"""

from __future__ import annotations

import math
from typing import Any

from sequence.kernel.event import Event
from sequence.kernel.process import Process
from sequence.resource_management.action_condition_set import eg_match_func, es_match_func
from sequence.resource_management.resource_manager import ResourceManagerMsgType

from . import swapfold
from .linktier import QnmsLinkA

Parked = list[tuple[str, Any, int]]  # (initiator node, its REQUEST, when it was refused)


def install(routers: dict[str, Any]) -> None:
    """Wrap every router's resource manager (instance attributes; link tier only)."""
    for router in routers.values():
        _wrap(router, routers)
        swapfold.install(router, routers)


def _pair_now(router: Any, routers: dict[str, Any], protocol: Any, dst: str, args: Any) -> bool:
    """Pair a generation protocol with the responder's waiting one without the round trip.

    The REQUEST would reach ``dst`` one classical delay later and find the protocol that
    waits there now (waiting protocols are only ever appended, and only this link's
    requests match them); the pairing outcome is therefore known now. Both protocols are
    paired at once and the primary plans its run from the instant SeQUeNCe would start
    it (the REQUEST's arrival for the responder, the RESPONSE's for the initiator): two
    events fewer per link pair, the same heralding instants in distribution. Returns
    False (the REQUEST is sent as usual) when nothing waits yet.
    """
    other = routers.get(dst)
    if other is None:
        return False
    orm = other.resource_manager
    partner = eg_match_func(orm.waiting_protocols, args)
    if not isinstance(partner, QnmsLinkA) or not isinstance(protocol, QnmsLinkA):
        return False  # nothing waiting yet (or not the link tier's protocols)
    now = router.timeline.now()
    t_resp = round(now + router.cchannels[dst].delay)
    t_ini = round(t_resp + other.cchannels[router.name].delay)
    protocol.owner = router
    partner.set_others(protocol.name, router.name, [m.name for m in protocol.memories])
    protocol.set_others(partner.name, other.name, [m.name for m in partner.memories])
    orm.waiting_protocols.remove(partner)
    other.protocols.append(partner)
    router.protocols.append(protocol)
    for proto, start in ((partner, t_resp), (protocol, t_ini)):
        if proto.primary:
            proto.not_before = start
            proto.plan(start)
    return True


def _wrap(router: Any, routers: dict[str, Any]) -> None:
    rm = router.resource_manager
    received, send_request = rm.received_message, rm.send_request
    parked: Parked = []

    def received_message(src: str, msg: Any) -> None:
        if (
            msg.msg_type is ResourceManagerMsgType.REQUEST
            and msg.req_condition_func is eg_match_func
            and eg_match_func(rm.waiting_protocols, msg.req_args) is None
        ):
            parked.append((src, msg, router.timeline.now()))
            return
        received(src, msg)

    def offer(protocol: Any, req_dst: str | None, func: Any, args: Any) -> None:
        if req_dst is None:
            protocol.waiting_since = router.timeline.now()  # read by swapfold.decide
        elif func is es_match_func:
            swapfold.request(router, routers, protocol, req_dst, args)
            return
        if (
            req_dst is not None
            and func is eg_match_func
            and _pair_now(router, routers, protocol, req_dst, args)
        ):
            return
        send_request(protocol, req_dst, func, args)
        if req_dst is None and parked:
            _wake(router, parked, protocol)

    rm.received_message = received_message
    rm.send_request = offer


def _wake(router: Any, parked: Parked, protocol: Any) -> None:
    """Deliver again the parked REQUEST whose next poll reaches ``protocol`` first."""
    tl = router.timeline
    now = tl.now()
    parked[:] = [p for p in parked if p[1].req_args["reservation"].end_time > now]
    best: tuple[int, int] | None = None
    for i, (src, msg, refused) in enumerate(parked):
        if eg_match_func([protocol], msg.req_args) is None:
            continue
        period = 2 * int(router.cchannels[src].delay)
        k = max(1, math.ceil((now - refused) / period)) if period > 0 else 1
        arrival = refused + k * period
        if best is None or arrival < best[0]:
            best = (arrival, i)
    if best is None:
        return
    arrival, i = best
    src, msg, _ = parked.pop(i)
    tl.schedule(Event(arrival, Process(router, "receive_message", [src, msg]), tl.schedule_counter))
