"""Northbound access per application: two tenants logged in over SSH at once.

``ccips`` (madqci) and ``clock-sync`` (quditto) are registered applications; each logs
in as its application name. ccips asks for a pair to teleport-lab, clock-sync for one
to the ipsec controller; neither may see, follow or touch the other's unit, the
operator sees both, and nothing of the agents' local handles is on the northbound.
"""

from __future__ import annotations

import pytest
from ncclient.operations import RPCError
from ncclient.xml_ import to_ele
from orch_fleet import Fleet
from orch_support import (
    ALICE,
    BOB,
    NS,
    PASSWORD,
    USER,
    connect,
    delete_xml,
    poll,
    unit_xml,
)

SENSING, IPSEC = "urn:qkd:quditto:sensing", "urn:qkd:quditto:emulator:ipsec:controller"
STATE_CHANGE = "{urn:qnms:yang:qnms-service}service-unit-state-change"
TENANTS = {"ccips": "ccips-pw", "clock-sync": "clock-pw", "nobody": "nobody-pw"}


def names(m, source: str | None = None) -> set[str]:
    data = (m.get_config(source=source) if source else m.get()).data_ele
    return set(data.xpath("//s:service-units/s:service-unit/s:name/text()", namespaces=NS))


@pytest.fixture
def tenants(fleet: Fleet):
    """The orchestrator with two application users and a user of no application (not
    an operator: the operators are named)."""
    orch = fleet.start_orchestrator(users={USER: PASSWORD, **TENANTS}, admins=[USER])
    with (
        connect(orch.port) as admin,
        connect(orch.port, "ccips", TENANTS["ccips"]) as ccips,
        connect(orch.port, "clock-sync", TENANTS["clock-sync"]) as clock,
    ):
        yield orch, admin, ccips, clock


def test_each_application_sees_only_the_units_with_its_endpoint_and_operators_see_all(
    tenants,
) -> None:
    orch, admin, ccips, clock = tenants
    ccips.edit_config(target="running", config=unit_xml("c1", endpoints=(ALICE, BOB)))
    clock.edit_config(target="running", config=unit_xml("k1", endpoints=(SENSING, IPSEC)))
    assert poll(lambda: names(admin) >= {"c1", "k1"}, what="both units at the operator")
    assert names(ccips) == {"c1"}
    assert names(ccips, "running") == {"c1"}
    assert names(clock) == {"k1"}
    assert names(clock, "running") == {"k1"}
    with connect(orch.port, "nobody", TENANTS["nobody"]) as nobody:
        assert names(nobody) == set()
    # the registry stays readable: a tenant must learn its peers' endpoint URNs
    apps = clock.get_config(source="running").data_ele.xpath(
        "//s:applications/s:application/s:endpoint/text()", namespaces=NS
    )
    assert ALICE in apps and BOB in apps


def test_an_application_may_not_create_change_or_delete_a_foreign_unit(tenants) -> None:
    _orch, admin, ccips, clock = tenants
    ccips.edit_config(target="running", config=unit_xml("c1", endpoints=(ALICE, BOB)))
    for attempt in (
        unit_xml("k-as-ccips", endpoints=(ALICE, BOB)),  # speaking for another application
        delete_xml("c1"),  # deleting a unit it cannot even see
    ):
        with pytest.raises(RPCError) as err:
            clock.edit_config(target="running", config=attempt)
        assert err.value.tag == "access-denied"
        assert err.value.to_dict()["app_tag"] == "foreign-endpoint"
    # the candidate is guarded too, and writing the registry is for operators only
    with pytest.raises(RPCError) as err:
        clock.edit_config(target="candidate", config=delete_xml("c1"))
    assert err.value.tag == "access-denied"
    registry = (
        '<config xmlns="urn:ietf:params:xml:ns:netconf:base:1.0"><applications '
        'xmlns="urn:qnms:yang:qnms-service"><application><name>clock-sync</name>'
        "<owner>mallory</owner></application></applications></config>"
    )
    with pytest.raises(RPCError) as err:
        clock.edit_config(target="running", config=registry)
    assert err.value.tag == "access-denied"
    assert names(admin) == {"c1"}
    # the operator may delete anyone's unit
    admin.edit_config(target="running", config=delete_xml("c1"))
    assert names(admin) == set()


