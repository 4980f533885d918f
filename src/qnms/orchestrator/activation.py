"""On-demand activation: a unit authorised and reserved now, generated when asked.

An application that knows it will need entanglement later (a scheduled experiment, a
key refresh window) creates its unit with ``activation/mode on-demand``. Admission runs
at once (access, token bucket, a feasible path), and the memory qubits of the best
path are held in the capacity ledger, so no later unit can take them; nothing is
written on any agent and the twin generates nothing. The unit stays ``admitted`` with
that reason until the application sets ``activation/activate`` to true with an
edit-config in place; then the path is allocated and generation starts, exactly as
for an immediate unit. Settings under ``activation`` and ``restoration`` are not part
of the intent's fingerprint, which is why they may change in place.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from qnms.orchestrator.admission import Admission, CapacityLedger, Refusal, admit
from qnms.orchestrator.lifecycle import UnitState
from qnms.orchestrator.planning import memory_picker

if TYPE_CHECKING:
    from qnms.orchestrator.intent import Application, Policy, ServiceIntent
    from qnms.orchestrator.lifecycle import UnitRecord
    from qnms.orchestrator.topology import Topology

log = logging.getLogger(__name__)


class Units(Protocol):
    """What activation needs of the controller (``Controller`` is one), so this module
    does not import the controller that calls it."""

    ledger: CapacityLedger
    applications: dict[str, Application]
    intents: dict[str, ServiceIntent]
    records: dict[str, UnitRecord]
    on_demand: dict[str, Admission]
    usable: Callable[[Topology], Topology]

    @property
    def topology(self) -> Topology: ...

    def transition(self, rec: UnitRecord, state: UnitState, reason: str | None = None) -> None: ...

    def start_unit(self, adm: Admission) -> None: ...


def hold(ctl: Units, adm: Admission) -> None:
    """Reserve the best path's qubits for an on-demand unit and wait for activation."""
    name, est = adm.intent.name, adm.paths[0]
    ctl.ledger.release(name)
    try:
        ctl.ledger.reserve(name, est.qubits, memory_picker(ctl.topology, est))
    except ValueError as err:
        rec = ctl.records[name]
        ctl.transition(rec, UnitState.FAILED, f"cannot reserve on {'-'.join(est.nodes)}: {err}")
        return
    ctl.on_demand[name] = adm
    rec = ctl.records[name]
    ctl.transition(
        rec,
        UnitState.ADMITTED,
        f"reserved on {'-'.join(est.nodes)}; on-demand: generated when activated",
    )


def activate(ctl: Units, name: str) -> None:
    """Allocate a reserved on-demand unit now (its application set ``activate``)."""
    adm = ctl.on_demand.pop(name, None)
    intent = ctl.intents.get(name)
    rec = ctl.records.get(name)
    if adm is None or intent is None or rec is None:
        return
    ctl.ledger.release(name)  # its own reservation must not count against it
    try:
        adm = admit(intent, ctl.applications, ctl.usable(ctl.topology), ctl.ledger, {})
    except Refusal as refusal:
        ctl.transition(rec, UnitState.FAILED, f"activation refused: {refusal.message}")
        return
    ctl.transition(rec, UnitState.ADMITTED, "activated by its application")
    ctl.start_unit(adm)


def policy_changed(ctl: Units, name: str, old: Policy) -> None:
    """React to an in-place change of a unit's activation or restoration settings."""
    new = ctl.intents[name].policy
    if new.activate and not old.activate and name in ctl.on_demand:
        activate(ctl, name)
    log.info("service unit %s: policy %s -> %s", name, old, new)
