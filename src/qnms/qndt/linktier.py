"""The coarse-grained link tier: heralded generation sampled, not simulated photon by photon.

Under the ``full`` model every Barrett-Kok round is simulated: negotiation messages,
memory excitation, photons in the fibre, the BSM and its detectors, the heralding
messages, and a new resource-manager pairing after every failure (~10 SeQUeNCe events per
channel use, several uses per pair). Under the ``link`` model the two memories are
still paired by SeQUeNCe's own resource managers (REQUEST / RESPONSE messages, skipped
when the approval is certain: pairing.py), but once paired the primary end draws the
whole run of attempts at once, with the probabilities and timing of SeQUeNCe's own model,
and schedules a single event at the instant the ``full`` model would herald the pair. At
that instant both memories receive the entangled state SeQUeNCe would have given them;
swapping, purification, memories, decoherence, classical messages and faults are
untouched.

What is sampled, per cycle (one pairing of the two memories), as SeQUeNCe 1.3.1 models it
(``BarretKokA``, ``SingleAtomBSM``, ``Detector``, ``QuantumChannel``):

* each end's photon is detected with ``eta = memory efficiency x 10^(-alpha L/2 / 10) x
  detector efficiency`` (the BSM sits in the middle of the fibre; its two detectors are
  one from each end node, and a photon reaches either with probability 1/2, so the
  detector efficiency is their mean);
* round 1 heralds (exactly one click) with ``p_true = (eta_a + eta_b) / 4`` from the
  entangling branch, and falsely with ``p_false = (eta_a (1 - eta_b) + eta_b (1 - eta_a) +
  eta_a eta_b / 2) / 4`` when both memories emitted (one photon lost, or both on the same
  detector inside its dead time; the last term times ``same_detector_factor`` when the
  two detectors differ); a false herald always fails round 2 (both memories are
  then in |0> and emit nothing);
* round 2 succeeds after a true herald with ``p2 = (eta_a + eta_b) / 2``;
* timing: the primary's NEGOTIATE reaches the other end one classical delay ``c`` after
  the primary starts; emission waits for the memories' next excitation time (memory
  frequency) plus ``c`` for the acknowledgement, rounded up to the channel's time bin; the
  outcome of a round is known ``q + m`` later (photon to the BSM, herald back), plus
  SeQUeNCe's 10 ps gap; after a failure the memories are re-paired, which costs ``c``
  (primary = responder) or ``2c`` (primary = initiator) before the primary starts again.

The new pair gets SeQUeNCe's ket state (Phi+ with probability F, each other Bell state
with probability (1 - F) / 3, ``_set_state_with_fidelity``), F being the pair fidelity the
``full`` tier books (``min`` of the two raw fidelities, see protocols.py), and the memory
expiry SeQUeNCe schedules at the successful cycle's first emission.

Not modelled (differences from ``full``): interference between the photons of several
memories sharing a BSM's detectors (none once the detectors recover within a time bin,
see build.DETECTOR_COUNT_RATE), dark counts (zero in this network model) and the
primary's memory being excited before its own next excitation time (the ends share one
frequency in the qnms models). Faults that change a link's physics (channel cut /
restored, memory degraded) make the link's pending runs be drawn
again from the fault's instant (``replan_link``).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from sequence.entanglement_management.generation import EntanglementGenerationA
from sequence.kernel.event import Event
from sequence.kernel.process import Process
from sequence.resource_management.memory_manager import MemoryInfo

from qnms.network.physics import (
    link_detector_efficiency,
    round_probabilities,
    same_detector_factor,
)

from . import fastheap
from .fastket import set_bell_state
from .messages import MODELS
from .protocols import QNMS_TYPE, observer_of, pair_of

if TYPE_CHECKING:
    from sequence.components.memory import Memory
    from sequence.topology.node import Node

LINK_TYPE = "qnms_link"
DEFAULT_MODEL = "link"
GAP_PS = 10  # SeQUeNCe's gap between a herald's arrival and the next round


def detection_probability(memory: Memory, qchannel: Any, detector_efficiency: float) -> float:
    """Probability that a photon emitted by ``memory`` clicks a detector at the BSM."""
    return memory.efficiency * (1 - qchannel.loss) * detector_efficiency


def detector_efficiency(bsm_node: Any) -> float:
    """Efficiency with which the BSM node in the middle of a link detects a photon: the
    mean of its two detectors' (one from each end node, build.bsm_template)."""
    return link_detector_efficiency(*_detectors(bsm_node))