def test_an_application_receives_the_state_changes_of_its_own_units_only(tenants) -> None:
    orch, _admin, ccips, clock = tenants
    clock.create_subscription()
    ccips.create_subscription()
    ccips.edit_config(target="running", config=unit_xml("c1", endpoints=(ALICE, BOB)))
    clock.edit_config(target="running", config=unit_xml("k1", endpoints=(SENSING, IPSEC)))

    def seen(m, want: str) -> set[str]:
        got: set[str] = set()

        def arrived() -> bool:
            note = m.take_notification(timeout=0.2)
            if note is not None:
                event = note.notification_ele.find(f".//{STATE_CHANGE}")
                if event is not None:
                    got.add(event.findtext("{urn:qnms:yang:qnms-service}name"))
            return want in got

        poll(arrived, 20, f"a state change of {want}")
        return got

    assert "k1" not in seen(ccips, "c1")
    assert "c1" not in seen(clock, "k1")
    # and afterwards, while both units move on, still nothing foreign arrives
    for m, foreign in ((ccips, "k1"), (clock, "c1")):
        while (note := m.take_notification(timeout=0.5)) is not None:
            event = note.notification_ele.find(f".//{STATE_CHANGE}")
            if event is not None:
                assert event.findtext("{urn:qnms:yang:qnms-service}name") != foreign
    assert orch.tenancy.denied_units > 0


def test_no_local_handle_reaches_the_northbound(tenants) -> None:
    orch, admin, ccips, _clock = tenants
    ccips.edit_config(target="running", config=unit_xml("c1", endpoints=(ALICE, BOB)))
    poll(
        lambda: admin.get().data_ele.find(".//s:service-unit[s:name='c1']/s:qui", NS),
        what="the unit's QUIs in its state",
    )
    assert any(rec.handles for rec in orch.controller.records.values()), "qubits are held"
    for m in (admin, ccips):
        for data in (m.get().data_ele, m.get_config(source="running").data_ele):
            tags = {el.tag for el in data.iter() if isinstance(el.tag, str)}
            assert not [t for t in tags if "handle" in t], "a local handle leaked"
            assert not [t for t in tags if "quantum-fabric" in t], "agent data leaked"


SUBSCRIBE = """<establish-subscription
    xmlns="urn:ietf:params:xml:ns:yang:ietf-subscribed-notifications"
    xmlns:yp="urn:ietf:params:xml:ns:yang:ietf-yang-push"
    xmlns:ds="urn:ietf:params:xml:ns:yang:ietf-datastores">
  <yp:datastore>ds:operational</yp:datastore>
  <yp:datastore-subtree-filter><service-units xmlns="urn:qnms:yang:qnms-service"/>
  </yp:datastore-subtree-filter>
  <yp:on-change/>
</establish-subscription>"""


def test_yang_push_on_change_carries_only_the_applications_own_units(tenants) -> None:
    _orch, _admin, ccips, clock = tenants
    clock.dispatch(to_ele(SUBSCRIBE))
    ccips.edit_config(target="running", config=unit_xml("c1", endpoints=(ALICE, BOB)))
    clock.edit_config(target="running", config=unit_xml("k1", endpoints=(SENSING, IPSEC)))
    pushed: list[str] = []

    def own_unit_established() -> bool:
        note = clock.take_notification(timeout=0.5)
        if note is not None:
            pushed.append(note.notification_xml)
        return any("service-unit=k1" in x and ">establishing<" in x for x in pushed)

    poll(own_unit_established, 20, "a push of k1 establishing")
    assert not any(">c1<" in x or "service-unit=c1" in x for x in pushed), "c1 was pushed"


def test_a_login_that_acts_for_no_application_is_an_operator_unless_operators_are_named(
    fleet: Fleet,
) -> None:
    orch = fleet.start_orchestrator(users={"noc": "noc-pw", "ccips": "ccips-pw"})
    with connect(orch.port, "noc", "noc-pw") as noc, connect(orch.port, "ccips", "ccips-pw") as c:
        c.edit_config(target="running", config=unit_xml("c1", endpoints=(ALICE, BOB)))
        noc.edit_config(target="running", config=unit_xml("k1", endpoints=(SENSING, IPSEC)))
        assert names(noc) == {"c1", "k1"}
        assert names(c) == {"c1"}
