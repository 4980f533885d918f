"""Instrumented SeQUeNCe protocols and the decoherence model of the QNDT.

SeQUeNCe's ket-vector formalism keeps fidelity as bookkeeping: raw fidelity after
generation, ``F1*F2*degradation`` after a swap, the BBPSSW formula after purification.
The engine replaces the swap's product rule by the Werner-state formula (``werner_swap``):
the product is pessimistic (by up to 0.019 after 7 swaps) and can fall below 1/4.
Stored pairs never lose fidelity there (``coherence_time`` only expires memories). A
QNDT must emulate the degradation of stored states (draft section 6.2), so the engine
installs thin subclasses of the ket-formalism protocols that

* age every stored pair *before* it is used (swap, purification, delivery) with the
  stated depolarising model ``F(t) = 1/4 + (F0 - 1/4) exp(-t/T)``, where ``t`` is the
  time since the pair's fidelity was last set and ``1/T = (1/T_a + 1/T_b) / 2`` for a
  pair held in memories with coherence times ``T_a`` and ``T_b`` (``T`` itself when both
  ends are alike: the YANG ``coherence-time`` is the depolarising time constant);
* give a link-level pair the fidelity ``min(raw_a, raw_b)`` of its two memories, so both
  ends agree on it (SeQUeNCe gives each end its own memory's raw fidelity);
* use the two-input Werner BBPSSW formula when the two purified pairs have aged
  differently (it reduces to SeQUeNCe's formula for equal inputs);
* report every generation attempt, heralded pair, swap and purification to the engine's
  observer (``node.qnms``), which turns them into bus results and telemetry.

Decisions taken by SeQUeNCe's rules (whether a pair reaches the target before a swap)
still use SeQUeNCe's un-aged bookkeeping; the values the engine reports are aged.
Installing the subclasses changes SeQUeNCe's process-global protocol registries:
one engine per process (see ``install``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, cast

from sequence.constants import BARRET_KOK, KET_VECTOR_FORMALISM
from sequence.entanglement_management.generation import EntanglementGenerationA
from sequence.entanglement_management.generation.barret_kok import BarretKokA
from sequence.entanglement_management.purification import PurificationProtocol
from sequence.entanglement_management.purification.bbpssw_circuit import BBPSSWCircuit
from sequence.entanglement_management.swapping import (
    EntanglementSwappingA,
    EntanglementSwappingB,
)
from sequence.entanglement_management.swapping.swapping_circuit import (
    EntanglementSwappingA_Circuit,
    EntanglementSwappingB_Circuit,
)
from sequence.resource_management.memory_manager import MemoryInfo

from qnms.network.physics import bbpssw_fidelity, werner_swap

if TYPE_CHECKING:
    from sequence.components.memory import Memory
    from sequence.topology.node import Node

QNMS_TYPE = "qnms_ket"
PS = 1e-12


class Observer(Protocol):
    """What the instrumented protocols tell the engine (implemented by engine.Recorder)."""

    def age(self, memory: Memory, at_ps: int | None = None) -> float: ...
    def pair_fidelity(self, memory: Memory, remote_memo: str) -> float: ...
    def set_ref(self, memory_name: str, t_ps: int) -> None: ...
    def ref_time(self, memory_name: str) -> int: ...
    def on_emit(self, proto: Any) -> None: ...
    def count_uses(self, a: str, b: str, uses: int) -> None: ...
    def on_link_pair(self, proto: Any) -> None: ...
    def on_swap(self, proto: Any, ok: bool, fidelity: float) -> None: ...
    def on_purify(self, proto: Any, ok: bool, fidelity: float) -> None: ...
    def mark_start(self, name: str, t_ps: int) -> None: ...
    def pop_start(self, name: str) -> int | None: ...


class _Instrumented(Protocol):
    qnms: Observer


def attach_observer(node: Node, obs: Observer) -> None:
    """Give the instrumented protocols on ``node`` their observer, as ``node.qnms``."""
    cast(_Instrumented, node).qnms = obs  # SeQUeNCe's Node declares no attribute for it


def observer_of(node: Node) -> Observer:
    return cast(_Instrumented, node).qnms  # set by attach_observer on every router


def pair_of(memory: Memory) -> dict[str, Any]:
    """``memory.entangled_memory``: the remote node and memory names once entangled.

    SeQUeNCe resets it to ``{"node_id": None, "memo_id": None}``, hence its inferred
    type dict[str, None]; this is the same dict, typed for what it holds.
    """
    pair: dict[str, Any] = memory.entangled_memory
    return pair


class QnmsBarretKokA(BarretKokA):
    """Barrett-Kok generation that counts channel uses and agrees on pair fidelity."""

    def emit_event(self) -> None:
        """Count one channel use per round, on the primary end only (no double count)."""
        if self.primary:
            observer_of(self.owner).on_emit(self)
        super().emit_event()

    def _entanglement_succeed(self) -> None:
        obs = observer_of(self.owner)
        pair_of(self.memory)["node_id"] = self.remote_node_name
        pair_of(self.memory)["memo_id"] = self.remote_memo_id
        fidelity = obs.pair_fidelity(self.memory, self.remote_memo_id)
        self.memory.fidelity = fidelity  # type: ignore[assignment]  # SeQUeNCe: int, from its reset 0
        obs.set_ref(self.memory.name, self.owner.timeline.now())
        if self.primary:
            obs.on_link_pair(self)
        self.update_resource_manager(self.memory, MemoryInfo.ENTANGLED)


class QnmsSwapA(EntanglementSwappingA_Circuit):
    """Swap at an intermediate node: ages both input pairs first, reports the outcome."""

    def __init__(self, owner, name, left_memo, right_memo, success_prob=1, degradation=1.0):
        super().__init__(owner, name, left_memo, right_memo, success_prob, degradation)

    def updated_fidelity(self, f1: float, f2: float) -> float:  # type: ignore[override]  # lru_cache in SeQUeNCe
        """The swapped pair's fidelity (SeQUeNCe's hook; its own is ``F1 F2 degradation``)."""
        return werner_swap(f1, f2, self.degradation)

    def start(self) -> None:
        obs = observer_of(self.owner)
        now = self.owner.timeline.now()
        obs.age(self.left_memo)
        obs.age(self.right_memo)
        fidelity = self.updated_fidelity(self.left_memo.fidelity, self.right_memo.fidelity)
        ends = (
            pair_of(self.left_memo)["memo_id"],
            pair_of(self.right_memo)["memo_id"],
        )
        super().start()
        if self.is_success:
            for memo in ends:  # the new pair's fidelity is as of the swap instant
                obs.set_ref(memo, now)
        obs.on_swap(self, self.is_success, fidelity if self.is_success else 0.0)


class QnmsSwapB(EntanglementSwappingB_Circuit):
    """End of a swap: nothing to add (the reference time was set by the A side)."""


class QnmsBBPSSW(BBPSSWCircuit):
    """BBPSSW purification that ages both pairs to a common instant on both ends."""

    def start(self) -> None:
        observer_of(self.owner).mark_start(self.name, self.owner.timeline.now())
        super().start()

    def received_message(self, src: str, msg: Any) -> None:
        obs = observer_of(self.owner)
        own = obs.pop_start(self.name)
        other = obs.pop_start(self.remote_protocol_name)
        known = [t for t in (own, other) if t is not None]
        t_c = max(known) if known else self.owner.timeline.now()
        f_kept = obs.age(self.kept_memo, t_c)
        f_meas = obs.age(self.meas_memo, t_c)
        self.update_resource_manager(self.meas_memo, "RAW")
        ok = self.meas_res == msg.meas_res
        primary = self.owner.name > self.remote_node_name
        if ok:
            kept = bbpssw_fidelity(f_kept, f_meas)
            self.kept_memo.fidelity = kept  # type: ignore[assignment]  # SeQUeNCe: int, from its reset 0
            obs.set_ref(self.kept_memo.name, t_c)
            if primary:
                obs.on_purify(self, True, self.kept_memo.fidelity)
            self.update_resource_manager(self.kept_memo, state="PURIFIED")
        else:
            if primary:
                obs.on_purify(self, False, 0.0)
            self.update_resource_manager(self.kept_memo, state="RAW")


def install() -> None:
    """Register the instrumented protocols as SeQUeNCe's global defaults (idempotent).

    SeQUeNCe selects protocol classes through class-level registries shared by the
    whole process; this is why the engine runs one timeline per process.
    """
    if QNMS_TYPE not in EntanglementGenerationA._registry:
        EntanglementGenerationA.register(QNMS_TYPE, QnmsBarretKokA)
    if QNMS_TYPE not in EntanglementSwappingA._registry:
        EntanglementSwappingA.register(QNMS_TYPE, QnmsSwapA)
    if QNMS_TYPE not in EntanglementSwappingB._registry:
        EntanglementSwappingB.register(QNMS_TYPE, QnmsSwapB)
    if QNMS_TYPE not in PurificationProtocol._registry:
        PurificationProtocol.register(QNMS_TYPE, QnmsBBPSSW)
    EntanglementGenerationA.set_global_type(QNMS_TYPE)
    EntanglementSwappingA.set_formalism(QNMS_TYPE)
    EntanglementSwappingB.set_formalism(QNMS_TYPE)
    PurificationProtocol.set_formalism(QNMS_TYPE)


def uninstall() -> None:
    """Restore SeQUeNCe's own defaults (for code that runs raw SeQUeNCe afterwards)."""
    EntanglementGenerationA.set_global_type(BARRET_KOK)
    EntanglementSwappingA.set_formalism(KET_VECTOR_FORMALISM)
    EntanglementSwappingB.set_formalism(KET_VECTOR_FORMALISM)
    PurificationProtocol.set_formalism(KET_VECTOR_FORMALISM)