def _detectors(bsm_node: Any) -> tuple[float, float]:
    """Efficiencies of the two detectors of a link's BSM node."""
    bsm = next(iter(bsm_node.components.values()))
    first, second = (d.efficiency for d in bsm.detectors)
    return first, second


def next_bin(qchannel: Any, t_ps: float, step: int | None = None) -> int:
    """First time bin of ``qchannel`` at or after ``t_ps`` (QuantumChannel.schedule_transmit).

    Integer arithmetic when the time and the bin width are whole picoseconds (80 MHz:
    12.5 ns), SeQUeNCe's own gmpy2 conversion otherwise, with the same result: SeQUeNCe
    converts a fractional bin with ``int(mpfr)``, which rounds to the *nearest* integer,
    then adds one, so a time past the middle of a bin skips to the bin after next.
    ``step``: the bin width in ps if whole, else 0 (a caller's precomputed ``_bin_step``).
    """
    if step is None:
        step = _bin_step(qchannel)
    if step and (type(t_ps) is int or float(t_ps).is_integer()):
        q, r = divmod(int(t_ps), step)
        if r * 1e8 <= step:  # within SeQUeNCe's epsilon (1e-8 of a bin) of a bin edge
            return q * step
        nearest = q + (1 if 2 * r > step or (2 * r == step and q % 2) else 0)
        return (nearest + 1) * step
    freq = qchannel.frequency
    return int(qchannel.timebin_to_time(qchannel.time_to_timebin(t_ps, freq), freq))


def _bin_step(qchannel: Any) -> int:
    """The channel's time-bin width in ps when whole, else 0."""
    width = 1e12 / qchannel.frequency
    return int(width) if width.is_integer() else 0


