"""Link tier: generation pairing without messages whose outcome is already known.

When one end of a link frees its memory while the other still holds its half of a pair
(typically after a swap), SeQUeNCe's resource manager on the free end keeps re-sending
its generation pairing REQUEST: the other end rejects it, the rejection frees the memory,
the rule fires again, a new REQUEST leaves at once. It is busy polling with period ``2c``
(``c`` the classical delay of the link) and was the largest share of the link tier's
remaining events (3,413 requests and 2,576 rejections out of 7,703 events on the default
network with 4 allocations).

Under the link tier a generation REQUEST is never sent. One that would be approved (the
responder has a matching protocol waiting when it is sent; waiting protocols are only
appended, and only this link's requests match them) pairs both protocols at once, and
the primary plans its run from the instant SeQUeNCe would have started it, the
REQUEST's arrival (responder) or the RESPONSE's (initiator) (``_pair_now``). Any other is
parked at the responder from the instant it would arrive there. When the responder next
offers a waiting generation protocol, it is paired with the parked REQUEST that reaches
it first (``_wake``): one still in flight at its arrival (SeQUeNCe would approve it
then), one that arrived to nothing at the instant its poll would arrive,
``t_arrived + 2c k`` for the smallest ``k >= 1`` not in the past (SeQUeNCe's refusal,
RESPONSE and new REQUEST); the protocols start then, as the RESPONSE would start them.
No event at all per pairing, where SeQUeNCe takes two per attempt. (The initiator's
memory stays OCCUPIED meanwhile instead of flickering to RAW, which no rule of the twin
observes.) The heralding instants are the same in distribution (the run is drawn
earlier, so the node's random stream interleaves differently: not bit-identical,
validated by the KS tests of tests/qndt/test_link_tier.py). A fault before a run's start
re-draws from the start (``QnmsLinkA.not_before``), not before it.
"""

from __future__ import annotations

import math
from typing import Any

from sequence.resource_management.action_condition_set import eg_match_func, es_match_func

from . import swapfold
from .linktier import QnmsLinkA

# per responder: (initiator node, its protocol, REQUEST args, when the REQUEST arrives or
# arrived there); a REQUEST is parked from the instant it would arrive
Parked = list[tuple[str, Any, Any, int]]


def install(routers: dict[str, Any]) -> None:
    """Wrap every router's resource manager (instance attributes; link tier only)."""
    parked: dict[str, Parked] = {name: [] for name in routers}
    for router in routers.values():
        _wrap(router, routers, parked)
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
    partner = eg_match_func(other.resource_manager.waiting_protocols, args)
    if not isinstance(partner, QnmsLinkA) or not isinstance(protocol, QnmsLinkA):
        return False  # nothing waiting yet (or not the link tier's protocols)
    t_resp = round(router.timeline.now() + router.cchannels[dst].delay)
    _pair(router, protocol, other, partner, t_resp)
    return True


def _pair(router: Any, protocol: Any, other: Any, partner: Any, t_resp: int) -> None:
    """Pair the initiator's ``protocol`` with ``partner`` waiting at ``other``, as the
    REQUEST arriving at ``t_resp`` and its RESPONSE would; the primary plans its run."""
    t_ini = round(t_resp + other.cchannels[router.name].delay)
    protocol.owner = router
    partner.set_others(protocol.name, router.name, [m.name for m in protocol.memories])
    protocol.set_others(partner.name, other.name, [m.name for m in partner.memories])
    other.resource_manager.waiting_protocols.remove(partner)
    other.protocols.append(partner)
    router.protocols.append(protocol)
    for proto, start in ((partner, t_resp), (protocol, t_ini)):
        if proto.primary:
            proto.not_before = start
            proto.plan(start)


def _wrap(router: Any, routers: dict[str, Any], parked: dict[str, Parked]) -> None:
    rm = router.resource_manager
    send_request = rm.send_request
    tl = router.timeline

    def offer(protocol: Any, req_dst: str | None, func: Any, args: Any) -> None:
        if req_dst is None:
            protocol.waiting_since = tl.now()  # read by swapfold.decide
            send_request(protocol, req_dst, func, args)
            if parked[router.name]:
                _wake(router, routers, parked[router.name], protocol)
        elif func is es_match_func:
            swapfold.request(router, routers, protocol, req_dst, args)
        elif func is not eg_match_func or not isinstance(protocol, QnmsLinkA):
            send_request(protocol, req_dst, func, args)
        elif not _pair_now(router, routers, protocol, req_dst, args):
            # nothing waits at req_dst now: the REQUEST would be parked there from its
            # arrival (or paired at it, if a protocol is offered before): not sent
            protocol.owner = router
            if protocol not in rm.pending_protocols:
                rm.pending_protocols.append(protocol)
            if not router.down:  # SeQUeNCe drops what a node that is down sends
                arrival = round(tl.now() + router.cchannels[req_dst].delay)
                parked[req_dst].append((router.name, protocol, args, arrival))

    rm.send_request = offer


def _wake(router: Any, routers: dict[str, Any], parked: Parked, protocol: Any) -> None:
    """Pair ``protocol``, just offered, with the parked REQUEST that reaches it first:
    one still in flight at its arrival, a refused one at its next poll's."""
    rule: Any = protocol.rule  # SeQUeNCe declares it None until a rule creates the protocol
    if not isinstance(protocol, QnmsLinkA) or rule is None:
        return  # only generation REQUESTs are parked (eg_match_func's first test)
    now = router.timeline.now()
    reservation = rule.get_reservation()
    keep: Parked = []
    best: tuple[int, int] | None = None
    for entry in parked:
        src, proto, args, arrived = entry
        if args["reservation"].end_time <= now:
            continue  # its window is over: the rule and the protocol are gone
        if src != protocol.remote_node_name or args["reservation"] != reservation:
            keep.append(entry)  # eg_match_func([protocol], args) is None
            continue
        if proto not in routers[src].resource_manager.pending_protocols:
            continue  # the initiator's protocol expired or was released meanwhile
        if arrived >= now:
            arrival = arrived
        else:
            period = 2 * int(router.cchannels[src].delay)
            k = max(1, math.ceil((now - arrived) / period)) if period > 0 else 1
            arrival = arrived + k * period
        if best is None or arrival < best[0]:
            best = (arrival, len(keep))
        keep.append(entry)
    parked[:] = keep
    if best is None:
        return
    arrival, i = best
    src, initiator_protocol, _, _ = parked.pop(i)
    initiator = routers[src]
    initiator.resource_manager.pending_protocols.remove(initiator_protocol)
    _pair(initiator, initiator_protocol, router, protocol, arrival)
