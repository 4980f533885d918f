"""Which network elements the closed loop treats as failed, with flap damping.

An element is a channel (``channel:<name>``, from the CS agents), a node
(``node:<name>``) or one end of a quantum link (``link:<node>/<link>``), as telemetry
reports them. A flapping element must not make service units oscillate between paths,
so each down transition adds a penalty that decays exponentially (the route-flap
damping of RFC 2439, applied to elements): above ``suppress`` the element counts as
down whatever it reports, until the penalty decays below ``reuse``. A single cut and
repair never reaches ``suppress``; a link that flaps keeps units off it.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field, replace

from qnms.orchestrator.lifecycle import Hop
from qnms.orchestrator.topology import Topology


@dataclass(frozen=True)
class DampingParams:
    penalty: float = 1000.0  # added at each down transition
    suppress: float = 2000.0  # above this, the element is held down
    reuse: float = 750.0  # a held element is released below this
    half_life_s: float = 15.0


@dataclass
class ElementState:
    down: bool = False  # as last reported
    penalty: float = 0.0
    stamp: float = 0.0  # when penalty was last computed (monotonic)
    suppressed: bool = False
    since: float = 0.0  # monotonic time the effective state last changed
    since_wall: float = 0.0  # the same instant, wall clock (for restoration times)
    flaps: int = 0


@dataclass
class Elements:
    """Reported and effective state of every element telemetry has mentioned."""

    params: DampingParams = field(default_factory=DampingParams)
    states: dict[str, ElementState] = field(default_factory=dict)
    version: int = 0  # bumped whenever an element's effective state changes

    def _decay(self, st: ElementState, now: float) -> float:
        dt = max(now - st.stamp, 0.0)
        return st.penalty * math.exp(-math.log(2) * dt / self.params.half_life_s)

    def penalty(self, element: str, now: float) -> float:
        """The element's flap penalty now (decayed since its last down transition)."""
        st = self.states.get(element)
        return self._decay(st, now) if st is not None else 0.0

    def effective_down(self, element: str, now: float) -> bool:
        st = self.states.get(element)
        return st is not None and (st.down or st.suppressed)

    def observe(self, element: str, down: bool, now: float, wall: float) -> bool:
        """A reported state; True when the element's effective state changed."""
        st = self.states.setdefault(element, ElementState(since=now, since_wall=wall))
        if st.down == down:
            return False
        before = st.down or st.suppressed
        st.down = down
        if down:
            st.flaps += 1
            st.penalty, st.stamp = self._decay(st, now) + self.params.penalty, now
            if st.penalty > self.params.suppress:
                st.suppressed = True
        return self._changed(st, before, now, wall)

    def tick(self, now: float, wall: float) -> bool:
        """Release suppressed elements whose penalty decayed below ``reuse``."""
        changed = False
        for st in self.states.values():
            if st.suppressed and self._decay(st, now) < self.params.reuse:
                st.suppressed = False
                changed |= self._changed(st, True, now, wall)
        return changed

    def _changed(self, st: ElementState, before: bool, now: float, wall: float) -> bool:
        if (st.down or st.suppressed) == before:
            return False
        st.since, st.since_wall = now, wall
        self.version += 1
        return True


def path_elements(topo: Topology, hops: list[Hop]) -> list[str]:
    """The elements a unit's path depends on: its nodes, channels and link ends."""
    nodes = [h.node for h in hops]
    out = [f"node:{n}" for n in nodes]
    for a, b in itertools.pairwise(nodes):
        edge = topo.edges.get(frozenset((a, b)))
        if edge is None:
            continue
        if edge.channel:
            out.append(f"channel:{edge.channel}")
        out += [f"link:{a}/{edge.link}", f"link:{b}/{edge.link}"]
    return out


def usable(topo: Topology, elements: Elements, now: float) -> Topology:
    """The topology without the edges that a failed element takes out."""
    edges = {}
    for key, e in topo.edges.items():
        parts = [f"node:{e.a}", f"node:{e.b}", f"link:{e.a}/{e.link}", f"link:{e.b}/{e.link}"]
        if e.channel:
            parts.append(f"channel:{e.channel}")
        bad = any(elements.effective_down(p, now) for p in parts)
        edges[key] = replace(e, enabled=False) if bad else e
    return replace(topo, edges=edges)