class QnmsLinkA(EntanglementGenerationA):
    """Generation protocol of the link tier: one planned event per heralded pair."""

    def __init__(self, owner: Node, name: str, middle: str, other: str, memory: Memory, **kw):
        if kw:
            raise ValueError(f"unexpected keyword arguments: {kw}")
        super().__init__(owner, name, middle, other, memory)
        self.protocol_type = LINK_TYPE
        self.pending: Event | None = None
        self.emissions: list[int] = []  # channel uses of the planned run, not yet counted
        self.not_before = 0  # paired ahead of its start (pairing.py): no run before this

    # -- SeQUeNCe's interface -------------------------------------------------------
    def start(self) -> None:
        """Called by the resource manager once paired; the primary plans the run."""
        if self not in self.owner.protocols or not self.primary:
            return
        self.plan(self.owner.timeline.now())

    def emit_event(self) -> None:  # no photons in this tier
        raise NotImplementedError("the link tier emits no photons")

    def update_memory(self) -> bool | None:  # no rounds in this tier
        raise NotImplementedError("the link tier has no rounds")

    def received_message(self, src: str, msg: Any) -> None:
        """The link tier exchanges no generation messages (pairing is the RM's)."""

    def _entanglement_succeed(self) -> None:  # replaced by _herald (both ends at once)
        raise NotImplementedError

    # -- planning --------------------------------------------------------------------
    def _partner(self) -> tuple[Any, Any]:
        """The other end's node and memory (entities of the same timeline, or None)."""
        tl = self.owner.timeline
        return tl.get_entity_by_name(self.remote_node_name), tl.get_entity_by_name(
            self.remote_memo_id
        )

    def _is_initiator(self) -> bool:
        """The upstream end of the hop sends the pairing REQUEST (eg_rule_action_request)."""
        args: dict[str, Any] = self.rule.action_args if self.rule is not None else {}
        path: list[str] = args.get("path") or []
        index: int = args.get("index", -1)
        return 0 <= index < len(path) - 1 and path[index + 1] == self.remote_node_name

    def plan(self, t_start: int) -> None:
        """Draw the attempts until success from ``t_start`` (primary's start); schedule it."""
        tl = self.owner.timeline
        link = _link_of(self)
        if link is None:
            return
        other_mem, qc_n = link.other_mem, link.qc_n
        p_true, p_false, p2, period_p, period_n = link.now(self.memory)
        if p_true <= 0:
            return  # nothing can herald (channel cut, dead memory): wait for a replan
        c, m, qd_p, qd_n, step = link.c, link.m, link.qd_p, link.qd_n, link.step
        restart = c if not self._is_initiator() else 2 * c
        ne_p, ne_n = self.memory.next_excite_time, other_mem.next_excite_time
        res = self.rule.reservation if self.rule is not None else None
        horizon = res.end_time if res is not None else math.inf
        rand = self.owner.get_generator().random
        p_valid = p_true + p_false
        t_p = t_start
        emissions: list[int] = []
        record = emissions.append
        while t_p < horizon:
            # a round (both inline: the hot loop): the emission at the first bin once both
            # memories can emit and the acknowledgement arrived, the outcome back at m
            ready = max(t_p + c, ne_n, ne_p - qd_n + qd_p)
            t = ready + qd_p - qd_n + c
            e_n = next_bin(qc_n, t, step)
            first = e_n + qd_n - qd_p
            ne_n, ne_p = e_n + period_n, first + period_p
            record(first)
            s2 = e_n + qd_n + m + GAP_PS
            r = rand()
            if r >= p_valid:  # no valid herald in round 1
                t_p = s2 + restart
                continue
            ready = max(s2 + c, ne_n, ne_p - qd_n + qd_p)
            t = ready + qd_p - qd_n + c
            e_n = next_bin(qc_n, t, step)
            e_p = e_n + qd_n - qd_p
            ne_n, ne_p = e_n + period_n, e_p + period_p
            record(e_p)
            done = e_n + qd_n + m + GAP_PS
            if r < p_true and rand() < p2:
                self.memory.next_excite_time = ne_p
                other_mem.next_excite_time = ne_n
                self.emissions = emissions
                self.pending = Event(done, Process(self, "_herald", [first]), tl.schedule_counter)
                tl.schedule(self.pending)
                self.scheduled_events.append(self.pending)
                return
            t_p = done + restart

    def replan(self) -> None:
        """The link's physics changed now: count the uses made so far, draw again from now."""
        tl = self.owner.timeline
        now = tl.now()
        if self.pending is not None:
            tl.remove_event(self.pending)
            self.pending = None
        used = sum(1 for t in self.emissions if t <= now)
        observer_of(self.owner).count_uses(self.owner.name, self.remote_node_name, used)
        self.emissions = []
        if self in self.owner.protocols:
            self.plan(max(now, self.not_before))

    # -- the heralded pair ------------------------------------------------------------
    def _herald(self, first_emission: int) -> None:
        """Both ends get the entangled state SeQUeNCe's ``full`` tier would give them."""
        self.pending = None
        other_node, other_mem = self._partner()
        partner = next(
            (p for p in other_node.protocols if p.name == self.remote_protocol_name), None
        )
        if self not in self.owner.protocols or partner is None:
            return
        obs = observer_of(self.owner)
        obs.count_uses(self.owner.name, self.remote_node_name, len(self.emissions))
        self.emissions = []
        now = self.owner.timeline.now()
        fidelity = obs.pair_fidelity(self.memory, other_mem.name)
        for proto, mem, remote_node, remote_mem in (
            (self, self.memory, other_node.name, other_mem.name),
            (partner, other_mem, self.owner.name, self.memory.name),
        ):
            _restart(mem, first_emission)
            pair_of(mem)["node_id"] = remote_node
            pair_of(mem)["memo_id"] = remote_mem
            mem.fidelity = fidelity
            obs.set_ref(mem.name, now)
            proto.fidelity = fidelity
        qm = self.owner.timeline.quantum_manager
        keys = [self.memory.qstate_key, other_mem.qstate_key]
        set_bell_state(keys, fidelity, self.owner.get_generator(), qm)  # SeQUeNCe's draw
        obs.on_link_pair(self)
        partner.update_resource_manager(other_mem, MemoryInfo.ENTANGLED)
        self.update_resource_manager(self.memory, MemoryInfo.ENTANGLED)


