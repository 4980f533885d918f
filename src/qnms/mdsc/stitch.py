"""Choosing the border crossing of an inter-domain unit from abstract views alone.

For a unit from endpoint ``head`` (in domain A) to ``tail`` (in domain B), every border
node a of A with a peer b that B reports as its border node linked back to a is a
crossing. Its end-to-end estimate stitches the two domains' segment estimates and the
inter-domain link with the orchestrator's first-order Werner model (paths.py): the
link's raw fidelity is the worse side's, swaps at a and b; the rate is the slower
segment's; latencies add. Only crossings whose link both sides report up count.
"""

from __future__ import annotations

from dataclasses import dataclass

from qnms.mdsc.views import DomainView
from qnms.network.physics import werner_swap


@dataclass(frozen=True)
class Crossing:
    head_border: str
    tail_border: str
    fidelity: float
    rate: float
    latency_ms: float


def crossings(head: DomainView, tail: DomainView, head_urn: str, tail_urn: str) -> list[Crossing]:
    """Every usable crossing, best estimated fidelity first."""
    out = []
    for a, peers in sorted(head.borders.items()):
        for b, link in sorted(peers.items()):
            back = tail.borders.get(b, {}).get(a)
            if back is None or not (link.up and back.up):
                continue
            e1 = head.estimates.get((head_urn, a))
            e2 = tail.estimates.get((tail_urn, b))
            if e1 is None or e2 is None:
                continue
            f_link = min(link.raw_fidelity, back.raw_fidelity)
            fidelity = werner_swap(werner_swap(e1.fidelity, f_link), e2.fidelity)
            out.append(
                Crossing(a, b, fidelity, min(e1.rate, e2.rate), e1.latency_ms + e2.latency_ms)
            )
    return sorted(out, key=lambda c: -c.fidelity)
