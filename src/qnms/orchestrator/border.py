"""Border health: is the node where a segment is stitched still there?

A segment is worth nothing if its border node is gone: the other domain's segment ends
at a node that cannot swap. The domain reads each border node's QFS agent (node and
quantum-link oper-state, which follow the twin's faults) for the border nodes its live
segments use; an agent that does not answer, a node down, or the inter-domain link to
the peer down is a fault, and the segment is released with that reason (the parent
then releases the other domain's segment and fails the unit).
"""

from __future__ import annotations

from lxml import etree

from qnms.orchestrator.discovery import QFS
from qnms.orchestrator.southbound import Southbound, SouthboundError

_FILTER = f'<quantum-fabric xmlns="{QFS}"><node/><quantum-links/></quantum-fabric>'
_Q = {"q": QFS}


def _fault(data: etree._Element, border: str, peer: str) -> str | None:
    if data.findtext("q:quantum-fabric/q:node/q:oper-state", "up", _Q) == "down":
        return f"border node {border} is down"
    for link in data.iterfind("q:quantum-fabric/q:quantum-links/q:quantum-link", _Q):
        here = link.findtext("q:remote-node", "", _Q) == peer
        if here and link.findtext("q:oper-state", "up", _Q) == "down":
            return f"the link {border}-{peer} is down"
    return None


async def border_faults(sb: Southbound, links: set[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """{(border, peer): why} for every inter-domain link of ``links`` that is not usable."""
    borders = sorted({b for b, _ in links})
    keys = [f"qfs:{b}" for b in borders if f"qfs:{b}" in sb.sessions]
    got = await sb.fan_out(
        keys, "border", lambda _k, m: m.get(filter=("subtree", _FILTER)).data_ele
    )
    out = {}
    for border, peer in links:
        data = got.get(f"qfs:{border}")
        if isinstance(data, SouthboundError):
            out[(border, peer)] = f"border node {border} does not answer: {data}"
        elif data is not None and (why := _fault(data, border, peer)) is not None:
            out[(border, peer)] = why
    return out