class _Link:
    """What a primary's planning reads of its link, looked up once per memory pair.

    The partner's node and memory, the channels, the classical delays and the BSM's
    detectors never change during a run; what faults change (memory efficiency and
    frequency, channel loss: faults.py) is read at every plan and the probabilities are
    computed again when it differs (``now``).
    """

    __slots__ = ("c", "det", "key", "m", "other_mem", "qc_n", "qc_p", "qd_n", "qd_p", "same",
                 "step", "values")  # fmt: skip

    def __init__(self, proto: QnmsLinkA, other: Any, other_mem: Any) -> None:
        owner = proto.owner
        detectors = _detectors(owner.timeline.get_entity_by_name(proto.middle))
        self.det = link_detector_efficiency(*detectors)
        self.same = same_detector_factor(*detectors)
        self.other_mem = other_mem
        self.qc_p, self.qc_n = owner.qchannels[proto.middle], other.qchannels[proto.middle]
        self.c = int(owner.cchannels[proto.remote_node_name].delay)
        self.m = int(owner.cchannels[proto.middle].delay)
        self.qd_p, self.qd_n = self.qc_p.delay, self.qc_n.delay
        self.step = _bin_step(self.qc_n)  # next_bin's integer case
        self.key: tuple[float, ...] = ()
        self.values = (0.0, 0.0, 0.0, 0.0, 0.0)

    def now(self, memory: Memory) -> tuple[float, float, float, float, float]:
        """(p_true, p_false, p2, period_p, period_n) for the link as it is now."""
        other_mem, qc_p, qc_n = self.other_mem, self.qc_p, self.qc_n
        key = (memory.efficiency, other_mem.efficiency, qc_p.loss, qc_n.loss,
               memory.frequency, other_mem.frequency)  # fmt: skip
        if key != self.key:
            eta_p = detection_probability(memory, qc_p, self.det)
            eta_n = detection_probability(other_mem, qc_n, self.det)
            period_p = 1e12 / memory.frequency if memory.frequency > 0 else 0.0
            period_n = 1e12 / other_mem.frequency if other_mem.frequency > 0 else 0.0
            self.values = (*round_probabilities(eta_p, eta_n, self.same), period_p, period_n)
            self.key = key
        return self.values


def _link_of(proto: QnmsLinkA) -> _Link | None:
    """The primary's ``_Link`` (kept on its node, per memory pair), None without partner."""
    links: dict[tuple[str, str], _Link] | None = proto.owner.__dict__.get("_qnms_links")
    if links is None:
        links = proto.owner._qnms_links = {}  # type: ignore[attr-defined]  # our cache on SeQUeNCe's node
    pair = (proto.memory.name, proto.remote_memo_id)
    link = links.get(pair)
    if link is None:
        other, other_mem = proto._partner()
        if other is None or other_mem is None:
            return None
        link = links[pair] = _Link(proto, other, other_mem)
    return link


def _restart(mem: Memory, at_ps: int) -> None:
    """What ``Memory.update_state`` does at a cycle's first emission, for a past instant.

    The state itself is set right after (the entangled pair); the expiry is scheduled
    from ``at_ps`` as SeQUeNCe would have, without ``update_event_time`` (a linear scan
    of the event heap).
    """
    tl = mem.timeline
    mem.previous_bsm = -1
    pair_of(mem).update(node_id=None, memo_id=None)
    if mem.coherence_time > 0 and mem.cutoff_flag:
        old: Event | None = mem.expiration_event
        if old is not None:
            tl.remove_event(old)
        decay = at_ps + int(mem.cutoff_ratio * mem.coherence_time * 1e12)
        if isinstance(tl.events, fastheap.KeyedEventList):  # the memory's one expiry
            fastheap.expire_at(mem, max(decay, tl.now()))
            return
        event = Event(max(decay, tl.now()), Process(mem, "expire", []))
        tl.schedule(event)
        mem.expiration_event = event  # type: ignore[assignment]  # SeQUeNCe declares None


def select(model: str) -> None:
    """Make ``model``'s generation protocol SeQUeNCe's global default (process-wide)."""
    if model not in MODELS:
        raise ValueError(f"model is one of {', '.join(MODELS)}, not {model!r}")
    if LINK_TYPE not in EntanglementGenerationA._registry:
        EntanglementGenerationA.register(LINK_TYPE, QnmsLinkA)
    EntanglementGenerationA.set_global_type(LINK_TYPE if model == "link" else QNMS_TYPE)


def replan_link(routers: dict[str, Any], a: str, b: str) -> None:
    """Draw again the pending runs of every link-tier protocol between ``a`` and ``b``."""
    for name in (a, b):
        for proto in list(routers[name].protocols):
            if isinstance(proto, QnmsLinkA) and proto.primary and proto.remote_node_name in (a, b):
                proto.replan()
