"""Store readings move a unit on, and an older reading never takes it back.

The monitor's poll and the YANG-Push replicas both feed ``update_units``; a poll answered
before a push update can arrive after it. A store only counts up for one allocation, so
a reading with fewer delivered units than the unit already has is an old one.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from qnms.orchestrator.edits import AgentEdit
from qnms.orchestrator.lifecycle import UnitRecord, UnitState
from qnms.orchestrator.monitor import StoreReading, update_units

SS = "urn:qnms:yang:qnms-service-stratum"
STORE_EDIT = (
    f'<config><service-stratum xmlns="{SS}"><service-units><service-unit>'
    "<name>u1</name></service-unit></service-units></service-stratum></config>"
)


class FakeController:
    """What update_units uses of a Controller: records, intents, transitions, saves."""

    def __init__(self, rec: UnitRecord) -> None:
        self.records = {rec.name: rec}
        self.intents: dict[str, Any] = {
            rec.name: SimpleNamespace(
                size=10,
                service_type="bipartite-entanglement",
                requirements=SimpleNamespace(target_fidelity=0.7),
                fingerprint="f",
            )
        }
        self.transitions: list[UnitState] = []
        self.store = SimpleNamespace(save=lambda rec, fingerprint: None)

    def transition(self, rec: UnitRecord, state: UnitState, reason: str | None = None) -> None:
        rec.state = state
        self.transitions.append(state)

    def changed(self) -> None:
        pass


def readings(alice: int, bob: int, fidelity: float = 0.9) -> dict[str, object]:
    return {
        "ss:alice": {"u1": StoreReading(alice, fidelity)},
        "ss:bob": {"u1": StoreReading(bob, fidelity)},
    }


def test_an_older_reading_does_not_take_the_delivered_count_back() -> None:
    rec = UnitRecord(name="u1", state=UnitState.ESTABLISHING)
    rec.edits = [AgentEdit("ss:alice", STORE_EDIT, ""), AgentEdit("ss:bob", STORE_EDIT, "")]
    ctl = FakeController(rec)

    update_units(ctl, readings(6, 4))  # type: ignore[arg-type]
    assert (rec.delivered, rec.state) == (4, UnitState.ESTABLISHING)  # the slower end counts
    update_units(ctl, readings(11, 10))  # type: ignore[arg-type]  # a push update
    assert (rec.delivered, rec.state) == (10, UnitState.ACTIVE)
    update_units(ctl, readings(9, 8))  # type: ignore[arg-type]  # the poll sent before it
    assert rec.delivered == 10 and ctl.transitions == [UnitState.ACTIVE]
    update_units(ctl, readings(12, 12, 0.95))  # type: ignore[arg-type]
    assert (rec.delivered, rec.achieved_fidelity) == (12, 0.95)
